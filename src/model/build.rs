//! Building a [`ModelSpec`] into a graph on the actor runtime.

use super::spec::{BlockSpec, InitSpec, ModelSpec, ModuleSpec, ReuseSpec, ScopeSpec};
use super::summary::Summary;
use crate::checkpoint::{
    partition_metadata_key, save_safetensors_with, BundleWriter, PartitionInfo, WriteOptions,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::getter::get_variable;
use crate::graph::Graph;
use crate::initializer::Init;
use crate::layers;
use crate::runtime::{JobHandle, Runtime};
use crate::scope::{variable_scope, variable_scope_default, Reuse, VariableScope};
use crate::template::{make_template, Template};
use crate::tensor::Tensor;
use crate::variable::{AnyVariable, PartitionedVariable, Variable};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A model built from a spec: the graph and its variables.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::model::{build_model, ModelSpec};
/// use varscope::{Graph, Runtime};
/// let spec = ModelSpec::from_toml_str(
///     "[[scopes]]\nname = \"net\"\nmodules = [{ type = \"dense\", inputs = 3, units = 2 }]\n",
/// ).unwrap();
/// let model = build_model(&spec, &Runtime::new(1).unwrap(), &Graph::with_seed(1)).unwrap();
/// assert_eq!(model.param_count(), 8);
/// assert_eq!(model.nbytes(), 32);
/// assert_eq!(model.initialize(|_| {}).unwrap(), 32);
/// let dir = std::env::temp_dir().join(format!("varscope-doc-built-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("net.safetensors");
/// model.save(&path, &model.checkpoint_metadata(&spec)).unwrap();
/// let header = varscope::checkpoint::read_header(&path).unwrap();
/// assert_eq!(header.tensors.len(), 2);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct BuiltModel {
    graph: Graph,
    variables: Vec<AnyVariable>,
    jobs: usize,
}

/// Builds `spec` into `graph` on `runtime`.
///
/// The calling thread walks the scope tree, entering each scope once per instance to
/// capture it; the modules of every scope instance are built by one job on the
/// runtime, inside the captured scope, so towers and layers are built concurrently.
/// Scopes with `share = true` re-enter the same scope for every instance with
/// `Reuse::Auto`, so their variables are created by whichever job gets there first and
/// shared by the others. A scope with `reuse = "yes"` waits for every job submitted
/// before it. Templates are created at the root (`create_scope_now`) before the walk.
///
/// Variable names (and so values, which derive from the graph seed and the names)
/// do not depend on the number of workers or on scheduling.
///
/// # Errors
/// The first error of any job (all submitted jobs are still waited for), or a scope
/// error of the walk.
///
/// ```
/// use varscope::model::{build_model, ModelSpec};
/// use varscope::{Graph, Runtime};
/// let spec = ModelSpec::from_toml_str(r#"
///     seed = 3
///     [[scopes]]
///     name = "tower"
///     repeat = 4
///     share = true   # four jobs, one set of variables
///     modules = [{ type = "dense", inputs = 8, units = 8 }]
/// "#).unwrap();
/// let rt = Runtime::new(2).unwrap();
/// let model = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
/// assert_eq!(model.jobs(), 4);
/// let names: Vec<String> = model.tensors().iter().map(|v| v.checkpoint_name().to_string()).collect();
/// assert_eq!(names, ["tower/dense/bias", "tower/dense/kernel"]);
/// ```
pub fn build_model(spec: &ModelSpec, runtime: &Runtime, graph: &Graph) -> Result<BuiltModel> {
    let mut driver = Driver {
        spec,
        runtime,
        graph,
        templates: BTreeMap::new(),
        pending: Vec::new(),
        jobs: 0,
    };
    let walked = graph.as_default(|| {
        graph.with_fresh_thread_state(|| -> Result<()> {
            for (name, block) in &spec.templates {
                let modules = Arc::new(keyed(&format!("templates.{name}"), &block.modules));
                let fallback = template_default(spec, block)?;
                let tpl = make_template(name, move || build_modules(&modules, fallback.as_ref()))
                    .create_scope_now(true)
                    .build()?;
                driver.templates.insert(name.clone(), tpl);
            }
            driver.walk(&spec.scopes, true, "scopes")
        })
    });
    let joined = driver.barrier();
    walked?;
    joined?;
    let mut variables: Vec<AnyVariable> = graph
        .store()
        .entries()
        .into_iter()
        .filter_map(|(_, v)| match &v {
            AnyVariable::Single(s) if s.save_slice_info().is_some() => None,
            _ => Some(v),
        })
        .collect();
    variables.sort_by_key(entry_name);
    Ok(BuiltModel {
        graph: graph.clone(),
        variables,
        jobs: driver.jobs,
    })
}

