//! Safetensors file IO: round trips, compatibility with the `safetensors` crate,
//! the header reader, corrupt files and failed saves.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use varscope::checkpoint::{
    load_safetensors, read_header, save_safetensors, LoadedCheckpoint, TensorInfo,
};
use varscope::{DType, Error, ErrorKind, Tensor};

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "varscope-ckpt-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn sample_tensors() -> BTreeMap<String, Tensor> {
    let mut m = BTreeMap::new();
    m.insert(
        "f16".to_string(),
        Tensor::from_vec(
            vec![
                f16::from_f32(1.5),
                f16::from_f32(-2.0),
                f16::NAN,
                f16::INFINITY,
            ],
            [2, 2],
        )
        .unwrap(),
    );
    m.insert(
        "bf16".to_string(),
        Tensor::from_vec(
            (0..6).map(|i| bf16::from_f32(i as f32 * 0.25)).collect(),
            [3, 2],
        )
        .unwrap(),
    );
    m.insert(
        "scope/w/part_0".to_string(),
        Tensor::from_vec((0..24).map(|i| i as f32 / 7.0).collect(), [2, 3, 4]).unwrap(),
    );
    m.insert(
        "f64".to_string(),
        Tensor::from_vec(vec![std::f64::consts::PI, -0.0, f64::MAX], [3]).unwrap(),
    );
    m.insert(
        "i32".to_string(),
        Tensor::from_vec(vec![i32::MIN, -1, 0, 1, i32::MAX], [5, 1]).unwrap(),
    );
    m.insert(
        "i64".to_string(),
        Tensor::from_vec(vec![i64::MIN, 42, i64::MAX], [1, 3]).unwrap(),
    );
    m.insert(
        "bool".to_string(),
        Tensor::from_vec(vec![true, false, false, true, true], [5]).unwrap(),
    );
    // Scalars of every dtype.
    m.insert("scalar_f16".into(), Tensor::scalar(f16::from_f32(0.5)));
    m.insert("scalar_bf16".into(), Tensor::scalar(bf16::from_f32(-3.0)));
    m.insert("scalar_f32".into(), Tensor::scalar(7.25f32));
    m.insert("scalar_f64".into(), Tensor::scalar(-1e300f64));
    m.insert("scalar_i32".into(), Tensor::scalar(-9i32));
    m.insert("scalar_i64".into(), Tensor::scalar(1i64 << 40));
    m.insert("scalar_bool".into(), Tensor::scalar(true));
    // Empty tensors of every dtype.
    for dt in DType::ALL {
        let shape = varscope::Shape::new([0, 3]).unwrap();
        m.insert(format!("empty_{dt}"), Tensor::zeros(dt, &shape));
    }
    m.insert(
        "empty_1d".into(),
        Tensor::zeros(DType::F32, &varscope::Shape::new([0]).unwrap()),
    );
    m
}

/// Tensor equality that treats NaN as equal to NaN (bitwise for floats).
fn same(a: &Tensor, b: &Tensor) -> bool {
    a.dtype() == b.dtype() && a.shape() == b.shape() && a.to_le_bytes() == b.to_le_bytes()
}

fn save_map(path: &Path, m: &BTreeMap<String, Tensor>, meta: &BTreeMap<String, String>) -> u64 {
    save_safetensors(path, m.iter().map(|(k, v)| (k.clone(), v)), meta).unwrap()
}

