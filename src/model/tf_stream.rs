//! Streamed TF-bundle writes of a built model: the bundle's layout from the
//! variables' shapes, values computed piece by piece from their initializers and
//! written at their offsets; the whole bundle, or one data file and its partial
//! index for a bundle written by several processes.

use super::build::BuiltModel;
use super::spec::ModelSpec;
use crate::checkpoint::{
    write_tf_bundle_part, write_tf_bundle_streamed, BundleLayout, StreamOptions, StreamStats,
};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::variable::Variable;
use std::path::Path;

impl BuiltModel {
    /// The layout of the model's TF bundle with `num_shards` data files, as
    /// [`save_tf_bundle`](BuiltModel::save_tf_bundle) writes it: the variables in
    /// name order, a partitioned variable as its slices in partition order, each piece
    /// in the data file with the fewest bytes so far. Computed from names and shapes
    /// alone, so every process building the same spec gets the same layout.
    ///
    /// ```
    /// use varscope::model::{build_model, ModelSpec};
    /// use varscope::{Graph, Runtime};
    /// let spec = ModelSpec::from_toml_str(
    ///     "[[scopes]]\nname = \"net\"\nmodules = [{ type = \"dense\", inputs = 30, units = 20 }]\n",
    /// ).unwrap();
    /// let m = build_model(&spec, &Runtime::new(1).unwrap(), &Graph::with_seed(1)).unwrap();
    /// let layout = m.tf_bundle_layout(2).unwrap();
    /// let names: Vec<&str> = layout.pieces().iter().map(|p| p.name()).collect();
    /// assert_eq!(names, ["net/dense/bias", "net/dense/kernel"]);
    /// assert_eq!(layout.shard_sizes(), [80, 2400]);
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a number of data files outside 1 to 99999, or
    /// names that do not make a bundle.
    pub fn tf_bundle_layout(&self, num_shards: usize) -> Result<BundleLayout> {
        Ok(self.tf_layout_and_sources(num_shards)?.0)
    }

    /// The layout and, for every piece, the variable whose values it holds.
    fn tf_layout_and_sources(&self, num_shards: usize) -> Result<(BundleLayout, Vec<Variable>)> {
        let mut layout = BundleLayout::new(num_shards)?;
        let mut sources = Vec::new();
        self.for_each_bundle_piece(|s, slice| {
            match slice {
                None => layout.add(s.checkpoint_name(), s.dtype(), s.shape())?,
                Some((p, offset)) => {
                    layout.add_slice(p.name(), s.dtype(), p.shape(), &offset, s.shape())?
                }
            };
            sources.push(s.clone());
            Ok(())
        })?;
        if sources.len() != layout.pieces().len() {
            return Err(Error::invalid_arg(
                "the model's tensors do not make one bundle layout",
            ));
        }
        Ok((layout, sources))
    }

