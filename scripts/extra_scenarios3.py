"""Scenarios for the TF rules of the issue on remaining corners: op seeds without a
graph seed, and op names used up by failed creations. Writes the steps; the `expect`
lists are recorded from TensorFlow with ../shared/conformance/tools/run_scenarios.py
(see tests/data/conformance/README.md)."""
import json, sys
S = []
def sc(name, steps, seed=None):
    d = {"name": name, "steps": steps}
    if seed is not None:
        d["graph_seed"] = seed
    S.append(d)
vs = lambda name=None, body=None, **kw: dict({"do": "variable_scope", **({"name": name} if name is not None else {}), "body": body or []}, **kw)
gv = lambda name, **kw: dict({"do": "get_variable", "name": name}, **kw)
op = lambda name=None: ({"do": "op", "name": name} if name is not None else {"do": "op"})

# Rule 1: an op seed on a graph without a seed pairs with DEFAULT_GRAPH_SEED.
sc("op_seed_without_graph_seed", [
    gv("n", shape=[3], initializer={"kind": "random_normal", "mean": 0.0, "stddev": 1.0, "seed": 3}, read=True),
    gv("u", shape=[2, 2], initializer={"kind": "random_uniform", "minval": -1.0, "maxval": 1.0, "seed": 7}, read=True),
    gv("t", shape=[4], dtype="float64", initializer={"kind": "truncated_normal", "mean": 0.0, "stddev": 2.0, "seed": 11}, read=True),
    gv("g", shape=[2, 3], initializer={"kind": "glorot_uniform", "seed": 5}, read=True),
])
sc("op_seed_with_graph_seed", [
    gv("n", shape=[3], initializer={"kind": "random_normal", "mean": 0.0, "stddev": 1.0, "seed": 3}, read=True),
], seed=87654321)

# Rule 3: a creation whose initializer fails still uses up its op name.
too_many = {"kind": "constant", "value": [1.0, 2.0, 3.0]}
sc("failed_initializer_uses_up_the_op_name", [
    vs("s", [
        gv("j", shape=[2], initializer=too_many),
        gv("j", shape=[2], initializer={"kind": "zeros"}),
        gv("j", shape=[2], initializer=too_many),
        gv("k", shape=[2], initializer=too_many),
        gv("k", shape=[2], initializer=too_many),
        gv("k", shape=[2], initializer={"kind": "ones"}),
        op("j"),
        op("k"),
    ]),
    {"do": "collection", "key": "global_variables"},
])
sc("failures_before_the_initializer_keep_the_name", [
    vs("s", [
        gv("m"),
        gv("m", shape=[2], initializer={"kind": "zeros"}),
        gv("m", shape=[3], initializer={"kind": "zeros"}),
        op("m"),
    ]),
    vs("r", [gv("absent", shape=[1])], reuse=True),
    vs("r", [gv("absent", shape=[1], initializer={"kind": "zeros"}), op("absent")]),
])
json.dump({"scenarios": S}, open(sys.argv[1] if len(sys.argv) > 1 else "extra3_in.json", "w"), indent=1)
print(len(S))
