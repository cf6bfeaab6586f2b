"""README "Differences from TF1", items 1, 3 and 6, re-checked against TensorFlow.

Run with a Python that has tensorflow-cpu (recorded with 2.21):
    python scripts/difference_checks.py > tests/data/tf_differences/checks.json
tests/tf_differences.rs reads the file: TF's side as recorded, varscope's as designed.
"""
import collections, json, sys, threading
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()
out = {"tensorflow": tf.__version__}

# Item 1: 8 threads race AUTO_REUSE get_variable on one name in one graph.
trials, dup_trials, err_trials, errs = 30, 0, 0, collections.Counter()
for _ in range(trials):
    g, got, failed = tf.Graph(), [], []
    barrier = threading.Barrier(8)
    def work():
        with g.as_default():
            barrier.wait()
            try:
                with tf.variable_scope("s", reuse=tf.AUTO_REUSE):
                    got.append(tf.get_variable("v", [1000, 100]))
            except Exception as e:  # TF's shared graph state corrupts under threads
                failed.append(type(e).__name__)
    ts = [threading.Thread(target=work) for _ in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    dup_trials += len(set(map(id, got))) > 1
    err_trials += bool(failed); errs.update(failed)
out["threads"] = {"trials": trials, "threads": 8, "trials_with_duplicates": dup_trials,
                  "trials_with_exceptions": err_trials, "exceptions": dict(errs)}

# Item 3: a scope's collection filter is a regex prefix in TF.
g = tf.Graph()
with g.as_default():
    for scope, var in [("axb", "v"), ("a.b", "w"), ("x5", "u"), ("x\\d", "u")]:
        with tf.variable_scope(scope):
            tf.get_variable(var, [1])
    with tf.variable_scope("a.b", reuse=True) as s1:
        pass
    with tf.variable_scope("x\\d", reuse=True) as s2:
        pass
    out["collection_filter"] = {
        "a.b": [v.name for v in s1.global_variables()],
        "x\\d": [v.name for v in s2.global_variables()],
    }

# Item 6: a template that calls itself during its first call, and a first call that fails.
g = tf.Graph()
with g.as_default():
    box = {}
    def body(depth):
        v = tf.get_variable("v", [1])
        inner = box["t"](depth - 1) if depth > 0 else None
        return v, inner
    box["t"] = tf.make_template("tpl", body)
    outer, inner = box["t"](1)
    out["template_reentrant"] = {
        "outer": outer.name, "inner": inner[0].name, "same": outer is inner[0],
        "variables": [v.name for v in tf.global_variables()],
    }
g = tf.Graph()
with g.as_default():
    calls = [0]
    def body2():
        calls[0] += 1
        v = tf.get_variable("v", [1])
        if calls[0] == 1:
            raise RuntimeError("first call fails after creating tpl/v")
        return v
    t = tf.make_template("tpl", body2)
    results = []
    for _ in range(3):
        try:
            results.append({"ok": t().name})
        except Exception as e:
            results.append({"error": type(e).__name__, "message": str(e).split("\n")[0]})
    out["template_failed_first_call"] = results

json.dump(out, sys.stdout, indent=1)
print()
