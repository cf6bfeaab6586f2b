"""Scenarios for op-name collisions between variables: a plain variable and a
`get_variable` of one name share the op namespace (`w:0`, `w_1:0`), and a name ending in
`/` takes the op name that the same name without the slash would get, so the second is
TF's "Duplicate node name in graph" (and the name is used up). Writes the steps; the
`expect` lists are recorded from TensorFlow with
../shared/conformance/tools/run_scenarios.py."""
import json, sys
S = []
def sc(name, steps):
    S.append({"name": name, "steps": steps})
gv = lambda name, **kw: dict({"do": "get_variable", "name": name, "shape": [1]}, **kw)
var = lambda name: {"do": "variable", "name": name}
coll = {"do": "collection", "key": "global_variables"}

sc("plain_and_get_variable_share_the_op_namespace",
   [var("w"), gv("w"), gv("q"), var("q"), coll])
sc("trailing_slash_then_plain_name_is_a_duplicate_node",
   [gv("v/"), gv("v"), gv("v_1"), {"do": "op", "name": "v"}, coll])
sc("trailing_slash_then_plain_name_in_a_scope",
   [{"do": "variable_scope", "name": "s", "body": [gv("v/"), gv("v"), {"do": "op", "name": "v"}]},
    coll])
sc("plain_name_then_trailing_slash_is_a_duplicate_node",
   [gv("v"), gv("v/"), gv("v"), coll])
json.dump({"scenarios": S}, open(sys.argv[1] if len(sys.argv) > 1 else "extra6_in.json", "w"), indent=1)