#[test]
fn round_trip_every_dtype() {
    let dir = TempDir::new("roundtrip");
    let path = dir.path("model.safetensors");
    let tensors = sample_tensors();
    let meta = BTreeMap::from([
        ("format".to_string(), "varscope".to_string()),
        ("step".to_string(), "1234".to_string()),
        ("unicode ✓".to_string(), "\"quoted\"\n".to_string()),
    ]);
    let n = save_map(&path, &tensors, &meta);
    assert_eq!(n, fs::metadata(&path).unwrap().len());

    let loaded = load_safetensors(&path).unwrap();
    assert_eq!(loaded.metadata, meta);
    assert_eq!(
        loaded.tensors.keys().collect::<Vec<_>>(),
        tensors.keys().collect::<Vec<_>>()
    );
    for (name, t) in &tensors {
        let got = &loaded.tensors[name];
        assert!(same(got, t), "{name}: {got:?} != {t:?}");
    }
    // Without NaNs, plain equality holds too.
    assert_eq!(loaded.tensors["i64"], tensors["i64"]);
    assert_eq!(loaded.tensors["scalar_bool"], tensors["scalar_bool"]);
    assert_eq!(loaded.tensors["empty_bool"], tensors["empty_bool"]);
    // Only the target file is left in the directory.
    assert_eq!(dir.entries(), vec!["model.safetensors".to_string()]);
}

#[test]
fn empty_checkpoint_and_metadata() {
    let dir = TempDir::new("empty");
    let path = dir.path("e.safetensors");
    let none: Vec<(String, &Tensor)> = Vec::new();
    save_safetensors(&path, none, &BTreeMap::new()).unwrap();
    assert_eq!(
        load_safetensors(&path).unwrap(),
        LoadedCheckpoint::default()
    );

    let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
    let none: Vec<(String, &Tensor)> = Vec::new();
    save_safetensors(&path, none, &meta).unwrap();
    let loaded = load_safetensors(&path).unwrap();
    assert!(loaded.tensors.is_empty());
    assert_eq!(loaded.metadata, meta);
}

#[test]
fn non_contiguous_tensors_are_written_in_logical_order() {
    let dir = TempDir::new("layout");
    let path = dir.path("t.safetensors");
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1i32, 2, 3, 4, 5, 6]).unwrap();
    let t = Tensor::from_array(a.t().to_owned());
    let transposed_view = Tensor::from_array(a.clone().reversed_axes());
    save_safetensors(
        &path,
        [("a".to_string(), &t), ("b".to_string(), &transposed_view)],
        &BTreeMap::new(),
    )
    .unwrap();
    let loaded = load_safetensors(&path).unwrap();
    let expected = Tensor::from_vec(vec![1i32, 4, 2, 5, 3, 6], [3, 2]).unwrap();
    assert_eq!(loaded.tensors["a"], expected);
    assert_eq!(loaded.tensors["b"], expected);
}

#[test]
fn safetensors_crate_reads_our_files() {
    let dir = TempDir::new("compat");
    let path = dir.path("model.safetensors");
    let tensors = sample_tensors();
    let meta = BTreeMap::from([("step".to_string(), "7".to_string())]);
    save_map(&path, &tensors, &meta);
    let bytes = fs::read(&path).unwrap();

    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.len(), tensors.len());
    for (name, t) in &tensors {
        let view = st.tensor(name).unwrap();
        assert_eq!(view.shape(), t.shape().dims(), "{name}");
        let dtype = match t.dtype() {
            DType::F16 => safetensors::Dtype::F16,
            DType::BF16 => safetensors::Dtype::BF16,
            DType::F32 => safetensors::Dtype::F32,
            DType::F64 => safetensors::Dtype::F64,
            DType::I32 => safetensors::Dtype::I32,
            DType::I64 => safetensors::Dtype::I64,
            DType::Bool => safetensors::Dtype::BOOL,
            other => panic!("unexpected dtype {other}"),
        };
        assert_eq!(view.dtype(), dtype, "{name}");
        assert_eq!(view.data(), t.to_le_bytes().as_slice(), "{name}");
    }
    let (header_len, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(header_len % 8, 0, "header is padded to 8 bytes");
    let m = header.metadata().as_ref().unwrap();
    assert_eq!(m.get("step").map(String::as_str), Some("7"));

    // Tensors are laid out in sorted-name order.
    let mut offsets: Vec<(usize, String)> = tensors
        .keys()
        .map(|k| (header.info(k).unwrap().data_offsets.0, k.clone()))
        .collect();
    offsets.sort();
    let by_offset: Vec<&String> = offsets.iter().map(|(_, k)| k).collect();
    let mut sorted_nonempty: Vec<&String> = tensors.keys().collect();
    sorted_nonempty.sort();
    // Empty tensors share offsets with their neighbours, so compare non-empty ones only.
    let nonempty = |v: Vec<&String>| -> Vec<String> {
        v.into_iter()
            .filter(|k| !tensors[*k].is_empty())
            .cloned()
            .collect()
    };
    assert_eq!(nonempty(by_offset), nonempty(sorted_nonempty));
}

