"""Records what TF1's layers create, for tests/layers.rs and tests/bert.rs.

Run with a TensorFlow 2.21 virtualenv that also has `tf-keras` 2.21 (the legacy
`tf.compat.v1.layers` live there since Keras 3):

    TF_USE_LEGACY_KERAS=1 python tests/data/layers/record.py

It writes `layers.json` (the scenarios below, each with the variables TF created or
the error it raised) and `bert.json` (the 206 variables of google-research/bert's
`modeling.py` BertModel plus the pretraining heads of `run_pretraining.py`).

`tf.contrib` is gone from TF 2.x, so `layer_norm` is re-implemented here exactly as
`tf.contrib.layers.layer_norm` creates its variables: `variable_scope(scope,
default_name="LayerNorm", reuse=reuse)`, then `model_variable("beta", zeros)` and
`model_variable("gamma", ones)`, both of the last dimension's size, in the
`variables` and `model_variables` collections.
"""

import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()
tf.get_logger().setLevel("ERROR")

HERE = os.path.dirname(os.path.abspath(__file__))

# The collections a variable is looked up in (those the layers touch).
KEYS = ["variables", "trainable_variables", "model_variables", "local_variables"]


def layer_norm(inputs, scope=None, reuse=None):
    """The variable-creating part of tf.contrib.layers.layer_norm."""
    with tf.variable_scope(scope, "LayerNorm", [inputs], reuse=reuse):
        shape = inputs.shape[-1:]
        cols = [tf.GraphKeys.GLOBAL_VARIABLES, tf.GraphKeys.MODEL_VARIABLES]
        beta = tf.get_variable(
            "beta", shape=shape, dtype=inputs.dtype,
            initializer=tf.zeros_initializer(), collections=cols)
        gamma = tf.get_variable(
            "gamma", shape=shape, dtype=inputs.dtype,
            initializer=tf.ones_initializer(), collections=cols)
        # model_variable adds trainable variables to TRAINABLE_VARIABLES too
        # (get_variable does so whenever trainable=True and collections are given).
        del beta, gamma
        return inputs


def reuse_arg(r):
    return {None: None, True: True, False: False, "auto": tf.AUTO_REUSE}[r]


def initializer(spec):
    if spec is None:
        return None
    kind = spec["kind"]
    if kind == "truncated_normal":
        return tf.truncated_normal_initializer(stddev=spec["stddev"])
    if kind == "zeros":
        return tf.zeros_initializer()
    if kind == "ones":
        return tf.ones_initializer()
    raise ValueError(kind)


def run(steps):
    for step in steps:
        do = step["do"]
        name = step.get("name")
        reuse = reuse_arg(step.get("reuse"))
        if do == "variable_scope":
            with tf.variable_scope(name, default_name=step.get("default_name"),
                                   reuse=reuse):
                run(step.get("body", []))
        elif do == "dense":
            x = tf.placeholder(tf.float32, [None, step["inputs"]])
            tf.layers.dense(
                x, step["units"], name=name, reuse=reuse,
                use_bias=step.get("use_bias", True),
                kernel_initializer=initializer(step.get("kernel_initializer")))
        elif do == "conv2d":
            kh, kw = step["kernel_size"]
            x = tf.placeholder(tf.float32, [None, 8, 8, step["in_channels"]])
            tf.layers.conv2d(x, step["filters"], [kh, kw], name=name, reuse=reuse,
                             use_bias=step.get("use_bias", True))
        elif do == "batch_normalization":
            x = tf.placeholder(tf.float32, [None, step["channels"]])
            tf.layers.batch_normalization(
                x, name=name, reuse=reuse, center=step.get("center", True),
                scale=step.get("scale", True))
        elif do == "layer_norm":
            x = tf.placeholder(tf.float32, [None, step["dim"]])
            layer_norm(x, scope=name, reuse=reuse)
        elif do == "embedding":
            # What BERT's embedding_lookup does: one get_variable, no scope of its own.
            tf.get_variable(name, [step["vocab"], step["dim"]],
                            initializer=initializer(step.get("initializer")))
        else:
            raise ValueError(do)


def describe(sess, graph, v):
    op = v.initial_value.op
    kind = op.name.split("/Initializer/")[-1]
    init = {"kind": kind}
    if kind == "random_uniform":
        lo, hi = sess.run([op.name + "/min:0", op.name + "/max:0"])
        init.update(minval=float(lo), maxval=float(hi))
    elif kind == "truncated_normal":
        mean, std = sess.run([op.name + "/mean:0", op.name + "/stddev:0"])
        init.update(mean=float(mean), stddev=float(std))
    return {
        "name": v.op.name,
        "shape": [int(d) for d in v.shape],
        "dtype": v.dtype.base_dtype.name,
        "trainable": v in graph.get_collection("trainable_variables"),
        "collections": [k for k in KEYS if v in graph.get_collection(k)],
        "initializer": init,
    }


