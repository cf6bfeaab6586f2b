"""Writes the TF-written bundle fixtures in this directory, or in OUTDIR (run with a
Python that has tensorflow-cpu installed: `python tests/data/tf_bundle/generate.py
[OUTDIR]`; `scripts/tf_client.py` runs it into a temporary directory).

* `sharded/model.ckpt.*`: a TF1 `Saver(sharded=True)` checkpoint across two CPU devices
  (two data shards) with every dtype varscope has, a scalar, an empty tensor and a
  variable partitioned in 3 with `fixed_size_partitioner(3)`.
* `expected.json`: every variable's dtype, shape and values (the whole tensor for the
  partitioned one), as TF's `load_checkpoint` reads them back.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
tf1 = tf.compat.v1
cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
tf1.disable_eager_execution()

g = tf1.Graph()
with g.as_default():
    with tf.device("/cpu:0"):
        with tf1.variable_scope("body"):
            tf1.get_variable("w32", initializer=np.arange(6, dtype=np.float32).reshape(2, 3) / 4)
            tf1.get_variable("w64", initializer=np.array([1.5, -2.25, 1e300], dtype=np.float64))
            tf1.get_variable("h16", initializer=np.array([0.5, -1.0, 65504.0], dtype=np.float16))
            tf1.get_variable("bf", initializer=tf.constant([1.0, -3.5, 256.0], dtype=tf.bfloat16))
            emb = tf1.get_variable("emb", shape=[7, 2], dtype=tf.float32,
                                   initializer=tf1.zeros_initializer(),
                                   partitioner=tf1.fixed_size_partitioner(3))
    with tf.device("/cpu:1"):
        with tf1.variable_scope("body"):
            tf1.get_variable("i32", initializer=np.array([[1, -2], [3, 2147483647]], dtype=np.int32))
            tf1.get_variable("i64", initializer=np.array([-(2**62), 5], dtype=np.int64))
            tf1.get_variable("flags", initializer=np.array([True, False, True]))
            tf1.get_variable("step", initializer=np.int64(42))
            tf1.get_variable("empty", shape=[0, 3], dtype=tf.float32)
        tf1.get_variable("head/b", initializer=np.array([0.25, 0.75], dtype=np.float32))
    saver = tf1.train.Saver(sharded=True)
    with tf1.Session(graph=g) as s:
        s.run(tf1.global_variables_initializer())
        whole = np.arange(14, dtype=np.float32).reshape(7, 2) - 3.5
        for part in emb:
            off = part._get_save_slice_info().var_offset[0]
            part.load(whole[off:off + part.shape[0]], s)
        os.makedirs(os.path.join(here, "sharded"), exist_ok=True)
        for f in os.listdir(os.path.join(here, "sharded")):
            os.remove(os.path.join(here, "sharded", f))
        prefix = saver.save(s, os.path.join(here, "sharded", "model.ckpt"), write_meta_graph=False,
                            write_state=False)

r = tf.train.load_checkpoint(prefix)
out = {}
for name, shape in sorted(r.get_variable_to_shape_map().items()):
    v = r.get_tensor(name)
    dt = r.get_variable_to_dtype_map()[name].name
    out[name] = {"dtype": dt, "shape": list(shape),
                 "values": [float(x) if dt not in ("int32", "int64", "bool") else int(x)
                            for x in np.asarray(v, dtype=np.float64 if dt in ("bfloat16",) else None).ravel()]}
with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
print(prefix, sorted(os.listdir(os.path.join(here, "sharded"))), file=sys.stderr)
