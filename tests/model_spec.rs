//! Model specs: parsing, positioned errors, building on the runtime, determinism.

use std::path::PathBuf;
use varscope::model::{build_model, BuiltModel, ModelSpec, SpecError};
use varscope::{AnyVariable, DType, ErrorKind, Graph, Runtime};

const TINY: &str = include_str!("../examples/tiny.toml");

fn build(spec: &ModelSpec, workers: usize) -> BuiltModel {
    let rt = Runtime::new(workers).unwrap();
    let g = Graph::with_seed(spec.seed);
    let m = build_model(spec, &rt, &g).unwrap();
    rt.shutdown().unwrap();
    m
}

fn names(m: &BuiltModel) -> Vec<String> {
    m.tensors()
        .iter()
        .map(|v| v.checkpoint_name().to_string())
        .collect()
}

fn err(text: &str) -> SpecError {
    ModelSpec::from_toml_str(text).unwrap_err()
}

#[test]
fn default_spec_is_about_300m_parameters() {
    let spec = ModelSpec::default_spec();
    let m = build(&spec, 2);
    assert_eq!(m.param_count(), 300_437_505);
    assert_eq!(m.nbytes(), 300_437_504 * 4 + 8);
    let token = m
        .variables()
        .iter()
        .find(|v| v.name() == "model/embeddings/token/weights")
        .expect("partitioned token embedding");
    match token {
        AnyVariable::Partitioned(p) => assert_eq!(p.len(), 8),
        other => panic!("expected a partitioned embedding, got {other:?}"),
    }
    // Four towers share one set of 21 layers.
    let layers: std::collections::BTreeSet<String> = names(&m)
        .into_iter()
        .filter_map(|n| {
            n.strip_prefix("model/tower/")
                .map(|r| r.split('/').next().unwrap().to_string())
        })
        .collect();
    assert_eq!(layers.len(), 22, "{layers:?}"); // layer_0..layer_20 and final
    assert!(!names(&m).iter().any(|n| n.contains("tower_")));
}

#[test]
fn tiny_spec_builds_shared_tied_templated_partitioned_variables() {
    let spec = ModelSpec::from_toml_str(TINY).unwrap();
    let m = build(&spec, 3);
    let n = names(&m);
    for expected in [
        "net/tower/layer_0/attention/q/kernel",
        "net/tower/layer_1/mlp/fc2/bias",
        "net/tower/layer_1/ln/gamma",
        "head/proj/kernel",
        "net/emb/weights/part_0",
        "net/emb/weights/part_2",
        "net/stem/kernel",
        "net/step",
        "net/half/dense/kernel",
        "net/big/table/part_0",
    ] {
        assert!(
            n.iter().any(|x| x == expected),
            "{expected} missing from {n:?}"
        );
    }
    assert!(!n
        .iter()
        .any(|x| x.contains("layer_2") || x.contains("head_1")));
    let g = m.graph();
    let any = |name: &str| g.store().get(name).unwrap();
    assert_eq!(any("net/half/dense/kernel").dtype(), DType::BF16);
    assert_eq!(any("net/stem/kernel").shape().dims(), &[3, 3, 2, 4]);
    let step = any("net/step").into_single().unwrap();
    assert_eq!(step.dtype(), DType::I64);
    assert!(!step.trainable());
    let table = any("net/big/table").into_partitioned().unwrap();
    assert!(table.len() > 1);
    // The tie fetched the embedding again without creating anything.
    assert_eq!(any("net/emb/weights").into_partitioned().unwrap().len(), 3);
    assert_eq!(m.summary().entries.len(), m.variables().len());
}

#[test]
fn names_do_not_depend_on_workers() {
    let spec = ModelSpec::from_toml_str(TINY).unwrap();
    let a = names(&build(&spec, 1));
    let b = names(&build(&spec, 4));
    assert_eq!(a, b);
}

#[test]
fn same_seed_gives_identical_checkpoints_for_any_workers_and_threads() {
    let spec = ModelSpec::from_toml_str(TINY).unwrap();
    let dir = tempdir("determinism");
    let mut files = Vec::new();
    for (workers, threads) in [(1, 1), (4, 3), (2, 2)] {
        let m = build(&spec, workers);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| m.initialize(|_| {})).unwrap();
        let path = dir.join(format!("w{workers}t{threads}.safetensors"));
        m.save(&path, &m.checkpoint_metadata(&spec)).unwrap();
        files.push(std::fs::read(&path).unwrap());
    }
    assert!(files.windows(2).all(|w| w[0] == w[1]));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("varscope-spec-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn unknown_key_is_rejected_with_position() {
    let e = err("seed = 1\n[[scopes]]\nname = \"a\"\nrepeats = 3\n");
    assert_eq!((e.line, e.column), (Some(4), Some(1)));
    assert_eq!(e.key.as_deref(), Some("scopes[0].repeats"));
    assert!(e.message.contains("unknown field `repeats`"), "{e}");
    assert!(e
        .to_string()
        .starts_with("line 4, column 1: key `scopes[0].repeats`"));
}