def record(scenario):
    graph = tf.Graph()
    out = dict(scenario)
    with graph.as_default():
        try:
            run(scenario["steps"])
            out["error"] = None
        except (ValueError, TypeError) as e:
            out["error"] = str(e).split("\n")[0].split(" Originally defined at")[0]
        with tf.Session(graph=graph) as sess:
            out["variables"] = [describe(sess, graph, v)
                                for v in graph.get_collection("variables")]
    return out


def dense(**kw):
    return dict({"do": "dense", "inputs": 4, "units": 3}, **kw)


def scope(name, body, **kw):
    return dict({"do": "variable_scope", "name": name, "body": body}, **kw)


SCENARIOS = [
    {"name": "dense_repeated_default_name", "steps": [dense(), dense(), dense(units=2)]},
    {"name": "dense_explicit_name", "steps": [dense(name="proj"), dense()]},
    {"name": "dense_explicit_name_twice_is_an_error",
     "steps": [dense(name="proj"), dense(name="proj")]},
    {"name": "dense_explicit_name_reuse_true",
     "steps": [dense(name="proj"), dense(name="proj", reuse=True)]},
    {"name": "dense_explicit_name_auto_reuse",
     "steps": [dense(name="proj", reuse="auto"), dense(name="proj", reuse="auto")]},
    {"name": "dense_default_name_reuse_true_is_not_uniquified",
     "steps": [dense(), dense(reuse=True)]},
    {"name": "dense_default_name_reuse_true_missing_is_an_error",
     "steps": [dense(reuse=True)]},
    {"name": "dense_in_auto_reuse_scope_still_uniquified",
     "steps": [scope("s", [dense(), dense(), dense(name="p"), dense(name="p")],
                     reuse="auto")]},
    {"name": "dense_nested_scopes",
     "steps": [scope("outer", [dense(), scope("inner", [dense(), dense()]), dense()]),
               scope(None, [dense()], default_name="block"),
               scope(None, [dense()], default_name="block")]},
    {"name": "dense_reentered_scope_restarts_the_counter",
     "steps": [scope("outer", [dense()]), scope("outer", [dense()])]},
    {"name": "dense_no_bias_and_initializer",
     "steps": [dense(use_bias=False),
               dense(name="init", kernel_initializer={"kind": "truncated_normal",
                                                       "stddev": 0.02})]},
    {"name": "dense_reuse_scope_shares",
     "steps": [scope("tower", [dense(name="fc"), dense()]),
               scope("tower", [dense(name="fc"), dense()], reuse=True)]},
    {"name": "conv2d_repeated_and_named",
     "steps": [{"do": "conv2d", "in_channels": 2, "filters": 4, "kernel_size": [3, 3]},
               {"do": "conv2d", "in_channels": 4, "filters": 8, "kernel_size": [1, 5]},
               {"do": "conv2d", "in_channels": 8, "filters": 8, "kernel_size": [3, 3],
                "name": "stem", "use_bias": False}]},
    {"name": "conv2d_reuse",
     "steps": [{"do": "conv2d", "in_channels": 2, "filters": 4, "kernel_size": [3, 3],
                "name": "c"},
               {"do": "conv2d", "in_channels": 2, "filters": 4, "kernel_size": [3, 3],
                "name": "c", "reuse": True}]},
    {"name": "batch_normalization_repeated_and_named",
     "steps": [{"do": "batch_normalization", "channels": 5},
               {"do": "batch_normalization", "channels": 3},
               {"do": "batch_normalization", "channels": 2, "name": "bn",
                "center": False},
               {"do": "batch_normalization", "channels": 2, "name": "bn2",
                "scale": False}]},
    {"name": "batch_normalization_auto_reuse",
     "steps": [scope("s", [{"do": "batch_normalization", "channels": 4, "name": "bn"},
                           {"do": "batch_normalization", "channels": 4, "name": "bn"}],
                     reuse="auto")]},
    {"name": "layer_norm_repeated_and_named",
     "steps": [{"do": "layer_norm", "dim": 6},
               {"do": "layer_norm", "dim": 6},
               {"do": "layer_norm", "dim": 4, "name": "ln"},
               scope("attention", [{"do": "layer_norm", "dim": 6}])]},
    {"name": "layer_norm_named_twice_is_an_error",
     "steps": [{"do": "layer_norm", "dim": 6, "name": "ln"},
               {"do": "layer_norm", "dim": 6, "name": "ln"}]},
    {"name": "layer_norm_reuse",
     "steps": [{"do": "layer_norm", "dim": 6},
               {"do": "layer_norm", "dim": 6, "name": "LayerNorm", "reuse": True}]},
    {"name": "layer_norm_reuse_without_a_name_is_an_error",
     "steps": [{"do": "layer_norm", "dim": 6},
               {"do": "layer_norm", "dim": 6, "reuse": True}]},
    {"name": "layer_norm_auto_reuse_without_a_name_is_an_error",
     "steps": [{"do": "layer_norm", "dim": 6, "reuse": "auto"}]},
    {"name": "layer_norm_in_reusing_scope",
     "steps": [scope("s", [{"do": "layer_norm", "dim": 6}]),
               scope("s", [{"do": "layer_norm", "dim": 6}], reuse=True)]},
    {"name": "embedding_in_scope",
     "steps": [scope("embeddings", [
         {"do": "embedding", "name": "word_embeddings", "vocab": 11, "dim": 4,
          "initializer": {"kind": "truncated_normal", "stddev": 0.02}},
         {"do": "embedding", "name": "plain", "vocab": 3, "dim": 4}])]},
    {"name": "mixed_layers_share_one_counter_per_name",
     "steps": [dense(), {"do": "layer_norm", "dim": 3}, dense(),
               {"do": "batch_normalization", "channels": 3},
               {"do": "conv2d", "in_channels": 1, "filters": 1, "kernel_size": [1, 1]},
               {"do": "conv2d", "in_channels": 1, "filters": 1, "kernel_size": [1, 1],
                "name": "dense"}]},
]


