"""A scenario where varscope differs from TF on purpose (README "Differences from TF1", item
2: shard values). Its TF trace, recorded with ../shared/conformance/tools/run_scenarios.py, is
tests/data/tf_differences/shard_values.json; tests/tf_differences.rs checks both sides."""
import json, sys
gv=lambda name, **kw: dict({"do":"get_variable","name":name}, **kw)
fixed=lambda n, axis=0: {"kind":"fixed_size","num_shards":n,"axis":axis}
S=[{"name":"shard_values","graph_seed":1,"steps":[
 gv("rn", shape=[4,2], partitioner=fixed(2), initializer={"kind":"random_normal","mean":0.0,"stddev":1.0,"seed":3}, read=True),
 gv("rn_noseed", shape=[4,2], partitioner=fixed(2), initializer={"kind":"random_normal","mean":0.0,"stddev":1.0}, read=True),
 gv("cl", shape=[4], partitioner=fixed(2), initializer={"kind":"constant","value":[1.0,2.0,3.0,4.0]}, read=True),
 gv("gl", shape=[4,2], partitioner=fixed(2), initializer={"kind":"glorot_uniform","seed":5}, read=True),
 gv("zz", shape=[4,2], partitioner=fixed(2), initializer={"kind":"ones"}, read=True),
]}]
json.dump({"scenarios":S}, open(sys.argv[1] if len(sys.argv) > 1 else "differences_in.json","w"), indent=1)
