"""TensorFlow itself as the client of varscope's TF bundles, and the producer of ones
varscope reads.

usage: tf_client.py VARSCOPE_BINARY WORK_DIR

(a) `tf.train.load_checkpoint` lists every variable of a bundle `varscope build
    --format tf` wrote, with the shapes, dtypes and values of the same model written
    as safetensors (parsed here with json + numpy, not by varscope), partitioned
    variables whole;
(b) TF1's `Saver.restore` loads that bundle into a graph built with the same
    variable scopes, partitioned variables partitioned differently;
(c) varscope reads a bundle TF's `Saver(sharded=True)` just wrote (two data shards,
    a partitioned variable, every dtype, a scalar): `convert`, `inspect`, and
    `build --init-from … --map body/=enc/`;
(d) a bundle written in 3 parts (`build --shard I/3`, as 3 hosts would) and
    `varscope merge` is one checkpoint to `tf.train.load_checkpoint`: the same
    variables, dtypes, shapes and values as the one-process `--shards 3` bundle,
    whose files it equals byte for byte.
"""
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN, WORK = sys.argv[1], sys.argv[2]
failures = []

ST_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I32": np.int32,
             "I64": np.int64, "BOOL": np.bool_, "BF16": np.uint16}
TF_NAMES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64",
            "I32": "int32", "I64": "int64", "BOOL": "bool"}


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"varscope {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def read_safetensors(path):
    """{name: (dtype name, array)} and metadata, by the format's definition."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        a = np.frombuffer(data[8 + n + b:8 + n + e], dtype=ST_DTYPES[info["dtype"]])
        out[name] = (info["dtype"], a.reshape(info["shape"]))
    return out, meta


def whole_variables(path):
    """Variables by full name (partitioned ones assembled), with their layout."""
    tensors, meta = read_safetensors(path)
    out, layout = {}, {}
    for key, value in meta.items():
        if not key.startswith("partition:"):
            continue
        name, info = key[len("partition:"):], json.loads(value)
        dtype = tensors[info["shards"][0]["name"]][0]
        full = np.zeros(info["full_shape"], dtype=ST_DTYPES[dtype])
        for s in info["shards"]:
            idx = tuple(slice(o, o + d) for o, d in zip(s["offset"], s["shape"]))
            full[idx] = tensors.pop(s["name"])[1]
        out[name] = (dtype, full)
        layout[name] = info
    out.update(tensors)
    return out, layout


def as_comparable(dtype, a):
    """bfloat16 as its bit pattern; everything else as is."""
    a = np.asarray(a)
    if dtype == "BF16" and a.dtype != np.uint16:
        return a.astype(np.float32).view(np.uint32).__rshift__(16).astype(np.uint16)
    return a


def check_equal(what, dtype, got, want):
    got, want = as_comparable(dtype, got), as_comparable(dtype, want)
    if list(got.shape) != list(want.shape):
        failures.append(f"{what}: shape {list(got.shape)}, expected {list(want.shape)}")
    elif got.tobytes() != want.tobytes():
        failures.append(f"{what}: values differ")


def client_a_b(spec, shards):
    prefix = os.path.join(WORK, os.path.basename(spec) + ".ckpt")
    st = os.path.join(WORK, os.path.basename(spec) + ".safetensors")
    run("build", spec, "-o", prefix, "--format", "tf", "--shards", str(shards), "--quiet")
    run("build", spec, "-o", st, "--quiet")
    want, layout = whole_variables(st)

    # (a) load_checkpoint
    r = tf.train.load_checkpoint(prefix)
    shapes, dtypes = r.get_variable_to_shape_map(), r.get_variable_to_dtype_map()
    if set(shapes) != set(want):
        failures.append(f"{spec}: load_checkpoint lists {sorted(set(shapes) ^ set(want))} differently")
    for name, (dtype, value) in sorted(want.items()):
        if name not in shapes:
            continue
        if dtypes[name].name != TF_NAMES[dtype]:
            failures.append(f"{name}: TF dtype {dtypes[name].name}, expected {TF_NAMES[dtype]}")
        if list(shapes[name]) != list(value.shape):
            failures.append(f"{name}: TF shape {shapes[name]}, expected {list(value.shape)}")
        check_equal(f"load_checkpoint {name}", dtype, r.get_tensor(name), value)
    print(f"tf client (a): load_checkpoint read {len(shapes)} variables of {os.path.basename(spec)} "
          f"({shards} data shards, {len(layout)} partitioned)")

    # (b) Saver.restore into a graph with the same scopes, partitioned differently.
    g = tf1.Graph()
    made = {}
    with g.as_default():
        for name, (dtype, value) in sorted(want.items()):
            *scopes, leaf = name.split("/")
            part = None
            if name in layout:
                n = len(layout[name]["shards"])
                part = tf1.fixed_size_partitioner(min(value.shape[0], n + 1 if n < 3 else n - 1))
            tfdtype = tf.as_dtype(TF_NAMES[dtype])

            def make(scopes=scopes):
                if not scopes:
                    return tf1.get_variable(leaf, shape=value.shape, dtype=tfdtype,
                                            initializer=tf1.zeros_initializer(), partitioner=part)
                with tf1.variable_scope(scopes[0]):
                    return make(scopes[1:])
            made[name] = (dtype, make())
        saver = tf1.train.Saver()
        with tf1.Session(graph=g) as s:
            saver.restore(s, prefix)
            for name, (dtype, v) in sorted(made.items()):
                got = s.run(v.as_tensor() if type(v).__name__ == "PartitionedVariable" else v)
                check_equal(f"Saver.restore {name}", dtype, got, want[name][1])
    print(f"tf client (b): Saver.restore restored {len(made)} variables, "
          f"{len(layout)} into a different partitioning")


def client_c():
    out = os.path.join(WORK, "tf-written")
    os.makedirs(out)
    gen = subprocess.run([sys.executable, os.path.join(ROOT, "tests/data/tf_bundle/generate.py"), out],
                         capture_output=True, text=True)
    if gen.returncode != 0:
        raise SystemExit(f"generate.py failed:\n{gen.stderr}")
    prefix = os.path.join(out, "sharded", "model.ckpt")
    r = tf.train.load_checkpoint(prefix)
    shapes, dtypes = r.get_variable_to_shape_map(), r.get_variable_to_dtype_map()
    inspect = run("inspect", prefix + ".index")
    if "TF bundle (2 data shards)" not in inspect:
        failures.append("inspect does not report the two data shards")
    for name in shapes:
        if name.split("/")[-1] not in inspect:
            failures.append(f"inspect does not list {name}")
    st = os.path.join(WORK, "tf-written.safetensors")
    run("convert", prefix, st)
    got, layout = whole_variables(st)
    if set(got) != set(shapes):
        failures.append(f"convert: variables {sorted(set(got) ^ set(shapes))} differ")
    if "body/emb" not in layout or len(layout["body/emb"]["shards"]) != 3:
        failures.append("convert: body/emb did not keep its 3 slices")
    for name, (dtype, value) in sorted(got.items()):
        if TF_NAMES[dtype] != dtypes[name].name:
            failures.append(f"convert {name}: dtype {dtype}, TF says {dtypes[name].name}")
        check_equal(f"convert {name}", dtype, value, r.get_tensor(name))
    ft = os.path.join(WORK, "ft.safetensors")
    run("build", os.path.join(ROOT, "tests/data/tf_bundle/finetune.toml"), "-o", ft, "--quiet",
        "--init-from", prefix, "--map", "body/=enc/")
    ftv, _ = whole_variables(ft)
    for name, (dtype, value) in sorted(ftv.items()):
        if name.startswith("enc/"):
            check_equal(f"--init-from {name}", dtype, value, r.get_tensor("body/" + name[4:]))
    print(f"tf client (c): varscope read TF's sharded bundle ({len(shapes)} variables): "
          f"inspect, convert, --init-from with a scope map")


def client_d(spec, parts):
    name = os.path.basename(spec)
    one = os.path.join(WORK, name + ".one")
    merged = os.path.join(WORK, name + ".parts")
    run("build", spec, "-o", one, "--format", "tf", "--shards", str(parts), "--quiet")
    # Each part as a separate process, in reverse order, as hosts finishing at random.
    for i in reversed(range(parts)):
        run("build", spec, "-o", merged, "--format", "tf", "--shard", f"{i}/{parts}", "--quiet")
    if os.path.exists(merged + ".index"):
        failures.append("an index exists before the merge")
    run("merge", merged, "--quiet")
    left = [f for f in os.listdir(WORK) if ".index.part-" in f]
    if left:
        failures.append(f"merge left partial indices {left}")
    files = [".index"] + [f".data-{i:05d}-of-{parts:05d}" for i in range(parts)]
    for suffix in files:
        with open(one + suffix, "rb") as a, open(merged + suffix, "rb") as b:
            if a.read() != b.read():
                failures.append(f"merged {suffix} differs from the one-process bundle's")
    ra, rb = tf.train.load_checkpoint(one), tf.train.load_checkpoint(merged)
    sa, sb = ra.get_variable_to_shape_map(), rb.get_variable_to_shape_map()
    da, db = ra.get_variable_to_dtype_map(), rb.get_variable_to_dtype_map()
    if sa != sb or da != db:
        failures.append(f"load_checkpoint lists the merged bundle differently: "
                        f"{sorted(set(sa) ^ set(sb))}")
    for v in sorted(set(sa) & set(sb)):
        a, b = np.asarray(ra.get_tensor(v)), np.asarray(rb.get_tensor(v))
        if a.shape != b.shape or a.tobytes() != b.tobytes():
            failures.append(f"merged {v}: values differ from the one-process bundle's")
    print(f"tf client (d): load_checkpoint read {len(sb)} variables of {name} written as "
          f"{parts} parts + merge, equal to the one-process bundle")


# The checker must notice a difference.
check_equal("probe", "F32", np.zeros(2, np.float32), np.ones(2, np.float32))
if failures != ["probe: values differ"]:
    raise SystemExit("the value check does not notice differences")
failures.clear()

client_a_b(os.path.join(ROOT, "examples/tiny.toml"), 2)
client_a_b(os.path.join(ROOT, "examples/client.toml"), 1)
client_c()
client_d(os.path.join(ROOT, "examples/tiny.toml"), 3)
if failures:
    for f in failures[:50]:
        print("FAIL", f, file=sys.stderr)
    sys.exit(1)
print("tf client: OK")