# ---- BERT -------------------------------------------------------------------------


def bert_variables():
    """BertModel (modeling.py) + get_masked_lm_output / get_next_sentence_output
    (run_pretraining.py) for bert_config.json of BERT-base, variable creation only."""
    vocab, hidden, layers, inter, max_pos, type_vocab = 30522, 768, 12, 3072, 512, 2
    init = lambda: tf.truncated_normal_initializer(stddev=0.02)  # noqa: E731
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, hidden])
        xi = tf.placeholder(tf.float32, [None, inter])
        with tf.variable_scope("bert"):
            with tf.variable_scope("embeddings"):
                tf.get_variable("word_embeddings", [vocab, hidden], initializer=init())
                tf.get_variable("token_type_embeddings", [type_vocab, hidden],
                                initializer=init())
                tf.get_variable("position_embeddings", [max_pos, hidden],
                                initializer=init())
                layer_norm(x)
            with tf.variable_scope("encoder"):
                for i in range(layers):
                    with tf.variable_scope("layer_%d" % i):
                        with tf.variable_scope("attention"):
                            with tf.variable_scope("self"):
                                for n in ["query", "key", "value"]:
                                    tf.layers.dense(x, hidden, name=n,
                                                    kernel_initializer=init())
                            with tf.variable_scope("output"):
                                tf.layers.dense(x, hidden, kernel_initializer=init())
                                layer_norm(x)
                        with tf.variable_scope("intermediate"):
                            tf.layers.dense(x, inter, kernel_initializer=init())
                        with tf.variable_scope("output"):
                            tf.layers.dense(xi, hidden, kernel_initializer=init())
                            layer_norm(x)
            with tf.variable_scope("pooler"):
                tf.layers.dense(x, hidden, activation=tf.tanh, kernel_initializer=init())
        # run_pretraining.py: get_masked_lm_output
        with tf.variable_scope("cls/predictions"):
            with tf.variable_scope("transform"):
                tf.layers.dense(x, hidden, kernel_initializer=init())
                layer_norm(x)
            tf.get_variable("output_bias", shape=[vocab],
                            initializer=tf.zeros_initializer())
        # get_next_sentence_output
        with tf.variable_scope("cls/seq_relationship"):
            tf.get_variable("output_weights", shape=[2, hidden], initializer=init())
            tf.get_variable("output_bias", shape=[2], initializer=tf.zeros_initializer())
        with tf.Session(graph=graph) as sess:
            return [describe(sess, graph, v) for v in graph.get_collection("variables")]


def main():
    out = {
        "tensorflow": tf.__version__,
        "scenarios": [record(s) for s in SCENARIOS],
    }
    with open(os.path.join(HERE, "layers.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    bert = bert_variables()
    with open(os.path.join(HERE, "bert.json"), "w") as f:
        json.dump({"tensorflow": tf.__version__, "variables": bert}, f, indent=1)
        f.write("\n")
    print(len(SCENARIOS), "scenarios,", len(bert), "BERT variables", file=sys.stderr)


if __name__ == "__main__":
    main()