fn template_default(spec: &ModelSpec, block: &BlockSpec) -> Result<Option<Init>> {
    block
        .initializer
        .as_ref()
        .or(spec.initializer.as_ref())
        .map(InitSpec::to_init)
        .transpose()
}

fn entry_name(v: &AnyVariable) -> String {
    match v {
        AnyVariable::Single(s) => s.checkpoint_name().to_string(),
        AnyVariable::Partitioned(p) => p.name().to_string(),
    }
}

struct Driver<'a> {
    spec: &'a ModelSpec,
    runtime: &'a Runtime,
    graph: &'a Graph,
    templates: BTreeMap<String, Template<()>>,
    pending: Vec<JobHandle<()>>,
    jobs: usize,
}

impl Driver<'_> {
    /// Waits for every submitted job; returns the first error.
    fn barrier(&mut self) -> Result<()> {
        let mut first = Ok(());
        for h in self.pending.drain(..) {
            if let Err(e) = h.join() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    fn walk(&mut self, scopes: &[ScopeSpec], top: bool, prefix: &str) -> Result<()> {
        for (index, s) in scopes.iter().enumerate() {
            let key = format!("{prefix}[{index}]");
            if s.reuse == Some(ReuseSpec::Yes) {
                self.barrier()?;
            }
            let n = s.repeat.unwrap_or(1);
            for i in 0..n {
                let name = match s.repeat {
                    Some(_) if !s.share => format!("{}_{i}", s.name),
                    _ => s.name.clone(),
                };
                let mut b = variable_scope(name.as_str());
                let reuse = s.reuse.map(Reuse::from).unwrap_or(if s.share {
                    Reuse::Auto
                } else {
                    Reuse::No
                });
                b = b.reuse(reuse);
                let init = s.initializer.as_ref().or(if top {
                    self.spec.initializer.as_ref()
                } else {
                    None
                });
                if let Some(i) = init {
                    b = b.initializer(i.to_init()?);
                }
                let part = s.partitioner.as_ref().or(if top {
                    self.spec.partitioner.as_ref()
                } else {
                    None
                });
                if let Some(p) = part {
                    b = b.partitioner_arc(p.to_partitioner()?);
                }
                let dtype = s.dtype.or(if top { self.spec.dtype } else { None });
                if let Some(d) = dtype {
                    b = b.dtype(d.0);
                }
                b.enter(|scope| -> Result<()> {
                    self.submit_content(s, &key, scope);
                    self.walk(&s.scopes, false, &format!("{key}.scopes"))?;
                    if let Some((b, block)) = s
                        .block
                        .as_ref()
                        .and_then(|b| self.spec.blocks.get_key_value(b))
                    {
                        self.walk(&block.scopes, false, &format!("blocks.{b}.scopes"))?;
                    }
                    Ok(())
                })
                .map_err(|e| in_spec(&key, e))?;
            }
        }
        Ok(())
    }

    fn submit_content(&mut self, s: &ScopeSpec, key: &str, scope: &VariableScope) {
        let mut modules = keyed(&format!("{key}.modules"), &s.modules);
        if let Some((name, b)) = s
            .block
            .as_ref()
            .and_then(|b| self.spec.blocks.get_key_value(b))
        {
            modules.extend(keyed(&format!("blocks.{name}.modules"), &b.modules));
        }
        let template = s
            .template
            .as_ref()
            .and_then(|t| self.templates.get(t))
            .cloned();
        if modules.is_empty() && template.is_none() {
            return;
        }
        self.jobs += 1;
        let key = format!("{key}.template");
        let handle = self.runtime.submit(self.graph, Some(scope), move || {
            build_modules(&modules, None)?;
            if let Some(t) = template {
                t.call().map_err(|e| in_spec(&key, e))?;
            }
            Ok(())
        });
        self.pending.push(handle);
    }
}

/// The modules of a list, each with its spec key (`scopes[0].modules[1]`).
fn keyed(prefix: &str, modules: &[ModuleSpec]) -> Vec<(String, ModuleSpec)> {
    modules
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("{prefix}[{i}]"), m.clone()))
        .collect()
}

