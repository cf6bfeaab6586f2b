//! The one safetensors header reader and what is built on it: `read_header` (with
//! its partition-metadata checks), `load_safetensors`, the `inspect` summary, and
//! restoring into a graph whose variables have the file's shapes. Any file gives a
//! value or a typed error, never a panic or an allocation larger than the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use varscope::checkpoint::{load_safetensors, read_header};
use varscope::model::Summary;
use varscope::restore::restore;
use varscope::{get_variable, Graph};

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        std::env::temp_dir().join(format!("varscope-fuzz-{}.safetensors", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let header = read_header(path);
    let loaded = load_safetensors(path);
    // One reader: the header reads exactly when the file loads (a BOOL byte other
    // than 0 or 1 is the one thing only loading sees).
    match (&header, &loaded) {
        (Err(h), Ok(_)) => panic!("read_header failed ({h}) but load succeeded"),
        (Ok(_), Err(l)) if !l.to_string().contains("BOOL") => {
            panic!("read_header succeeded but load failed: {l}")
        }
        _ => {}
    }
    if let Ok(h) = &header {
        if let Ok(s) = Summary::from_header(h) {
            let _ = s.render();
        }
    }
    if let Ok(ckpt) = &loaded {
        // A graph with one variable per tensor (and per partitioned variable), to
        // restore into.
        let g = Graph::with_seed(1);
        g.as_default(|| {
            for (name, t) in &ckpt.tensors {
                let _ = get_variable(name).shape(t.shape()).dtype(t.dtype()).build();
            }
            for (key, _) in &ckpt.metadata {
                if let Some(name) = key.strip_prefix("partition:") {
                    if let Ok(Some(info)) =
                        varscope::checkpoint::PartitionInfo::from_metadata(&ckpt.metadata, name)
                    {
                        let dtype = info
                            .shards
                            .first()
                            .and_then(|s| ckpt.tensors.get(&s.name))
                            .map(|t| t.dtype());
                        if let Some(dtype) = dtype {
                            let _ = get_variable(name)
                                .shape(info.full_shape.clone())
                                .dtype(dtype)
                                .build();
                        }
                    }
                }
            }
        });
        let _ = restore(&g, ckpt);
    }
});