    /// Writes the same TF bundle as [`save_tf_bundle`](BuiltModel::save_tf_bundle),
    /// byte for byte (index and every data file), without materializing the values:
    /// each piece of each tensor is computed from its initializer (the same
    /// deterministic blocks) into the bounded pool of `options` and written at its
    /// offset while the next pieces are computed (on the current rayon pool); every
    /// entry's CRC32C is computed from the bytes as they are produced. Values pending
    /// stay pending (except those of `orthogonal` and custom initializers, computed
    /// whole and kept, as in [`save_streamed`](BuiltModel::save_streamed)).
    /// `progress(bytes)` is called as data bytes are written.
    ///
    /// ```
    /// use varscope::checkpoint::StreamOptions;
    /// use varscope::model::{build_model, ModelSpec};
    /// use varscope::{Graph, Runtime};
    /// let spec = ModelSpec::from_toml_str(
    ///     "[[scopes]]\nname = \"net\"\nmodules = [{ type = \"dense\", inputs = 300, units = 200 }]\n",
    /// ).unwrap();
    /// let rt = Runtime::new(1).unwrap();
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-tfsave-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let m = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    /// let opts = StreamOptions::new().pool_bytes(1 << 20);
    /// m.save_tf_bundle_streamed(&dir.join("a"), 2, &opts, &|_| {}).unwrap();
    /// m.save_tf_bundle(&dir.join("b"), 2).unwrap();
    /// for f in ["index", "data-00000-of-00002", "data-00001-of-00002"] {
    ///     let read = |p: &str| std::fs::read(dir.join(format!("{p}.{f}"))).unwrap();
    ///     assert_eq!(read("a"), read("b"));
    /// }
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// Those of [`save_tf_bundle`](BuiltModel::save_tf_bundle); nothing is left at
    /// `prefix` on error and an existing bundle is kept.
    pub fn save_tf_bundle_streamed(
        &self,
        prefix: &Path,
        num_shards: usize,
        options: &StreamOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<StreamStats> {
        let (layout, sources) = self.tf_layout_and_sources(num_shards)?;
        let fill = |index: usize, first: usize, out: &mut Tensor| -> Result<()> {
            source(&sources, index)?.fill_range(first, out)
        };
        write_tf_bundle_streamed(prefix, &layout, options, &fill, progress)
    }

    /// Writes data file `shard` of the `num_shards` of the model's TF bundle and its
    /// partial index (see [`write_tf_bundle_part`]), computing only the values of the
    /// pieces in that file; the other processes write the other files, and
    /// [`merge_tf_bundle`](crate::checkpoint::merge_tf_bundle) then writes the
    /// index. The merged bundle is the one
    /// [`save_tf_bundle_streamed`](BuiltModel::save_tf_bundle_streamed) writes with
    /// `num_shards` files, byte for byte. `source` names where the values come from
    /// (see [`tf_part_source`](BuiltModel::tf_part_source)); parts of different
    /// sources are not merged.
    ///
    /// ```
    /// use varscope::checkpoint::{merge_tf_bundle, StreamOptions, WriteOptions};
    /// use varscope::model::{build_model, ModelSpec};
    /// use varscope::{Graph, Runtime};
    /// let spec = ModelSpec::from_toml_str(
    ///     "[[scopes]]\nname = \"net\"\nmodules = [{ type = \"dense\", inputs = 30, units = 20 }]\n",
    /// ).unwrap();
    /// let rt = Runtime::new(1).unwrap();
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-tfparts-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let m = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    /// let source = m.tf_part_source(&spec);
    /// for shard in 0..2 {
    ///     m.save_tf_bundle_part(&dir.join("m"), shard, 2, &source, &StreamOptions::new(), &|_| {}).unwrap();
    /// }
    /// merge_tf_bundle(&dir.join("m"), false, &WriteOptions::new()).unwrap();
    /// m.save_tf_bundle(&dir.join("one"), 2).unwrap();
    /// let read = |p: &str| std::fs::read(dir.join(format!("{p}.index"))).unwrap();
    /// assert_eq!(read("m"), read("one"));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// Those of [`save_tf_bundle_streamed`](BuiltModel::save_tf_bundle_streamed), and
    /// [`Error::InvalidArgument`] for a shard out of range.
    pub fn save_tf_bundle_part(
        &self,
        prefix: &Path,
        shard: usize,
        num_shards: usize,
        source: &str,
        options: &StreamOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<StreamStats> {
        let (layout, sources) = self.tf_layout_and_sources(num_shards)?;
        let fill = |index: usize, first: usize, out: &mut Tensor| -> Result<()> {
            self::source(&sources, index)?.fill_range(first, out)
        };
        write_tf_bundle_part(prefix, &layout, shard, source, options, &fill, progress)
    }

    /// What the values of this model built from `spec` come from, for the parts of a
    /// bundle written by several processes: the spec's hash and the graph seed.
    ///
    /// ```
    /// use varscope::model::{build_model, ModelSpec};
    /// use varscope::{Graph, Runtime};
    /// let spec = ModelSpec::from_toml_str("[[scopes]]\nname = \"n\"\n").unwrap();
    /// let rt = Runtime::new(1).unwrap();
    /// let a = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    /// let b = build_model(&spec, &rt, &Graph::with_seed(2)).unwrap();
    /// assert_ne!(a.tf_part_source(&spec), b.tf_part_source(&spec));
    /// ```
    pub fn tf_part_source(&self, spec: &ModelSpec) -> String {
        format!(
            "varscope spec {} seed {}",
            spec.source_hash(),
            self.graph().seed()
        )
    }
}

fn source(sources: &[Variable], index: usize) -> Result<&Variable> {
    sources
        .get(index)
        .ok_or_else(|| Error::invalid_arg(format!("no piece {index} in the bundle layout")))
}