#[test]
fn we_read_files_of_the_safetensors_crate() {
    let dir = TempDir::new("theirs");
    let path = dir.path("theirs.safetensors");
    let w: Vec<u8> = [1.0f32, -2.0, 3.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let b: Vec<u8> = vec![1, 0];
    let views = vec![
        (
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3], &w).unwrap(),
        ),
        (
            "b",
            safetensors::tensor::TensorView::new(safetensors::Dtype::BOOL, vec![2], &b).unwrap(),
        ),
    ];
    let meta = std::collections::HashMap::from([("who".to_string(), "them".to_string())]);
    safetensors::serialize_to_file(views, &Some(meta), &path).unwrap();
    let loaded = load_safetensors(&path).unwrap();
    assert_eq!(
        loaded.tensors["w"],
        Tensor::from_vec(vec![1.0f32, -2.0, 3.5], [3]).unwrap()
    );
    assert_eq!(
        loaded.tensors["b"],
        Tensor::from_vec(vec![true, false], [2]).unwrap()
    );
    assert_eq!(loaded.metadata["who"], "them");
}

// ---------------------------------------------------------------------------------
// Corrupt files
// ---------------------------------------------------------------------------------

fn write_raw(path: &Path, header: &str, data: &[u8]) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    fs::write(path, bytes).unwrap();
}

/// Checks that loading `path` fails as a corrupt checkpoint, and that the header
/// reader agrees (unless only the data is bad); returns the load error's text.
fn expect_checkpoint_error(path: &Path, what: &str) -> String {
    let msg = match load_safetensors(path) {
        Err(e @ Error::Checkpoint { .. }) => {
            assert_eq!(e.kind(), ErrorKind::Checkpoint, "{what}");
            e.to_string()
        }
        other => panic!("{what}: expected Error::Checkpoint, got {other:?}"),
    };
    match read_header(path) {
        Err(e @ Error::Checkpoint { .. }) => assert_eq!(e.to_string(), msg, "{what}"),
        Ok(_) if what.contains("bool byte") => {}
        other => panic!("{what}: read_header: expected Error::Checkpoint, got {other:?}"),
    }
    msg
}

#[test]
fn truncated_files() {
    let dir = TempDir::new("trunc");
    let good = dir.path("good.safetensors");
    save_map(&good, &sample_tensors(), &BTreeMap::new());
    let bytes = fs::read(&good).unwrap();
    let bad = dir.path("bad.safetensors");
    // Every prefix shorter than the file is rejected (sampled to keep this fast).
    let mut cut = 0;
    while cut < bytes.len() {
        fs::write(&bad, &bytes[..cut]).unwrap();
        expect_checkpoint_error(&bad, &format!("truncated at {cut}"));
        cut += if cut < 64 { 1 } else { 7 };
    }
    fs::write(&bad, &bytes[..bytes.len() - 1]).unwrap();
    expect_checkpoint_error(&bad, "one byte short");
    // Extra bytes after the last tensor are rejected too.
    let mut longer = bytes.clone();
    longer.push(0);
    fs::write(&bad, &longer).unwrap();
    expect_checkpoint_error(&bad, "one byte too many");
    // The empty file.
    fs::write(&bad, b"").unwrap();
    let msg = expect_checkpoint_error(&bad, "empty file");
    assert!(msg.contains("too short"), "{msg}");
}