/// An error of building the spec key `key`, worded for the spec's author.
fn in_spec(key: &str, e: Error) -> Error {
    Error::in_spec(key, e)
}

/// Builds `modules` in the current variable scope.
fn build_modules(modules: &[(String, ModuleSpec)], fallback: Option<&Init>) -> Result<()> {
    for (key, m) in modules {
        build_module(m, fallback).map_err(|e| in_spec(key, e))?;
    }
    Ok(())
}

fn init_or(spec: &Option<InitSpec>, fallback: Option<&Init>) -> Result<Option<Init>> {
    match spec {
        Some(s) => s.to_init().map(Some),
        None => Ok(fallback.cloned()),
    }
}

/// Enters a module's scope: its given name as is, else its type name uniquified
/// (`dense`, `dense_1`, …), as `tf.layers` names layers.
fn module_scope<R>(m: &ModuleSpec, f: impl FnOnce() -> Result<R>) -> Result<R> {
    match m.given_name() {
        Some(n) => variable_scope(n).enter(|_| f()),
        None => variable_scope_default(m.type_name()).enter(|_| f()),
    }
}

/// A `layers::dense` configured from a module's fields.
#[allow(clippy::too_many_arguments)]
fn dense_layer(
    name: Option<&str>,
    inputs: usize,
    units: usize,
    bias: bool,
    init: Option<Init>,
    bias_init: Option<Init>,
    dtype: Option<DType>,
) -> layers::Dense {
    let mut l = layers::dense(inputs, units).use_bias(bias);
    if let Some(n) = name {
        l = l.name(n);
    }
    if let Some(i) = init {
        l = l.kernel_initializer(i);
    }
    if let Some(i) = bias_init {
        l = l.bias_initializer(i);
    }
    if let Some(d) = dtype {
        l = l.dtype(d);
    }
    l
}

