//! The TF tensor-bundle reader: any index and data files give a value or a typed
//! error — never a panic, a hang or an allocation larger than the files.
//!
//! Input: a 2-byte little-endian index length, the index, then the data. The data is
//! written as the one shard of a 1-shard bundle and as both shards of a 2-shard one,
//! so an index claiming either count finds its files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use varscope::checkpoint::{bundle_data_path, bundle_index_path, BundleReader};

fn prefix() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("varscope-fuzz-{}.ckpt", std::process::id())))
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let n = usize::from(u16::from_le_bytes([input[0], input[1]])).min(input.len() - 2);
    let (index, data) = input[2..].split_at(n);
    let prefix = prefix();
    let mut files = vec![(bundle_index_path(prefix), index)];
    files.push((bundle_data_path(prefix, 0, 1), data));
    files.push((bundle_data_path(prefix, 0, 2), data));
    files.push((bundle_data_path(prefix, 1, 2), data));
    for (path, bytes) in &files {
        if std::fs::write(path, bytes).is_err() {
            return;
        }
    }
    let Ok(reader) = BundleReader::open(&bundle_index_path(prefix)) else {
        return;
    };
    for (name, entry) in reader.entries() {
        let _ = reader.read(name);
        for slice in &entry.slices {
            let _ = reader.read_slice(name, slice);
        }
    }
});
