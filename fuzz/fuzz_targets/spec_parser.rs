//! The TOML model spec parser and validator: any text gives a spec or a positioned
//! `SpecError`, never a panic. A spec that parses is also built (variables are
//! created, never initialized) when it is small, and its summary rendered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use varscope::model::{build_model, ModelSpec};
use varscope::{Graph, Runtime};

/// Bounds on what a parsed spec may ask for before it is built (the build itself is
/// bounded by other checks; this keeps each run short).
const MAX_TEXT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > MAX_TEXT {
        return;
    }
    let Ok(spec) = ModelSpec::from_toml_str(text) else {
        return;
    };
    // Repeats and large sizes multiply the work of a build (not its memory: values
    // are never initialized here): build only specs without them.
    let large_number = text
        .split(|c: char| !c.is_ascii_digit())
        .any(|digits| digits.len() > 4);
    if text.contains("repeat") || large_number {
        return;
    }
    let Ok(rt) = Runtime::new(1) else { return };
    let g = Graph::with_seed(spec.seed);
    if let Ok(model) = build_model(&spec, &rt, &g) {
        let _ = model.param_count();
        let _ = model.nbytes();
        let _ = model.summary().render();
    }
});
