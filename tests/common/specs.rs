//! Model specs and a temporary directory shared by the TF-bundle streaming and
//! sharding tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("varscope-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names in the directory, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

/// The built-in default model, shrunk (the same structure, smaller dims and depth).
pub fn default_small() -> String {
    read("src/model/default.toml")
        .replace("4096", "512")
        .replace("1024", "128")
        .replace("32000", "4000")
        .replace("2048", "300")
        .replace("repeat = 21", "repeat = 2")
}

/// BERT-base's structure with small dims.
pub fn bert_small() -> String {
    read("examples/bert.toml")
        .replace("vocab = 30522", "vocab = 3001")
        .replace("hidden = 768", "hidden = 96")
        .replace("layers = 12", "layers = 2")
        .replace("intermediate = 3072", "intermediate = 384")
        .replace("max_position = 512", "max_position = 64")
}

/// Every dtype, whole-tensor initializers, partitioned variables along either axis,
/// tensors larger than a buffer and an empty one.
pub const MIXED: &str = r#"
seed = 11
[[scopes]]
name = "m"
modules = [
  { type = "variable", name = "ortho_parts", shape = [90, 40], initializer = { kind = "orthogonal" }, partitioner = { kind = "fixed", shards = 3 } },
  { type = "variable", name = "ones", shape = [100001], initializer = { kind = "ones" } },
  { type = "variable", name = "half", shape = [400, 333], dtype = "float16", initializer = { kind = "random_normal" } },
  { type = "variable", name = "brain", shape = [333, 400], dtype = "bfloat16", initializer = { kind = "truncated_normal" } },
  { type = "variable", name = "double", shape = [250, 301], dtype = "float64", initializer = { kind = "glorot_uniform" } },
  { type = "variable", name = "ints", shape = [70000], dtype = "int32", initializer = { kind = "random_uniform", min = -5, max = 100 } },
  { type = "variable", name = "longs", shape = [3, 30000], dtype = "int64", initializer = { kind = "random_uniform", min = 0, max = 1000 } },
  { type = "variable", name = "flags", shape = [1001], dtype = "bool", initializer = { kind = "zeros" } },
  { type = "variable", name = "cols", shape = [200, 1000], initializer = { kind = "he_normal" }, partitioner = { kind = "fixed", shards = 7, axis = 1 } },
  { type = "variable", name = "rows", shape = [1000, 300], initializer = { kind = "truncated_normal", stddev = 0.1 }, partitioner = { kind = "fixed", shards = 4 } },
  { type = "variable", name = "empty", shape = [0, 5] },
]
"#;

/// Two tensors only: more data files than tensors leaves some empty.
pub const TWO: &str = r#"
seed = 5
[[scopes]]
name = "n"
modules = [{ type = "dense", inputs = 40, units = 30 }]
"#;

/// The specs the equality tests run over: (name, TOML).
pub fn specs() -> Vec<(&'static str, String)> {
    vec![
        ("tiny", read("examples/tiny.toml")),
        ("client", read("examples/client.toml")),
        ("default-small", default_small()),
        ("bert-small", bert_small()),
        ("mixed", MIXED.to_string()),
        ("two", TWO.to_string()),
    ]
}

/// The files of the bundle at `prefix` with `n` data files: (suffix, bytes).
pub fn bundle_files(prefix: &Path, n: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut names = vec![".index".to_string()];
    names.extend((0..n).map(|i| format!(".data-{i:05}-of-{n:05}")));
    for suffix in names {
        let mut p = prefix.as_os_str().to_owned();
        p.push(&suffix);
        let bytes = std::fs::read(PathBuf::from(&p))
            .unwrap_or_else(|e| panic!("{}: {e}", PathBuf::from(&p).display()));
        out.push((suffix, bytes));
    }
    out
}

/// Panics unless the bundles at `a` and `b` (with `n` data files) are byte-identical.
pub fn assert_same_bundle(a: &Path, b: &Path, n: usize, what: &str) {
    let (x, y) = (bundle_files(a, n), bundle_files(b, n));
    for ((sa, ba), (_, bb)) in x.iter().zip(&y) {
        assert!(
            ba == bb,
            "{what}: {sa} differs ({} vs {} bytes)",
            ba.len(),
            bb.len()
        );
    }
}