fn build_module(m: &ModuleSpec, fallback: Option<&Init>) -> Result<()> {
    let given = m.given_name();
    match m {
        ModuleSpec::Dense {
            inputs,
            units,
            bias,
            initializer,
            bias_initializer,
            dtype,
            ..
        } => {
            let bias_init = bias_initializer
                .as_ref()
                .map(InitSpec::to_init)
                .transpose()?;
            dense_layer(
                given,
                inputs.0,
                units.0,
                *bias,
                init_or(initializer, fallback)?,
                bias_init,
                dtype.map(|d| d.0),
            )
            .build()?;
            Ok(())
        }
        ModuleSpec::Conv2d {
            kernel_size,
            in_channels,
            filters,
            bias,
            initializer,
            bias_initializer,
            dtype,
            ..
        } => {
            let mut l = layers::conv2d(
                [kernel_size[0].0, kernel_size[1].0],
                in_channels.0,
                filters.0,
            )
            .use_bias(*bias);
            if let Some(n) = given {
                l = l.name(n);
            }
            if let Some(i) = init_or(initializer, fallback)? {
                l = l.kernel_initializer(i);
            }
            if let Some(i) = bias_initializer
                .as_ref()
                .map(InitSpec::to_init)
                .transpose()?
            {
                l = l.bias_initializer(i);
            }
            if let Some(d) = dtype {
                l = l.dtype(d.0);
            }
            l.build()?;
            Ok(())
        }
        ModuleSpec::Embedding {
            vocab,
            dim,
            initializer,
            partitioner,
            dtype,
            ..
        } => {
            let init = init_or(initializer, fallback)?;
            let part = partitioner
                .as_ref()
                .map(|p| p.to_partitioner())
                .transpose()?;
            module_scope(m, || {
                let mut l = layers::embedding("weights", vocab.0, dim.0);
                if let Some(i) = init {
                    l = l.initializer(i);
                }
                if let Some(p) = part {
                    l = l.partitioner_arc(p);
                }
                if let Some(d) = dtype {
                    l = l.dtype(d.0);
                }
                l.build()?;
                Ok(())
            })
        }
        ModuleSpec::LayerNorm { dim, dtype, .. } => {
            let mut l = layers::layer_norm(dim.0).default_name("layer_norm");
            if let Some(n) = given {
                l = l.name(n);
            }
            if let Some(d) = dtype {
                l = l.dtype(d.0);
            }
            l.build()?;
            Ok(())
        }
        ModuleSpec::BatchNormalization {
            dim,
            center,
            scale,
            dtype,
            ..
        } => {
            let mut l = layers::batch_normalization(dim.0)
                .center(*center)
                .scale(*scale);
            if let Some(n) = given {
                l = l.name(n);
            }
            if let Some(d) = dtype {
                l = l.dtype(d.0);
            }
            l.build()?;
            Ok(())
        }
        ModuleSpec::Attention {
            dim,
            bias,
            initializer,
            dtype,
            ..
        } => {
            let init = init_or(initializer, fallback)?;
            let dtype = dtype.map(|d| d.0);
            module_scope(m, || {
                for proj in ["q", "k", "v", "output"] {
                    dense_layer(Some(proj), dim.0, dim.0, *bias, init.clone(), None, dtype)
                        .build()?;
                }
                Ok(())
            })
        }
        ModuleSpec::Mlp {
            dim,
            hidden,
            bias,
            initializer,
            dtype,
            ..
        } => {
            let init = init_or(initializer, fallback)?;
            let dtype = dtype.map(|d| d.0);
            module_scope(m, || {
                dense_layer(
                    Some("fc1"),
                    dim.0,
                    hidden.0,
                    *bias,
                    init.clone(),
                    None,
                    dtype,
                )
                .build()?;
                dense_layer(Some("fc2"), hidden.0, dim.0, *bias, init, None, dtype).build()?;
                Ok(())
            })
        }
        ModuleSpec::Variable {
            name,
            shape,
            initializer,
            partitioner,
            dtype,
            trainable,
        } => {
            let mut g = get_variable(name)
                .shape(shape.clone())
                .trainable(*trainable);
            if let Some(i) = init_or(initializer, fallback)? {
                g = g.initializer(i);
            }
            if let Some(d) = dtype {
                g = g.dtype(d.0);
            }
            if let Some(p) = partitioner {
                g = g.partitioner_arc(p.to_partitioner()?);
            }
            g.build_any()?;
            Ok(())
        }
    }
}

impl BuiltModel {
    /// The graph holding the model.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The model's variables, sorted by name; a partitioned variable appears once.
    pub fn variables(&self) -> &[AnyVariable] {
        &self.variables
    }

    /// Number of runtime jobs the build used.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// The checkpoint tensors: single variables and the shards of partitioned ones,
    /// sorted by checkpoint name.
    pub fn tensors(&self) -> Vec<Variable> {
        let mut out: Vec<Variable> = Vec::new();
        for v in &self.variables {
            match v {
                AnyVariable::Single(s) => out.push(s.clone()),
                AnyVariable::Partitioned(p) => out.extend(p.shards().iter().cloned()),
            }
        }
        out.sort_by(|a, b| a.checkpoint_name().cmp(b.checkpoint_name()));
        out
    }