#[test]
fn garbage_and_malformed_headers() {
    let dir = TempDir::new("garbage");
    let p = dir.path("x.safetensors");
    let f32x2 = [0u8; 8];
    let cases: &[(&str, &str, &[u8])] = &[
        ("not json", "this is not json", &[]),
        ("not an object", "[1, 2, 3]", &[]),
        ("entry not an object", r#"{"a": 3}"#, &[]),
        (
            "missing dtype",
            r#"{"a": {"shape": [2], "data_offsets": [0, 8]}}"#,
            &f32x2,
        ),
        (
            "unknown dtype",
            r#"{"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}"#,
            &f32x2,
        ),
        (
            "fp8 dtype",
            r#"{"a": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}}"#,
            &f32x2,
        ),
        (
            "negative dim",
            r#"{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}"#,
            &f32x2,
        ),
        (
            "shape overflow",
            r#"{"a": {"dtype": "F32", "shape": [18446744073709551615, 4], "data_offsets": [0, 8]}}"#,
            &f32x2,
        ),
        (
            "size mismatch",
            r#"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#,
            &f32x2,
        ),
        (
            "reversed offsets",
            r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}"#,
            &f32x2,
        ),
        (
            "offsets past the end",
            r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}"#,
            &f32x2,
        ),
        (
            "contiguous but past the end",
            r#"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#,
            &f32x2,
        ),
        (
            "huge offsets",
            r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [18446744073709551608, 18446744073709551615]}}"#,
            &f32x2,
        ),
        (
            "overlap",
            r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
            &f32x2,
        ),
        (
            "gap",
            r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
            &f32x2,
        ),
        (
            "offsets not a pair",
            r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}"#,
            &f32x2,
        ),
        ("metadata not strings", r#"{"__metadata__": {"k": 1}}"#, &[]),
        ("metadata not an object", r#"{"__metadata__": [1]}"#, &[]),
        (
            "bad bool byte",
            r#"{"a": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}"#,
            &[1, 2],
        ),
    ];
    for (what, header, data) in cases {
        write_raw(&p, header, data);
        let m = expect_checkpoint_error(&p, what);
        println!("{what}: {m}");
    }
    // Invalid UTF-8 in the header.
    let mut bytes = 4u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x7b, 0x7d]);
    fs::write(&p, bytes).unwrap();
    expect_checkpoint_error(&p, "non-UTF-8 header");
    // A valid header padded with spaces is accepted.
    write_raw(
        &p,
        r#"{"a": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}}      "#,
        &f32x2,
    );
    assert_eq!(
        load_safetensors(&p).unwrap().tensors["a"],
        Tensor::from_vec(vec![0i32, 0], [2]).unwrap()
    );
}

