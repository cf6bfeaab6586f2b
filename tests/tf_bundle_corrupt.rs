//! Corrupt and hostile bundles: typed errors, no panic, no allocation beyond the
//! files' sizes. Indexes are built here by hand (protobuf wire format, table blocks,
//! CRC32C) so that every field can be set to anything.

use std::path::{Path, PathBuf};
use varscope::checkpoint::{
    bundle_data_path, bundle_index_path, AnyCheckpoint, BundleReader, BundleWriter,
};
use varscope::{ErrorKind, Tensor};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("varscope-tfbad-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn mask(c: u32) -> u32 {
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(out: &mut Vec<u8>, tag: u64, v: i64) {
    varint(out, tag << 3);
    varint(out, v as u64);
}

fn field_bytes(out: &mut Vec<u8>, tag: u64, b: &[u8]) {
    varint(out, (tag << 3) | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn header(num_shards: i64, endianness: i64) -> Vec<u8> {
    let mut h = Vec::new();
    field_varint(&mut h, 1, num_shards);
    field_varint(&mut h, 2, endianness);
    h
}

fn entry(dtype: i64, dims: &[i64], offset: i64, size: i64, crc: u32) -> Vec<u8> {
    let mut shape = Vec::new();
    for &d in dims {
        let mut dim = Vec::new();
        field_varint(&mut dim, 1, d);
        field_bytes(&mut shape, 2, &dim);
    }
    let mut e = Vec::new();
    field_varint(&mut e, 1, dtype);
    field_bytes(&mut e, 2, &shape);
    field_varint(&mut e, 4, offset);
    field_varint(&mut e, 5, size);
    e.push((6 << 3) | 5);
    e.extend_from_slice(&crc.to_le_bytes());
    e
}

/// A table of one data block (no prefix sharing, one restart) with the given
/// compression type byte.
fn table(entries: &[(&[u8], Vec<u8>)], kind: u8) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, entries: &[(&[u8], Vec<u8>)], kind: u8) -> (u64, u64) {
        let start = out.len();
        for (k, v) in entries {
            varint(out, 0);
            varint(out, k.len() as u64);
            varint(out, v.len() as u64);
            out.extend_from_slice(k);
            out.extend_from_slice(v);
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        let size = out.len() - start;
        let mut with_type = out[start..].to_vec();
        with_type.push(kind);
        let crc = mask(crc32c(&with_type));
        out.push(kind);
        out.extend_from_slice(&crc.to_le_bytes());
        (start as u64, size as u64)
    }
    let mut out = Vec::new();
    let data = block(&mut out, entries, kind);
    let meta = block(&mut out, &[], 0);
    let mut handle = Vec::new();
    varint(&mut handle, data.0);
    varint(&mut handle, data.1);
    let index = block(&mut out, &[(b"zzzz", handle)], 0);
    let mut footer = Vec::new();
    for (o, s) in [meta, index] {
        varint(&mut footer, o);
        varint(&mut footer, s);
    }
    footer.resize(40, 0);
    footer.extend_from_slice(&0x8b80_fb57u32.to_le_bytes());
    footer.extend_from_slice(&0xdb47_7524u32.to_le_bytes());
    out.extend_from_slice(&footer);
    out
}

fn write_bundle(dir: &Path, index: &[u8], data: &[u8]) -> PathBuf {
    let prefix = dir.join("m");
    std::fs::write(bundle_index_path(&prefix), index).unwrap();
    std::fs::write(bundle_data_path(&prefix, 0, 1), data).unwrap();
    prefix
}

fn open_err(prefix: &Path) -> varscope::Error {
    BundleReader::open(prefix).unwrap_err()
}

#[test]
fn a_hand_built_bundle_reads() {
    let d = tmp("hand");
    let data: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let idx = table(
        &[
            (b"", header(1, 0)),
            (b"w", entry(1, &[2], 0, 8, mask(crc32c(&data)))),
        ],
        0,
    );
    let r = BundleReader::open(&write_bundle(&d, &idx, &data)).unwrap();
    assert_eq!(r.read("w").unwrap().to_f64_vec(), vec![1.5, -2.0]);
}

#[test]
fn truncated_index_and_bad_block_checksum() {
    let d = tmp("index");
    let prefix = d.join("m");
    let mut w = BundleWriter::new(&prefix, 1).unwrap();
    w.add("a/w", &Tensor::from_vec(vec![1.0f32; 8], [2, 4]).unwrap())
        .unwrap();
    w.finish().unwrap();
    let index = std::fs::read(bundle_index_path(&prefix)).unwrap();
    for cut in [1, 8, 30, index.len() - 10, index.len()] {
        std::fs::write(bundle_index_path(&prefix), &index[..index.len() - cut]).unwrap();
        let e = open_err(&prefix);
        assert_eq!(e.kind(), ErrorKind::Checkpoint, "cut {cut}: {e}");
        assert!(e.to_string().contains("m.index"), "{e}");
    }
    let mut flipped = index.clone();
    flipped[5] ^= 0x40;
    std::fs::write(bundle_index_path(&prefix), &flipped).unwrap();
    let e = open_err(&prefix);
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    // Every single-byte flip of the index is an error or, at worst, a different valid
    // index; never a panic.
    for i in 0..index.len() {
        let mut f = index.clone();
        f[i] ^= 0xff;
        std::fs::write(bundle_index_path(&prefix), &f).unwrap();
        let _ = BundleReader::open(&prefix).map(|r| r.read("a/w"));
    }
}

#[test]
fn bad_entry_checksum_is_found_on_read() {
    let d = tmp("data");
    let prefix = d.join("m");
    let mut w = BundleWriter::new(&prefix, 1).unwrap();
    w.add("w", &Tensor::from_vec(vec![1i64, 2, 3], [3]).unwrap())
        .unwrap();
    w.finish().unwrap();
    let data_path = bundle_data_path(&prefix, 0, 1);
    let mut data = std::fs::read(&data_path).unwrap();
    data[9] ^= 1;
    std::fs::write(&data_path, &data).unwrap();
    let r = BundleReader::open(&prefix).unwrap();
    let e = r.read("w").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint);
    assert!(
        e.to_string().contains("data checksum mismatch") && e.to_string().contains("tensor w"),
        "{e}"
    );
    // A data file shorter than the index says.
    std::fs::write(&data_path, &data[..20]).unwrap();
    let e = open_err(&prefix);
    assert!(
        e.to_string().contains("runs past the end of the data file"),
        "{e}"
    );
    std::fs::remove_file(&data_path).unwrap();
    assert_eq!(open_err(&prefix).kind(), ErrorKind::Io);
}

#[test]
fn hostile_entries_are_refused_without_allocating() {
    let d = tmp("hostile");
    let data = vec![0u8; 16];
    let crc = mask(crc32c(&data));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Offset past the data file.
        (entry(1, &[4], 8, 16, crc), "runs past the end"),
        (entry(1, &[4], i64::MAX, 16, crc), "runs past the end"),
        // Absurd shapes: overflowing elements, overflowing bytes, terabytes claimed.
        (entry(1, &[1 << 40, 1 << 40], 0, 16, crc), "more elements"),
        (entry(1, &[1 << 31, 1 << 31], 0, 16, crc), "cannot hold"),
        (
            entry(1, &[1 << 20, 1 << 20], 0, 4 << 40, crc),
            "runs past the end",
        ),
        (entry(1, &[-3], 0, 16, crc), "bad dimension"),
        (entry(1, &[4], -1, 16, crc), "negative"),
        // Size disagreeing with the shape.
        (entry(1, &[3], 0, 16, crc), "cannot hold"),
    ];
    for (e, want) in cases {
        let idx = table(&[(b"", header(1, 0)), (b"w", e)], 0);
        let err = open_err(&write_bundle(&d, &idx, &data));
        assert_eq!(err.kind(), ErrorKind::Checkpoint, "{err}");
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
}

#[test]
fn header_problems_and_compressed_blocks() {
    let d = tmp("header");
    let data = vec![0u8; 4];
    let e = entry(3, &[1], 0, 4, mask(crc32c(&data)));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            table(&[(b"", header(1, 1)), (b"w", e.clone())], 0),
            "big-endian",
        ),
        (
            table(&[(b"", header(0, 0)), (b"w", e.clone())], 0),
            "shards",
        ),
        (
            table(&[(b"", header(1 << 30, 0)), (b"w", e.clone())], 0),
            "shards",
        ),
        (table(&[(b"w", e.clone())], 0), "no bundle header"),
        (
            table(&[(b"", header(1, 0)), (b"w", e.clone())], 1),
            "snappy",
        ),
        (
            table(&[(b"", header(1, 0)), (b"w", e.clone())], 7),
            "compression type 7",
        ),
        (
            table(&[(b"", vec![0xff, 0xff]), (b"w", e.clone())], 0),
            "bad bundle header",
        ),
    ];
    for (idx, want) in cases {
        let err = open_err(&write_bundle(&d, &idx, &data));
        assert_eq!(err.kind(), ErrorKind::Checkpoint, "{err}");
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    // A dtype varscope does not have (DT_STRING) is listed as unsupported, not fatal.
    let idx = table(
        &[
            (b"", header(1, 0)),
            (b"s", entry(7, &[], 0, 0, 0)),
            (b"w", e),
        ],
        0,
    );
    let r = BundleReader::open(&write_bundle(&d, &idx, &data)).unwrap();
    assert_eq!(r.unsupported().get("s"), Some(&7));
    assert_eq!(r.read("w").unwrap().to_f64_vec(), vec![0.0]);
    assert_eq!(r.read("s").unwrap_err().kind(), ErrorKind::NotFound);
    // Neither format.
    std::fs::write(d.join("x.index"), b"short").unwrap();
    let err = AnyCheckpoint::open(&d.join("x.index")).unwrap_err();
    assert!(
        err.to_string()
            .contains("not a safetensors file or TF bundle"),
        "{err}"
    );
}
