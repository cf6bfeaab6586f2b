import json, sys
S=[]
def sc(name, steps, seed=None):
    d={"name":name,"steps":steps}
    if seed is not None: d["graph_seed"]=seed
    S.append(d)
vs=lambda name=None, body=None, **kw: dict({"do":"variable_scope", **({"name":name} if name is not None else {}), "body":body or []}, **kw)
gv=lambda name, **kw: dict({"do":"get_variable","name":name}, **kw)
cur={"do":"current_scope"}
fixed=lambda n, axis=0: {"kind":"fixed_size","num_shards":n,"axis":axis}

sc("partitioned_reuse_rules", [
  vs("p", [gv("w", shape=[6,2], partitioner=fixed(2), **{"as":"w"})]),
  vs("p", [gv("w", shape=[6,2])], reuse=True),
  vs("p", [gv("w")], reuse=True),
  vs("p", [gv("w", shape=[6,2])], reuse="auto"),
  vs("p", [gv("w", shape=[6,2], partitioner=fixed(3))], reuse=True),
  vs("p", [gv("w", shape=[6,2], partitioner=fixed(2))], reuse=True),
  vs("p", [gv("w", shape=[6,2], partitioner=fixed(2))]),
  gv("plain", shape=[4,2]),
  gv("plain", shape=[4,2], partitioner=fixed(2)),
  vs("p", [gv("w", shape=[6,3], partitioner=fixed(2))], reuse=True),
])
sc("default_name_fills_holes", [
  vs("blk_3"), vs(default_name="blk"), vs(default_name="blk"), vs(default_name="blk"), vs(default_name="blk"), vs(default_name="blk"),
])
sc("jump_restores_counters", [
  vs("default", [vs(default_name="layer", body=[cur])], **{"as":"d"}),
  vs(scope="d", body=[vs(default_name="layer", body=[cur])]),
  vs("default", [vs(default_name="layer", body=[cur]), vs(default_name="layer", body=[cur])]),
])
sc("empty_scope_names", [
  vs("", [gv("emp", shape=[1]), cur]),
  vs("outer", [vs("", [gv("emp", shape=[1]), cur, {"do":"op","name":"c"}])]),
])
sc("aux_false_default_name", [
  vs(default_name="default", auxiliary_name_scope=False, body=[gv("w", shape=[1]), {"do":"op","name":"c"}]),
  {"do":"name_scope","name":"default","body":[{"do":"op","name":"c"}]},
  vs("outer", [vs(default_name="default", auxiliary_name_scope=False, body=[gv("w", shape=[1]), {"do":"op","name":"c"}])]),
])
sc("case_insensitive_op_names_rename_variables", [
  {"do":"op","name":"V"}, gv("v", shape=[1], **{"as":"v"}), gv("W", shape=[1]), gv("w", shape=[1]),
  vs("s", [gv("v", shape=[1], **{"as":"v2"})], reuse=True),
  {"do":"op","name":"v"}, {"do":"op","name":"v_1"}, {"do":"op"}, {"do":"op"},
])
sc("template_create_scope_now_and_unique_names", [
  vs("foo", [
    {"do":"make_template","name":"bar","create_scope_now":True,"as":"t1","body":[gv("x", shape=[1]), {"do":"op","name":"add"}]},
    {"do":"make_template","name":"bar","create_scope_now":True,"as":"t2","body":[gv("x", shape=[1])]},
  ]),
  {"do":"call_template","template":"t1"},
  {"do":"call_template","template":"t1"},
  {"do":"call_template","template":"t2"},
  {"do":"make_template","name":"u","unique_name":"s1","as":"u1","body":[gv("dummy", shape=[1])]},
  {"do":"make_template","name":"u","unique_name":"s1","as":"u2","body":[gv("dummy", shape=[1])]},
  {"do":"call_template","template":"u1"},
  {"do":"call_template","template":"u2"},
])
sc("template_new_trainable_variable_is_error", [
  {"do":"make_template","name":"t","as":"t","body":[gv("a", shape=[1]), {"do":"variable","name":"extra"}]},
  {"do":"call_template","template":"t"},
  {"do":"call_template","template":"t"},
  {"do":"make_template","name":"n","as":"n","body":[gv("a", shape=[1]), {"do":"variable","name":"extra","trainable":False}]},
  {"do":"call_template","template":"n"},
  {"do":"call_template","template":"n"},
])
sc("regularizers_and_local_variables", [
  gv("r1", shape=[2], regularizer={"scale":0.5}),
  gv("r2", shape=[2], regularizer={"scale":0.5}, partitioner=fixed(2)),
  vs("", [gv("r1", shape=[2], regularizer={"scale":0.5})], reuse=True),
  {"do":"collection","key":"regularization_losses"},
  gv("loc", shape=[1], collections=["local_variables"]),
  gv("mine", shape=[1], collections=["mine"]),
  gv("nt", shape=[1], collections=["mine"], trainable=False),
  {"do":"collection","key":"local_variables"},
  {"do":"collection","key":"global_variables"},
  {"do":"collection","key":"trainable_variables"},
])
sc("trailing_slash_names", [
  gv("endslash/", shape=[1]),
  vs("bar/", [gv("w", shape=[1]), cur]),
])
sc("explicit_getter_replaces_scope_getter", [
  vs("a", custom_getter={"kind":"suffix","suffix":"_A","label":"A"}, body=[
    vs("b", custom_getter={"kind":"suffix","suffix":"_B","label":"B"}, body=[
      gv("w", shape=[1], custom_getter={"kind":"suffix","suffix":"_D","label":"D"}),
      vs("c", [gv("v", shape=[1])]),
    ]),
  ]),
  vs("cap", custom_getter={"kind":"record","label":"X"}, **{"as":"cap"}),
  vs(scope="cap", custom_getter={"kind":"suffix","suffix":"_Y","label":"Y"}, body=[gv("v", shape=[1])]),
])
sc("builtin_partitioners_through_get_variable", [
  vs("vas", partitioner={"kind":"variable_axis_size","max_shard_bytes":64,"axis":0}, body=[gv("w", shape=[10,4])]),
  vs("mm", partitioner={"kind":"min_max_variable","max_partitions":3,"axis":1,"min_slice_size":16}, body=[gv("w", shape=[4,10])]),
  vs("sc", partitioner=fixed(3), body=[gv("s", shape=[])]),
], seed=1)
sc("initializer_values_read", [
  gv("c", shape=[2,3], initializer={"kind":"constant","value":[1.0,2.0]}, read=True),
  gv("v", initializer={"kind":"value","value":[[1,2],[3,4]],"dtype":"int32"}, read=True),
  gv("z", shape=[3], dtype="int32", read=True),
  gv("b", shape=[2], dtype="bool", read=True),
  gv("o", shape=[2], initializer={"kind":"ones"}, dtype="float64", read=True),
  gv("n", shape=[2,3], initializer={"kind":"random_normal","mean":1.0,"stddev":2.0,"seed":5}, read=True),
  gv("t", shape=[7], initializer={"kind":"truncated_normal","stddev":0.5,"seed":9}, read=True),
  gv("u", shape=[5], initializer={"kind":"random_uniform","minval":-1.0,"maxval":3.0,"seed":11}, read=True),
  gv("g", shape=[3,4], initializer={"kind":"glorot_uniform","seed":13}, read=True),
  gv("d", shape=[2,2], dtype="float64", initializer={"kind":"random_normal","seed":17}, read=True),
], seed=77)
sc("partitioned_value_initializer_read", [
  vs("p", partitioner=fixed(3), body=[gv("emb", initializer={"kind":"value","value":[[1,2],[3,4],[5,6],[7,8],[9,10]]}, read=True)]),
  vs("q", partitioner=fixed(2), body=[gv("emb", shape=[5,2], initializer={"kind":"value","value":[[1,2],[3,4]]})]),
])
sc("reuse_inheritance_or_semantics", [
  vs("a", reuse=True, body=[vs("b", reuse="auto", body=[cur, vs("c", body=[cur])]), vs("d", body=[cur])]),
  vs("e", reuse="auto", body=[vs("f", reuse=True, body=[cur]), vs("g", reuse=False, body=[cur])]),
  cur,
  {"do":"reuse_variables"},
  cur,
  vs("h", body=[cur]),
])
sc("ops_and_absolute_name_scopes", [
  {"do":"op"}, {"do":"op"}, {"do":"op","name":"x/"}, {"do":"op","name":"x"},
  {"do":"name_scope","name":"ns","body":[{"do":"op","name":"a"},{"do":"name_scope","name":"ns/","body":[{"do":"op","name":"a"}]},{"do":"name_scope","name":"","body":[{"do":"op","name":"a"}]}]},
  {"do":"name_scope","name":"ns","body":[{"do":"op","name":"a"}]},
  {"do":"name_scope","name":"_bad"},
  {"do":"name_scope","name":"ok","body":[{"do":"name_scope","name":"_fine","body":[{"do":"op"}]}]},
])
sc("threads_default_names_and_captured_counters", [
  vs("main", **{"as":"m"}, body=[vs(default_name="blk")]),
  {"do":"thread","body":[vs(default_name="blk", body=[cur]), vs(scope="m", body=[vs(default_name="blk", body=[cur]), gv("tv", shape=[1])])]},
  {"do":"thread","body":[vs(scope="m", reuse=True, body=[gv("tv", shape=[1]), gv("missing", shape=[1])])]},
  vs(default_name="blk", body=[cur]),
])
sc("shape_and_dtype_errors", [
  gv("x", shape=[2,3]),
  vs("", [gv("x", shape=[3,3])], reuse=True),
  vs("", [gv("x", shape=[None,3])], reuse=True) if False else vs("", [gv("x")], reuse=True),
  vs("", [gv("x", dtype="int32")], reuse="auto"),
  gv("y", shape=[2], initializer={"kind":"value","value":[1.0,2.0]}),
  gv("y2", dtype="float64", initializer={"kind":"value","value":[1.0,2.0]}),
  gv("y3", dtype="int32", initializer={"kind":"value","value":[1,2],"dtype":"int32"}),
  gv("nos"),
])
json.dump({"scenarios":S}, open(sys.argv[1] if len(sys.argv) > 1 else "extra_in.json","w"), indent=1)
print(len(S))
