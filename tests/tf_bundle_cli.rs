//! The CLI with TF bundles: `build --format`, `convert` both ways, `inspect`/`verify`
//! on either format, `build --init-from --map` from the bundle TF wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use varscope::checkpoint::{bundle_index_path, load_safetensors, AnyCheckpoint, CheckpointFormat};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tiny.toml");
const FINETUNE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/tf_bundle/finetune.toml"
);
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/tf_bundle/sharded/model.ckpt"
);

fn varscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_varscope"))
        .args(args)
        .output()
        .expect("run varscope")
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("varscope-tfcli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn build_writes_a_bundle_by_default_for_a_non_safetensors_name() {
    let d = TempDir::new("build");
    ok(varscope(&[
        "build",
        TINY,
        "-o",
        &d.path("m.ckpt"),
        "--quiet",
        "--shards",
        "2",
    ]));
    let c = AnyCheckpoint::open(Path::new(&d.path("m.ckpt"))).unwrap();
    assert_eq!(c.format(), CheckpointFormat::TfBundle);
    ok(varscope(&[
        "build",
        TINY,
        "-o",
        &d.path("s.ckpt"),
        "--quiet",
        "--format",
        "safetensors",
    ]));
    let c = AnyCheckpoint::open(Path::new(&d.path("s.ckpt"))).unwrap();
    assert_eq!(c.format(), CheckpointFormat::Safetensors);
    // inspect and verify take either format (and the bundle's index name).
    let out = ok(varscope(&[
        "inspect",
        &bundle_index_path(Path::new(&d.path("m.ckpt")))
            .display()
            .to_string(),
    ]));
    assert!(out.contains("format: TF bundle (2 data shards)"), "{out}");
    assert!(ok(varscope(&["verify", TINY, &d.path("m.ckpt")])).contains("match bit for bit"));
    assert!(ok(varscope(&["verify", TINY, &d.path("s.ckpt")])).contains("match bit for bit"));
    // A bundle of another seed does not verify.
    ok(varscope(&[
        "build",
        TINY,
        "-o",
        &d.path("o.ckpt"),
        "--quiet",
        "--seed",
        "8",
    ]));
    let o = varscope(&["verify", TINY, &d.path("o.ckpt")]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn convert_round_trips_values_and_partition_layout() {
    let d = TempDir::new("convert");
    let st = d.path("a.safetensors");
    ok(varscope(&["build", TINY, "-o", &st, "--quiet"]));
    ok(varscope(&["convert", &st, &d.path("b")]));
    let b = AnyCheckpoint::open(Path::new(&d.path("b"))).unwrap();
    // net/emb/weights and net/big/table are partitioned (3 and 4) in tiny.toml: one entry with its 3 slices.
    assert_eq!(b.entries().unwrap()["net/emb/weights"].slices.len(), 3);
    assert_eq!(b.entries().unwrap()["net/big/table"].slices.len(), 4);
    ok(varscope(&[
        "convert",
        &d.path("b.index"),
        &d.path("c.safetensors"),
    ]));
    let a = load_safetensors(Path::new(&st)).unwrap();
    let c = load_safetensors(Path::new(&d.path("c.safetensors"))).unwrap();
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        c.tensors.keys().collect::<Vec<_>>()
    );
    for (n, t) in &a.tensors {
        assert_eq!(t.to_le_bytes(), c.tensors[n].to_le_bytes(), "{n}");
        assert_eq!(t.dtype(), c.tensors[n].dtype());
    }
    for (k, v) in a
        .metadata
        .iter()
        .filter(|(k, _)| k.starts_with("partition:"))
    {
        assert_eq!(c.metadata.get(k), Some(v), "{k}");
    }
    assert!(ok(varscope(&["verify", TINY, &d.path("c.safetensors")])).contains("match bit for bit"));
}

#[test]
fn convert_and_inspect_read_what_tf_wrote() {
    let d = TempDir::new("fixture");
    let out = ok(varscope(&["inspect", FIXTURE]));
    assert!(out.contains("format: TF bundle (2 data shards)"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("emb") && l.trim_end().ends_with('3')),
        "{out}"
    );
    ok(varscope(&["convert", FIXTURE, &d.path("f.safetensors")]));
    let f = load_safetensors(Path::new(&d.path("f.safetensors"))).unwrap();
    let r = AnyCheckpoint::open(Path::new(FIXTURE)).unwrap();
    assert_eq!(f.tensors["body/w32"], r.read("body/w32").unwrap());
    assert_eq!(f.tensors["body/emb/part_1"].shape().dims(), &[2, 2]);
}

#[test]
fn init_from_with_a_scope_map_restores_the_body_only() {
    let d = TempDir::new("initfrom");
    ok(varscope(&[
        "build",
        FINETUNE,
        "-o",
        &d.path("plain.safetensors"),
        "--quiet",
    ]));
    let out = ok(varscope(&[
        "build",
        FINETUNE,
        "-o",
        &d.path("ft.safetensors"),
        "--init-from",
        FIXTURE,
        "--map",
        "body/=enc/",
    ]));
    assert!(out.contains("init-from: 11 tensors"), "{out}");
    let plain = load_safetensors(Path::new(&d.path("plain.safetensors"))).unwrap();
    let ft = load_safetensors(Path::new(&d.path("ft.safetensors"))).unwrap();
    let tf = AnyCheckpoint::open(Path::new(FIXTURE)).unwrap();
    for n in [
        "w32", "w64", "h16", "bf", "i32", "i64", "flags", "step", "empty",
    ] {
        assert_eq!(
            ft.tensors[&format!("enc/{n}")],
            tf.read(&format!("body/{n}")).unwrap(),
            "{n}"
        );
    }
    let emb = tf.read("body/emb").unwrap().to_f64_vec();
    let part0 = ft.tensors["enc/emb/part_0"].to_f64_vec();
    assert_eq!(part0, emb[..part0.len()].to_vec());
    assert_eq!(
        ft.tensors["head/output_weights"],
        plain.tensors["head/output_weights"]
    );
    // Without --map every name maps to itself: enc/ is not in the checkpoint.
    let o = varscope(&[
        "build",
        FINETUNE,
        "-o",
        &d.path("x.safetensors"),
        "--quiet",
        "--init-from",
        FIXTURE,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("model.ckpt") && err.contains("enc/"), "{err}");
    assert!(!Path::new(&d.path("x.safetensors")).exists());
}

#[test]
fn neither_format_is_a_clear_error() {
    let d = TempDir::new("junk");
    std::fs::write(d.path("junk.bin"), b"this is not a checkpoint").unwrap();
    let o = varscope(&["inspect", &d.path("junk.bin")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a safetensors file or TF bundle") && err.contains("junk.bin"),
        "{err}"
    );
}
