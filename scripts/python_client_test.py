"""A real client: load a checkpoint written by `varscope build` with the safetensors
Python package and check it against the values the Rust side dumped.

usage: python_client_test.py CHECKPOINT EXPECTED_JSON
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

DTYPES = {
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "I32": np.int32,
    "I64": np.int64,
    "BOOL": np.bool_,
}


def check_samples(name, array, expected, failures):
    flat = array.reshape(-1)
    for index, value in expected["samples"]:
        got = float(flat[index])
        if got != value:
            failures.append(f"{name}[{index}] = {got!r}, expected {value!r}")
    total = float(np.sum(flat.astype(np.float64)))
    tolerance = 1e-9 * max(1.0, float(np.sum(np.abs(flat.astype(np.float64)))))
    if abs(total - expected["sum"]) > tolerance:
        failures.append(f"{name}: sum {total!r}, expected {expected['sum']!r}")


def main(checkpoint, expected_path):
    with open(expected_path) as f:
        expected = json.load(f)
    failures = []
    checked = 0

    with safe_open(checkpoint, framework="numpy") as f:
        metadata = f.metadata() or {}
    if metadata.get("varscope.seed") != str(expected["seed"]):
        failures.append(f"seed metadata {metadata.get('varscope.seed')!r} != {expected['seed']}")

    # bfloat16 has no numpy dtype: such tensors are checked for name and shape only.
    tensors = {}
    with safe_open(checkpoint, framework="numpy") as f:
        names = set(f.keys())
        for name in names:
            if expected["tensors"].get(name, {}).get("dtype") != "BF16":
                tensors[name] = f.get_tensor(name)
    loaded_all = load_file(checkpoint) if not any(
        t["dtype"] == "BF16" for t in expected["tensors"].values()
    ) else None
    if loaded_all is not None and set(loaded_all) != names:
        failures.append("load_file and safe_open disagree on the names")

    if names != set(expected["tensors"]):
        failures.append(
            f"names differ: extra {sorted(names - set(expected['tensors']))}, "
            f"missing {sorted(set(expected['tensors']) - names)}"
        )

    for name, exp in sorted(expected["tensors"].items()):
        if name not in names:
            continue
        if exp["dtype"] == "BF16":
            with safe_open(checkpoint, framework="numpy") as f:
                shape = f.get_slice(name).get_shape()
            if list(shape) != exp["shape"]:
                failures.append(f"{name}: shape {shape}, expected {exp['shape']}")
            checked += 1
            continue
        array = tensors[name]
        if list(array.shape) != exp["shape"]:
            failures.append(f"{name}: shape {list(array.shape)}, expected {exp['shape']}")
            continue
        if array.dtype != DTYPES[exp["dtype"]]:
            failures.append(f"{name}: dtype {array.dtype}, expected {exp['dtype']}")
            continue
        check_samples(name, array, exp, failures)
        checked += 1

    # Partitioned variables: reassemble from the shards with the metadata offsets.
    partitioned = 0
    for name, exp in sorted(expected["partitioned"].items()):
        if f"partition:{name}" not in metadata:
            failures.append(f"{name}: no partition metadata")
            continue
        info = json.loads(metadata[f"partition:{name}"])
        if info["full_shape"] != exp["shape"]:
            failures.append(f"{name}: full shape {info['full_shape']}, expected {exp['shape']}")
            continue
        if [s["name"] for s in info["shards"]] != exp["shards"]:
            failures.append(f"{name}: shards {info['shards']}, expected {exp['shards']}")
            continue
        if exp["dtype"] == "BF16":
            continue
        whole = np.zeros(info["full_shape"], dtype=DTYPES[exp["dtype"]])
        covered = np.zeros(info["full_shape"], dtype=bool)
        for shard in info["shards"]:
            if shard["name"] not in tensors:
                failures.append(f"{shard['name']}: shard missing")
                continue
            part = tensors[shard["name"]]
            if list(part.shape) != shard["shape"]:
                failures.append(f"{shard['name']}: shape {part.shape} != metadata {shard['shape']}")
            region = tuple(slice(o, o + n) for o, n in zip(shard["offset"], shard["shape"]))
            whole[region] = part
            covered[region] = True
        if not covered.all():
            failures.append(f"{name}: the shards do not cover the variable")
        check_samples(name, whole, exp, failures)
        partitioned += 1

    if partitioned == 0:
        failures.append("the checkpoint has no partitioned variable to reassemble")
    for line in failures:
        print("FAIL", line)
    print(
        f"python client: {checked} tensors and {partitioned} partitioned variables checked, "
        f"{len(failures)} failures"
    )
    failed_items = len({line.split(":")[0].split("[")[0] for line in failures})
    total = max(checked + partitioned, failed_items)
    print(f"{total - failed_items} passed, {failed_items} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