#[test]
fn huge_header_length() {
    let dir = TempDir::new("huge");
    let p = dir.path("x.safetensors");
    for len in [u64::MAX, 1 << 40, 100_000_001, 1000] {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        fs::write(&p, bytes).unwrap();
        expect_checkpoint_error(&p, &format!("header length {len}"));
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = TempDir::new("missing");
    let path = dir.path("nope.safetensors");
    for result in [
        load_safetensors(&path).map(drop),
        read_header(&path).map(drop),
    ] {
        match result {
            Err(e @ Error::Io { .. }) => {
                assert_eq!(e.kind(), ErrorKind::Io);
                assert!(matches!(&e, Error::Io { path: p, .. } if *p == path));
                assert!(
                    e.to_string().starts_with(&path.display().to_string()),
                    "{e}"
                );
            }
            other => panic!("expected Error::Io, got {other:?}"),
        }
    }
}

#[test]
fn header_reader_describes_what_load_reads() {
    let dir = TempDir::new("header");
    let path = dir.path("h.safetensors");
    let tensors = sample_tensors();
    let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
    save_map(&path, &tensors, &meta);
    let header = read_header(&path).unwrap();
    let loaded = load_safetensors(&path).unwrap();
    assert_eq!(header.file_size, fs::metadata(&path).unwrap().len());
    assert_eq!(header.metadata, loaded.metadata);
    assert_eq!(
        header.tensors.keys().collect::<Vec<_>>(),
        loaded.tensors.keys().collect::<Vec<_>>()
    );
    let mut data = 0;
    for (name, t) in &loaded.tensors {
        let info: &TensorInfo = &header.tensors[name];
        assert_eq!(info.dtype, t.dtype(), "{name}");
        assert_eq!(info.shape, t.shape(), "{name}");
        assert_eq!(info.nbytes(), t.nbytes() as u64, "{name}");
        data += info.nbytes();
    }
    // Tensors are laid out in name order, back to back, after the header.
    let mut next = 0;
    for info in header.tensors.values() {
        assert_eq!(info.data_offsets.0, next);
        next = info.data_offsets.1;
    }
    assert_eq!(next, data);
    let header_len = u64::from_le_bytes(fs::read(&path).unwrap()[..8].try_into().unwrap());
    assert_eq!(header.file_size, 8 + header_len + data);
}

// ---------------------------------------------------------------------------------
// Failed saves
// ---------------------------------------------------------------------------------

#[test]
fn failed_saves_leave_the_previous_file_untouched() {
    let dir = TempDir::new("failed");
    let path = dir.path("model.safetensors");
    let original = sample_tensors();
    save_map(&path, &original, &BTreeMap::new());
    let before = fs::read(&path).unwrap();

    // Duplicate names: rejected before anything is written.
    let t = Tensor::scalar(1.0f32);
    let u = Tensor::scalar(2.0f32);
    let e = save_safetensors(
        &path,
        [
            ("x".to_string(), &t),
            ("y".to_string(), &t),
            ("x".to_string(), &u),
        ],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
    assert!(e.to_string().contains("duplicate tensor name 'x'"), "{e}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(dir.entries(), vec!["model.safetensors".to_string()]);

    // The reserved metadata key as a tensor name.
    let e =
        save_safetensors(&path, [("__metadata__".to_string(), &t)], &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
    assert_eq!(fs::read(&path).unwrap(), before);

    // Target directory missing.
    let missing = dir.path("no/such/dir/model.safetensors");
    let e = save_safetensors(&missing, [("x".to_string(), &t)], &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(!missing.exists());

    // The target is a non-empty directory: refused before anything is written.
    let blocker = dir.path("blocker");
    fs::create_dir(&blocker).unwrap();
    fs::write(blocker.join("keep"), b"keep").unwrap();
    let e = save_safetensors(&blocker, [("x".to_string(), &t)], &BTreeMap::new()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotRegularFile {
                file_type: "directory",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(fs::read(blocker.join("keep")).unwrap(), b"keep");

    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(
        dir.entries(),
        vec!["blocker".to_string(), "model.safetensors".to_string()],
        "no temporary file is left behind"
    );
    // The previous checkpoint still loads.
    let loaded = load_safetensors(&path).unwrap();
    assert_eq!(loaded.tensors.len(), original.len());
}

#[test]
fn overwrite_replaces_atomically() {
    let dir = TempDir::new("overwrite");
    let path = dir.path("model.safetensors");
    save_map(&path, &sample_tensors(), &BTreeMap::new());
    let t = Tensor::from_vec(vec![9i64; 4], [4]).unwrap();
    let n = save_safetensors(&path, [("only".to_string(), &t)], &BTreeMap::new()).unwrap();
    assert_eq!(n, fs::metadata(&path).unwrap().len());
    let loaded = load_safetensors(&path).unwrap();
    assert_eq!(loaded.tensors.len(), 1);
    assert_eq!(loaded.tensors["only"], t);
    assert_eq!(dir.entries(), vec!["model.safetensors".to_string()]);
}
