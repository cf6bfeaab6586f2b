import json, sys
S=[]
def sc(name, steps, seed=None):
    d={"name":name,"steps":steps}
    if seed is not None: d["graph_seed"]=seed
    S.append(d)
vs=lambda name=None, body=None, **kw: dict({"do":"variable_scope", **({"name":name} if name is not None else {}), "body":body or []}, **kw)
gv=lambda name, **kw: dict({"do":"get_variable","name":name}, **kw)
ns=lambda name, body=None, **kw: dict({"do":"name_scope","name":name,"body":body or []}, **kw)
op=lambda name=None: ({"do":"op","name":name} if name is not None else {"do":"op"})
cur={"do":"current_scope"}
fixed=lambda n, axis=0: {"kind":"fixed_size","num_shards":n,"axis":axis}
mt=lambda name, label, body, **kw: dict({"do":"make_template","name":name,"as":label,"body":body}, **kw)
ct=lambda label: {"do":"call_template","template":label}

sc("templates_in_and_across_scopes", [
  mt("s1", "t1", [gv("dummy", shape=[1]), op("add")]),
  mt("s1", "t2", [gv("dummy", shape=[1]), op("add")]),
  vs("scope", [ct("t1"), ct("t2"), cur]),
  vs("scope2", [ct("t1"), ct("t2")]),
  ct("t1"),
  ns("outer", [ct("t2")]),
])
sc("nested_templates_share_inner_names", [
  mt("outer_t", "o", [mt("inner", "i1", [gv("w", shape=[1])]), ct("i1"), mt("inner", "i2", [gv("w", shape=[1])]), ct("i2")]),
  ct("o"), ct("o"),
  mt("outer_t", "o2", [mt("inner", "j", [gv("w", shape=[1])]), ct("j")]),
  ct("o2"),
])
sc("template_unique_name_and_root_reuse", [
  mt("a", "u1", [gv("dummy", shape=[1])], unique_name="s1"),
  ct("u1"),
  {"do":"reuse_variables"},
  mt("b", "u2", [gv("dummy", shape=[1])], unique_name="s1"),
  ct("u2"),
  mt("c", "u3", [gv("other", shape=[1])], unique_name="s1"),
  ct("u3"),
])
sc("template_empty_name_and_create_now_in_name_scope", [
  vs("outer", [mt("", "e", [gv("dummy", shape=[1]), op("c")]), ct("e"), gv("x", shape=[1]), ct("e")]),
  ns("n1", [mt("m", "m", [gv("v", shape=[1]), op("add")], create_scope_now=True)]),
  ns("n2", [ct("m"), ct("m")]),
  ct("m"),
])
sc("auto_reuse_across_threads_with_captured_scope", [
  vs("shared", reuse="auto", **{"as":"s"}, body=[gv("w", shape=[2], **{"as":"w0"})]),
  {"do":"thread","body":[vs(scope="s", body=[gv("w", shape=[2], **{"as":"w1"}), gv("b", shape=[1], **{"as":"b1"}), cur])]},
  {"do":"thread","body":[vs(scope="s", body=[gv("w", shape=[2]), gv("b", shape=[1])]), vs("shared", body=[gv("w", shape=[2])])]},
  {"do":"collection","key":"global_variables"},
])
sc("reentry_overrides_initializer_and_dtype", [
  vs("tower", initializer={"kind":"constant","value":0.5}, dtype="float64", **{"as":"t"}, body=[gv("a", shape=[1], read=True)]),
  vs(scope="t", body=[gv("b", shape=[1], read=True), cur]),
  vs(scope="t", initializer={"kind":"constant","value":2.0}, dtype="float32", body=[gv("c", shape=[1], read=True)]),
  vs(scope="t", reuse=True, body=[gv("a", shape=[1]), gv("a", shape=[1], dtype="float32")]),
])
sc("partitioned_axis1_and_dtypes", [
  vs("p", partitioner=fixed(4, 1), body=[gv("w", shape=[2,10]), gv("i", shape=[3,7], dtype="int32", read=True), gv("d", shape=[2,5], dtype="float64")]),
  vs("q", partitioner={"kind":"min_max_variable","max_partitions":4,"axis":0,"min_slice_size":8}, body=[gv("w", shape=[8,2], dtype="float64"), gv("x", shape=[8,2], dtype="int64")]),
  vs("r", partitioner=fixed(8), body=[gv("w", shape=[3,2])]),
])
sc("partitioned_with_custom_getter", [
  vs("g", custom_getter={"kind":"record","label":"R"}, partitioner=fixed(2), body=[gv("w", shape=[4,2]), gv("w", shape=[4,2])]),
  vs("h", custom_getter={"kind":"suffix","suffix":"_s","label":"S"}, partitioner=fixed(2), body=[gv("w", shape=[4,2])]),
  vs("g", reuse=True, custom_getter={"kind":"record","label":"R2"}, body=[gv("w")]),
])
sc("name_validation_rules", [
  vs("_"),
  ns("ns", [vs("_x", [cur, gv("v", shape=[1])])]),
  gv("_under", shape=[1]),
  vs("ok", [gv("_under", shape=[1])]),
  gv("bad name", shape=[1]),
  vs("a/b", [cur]), vs("a/b", [cur]),
  vs(".dot", [gv("v", shape=[1])]),
  vs("x-y.z", [gv("v-1", shape=[1])]),
  ns("fine/", [op("c")]),
  ns("-bad"),
])
sc("default_names_empty_and_nested", [
  vs("outer", [vs(default_name="", body=[cur, gv("w", shape=[1]), op("c")]), vs(default_name="", body=[cur])]),
  vs(default_name="d", body=[vs(default_name="d", body=[cur]), vs(default_name="d", body=[cur])]),
  vs(default_name="d", body=[vs(default_name="d", body=[cur])]),
  vs("d", [vs(default_name="d", body=[cur])]),
])
sc("plain_variables_in_scopes_and_threads", [
  vs("tv", reuse=True, body=[{"do":"variable","name":"a"}, {"do":"variable"}, {"do":"variable"}]),
  vs("tv", [{"do":"variable","name":"a"}]),
  {"do":"thread","body":[{"do":"variable","name":"a"}, vs("tv", [{"do":"variable","name":"a"}])]},
  {"do":"variable","name":"nt","trainable":False},
  {"do":"collection","key":"trainable_variables"},
  {"do":"collection","key":"global_variables"},
])
sc("auxiliary_name_scope_reentry_idiom", [
  vs("outer", [vs("inner", **{"as":"inner"}, body=[op("c")])]),
  vs(scope="inner", auxiliary_name_scope=False, body=[cur, ns({"original_name_scope_of":"inner"}, [op("c"), gv("w", shape=[1])])]),
  ns("inner", [op("c")]),
  vs("another", [vs(scope="inner", auxiliary_name_scope=False, body=[cur, op("c")])]),
  vs("another", [vs(scope="inner", body=[cur, op("c")])]),
])
sc("get_variable_reuse_checks_with_scope_dtype", [
  vs("f64", dtype="float64", body=[gv("v", shape=[2])]),
  vs("f64", reuse=True, body=[gv("v", shape=[2])]),
  vs("f64", reuse=True, dtype="float64", body=[gv("v", shape=[None]) if False else gv("v"), gv("v", shape=[2], dtype="float64")]),
  gv("iv", initializer={"kind":"value","value":[1,2],"dtype":"int32"}),
  vs("", reuse="auto", body=[gv("iv"), gv("iv", dtype="int32")]),
])
json.dump({"scenarios":S}, open(sys.argv[1] if len(sys.argv) > 1 else "extra2_in.json","w"), indent=1)
print(len(S))
