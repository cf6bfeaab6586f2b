"""Scenarios for constants and random initializers against integer and bool dtypes
(TF's TypeError for a value of the wrong Python type). Writes the steps; the `expect`
lists are recorded from TensorFlow with ../shared/conformance/tools/run_scenarios.py."""
import json, sys
S=[]
def sc(name, steps, seed=None):
    d={"name":name,"steps":steps}
    if seed is not None: d["graph_seed"]=seed
    S.append(d)
gv=lambda name, **kw: dict({"do":"get_variable","name":name}, **kw)
c=lambda v: {"kind":"constant","value":v}
steps=[]
for dt in ["int32","int64","float32","float64","bool"]:
    for i,v in enumerate([0.5, 2.0, 2, True, False, 0]):
        steps.append(gv(f"{dt}_{i}", shape=[2], dtype=dt, initializer=c(v), read=True))
sc("constant_types_against_dtypes", steps)
steps=[]
for dt in ["int32","int64","bool"]:
    for k,init in enumerate([{"kind":"random_normal","mean":0.0,"stddev":1.0,"seed":1},{"kind":"random_uniform","minval":0,"maxval":5,"seed":1},{"kind":"truncated_normal","mean":0.0,"stddev":1.0,"seed":1},{"kind":"glorot_uniform","seed":1}]):
        steps.append(gv(f"{dt}_{k}", shape=[2], dtype=dt, initializer=init, read=True))
sc("random_initializers_on_integer_and_bool_dtypes", steps, seed=1)
json.dump({"scenarios":S}, open(sys.argv[1] if len(sys.argv) > 1 else "extra4_in.json","w"), indent=1)
print(len(S))
