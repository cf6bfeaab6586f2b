//! Helpers shared by the TF-checklist integration tests.
#![allow(dead_code)]

use varscope::{
    get_variable, name_scope, DType, Graph, Init, Result, Tensor, Variable, GLOBAL_VARIABLES,
    LOCAL_VARIABLES, REGULARIZATION_LOSSES, TRAINABLE_VARIABLES,
};

/// The scalar shape `[]`.
pub const SCALAR: [usize; 0] = [];

/// A custom initializer filling the variable with `v` (in the variable's dtype).
///
/// Used where a TF test checks that a scope-level initializer *reaches* a variable: the
/// built-in constant initializer is implemented on another branch, while custom
/// initializers run at creation and give real values today.
pub fn fill(v: f64) -> Init {
    Init::custom(move |ctx| {
        Tensor::from_vec(vec![v; ctx.shape.num_elements()], ctx.shape.dims().to_vec())
            .map(|t| t.cast(ctx.dtype))
    })
}

/// `get_variable(name, [])`.
pub fn scalar(name: &str) -> Variable {
    get_variable(name).shape(SCALAR).build().unwrap()
}

/// The string `with name_scope(name) as ns` binds.
pub fn ns(name: &str) -> String {
    name_scope(name, |s| s.to_string()).unwrap()
}

/// `constant_op.constant([], name=name).name`.
pub fn constant(name: &str) -> String {
    format!(
        "{}:0",
        Graph::current().create_op("Const", Some(name)).unwrap()
    )
}

/// Python's `x + y`: an op of type `Add` named `add` (TF names it `add`).
pub fn add() -> String {
    format!(
        "{}:0",
        Graph::current().create_op("Add", Some("add")).unwrap()
    )
}

/// The values of a variable as `f64`.
pub fn values(v: &Variable) -> Vec<f64> {
    v.value().unwrap().to_f64_vec()
}

/// Names of a list of variables.
pub fn names(vs: &[Variable]) -> Vec<String> {
    vs.iter().map(Variable::name).collect()
}

/// Everything a failed call must leave unchanged.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub store_len: usize,
    pub slot_count: usize,
    pub entries: Vec<String>,
    pub global: usize,
    pub trainable: usize,
    pub local: usize,
    pub losses: usize,
    pub all: usize,
    pub values: Vec<(String, Vec<f64>)>,
    pub scope: String,
    pub name_stack: String,
}

/// Takes a [`Snapshot`] of `g` (reading every variable's value, which materializes it).
pub fn snapshot(g: &Graph) -> Snapshot {
    let entries: Vec<String> = g.store().entries().into_iter().map(|(k, _)| k).collect();
    let values = g
        .all_variables()
        .iter()
        .map(|v| {
            (
                v.name(),
                v.value().map(|t| t.to_f64_vec()).unwrap_or_default(),
            )
        })
        .collect();
    Snapshot {
        store_len: g.store().len(),
        slot_count: g.store().slot_count(),
        entries,
        global: g.collection_len(GLOBAL_VARIABLES),
        trainable: g.collection_len(TRAINABLE_VARIABLES),
        local: g.collection_len(LOCAL_VARIABLES),
        losses: g.collection_len(REGULARIZATION_LOSSES),
        all: g.all_variables().len(),
        values,
        scope: g.as_default(|| varscope::get_variable_scope().name()),
        name_stack: g.name_stack(),
    }
}

/// Builds `Tensor` from f32 values.
pub fn f32s(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(data.to_vec(), shape.to_vec()).unwrap()
}

/// Whether two float vectors agree to 1e-6.
pub fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

/// `dtype` of an `f32` scalar `v` (helper for readability).
pub fn scalar_dtype(r: Result<Variable>) -> DType {
    r.unwrap().dtype()
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// `varscope-<tag>-<pid>` under the system's temporary directory, emptied.
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("varscope-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    /// The path of `name` inside it.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }

    /// The path of `name` inside it, as a string (for command lines).
    pub fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the `varscope` binary and returns its peak resident memory in KiB (`VmHWM`
/// of `/proc/<pid>/status`, which only grows, read until the process exits).
#[cfg(target_os = "linux")]
pub fn peak_rss_kib(args: &[&str]) -> u64 {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_varscope"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "varscope {args:?} failed");
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