    /// Total number of parameters (elements of every variable).
    pub fn param_count(&self) -> u64 {
        self.variables
            .iter()
            .map(|v| v.shape().num_elements() as u64)
            .fold(0, u64::saturating_add)
    }

    /// Total size of the values in bytes.
    pub fn nbytes(&self) -> u64 {
        self.tensors()
            .iter()
            .map(|v| v.nbytes() as u64)
            .fold(0, u64::saturating_add)
    }

    /// The summary (scope tree with shapes, dtypes, sizes and shards).
    pub fn summary(&self) -> Summary {
        Summary::from_model(self)
    }

    /// Materializes every value (in parallel, on the current rayon pool), calling
    /// `progress(bytes)` as variables finish. Returns the bytes initialized.
    ///
    /// # Errors
    /// The first initializer error.
    pub fn initialize(&self, progress: impl Fn(u64) + Sync) -> Result<u64> {
        self.graph.initialize_all_with_progress(progress)
    }

    /// The checkpoint metadata: `varscope.seed`, the spec's hash and text, and a
    /// `partition:<name>` entry ([`partition_metadata_key`], JSON [`PartitionInfo`]) per
    /// partitioned variable.
    pub fn checkpoint_metadata(&self, spec: &ModelSpec) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("varscope.format".into(), "1".into());
        m.insert("varscope.seed".into(), self.graph.seed().to_string());
        m.insert("varscope.spec_hash".into(), spec.source_hash());
        m.insert("varscope.spec".into(), spec.source.clone());
        if let Some(n) = &spec.name {
            m.insert("varscope.model".into(), n.clone());
        }
        for v in &self.variables {
            if let AnyVariable::Partitioned(p) = v {
                m.insert(
                    partition_metadata_key(p.name()),
                    PartitionInfo::of(p).to_json(),
                );
            }
        }
        m
    }

    /// Writes every tensor, keyed by TF name (`scope/v`, shards `scope/v/part_i`),
    /// to a safetensors file, atomically (see
    /// [`save_safetensors`](crate::checkpoint::save_safetensors)). Values are written
    /// in place (materializing pending ones), without copies. Returns the file size.
    ///
    /// # Errors
    /// An initializer error, or the writer's [`crate::Error::Io`] /
    /// [`crate::Error::InvalidArgument`] / [`crate::Error::NotRegularFile`] (the target
    /// exists and is not a regular file).
    pub fn save(&self, path: &Path, metadata: &BTreeMap<String, String>) -> Result<u64> {
        self.save_with(path, metadata, &WriteOptions::default())
    }

    /// [`save`](BuiltModel::save) with [`WriteOptions`] (see [`save_safetensors_with`]:
    /// whether a target that is not a regular file may be replaced).
    ///
    /// # Errors
    /// Those of [`save`](BuiltModel::save).
    pub fn save_with(
        &self,
        path: &Path,
        metadata: &BTreeMap<String, String>,
        options: &WriteOptions,
    ) -> Result<u64> {
        let tensors = self.tensors();
        let names: Vec<String> = tensors
            .iter()
            .map(|v| v.checkpoint_name().to_string())
            .collect();
        let mut write = |values: &[&Tensor]| {
            save_safetensors_with(
                path,
                names.iter().cloned().zip(values.iter().copied()),
                metadata,
                options,
            )
        };
        if tensors.len() <= MAX_NESTED_LOCKS {
            with_values(&tensors, Vec::new(), &mut write)?
        } else {
            // Too many variables to hold one stack frame each: copy the values.
            let owned = tensors
                .iter()
                .map(Variable::value)
                .collect::<Result<Vec<Tensor>>>()?;
            let refs: Vec<&Tensor> = owned.iter().collect();
            write(&refs)
        }
    }
}

