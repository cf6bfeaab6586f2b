//! Model summaries: the scope tree with each variable's shape, dtype, parameter
//! count, bytes and shards, for a built model or a checkpoint file.

use super::build::BuiltModel;
use super::units::{format_bytes, group_digits};
use crate::checkpoint::{checked_partitions, CheckpointHeader};
use crate::dtype::DType;
use crate::error::Result;
use crate::variable::AnyVariable;
use std::collections::HashSet;
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
    /// Number of elements (saturating at `u64::MAX`).
    pub fn params(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .unwrap_or(if self.shape.contains(&0) { 0 } else { u64::MAX })
    }
    /// Size in bytes (saturating at `u64::MAX`).
    pub fn nbytes(&self) -> u64 {
        self.params().saturating_mul(self.dtype.size() as u64)
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
    /// [`Error::Checkpoint`](crate::Error::Checkpoint) for partition metadata that
    /// [`read_header`](crate::checkpoint::read_header) rejects: malformed, or listing
    /// a shard the header does not hold, of another shape or dtype, or twice.
    pub fn from_header(header: &CheckpointHeader) -> Result<Summary> {
        // The checks of the header reader (`read_header` has already run them on a
        // header it returned; a header built by hand gets them here).
        let partitions = checked_partitions(&header.metadata, |name| {
            header.tensors.get(name).map(|t| (t.dtype, t.shape.dims()))
        })?;
        let grouped: HashSet<&str> = partitions
            .values()
            .flat_map(|(info, _)| info.shards.iter().map(|s| s.name.as_str()))
            .collect();
        let mut entries = Vec::with_capacity(header.tensors.len());
        for (name, (info, dtype)) in &partitions {
            entries.push(SummaryEntry {
                name: name.clone(),
                shape: info.full_shape.clone(),
                dtype: dtype.unwrap_or(DType::F32),
                shards: info.shards.len(),
            });
        }
        for (name, t) in &header.tensors {
            if !grouped.contains(name.as_str()) {
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

    /// Total parameters (saturating).
    pub fn total_params(&self) -> u64 {
        self.entries
            .iter()
            .map(SummaryEntry::params)
            .fold(0, u64::saturating_add)
    }

    /// Total bytes (saturating).
    pub fn total_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(SummaryEntry::nbytes)
            .fold(0, u64::saturating_add)
    }

    /// Number of checkpoint tensors (shards counted individually).
    pub fn tensor_count(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.shards)
            .fold(0, usize::saturating_add)
    }

    /// The scope tree as text: one row per scope (with subtotals) and per variable,
    /// then the totals.
    ///
    /// Time and memory are linear in the total length of the names: rows are
    /// indented by at most 32 levels, and columns are aligned only up to 160
    /// characters (a longer label or shape pushes its row's other
    /// columns right).
    pub fn render(&self) -> String {
        self.render_weighted(&[])
    }

    /// [`render`](Summary::render), each entry's sizes counted `weights[i]` times
    /// (1 when absent) in the rows of the scopes it is in.
    fn render_weighted(&self, weights: &[u64]) -> String {
        struct Row<'a> {
            depth: usize,
            label: &'a str,
            slash: bool,
            shape: String,
            dtype: &'static str,
            params: u64,
            bytes: u64,
            shards: String,
        }
        // Entries are sorted by name, so a scope's variables are consecutive: keep the
        // open scopes on a stack, with the index of each one's row, and add every
        // entry's sizes to the rows of the scopes it is in as they close.
        let mut rows: Vec<Row<'_>> = Vec::with_capacity(self.entries.len());
        // (scope name, row index, params, bytes)
        let mut open: Vec<(&str, usize, u64, u64)> = Vec::new();
        let close =
            |rows: &mut Vec<Row<'_>>, open: &mut Vec<(&str, usize, u64, u64)>, keep: usize| {
                while open.len() > keep {
                    if let Some((_, row, params, bytes)) = open.pop() {
                        if let Some(r) = rows.get_mut(row) {
                            r.params = params;
                            r.bytes = bytes;
                        }
                        if let Some(parent) = open.last_mut() {
                            parent.2 = parent.2.saturating_add(params);
                            parent.3 = parent.3.saturating_add(bytes);
                        }
                    }
                }
            };
        for (index, e) in self.entries.iter().enumerate() {
            let weight = weights.get(index).copied().unwrap_or(1);
            let (scopes, leaf) = match e.name.rsplit_once('/') {
                Some((scopes, leaf)) => (Some(scopes), leaf),
                None => (None, e.name.as_str()),
            };
            let parts: Vec<&str> = scopes.map(|s| s.split('/').collect()).unwrap_or_default();
            let common = open
                .iter()
                .zip(&parts)
                .take_while(|((a, ..), b)| a == *b)
                .count();
            close(&mut rows, &mut open, common);
            for (depth, s) in parts.iter().enumerate().skip(common) {
                open.push((s, rows.len(), 0, 0));
                rows.push(Row {
                    depth,
                    label: s,
                    slash: true,
                    shape: String::new(),
                    dtype: "",
                    params: 0,
                    bytes: 0,
                    shards: String::new(),
                });
            }
            let mut shape = String::from("[");
            for (i, d) in e.shape.iter().enumerate() {
                if i > 0 {
                    shape.push_str(", ");
                }
                let _ = write!(shape, "{d}");
            }
            shape.push(']');
            if let Some(parent) = open.last_mut() {
                parent.2 = parent.2.saturating_add(e.params().saturating_mul(weight));
                parent.3 = parent.3.saturating_add(e.nbytes().saturating_mul(weight));
            }
            rows.push(Row {
                depth: parts.len(),
                label: leaf,
                slash: false,
                shape,
                dtype: e.dtype.name(),
                params: e.params(),
                bytes: e.nbytes(),
                shards: e.shards.to_string(),
            });
        }
        close(&mut rows, &mut open, 0);
        let label_len =
            |r: &Row<'_>| 2 * r.depth.min(MAX_INDENT) + r.label.len() + usize::from(r.slash);
        let w_label = rows
            .iter()
            .map(label_len)
            .max()
            .unwrap_or(0)
            .clamp(8, MAX_COLUMN);
        let w_shape = rows
            .iter()
            .map(|r| r.shape.len())
            .max()
            .unwrap_or(0)
            .clamp(5, MAX_COLUMN);
        let mut out = String::new();
        let mut line =
            |label: &[&str], shape: &str, dtype: &str, params: &str, bytes: &str, shards: &str| {
                let mut n = 0;
                for l in label {
                    out.push_str(l);
                    n += l.len();
                }
                pad(&mut out, w_label.saturating_sub(n));
                out.push_str("  ");
                out.push_str(shape);
                pad(&mut out, w_shape.saturating_sub(shape.len()));
                let _ = writeln!(out, "  {dtype:<8}  {params:>14}  {bytes:>10}  {shards:>6}");
            };
        line(&["VARIABLE"], "SHAPE", "DTYPE", "PARAMS", "BYTES", "SHARDS");
        for r in &rows {
            let indent = "  ".repeat(r.depth.min(MAX_INDENT));
            line(
                &[&indent, r.label, if r.slash { "/" } else { "" }],
                &r.shape,
                r.dtype,
                &group_digits(r.params),
                &format_bytes(r.bytes),
                &r.shards,
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

impl Summary {
    /// [`render`](Summary::render) with repeated scopes folded: the scopes `X_0`,
    /// `X_1`, … of one parent whose variables are all alike (same names below them,
    /// shapes, dtypes and shards) are shown once, as `X_0 … X_20 ×21`: its row and
    /// those of the scopes above it count all of them, the rows below it one. The
    /// totals are the whole model's.
    ///
    /// ```
    /// use varscope::model::{Summary, SummaryEntry};
    /// use varscope::DType;
    /// let entries = (0..21)
    ///     .map(|i| SummaryEntry { name: format!("enc/layer_{i}/w"), shape: vec![4], dtype: DType::F32, shards: 1 })
    ///     .collect();
    /// let text = Summary { entries }.render_folded();
    /// assert!(text.contains("layer_0 … layer_20 ×21/"), "{text}");
    /// assert!(!text.contains("layer_1/"), "{text}");
    /// assert!(text.contains("total: 84 parameters in 21 variables"), "{text}");
    /// ```
    pub fn render_folded(&self) -> String {
        let (entries, weights) = fold_repeats(&self.entries);
        let folded = Summary { entries };
        let full = self.render();
        let mut text = folded.render_weighted(&weights);
        // The last line is the totals: the whole model's.
        if let (Some(i), Some(j)) = (text.rfind("total: "), full.rfind("total: ")) {
            text.truncate(i);
            text.push_str(&full[j..]);
        }
        text
    }
}

/// `X_12` → `("X", 12)`.
fn repeat_index(component: &str) -> Option<(&str, u64)> {
    let (base, digits) = component.rsplit_once('_')?;
    if base.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    Some((base, digits.parse().ok()?))
}

/// The entries with every foldable repeated scope reduced to its first instance,
/// and how many entries each one stands for.
fn fold_repeats(entries: &[SummaryEntry]) -> (Vec<SummaryEntry>, Vec<u64>) {
    use std::collections::BTreeMap;
    type Rest = (String, Vec<usize>, DType, usize);
    // (parent path, base) → index → the instance's entries below it.
    let mut groups: BTreeMap<(String, String), BTreeMap<u64, Vec<Rest>>> = BTreeMap::new();
    for e in entries {
        let parts: Vec<&str> = e.name.split('/').collect();
        // Scopes only: the last component is the variable.
        for k in 0..parts.len().saturating_sub(1) {
            if let Some((base, index)) = repeat_index(parts[k]) {
                let key = (parts[..k].join("/"), base.to_string());
                let rest = (parts[k + 1..].join("/"), e.shape.clone(), e.dtype, e.shards);
                groups
                    .entry(key)
                    .or_default()
                    .entry(index)
                    .or_default()
                    .push(rest);
            }
        }
    }
    // Foldable: several instances, all alike; the label of the first one.
    let mut fold: BTreeMap<(String, String), (u64, String, u64)> = BTreeMap::new();
    for (key, instances) in &groups {
        let mut it = instances.iter();
        let (Some((&lo, first)), Some((&hi, _))) = (it.next(), instances.iter().next_back()) else {
            continue;
        };
        if instances.len() < 2 || !instances.values().all(|v| v == first) {
            continue;
        }
        let base = &key.1;
        let label = format!("{base}_{lo} … {base}_{hi} ×{}", instances.len());
        fold.insert(key.clone(), (lo, label, instances.len() as u64));
    }
    let mut out = Vec::new();
    let mut weights = Vec::new();
    'entries: for e in entries {
        let parts: Vec<&str> = e.name.split('/').collect();
        let mut renamed: Vec<String> = Vec::with_capacity(parts.len());
        let mut weight = 1u64;
        for (k, part) in parts.iter().enumerate() {
            if k + 1 < parts.len() {
                if let Some((base, index)) = repeat_index(part) {
                    let key = (parts[..k].join("/"), base.to_string());
                    if let Some((lo, label, count)) = fold.get(&key) {
                        if index != *lo {
                            continue 'entries;
                        }
                        weight = weight.saturating_mul(*count);
                        renamed.push(label.clone());
                        continue;
                    }
                }
            }
            renamed.push((*part).to_string());
        }
        out.push(SummaryEntry {
            name: renamed.join("/"),
            ..e.clone()
        });
        weights.push(weight);
    }
    (out, weights)
}

/// Deepest indentation (in levels) of [`Summary::render`].
const MAX_INDENT: usize = 32;

/// Widest column that [`Summary::render`] pads other rows to.
const MAX_COLUMN: usize = 160;

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}