#[test]
fn errors_inside_modules_name_the_field() {
    let e = err("[[scopes]]\nname = \"a\"\nmodules = [\n  { type = \"dense\", inputs = \"x\", units = 2 },\n]\n");
    assert_eq!(e.key.as_deref(), Some("scopes[0].modules[0].inputs"));
    assert_eq!((e.line, e.column), (Some(4), Some(30)));
    let e =
        err("[[scopes]]\nname = \"a\"\nmodules = [{ type = \"dense\", inputs = 0, units = 2 }]\n");
    assert_eq!(e.key.as_deref(), Some("scopes[0].modules[0].inputs"));
    assert!(e.message.contains("positive"), "{e}");
    let e = err("[[scopes]]\nname = \"a\"\nmodules = [{ type = \"densy\" }]\n");
    assert_eq!(e.key.as_deref(), Some("scopes[0].modules[0].type"));
    assert!(e.message.contains("unknown variant `densy`"), "{e}");
    let e = err("[[scopes]]\nname = \"a\"\ninitializer = { kind = \"zeros\", mean = 1 }\n");
    assert_eq!(e.key.as_deref(), Some("scopes[0].initializer.mean"));
    assert_eq!(e.line, Some(3));
    let e = err("[[scopes]]\nname = \"a\"\nmodules = [{ type = \"embedding\", vocab = 3, dim = 2, partitioner = { kind = \"fixed\", shards = -1 } }]\n");
    assert_eq!(
        e.key.as_deref(),
        Some("scopes[0].modules[0].partitioner.shards")
    );
    assert_eq!((e.line, e.column), (Some(3), Some(95)));
    let e = err("[[scopes]]\nname = \"a\"\ndtype = \"float8\"\n");
    assert_eq!(e.key.as_deref(), Some("scopes[0].dtype"));
    assert!(e.message.contains("unknown dtype `float8`"), "{e}");
}

#[test]
fn semantic_errors_have_positions_too() {
    let e = err("[[scopes]]\nname = \"a\"\n\n[[scopes]]\nname = \"b\"\nblock = \"nope\"\n");
    assert_eq!(e.key.as_deref(), Some("scopes[1].block"));
    assert_eq!(e.line, Some(6));
    let e = err("[[scopes]]\nname = \"a\"\nmodules = [\n  { type = \"attention\", dim = 10, heads = 3 },\n]\n");
    assert_eq!(e.key.as_deref(), Some("scopes[0].modules[0].heads"));
    assert_eq!(e.line, Some(4));
    let e = err("[[scopes]]\nname = \"a\"\nshare = true\n");
    assert_eq!(e.key.as_deref(), Some("scopes[0].share"));
    let e = err("[[scopes]]\nname = \"bad name\"\n");
    assert_eq!(e.key.as_deref(), Some("scopes[0].name"));
    assert_eq!(e.line, Some(2));
}

#[test]
fn syntax_errors_have_positions() {
    let e = err("seed = 1\n[[scopes]\nname = \"a\"\n");
    assert_eq!(e.line, Some(2));
    assert!(e.column.is_some());
}

#[test]
fn reuse_yes_of_a_missing_variable_fails_the_build() {
    let spec = ModelSpec::from_toml_str(
        "[[scopes]]\nname = \"a\"\nreuse = \"yes\"\nmodules = [{ type = \"dense\", inputs = 2, units = 2 }]\n",
    )
    .unwrap();
    let rt = Runtime::new(2).unwrap();
    let e = build_model(&spec, &rt, &Graph::with_seed(0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn summary_renders_scopes_and_totals() {
    let spec = ModelSpec::from_toml_str(TINY).unwrap();
    let m = build(&spec, 2);
    let text = m.summary().render();
    assert!(text.contains("net/"), "{text}");
    assert!(text.contains("[50, 16]"), "{text}");
    let total = format!("total: {} parameters", grouped(m.param_count()));
    assert!(text.contains(&total), "{text}");
}

/// `1234567` → `"1,234,567"`, as summaries print counts.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