impl BuiltModel {
    /// Writes every variable to a TF tensor bundle at `prefix` (`prefix.index`,
    /// `prefix.data-*-of-*`) with `num_shards` data files, as TF's `Saver` would: a
    /// partitioned variable as one full-shape entry with its shards as slices, so TF
    /// restores it into a partitioned variable of any partitioning. Values are streamed
    /// from the variables one at a time; a pending value is computed for the write and
    /// dropped after (the variable stays pending), so memory holds one tensor at a
    /// time, not the model. The bundle has no
    /// metadata map, so the spec and seed are not recorded. Returns the total size of
    /// the files.
    ///
    /// # Errors
    /// An initializer error, or the writer's [`crate::Error::Io`] /
    /// [`crate::Error::InvalidArgument`]; no bundle is left at `prefix` then.
    pub fn save_tf_bundle(&self, prefix: &Path, num_shards: usize) -> Result<u64> {
        self.save_tf_bundle_with(prefix, num_shards, &WriteOptions::default())
    }

    /// [`BuiltModel::save_tf_bundle`] with [`WriteOptions`].
    ///
    /// # Errors
    /// Those of [`BuiltModel::save_tf_bundle`], and [`crate::Error::NotRegularFile`]
    /// for a target that may not be replaced.
    pub fn save_tf_bundle_with(
        &self,
        prefix: &Path,
        num_shards: usize,
        options: &WriteOptions,
    ) -> Result<u64> {
        let mut w = BundleWriter::with_options(prefix, num_shards, options)?;
        self.for_each_bundle_piece(|s, slice| match slice {
            None => s.with_value_transient(|t| w.add(s.checkpoint_name(), t))?,
            Some((p, offset)) => {
                s.with_value_transient(|t| w.add_slice(p.name(), p.shape(), &offset, t))?
            }
        })?;
        w.finish()
    }

