//! Model summaries: the scope tree with each variable's shape, dtype, parameter
//! count, bytes and shards, for a built model or a checkpoint file.

use super::build::BuiltModel;
use super::units::{format_bytes, group_digits};
use crate::checkpoint::{CheckpointHeader, PartitionInfo};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::variable::AnyVariable;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One variable of a summary (a partitioned variable is one entry).
///
/// ```
/// use varscope::model::{build_model, ModelSpec};
/// use varscope::{Graph, Runtime};
/// let spec = ModelSpec::from_toml_str(
///     "[[scopes]]\nname = \"net\"\nmodules = [{ type = \"layer_norm\", name = \"ln\", dim = 4 }]\n",
/// ).unwrap();
/// let model = build_model(&spec, &Runtime::new(1).unwrap(), &Graph::with_seed(1)).unwrap();
/// let summary = model.summary();
/// assert_eq!(summary.total_params(), 8);
/// assert_eq!(summary.tensor_count(), 2);
/// let text = summary.render();
/// assert!(text.contains("net/") && text.contains("gamma"), "{text}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryEntry {
    /// Full name (`scope/v`).
    pub name: String,
    /// Full shape.
    pub shape: Vec<usize>,
    /// dtype.
    pub dtype: DType,
    /// Number of shards (1 when not partitioned).
    pub shards: usize,
}

impl SummaryEntry {
    /// Number of elements.
    pub fn params(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
    /// Size in bytes.
    pub fn nbytes(&self) -> u64 {
        self.params() * self.dtype.size() as u64
    }
}

/// A model's variables, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// The variables.
    pub entries: Vec<SummaryEntry>,
}

impl Summary {
    /// The summary of a built model.
    pub fn from_model(model: &BuiltModel) -> Summary {
        let entries = model
            .variables()
            .iter()
            .map(|v| SummaryEntry {
                name: match v {
                    AnyVariable::Single(s) => s.checkpoint_name().to_string(),
                    AnyVariable::Partitioned(p) => p.name().to_string(),
                },
                shape: v.shape().dims().to_vec(),
                dtype: v.dtype(),
                shards: match v {
                    AnyVariable::Single(_) => 1,
                    AnyVariable::Partitioned(p) => p.len(),
                },
            })
            .collect();
        Summary { entries }
    }

    /// The summary of a checkpoint, from its header ([`crate::checkpoint::read_header`]):
    /// shards listed in `partition:<name>` metadata are grouped into their variable.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for malformed partition metadata or a shard it lists that
    /// the file does not hold.
    pub fn from_header(header: &CheckpointHeader) -> Result<Summary> {
        let mut grouped = BTreeSet::new();
        let mut entries = Vec::new();
        for (name, info) in PartitionInfo::all_from_metadata(&header.metadata)? {
            let mut dtype = None;
            for s in &info.shards {
                let t = header.tensors.get(&s.name).ok_or_else(|| {
                    Error::corrupt(format!("shard {} of {name} is missing", s.name))
                })?;
                dtype = Some(t.dtype);
                grouped.insert(s.name.clone());
            }
            entries.push(SummaryEntry {
                name,
                shape: info.full_shape.clone(),
                dtype: dtype.unwrap_or(DType::F32),
                shards: info.shards.len(),
            });
        }
        for (name, t) in &header.tensors {
            if !grouped.contains(name) {
                entries.push(SummaryEntry {
                    name: name.clone(),
                    shape: t.shape.dims().to_vec(),
                    dtype: t.dtype,
                    shards: 1,
                });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Summary { entries })
    }

    /// Total parameters.
    pub fn total_params(&self) -> u64 {
        self.entries.iter().map(SummaryEntry::params).sum()
    }

    /// Total bytes.
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(SummaryEntry::nbytes).sum()
    }

    /// Number of checkpoint tensors (shards counted individually).
    pub fn tensor_count(&self) -> usize {
        self.entries.iter().map(|e| e.shards).sum()
    }

    /// The scope tree as text: one row per scope (with subtotals) and per variable,
    /// then the totals.
    pub fn render(&self) -> String {
        struct Row {
            label: String,
            shape: String,
            dtype: String,
            params: u64,
            bytes: u64,
            shards: String,
        }
        let mut subtotal: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for e in &self.entries {
            let parts: Vec<&str> = e.name.split('/').collect();
            for i in 1..parts.len() {
                let t = subtotal.entry(parts[..i].join("/")).or_default();
                t.0 += e.params();
                t.1 += e.nbytes();
            }
        }
        let mut rows = Vec::new();
        let mut open: Vec<String> = Vec::new();
        for e in &self.entries {
            let parts: Vec<&str> = e.name.split('/').collect();
            let scopes = &parts[..parts.len() - 1];
            let common = open
                .iter()
                .zip(scopes.iter())
                .take_while(|(a, b)| a == b)
                .count();
            open.truncate(common);
            for (depth, s) in scopes.iter().enumerate().skip(common) {
                open.push((*s).to_string());
                let (params, bytes) = subtotal[&scopes[..=depth].join("/")];
                rows.push(Row {
                    label: format!("{}{s}/", "  ".repeat(depth)),
                    shape: String::new(),
                    dtype: String::new(),
                    params,
                    bytes,
                    shards: String::new(),
                });
            }
            let shape = format!(
                "[{}]",
                e.shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            rows.push(Row {
                label: format!("{}{}", "  ".repeat(scopes.len()), parts[parts.len() - 1]),
                shape,
                dtype: e.dtype.name().to_string(),
                params: e.params(),
                bytes: e.nbytes(),
                shards: e.shards.to_string(),
            });
        }
        let w_label = rows.iter().map(|r| r.label.len()).max().unwrap_or(0).max(8);
        let w_shape = rows.iter().map(|r| r.shape.len()).max().unwrap_or(0).max(5);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w_label$}  {:<w_shape$}  {:<8}  {:>14}  {:>10}  {:>6}",
            "VARIABLE", "SHAPE", "DTYPE", "PARAMS", "BYTES", "SHARDS"
        );
        for r in &rows {
            let _ = writeln!(
                out,
                "{:<w_label$}  {:<w_shape$}  {:<8}  {:>14}  {:>10}  {:>6}",
                r.label,
                r.shape,
                r.dtype,
                group_digits(r.params),
                format_bytes(r.bytes),
                r.shards
            );
        }
        let _ = writeln!(
            out,
            "total: {} parameters in {} variables ({} tensors), {}",
            group_digits(self.total_params()),
            self.entries.len(),
            self.tensor_count(),
            format_bytes(self.total_bytes())
        );
        out
    }
}
