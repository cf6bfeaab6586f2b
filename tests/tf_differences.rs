//! Documented differences from TF1, checked against traces recorded from TensorFlow
//! 2.21 (`tests/data/tf_differences/`): TF's side as recorded, varscope's as designed.

use serde_json::Value;
use varscope::partition::FixedSizePartitioner;
use varscope::{get_variable, Graph, Init};

fn tf_event(name: &str) -> Value {
    let text = include_str!("data/tf_differences/shard_values.json");
    let v: Value = serde_json::from_str(text).unwrap();
    v["scenarios"][0]["expect"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name || e["at"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no event {name}"))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// README difference 2: TF gives both shards of a seeded random initializer the same
/// values; varscope's shards are the halves of the unpartitioned variable.
#[test]
fn seeded_random_shards_repeat_in_tf_and_are_slices_here() {
    let tf = floats(&tf_event("rn")["values"]);
    assert_eq!(tf.len(), 8);
    assert_eq!(tf[..4], tf[4..], "TF repeats the shard's values");

    let g = Graph::with_seed(1);
    let (part, whole) = g.as_default(|| {
        let init = || Init::random_normal(0.0, 1.0).with_seed(3);
        let part = get_variable("rn")
            .shape([4, 2])
            .partitioner(FixedSizePartitioner::new(2, 0))
            .initializer(init())
            .build_partitioned()
            .unwrap();
        let whole = get_variable("whole")
            .shape([4, 2])
            .initializer(init())
            .build()
            .unwrap();
        (
            part.as_tensor().unwrap().to_f64_vec(),
            whole.value().unwrap().to_f64_vec(),
        )
    });
    assert_eq!(part, whole, "varscope: the shards are slices of one draw");
    assert_ne!(part[..4], part[4..]);
    // TF's first shard is the first half of that same draw (float32 within a few ulp).
    for (a, b) in tf[..4].iter().zip(&whole[..4]) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

/// README difference 2: TF restarts a list constant in every shard and rejects a list
/// longer than a shard; varscope slices it.
#[test]
fn list_constants_are_sliced_here_and_rejected_per_shard_in_tf() {
    let e = tf_event("2");
    assert_eq!(e["error"], "other");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("Takes at most 2, but got 4"));
    let g = Graph::with_seed(1);
    let vals = g.as_default(|| {
        get_variable("cl")
            .shape([4])
            .partitioner(FixedSizePartitioner::new(2, 0))
            .initializer(Init::constant_list(vec![1.0, 2.0, 3.0, 4.0]))
            .build_partitioned()
            .unwrap()
            .as_tensor()
            .unwrap()
            .to_f64_vec()
    });
    assert_eq!(vals, [1.0, 2.0, 3.0, 4.0]);
}

fn checks() -> Value {
    serde_json::from_str(include_str!("data/tf_differences/checks.json")).unwrap()
}

fn names(vars: &[varscope::Variable]) -> Vec<String> {
    vars.iter().map(|v| v.name().to_string()).collect()
}

/// README difference 3: TF filters a scope's collection by the scope name as a regex
/// (`a.b` lists `axb/v`, `x\d` lists `x5/u` but not its own `x\d/u`); varscope by the
/// literal prefix.
#[test]
fn collection_filters_are_literal_here_and_regexes_in_tf() {
    let tf = &checks()["collection_filter"];
    assert_eq!(tf["a.b"], serde_json::json!(["axb/v:0", "a.b/w:0"]));
    assert_eq!(tf["x\\d"], serde_json::json!(["x5/u:0"]));
    let g = Graph::with_seed(1);
    g.as_default(|| -> varscope::Result<()> {
        for (scope, var) in [("axb", "v"), ("a.b", "w"), ("x5", "u"), ("x\\d", "u")] {
            varscope::variable_scope(scope).enter(|_| get_variable(var).shape([1]).build())?;
        }
        let ab = varscope::variable_scope("a.b").enter(|s| s.global_variables())?;
        let xd = varscope::variable_scope("x\\d").enter(|s| s.global_variables())?;
        assert_eq!(names(&ab), ["a.b/w:0"]);
        assert_eq!(names(&xd), ["x\\d/u:0"]);
        Ok(())
    })
    .unwrap();
}

/// README difference 6 (the part that agrees with TF): a first call that fails after
/// creating a variable leaves the template uncalled, so the next call is a first call
/// again in the same scope, and fails as TF's does ("already exists").
#[test]
fn a_failed_first_call_is_retried_as_a_first_call_like_tf() {
    let tf = checks()["template_failed_first_call"].clone();
    assert_eq!(tf[0]["error"], "RuntimeError");
    for e in &tf.as_array().unwrap()[1..] {
        assert_eq!(e["error"], "ValueError");
        assert!(e["message"]
            .as_str()
            .unwrap()
            .starts_with("Variable tpl/v already exists, disallowed."));
    }
    let g = Graph::with_seed(1);
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = g
        .as_default(|| {
            varscope::make_template("tpl", move || {
                let v = get_variable("v").shape([1]).build()?;
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return Err(varscope::Error::InvalidArgument {
                        message: "first call fails".into(),
                    });
                }
                Ok(v)
            })
            .build()
        })
        .unwrap();
    let results: Vec<_> = (0..3).map(|_| g.as_default(|| t.call())).collect();
    assert!(results[0]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("first call fails"));
    for r in &results[1..] {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), varscope::ErrorKind::AlreadyExists, "{e}");
        assert!(e
            .to_string()
            .starts_with("Variable tpl/v already exists, disallowed."));
    }
}

/// README difference 6: a template calling itself during its first call. TF runs the
/// inner call with reuse on (it gets the outer call's `tpl/v:0`); varscope reports
/// `Reentrant`, and the template stays uncalled.
#[test]
fn a_reentrant_first_call_reuses_in_tf_and_is_an_error_here() {
    let tf = &checks()["template_reentrant"];
    assert_eq!(tf["outer"], "tpl/v:0");
    assert_eq!(tf["inner"], "tpl/v:0");
    assert_eq!(tf["same"], true);
    let g = Graph::with_seed(1);
    type Slot = std::sync::Arc<std::sync::Mutex<Option<varscope::Template<varscope::Variable>>>>;
    let me: Slot = Default::default();
    let t = {
        let me = me.clone();
        g.as_default(|| {
            varscope::make_template("tpl", move || {
                let v = get_variable("v").shape([1]).build()?;
                if let Some(t) = me.lock().unwrap().clone() {
                    t.call()?;
                }
                Ok(v)
            })
            .build()
        })
        .unwrap()
    };
    *me.lock().unwrap() = Some(t.clone());
    let e = g.as_default(|| t.call()).unwrap_err();
    assert_eq!(e.kind(), varscope::ErrorKind::Reentrant, "{e}");
    me.lock().unwrap().take();
    assert_eq!(names(&g.global_variables()), ["tpl/v:0"]);
}
