"""Scenarios for partitioned variables fetched over shards that already exist as plain
variables (TF's checks of part_0, part_{n-1} and part_n). Writes the steps; the
`expect` lists are recorded from TensorFlow with
../shared/conformance/tools/run_scenarios.py."""
import json, sys
S = []
def sc(name, steps, seed=None):
    d = {"name": name, "steps": steps}
    if seed is not None:
        d["graph_seed"] = seed
    S.append(d)
vs = lambda name=None, body=None, **kw: dict({"do": "variable_scope", **({"name": name} if name is not None else {}), "body": body or []}, **kw)
gv = lambda name, **kw: dict({"do": "get_variable", "name": name}, **kw)
fixed = lambda n, axis=0: {"kind": "fixed_size", "num_shards": n, "axis": axis}
z = {"kind": "zeros"}

sc("partitioned_over_existing_shards_reuses_them", [
    vs("p", [gv("w/part_0", shape=[2, 4], initializer=z, as_="a"), gv("w/part_1", shape=[2, 4], initializer=z)]),
    vs("p", [gv("w", shape=[4, 4], partitioner=fixed(2), initializer=z)], reuse=True),
    vs("p", [gv("w", shape=[4, 4], partitioner=fixed(2), initializer=z)], reuse="auto"),
])
sc("partitioned_over_existing_shards_checks_the_ends", [
    vs("q", [gv("w/part_0", shape=[2, 4], initializer=z)]),
    vs("q", [gv("w", shape=[4, 4], partitioner=fixed(2), initializer=z)], reuse="auto"),
    vs("q", [gv("w", shape=[4, 4], partitioner=fixed(2), initializer=z)]),
    vs("r", [gv("w/part_0", shape=[2, 4], initializer=z), gv("w/part_1", shape=[2, 4], initializer=z), gv("w/part_2", shape=[2, 4], initializer=z)]),
    vs("r", [gv("w", shape=[4, 4], partitioner=fixed(2), initializer=z)], reuse="auto"),
    vs("s", [gv("w/part_0", shape=[2, 4], initializer=z), gv("w/part_1", shape=[3, 4], initializer=z)]),
    vs("s", [gv("w", shape=[4, 4], partitioner=fixed(2), initializer=z)], reuse="auto"),
])
for s in S:
    def fix(steps):
        for st in steps:
            if "as_" in st:
                st["as"] = st.pop("as_")
            fix(st.get("body", []))
    fix(s["steps"])
json.dump({"scenarios": S}, open(sys.argv[1] if len(sys.argv) > 1 else "extra5_in.json", "w"), indent=1)
print(len(S))