    /// Calls `f` for every tensor of the model's TF bundle, in variable order, as
    /// TF's `Saver` writes them: a single variable with `None`, each shard of a
    /// partitioned variable with the variable and the shard's offset in it.
    pub(crate) fn for_each_bundle_piece(
        &self,
        mut f: impl FnMut(&Variable, Option<(&PartitionedVariable, Vec<usize>)>) -> Result<()>,
    ) -> Result<()> {
        for v in &self.variables {
            match v {
                AnyVariable::Single(s) => f(s, None)?,
                AnyVariable::Partitioned(p) => {
                    let rank = p.shape().rank();
                    for s in p.shards() {
                        let offset = s
                            .save_slice_info()
                            .map_or_else(|| vec![0; rank], |i| i.offset.clone());
                        f(s, Some((p, offset)))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Above this many tensors [`BuiltModel::save`] copies values instead of nesting.
const MAX_NESTED_LOCKS: usize = 2048;

/// Runs `f` with references to the values of all `vars`, holding each variable's
/// value lock (nested, one frame per variable) so nothing is copied.
fn with_values<'a, R>(
    vars: &[Variable],
    acc: Vec<&'a Tensor>,
    f: &mut dyn FnMut(&[&Tensor]) -> R,
) -> Result<R> {
    match vars.split_first() {
        None => Ok(f(&acc)),
        Some((v, rest)) => v.with_value(|t| {
            let mut acc = acc;
            acc.push(t);
            with_values(rest, acc, f)
        })?,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn build(text: &str) -> Result<BuiltModel> {
        let spec = ModelSpec::from_toml_str(text).map_err(Error::from)?;
        let rt = Runtime::new(2)?;
        build_model(&spec, &rt, &Graph::with_seed(spec.seed))
    }

    fn names(m: &BuiltModel) -> Vec<(String, Vec<usize>)> {
        m.variables()
            .iter()
            .map(|v| (entry_name(v), v.shape().dims().to_vec()))
            .collect()
    }

    fn n(name: &str, shape: &[usize]) -> (String, Vec<usize>) {
        (name.to_string(), shape.to_vec())
    }

    #[test]
    fn unnamed_modules_are_uniquified_like_tf_layers() {
        let m = build(
            r#"
            [[scopes]]
            name = "net"
            modules = [
              { type = "dense", inputs = 2, units = 3 },
              { type = "dense", inputs = 3, units = 1 },
              { type = "layer_norm", dim = 3 },
              { type = "layer_norm", dim = 3 },
              { type = "batch_normalization", dim = 2, center = false },
            ]
            "#,
        )
        .unwrap();
        assert_eq!(
            names(&m),
            vec![
                n("net/batch_normalization/gamma", &[2]),
                n("net/batch_normalization/moving_mean", &[2]),
                n("net/batch_normalization/moving_variance", &[2]),
                n("net/dense/bias", &[3]),
                n("net/dense/kernel", &[2, 3]),
                n("net/dense_1/bias", &[1]),
                n("net/dense_1/kernel", &[3, 1]),
                n("net/layer_norm/beta", &[3]),
                n("net/layer_norm/gamma", &[3]),
                n("net/layer_norm_1/beta", &[3]),
                n("net/layer_norm_1/gamma", &[3]),
            ]
        );
        let trainable = m.graph().trainable_variables().len();
        assert_eq!(trainable, 9, "moving statistics are not trainable");
    }

    #[test]
    fn constants_blocks_with_scopes_and_slashed_names() {
        let m = build(
            r#"
            [constants]
            width = 4
            depth = 2
            [[blocks.layer.scopes]]
            name = "attention/self"
            modules = [{ type = "dense", name = "query", inputs = "width", units = "width" }]
            [[blocks.layer.scopes]]
            name = "ffn"
            repeat = "depth"
            modules = [{ type = "variable", name = "w", shape = ["width", 1] }]
            [[scopes]]
            name = "enc/layer"
            repeat = "depth"
            block = "layer"
            [[scopes]]
            name = "cls/predictions"
            modules = [{ type = "variable", name = "output_bias", shape = ["width"] }]
            "#,
        )
        .unwrap();
        let mut want = vec![n("cls/predictions/output_bias", &[4])];
        for l in 0..2 {
            want.push(n(&format!("enc/layer_{l}/attention/self/query/bias"), &[4]));
            want.push(n(
                &format!("enc/layer_{l}/attention/self/query/kernel"),
                &[4, 4],
            ));
            for f in 0..2 {
                want.push(n(&format!("enc/layer_{l}/ffn_{f}/w"), &[4, 1]));
            }
        }
        assert_eq!(names(&m), want);
    }

    #[test]
    fn build_errors_name_the_spec_key_and_the_toml_fix() {
        let e = build(
            r#"
            [[scopes]]
            name = "net"
            modules = [
              { type = "dense", name = "proj", inputs = 2, units = 3 },
              { type = "dense", name = "proj", inputs = 2, units = 3 },
            ]
            "#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        let text = e.to_string();
        assert!(
            text.starts_with(
                "spec key `scopes[0].modules[1]`: Variable net/proj/kernel already exists"
            ),
            "{text}"
        );
        assert!(text.contains(r#"reuse = "auto""#), "{text}");
        assert!(!text.contains("Reuse::"), "{text}");
        let e = build(
            r#"
            [blocks.b]
            modules = [{ type = "variable", name = "w", shape = [2] }]
            [[scopes]]
            name = "net"
            reuse = "yes"
            block = "b"
            "#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let text = e.to_string();
        assert!(
            text.starts_with("spec key `blocks.b.modules[0]`: Variable net/w does not exist"),
            "{text}"
        );
        assert!(text.contains(r#"reuse = "auto""#), "{text}");
        // Reusing with other sizes: the scope's shared modules disagree.
        let e = build(
            r#"
            [[scopes]]
            name = "t"
            repeat = 2
            share = true
            modules = [{ type = "variable", name = "w", shape = [2] }]
            [[scopes]]
            name = "t"
            reuse = "yes"
            modules = [{ type = "variable", name = "w", shape = [3] }]
            "#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
        assert!(
            e.to_string()
                .starts_with("spec key `scopes[1].modules[0]`: "),
            "{e}"
        );
    }
}
