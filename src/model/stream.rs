//! Streamed checkpoint writes of a built model: values are computed piece by piece
//! straight from the variables' initializers and written as they are produced.

use super::build::BuiltModel;
use crate::checkpoint::{
    append_le, read_header, resize, safetensors_layout, write_safetensors_streamed, StreamOptions,
    StreamStats,
};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

impl BuiltModel {
    /// Writes the same file as [`save`](BuiltModel::save), byte for byte, without
    /// materializing the values: each piece of each tensor is computed from its
    /// initializer (the same deterministic, thread-count-independent blocks) into a
    /// bounded pool of buffers (see [`StreamOptions`]) and written at its offset while
    /// the next pieces are computed (on the current rayon pool). Pending values stay
    /// pending, except those of `orthogonal` and custom initializers, which compute
    /// whole tensors: they are materialized (and kept) first. Values already
    /// materialized or assigned are written as they are. `progress(bytes)` is called
    /// as bytes are written.
    ///
    /// ```
    /// use varscope::checkpoint::StreamOptions;
    /// use varscope::model::{build_model, ModelSpec};
    /// use varscope::{Graph, Runtime};
    /// let spec = ModelSpec::from_toml_str(
    ///     "[[scopes]]\nname = \"net\"\nmodules = [{ type = \"dense\", inputs = 300, units = 200 }]\n",
    /// ).unwrap();
    /// let rt = Runtime::new(1).unwrap();
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-streamed-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    /// let m = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    /// let opts = StreamOptions::new().pool_bytes(1 << 20);
    /// let stats = m.save_streamed(&a, &m.checkpoint_metadata(&spec), &opts, &|_| {}).unwrap();
    /// assert!(stats.buffers_allocated <= opts.buffers());
    /// let m2 = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    /// m2.save(&b, &m2.checkpoint_metadata(&spec)).unwrap();
    /// assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// Those of [`save`](BuiltModel::save); no file is left at `path` on error and an
    /// existing one is kept.
    pub fn save_streamed(
        &self,
        path: &Path,
        metadata: &BTreeMap<String, String>,
        options: &StreamOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<StreamStats> {
        let tensors = self.tensors();
        let layout = safetensors_layout(
            tensors
                .iter()
                .map(|v| {
                    (
                        v.checkpoint_name().to_string(),
                        v.dtype(),
                        v.shape().clone(),
                    )
                })
                .collect(),
            metadata,
        )
        .map_err(|e| match e {
            Error::InvalidArgument { message } => {
                Error::invalid_arg(format!("{message} (checkpoint {})", path.display()))
            }
            e => e,
        })?;
        // `tensors()` and the layout are both sorted by name.
        if layout.tensors.len() != tensors.len()
            || layout
                .tensors
                .iter()
                .zip(&tensors)
                .any(|(l, v)| l.0 != v.checkpoint_name())
        {
            return Err(Error::invalid_arg(format!(
                "the tensors of the model do not sort into one file layout (checkpoint {})",
                path.display()
            )));
        }
        let fill = |index: usize, first: usize, out: &mut Tensor| -> Result<()> {
            let v = tensors
                .get(index)
                .ok_or_else(|| Error::invalid_arg(format!("no tensor {index} in the layout")))?;
            v.fill_range(first, out)
        };
        write_safetensors_streamed(path, &layout, options, &fill, progress)
    }
}

/// The outcome of [`BuiltModel::verify_safetensors`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The model's tensors.
    pub tensors: usize,
    /// Those whose bytes in the file are all equal to the recomputed ones.
    pub matched: usize,
    /// One line per problem: a tensor missing, of another dtype or shape, with
    /// differing elements, or in the file but not in the model.
    pub problems: Vec<String>,
    /// Bytes compared.
    pub bytes: u64,
}

impl BuiltModel {
    /// Compares a safetensors file with the model's values, recomputed piece by piece
    /// (as [`save_streamed`](BuiltModel::save_streamed) computes them) while the
    /// next piece of the file is read, so at most a few pieces of `piece_bytes` are
    /// held whatever the size of the model. `progress(bytes)` is called as bytes are
    /// compared.
    ///
    /// ```
    /// use varscope::model::{build_model, ModelSpec};
    /// use varscope::{Graph, Runtime};
    /// let spec = ModelSpec::from_toml_str(
    ///     "[[scopes]]\nname = \"net\"\nmodules = [{ type = \"dense\", inputs = 30, units = 20 }]\n",
    /// ).unwrap();
    /// let rt = Runtime::new(1).unwrap();
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-verify-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("m.safetensors");
    /// let m = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    /// m.save(&path, &m.checkpoint_metadata(&spec)).unwrap();
    /// let same = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    /// let report = same.verify_safetensors(&path, 64, &|_| {}).unwrap();
    /// assert_eq!((report.tensors, report.matched), (2, 2));
    /// let other = build_model(&spec, &rt, &Graph::with_seed(2)).unwrap();
    /// let report = other.verify_safetensors(&path, 64, &|_| {}).unwrap();
    /// assert_eq!(report.problems, ["net/dense/kernel: 600 of 600 elements differ"]);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// The errors of [`read_header`], [`crate::Error::Io`] reading the file, or an
    /// initializer's error.
    pub fn verify_safetensors(
        &self,
        path: &Path,
        piece_bytes: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<VerifyReport> {
        let header = read_header(path)?;
        let catalog = crate::restore::Catalog::safetensors(path, &header)?;
        self.verify_catalog(&catalog, piece_bytes, progress)
    }

    /// [`verify_safetensors`](BuiltModel::verify_safetensors) for a checkpoint of
    /// either format. A TF bundle is compared in varscope's layout (a sliced variable
    /// `v` as shards `v/part_i`, ordered by offset, as
    /// [`AnyCheckpoint::load`](crate::checkpoint::AnyCheckpoint::load) gives it), each
    /// entry or slice streamed from its data file with positioned reads, so a model
    /// partitioned as the bundle's slices compares shard by shard and any other
    /// partitioning is reported as a shape mismatch, as for a safetensors file.
    ///
    /// A bundle records a CRC32C of every entry: it is computed over the bytes as they
    /// are compared, and over the entries not compared (not in the model, of another
    /// dtype or shape), and a mismatch is an error, not a problem line: the file is
    /// corrupt whatever the spec says (as reading it with
    /// [`BundleReader::read`](crate::checkpoint::BundleReader::read) reports it).
    ///
    /// ```
    /// use varscope::checkpoint::AnyCheckpoint;
    /// use varscope::model::{build_model, ModelSpec};
    /// use varscope::{ErrorKind, Graph, Runtime};
    /// let spec = ModelSpec::from_toml_str(
    ///     "[[scopes]]\nname = \"net\"\nmodules = [{ type = \"embedding\", vocab = 40, dim = 8, partitioner = { kind = \"fixed\", shards = 3 } }]\n",
    /// ).unwrap();
    /// let rt = Runtime::new(1).unwrap();
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-verifytf-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let prefix = dir.join("m");
    /// let m = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    /// m.save_tf_bundle(&prefix, 2).unwrap();
    /// let ckpt = AnyCheckpoint::open(&prefix).unwrap();
    /// let report = m.verify_checkpoint(&ckpt, 64, &|_| {}).unwrap();
    /// assert_eq!((report.tensors, report.matched), (3, 3), "{:?}", report.problems);
    /// let other = build_model(&spec, &rt, &Graph::with_seed(2)).unwrap();
    /// let report = other.verify_checkpoint(&ckpt, 64, &|_| {}).unwrap();
    /// assert_eq!(report.matched, 0);
    ///
    /// // A flipped data byte fails the entry's checksum.
    /// let data = dir.join("m.data-00000-of-00002");
    /// let mut bytes = std::fs::read(&data).unwrap();
    /// bytes[0] ^= 1;
    /// std::fs::write(&data, bytes).unwrap();
    /// let e = m.verify_checkpoint(&ckpt, 64, &|_| {}).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Checkpoint);
    /// assert!(e.to_string().contains("checksum mismatch"), "{e}");
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Checkpoint`] for a checksum mismatch or a file shorter than
    /// its index, [`crate::Error::Io`] reading it, or an initializer's error.
    pub fn verify_checkpoint(
        &self,
        ckpt: &crate::checkpoint::AnyCheckpoint,
        piece_bytes: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<VerifyReport> {
        let catalog = crate::restore::Catalog::of(ckpt)?;
        self.verify_catalog(&catalog, piece_bytes, progress)
    }

    /// The comparison both formats share: each model tensor against the catalog's
    /// piece of its name, `piece_bytes` at a time, the read overlapping the
    /// recomputation.
    fn verify_catalog(
        &self,
        catalog: &crate::restore::Catalog<'_>,
        piece_bytes: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<VerifyReport> {
        let tensors = self.tensors();
        let mut report = VerifyReport {
            tensors: tensors.len(),
            ..VerifyReport::default()
        };
        let mut reader = crate::checkpoint::DirectReader::new(true);
        let mut mine: Vec<u8> = Vec::new();
        let mut scratch: Option<Tensor> = None;
        let mut compared = std::collections::HashSet::new();
        for v in &tensors {
            let name = v.checkpoint_name();
            let Some(piece) = catalog.tensors.get(name) else {
                report
                    .problems
                    .push(format!("{name}: missing from the checkpoint"));
                continue;
            };
            if piece.dtype != v.dtype() || piece.dims != v.shape().dims() {
                report.problems.push(format!(
                    "{name}: checkpoint has {} {}, the spec gives {} {}",
                    piece.dtype,
                    crate::Shape::new(&piece.dims)?,
                    v.dtype(),
                    v.shape()
                ));
                continue;
            }
            let at = catalog
                .locate(name)
                .ok_or_else(|| Error::invalid_arg(format!("{name}: not in a file")))?;
            compared.insert(name);
            let size = v.dtype().size().max(1);
            let n = v.shape().num_elements();
            let per = (piece_bytes / size).max(1);
            let mut differing = 0u64;
            let mut sum = 0u32;
            let mut first = 0usize;
            while first < n {
                let k = per.min(n - first);
                let bytes = k.saturating_mul(size);
                let mut t = match scratch.take() {
                    Some(t) if t.dtype() == v.dtype() => t,
                    _ => Tensor::try_zeros(v.dtype(), &crate::Shape::scalar())?,
                };
                resize(&mut t, k)?;
                let offset = at
                    .offset
                    .saturating_add((first as u64).saturating_mul(size as u64));
                let (read, filled) = rayon::join(
                    || reader.read(at.file, at.path, offset, bytes),
                    || v.fill_range(first, &mut t),
                );
                let theirs = read.map_err(|e| crate::restore::read_error(at.path, e))?;
                filled?;
                if at.crc.is_some() {
                    sum = crc32c::crc32c_append(sum, theirs);
                }
                mine.clear();
                append_le(&t, &mut mine);
                differing += mine
                    .chunks(size)
                    .zip(theirs.chunks(size))
                    .filter(|(a, b)| a != b)
                    .count() as u64;
                scratch = Some(t);
                report.bytes = report.bytes.saturating_add(bytes as u64);
                progress(bytes as u64);
                first += k;
            }
            if let Some(stored) = at.crc {
                crate::restore::check_crc(at.path, at.label, stored, sum)?;
            }
            if differing == 0 {
                report.matched += 1;
            } else {
                report.problems.push(format!(
                    "{name}: {} of {} elements differ",
                    super::units::group_digits(differing),
                    super::units::group_digits(n as u64)
                ));
            }
        }
        let known: std::collections::HashSet<&str> =
            tensors.iter().map(|v| v.checkpoint_name()).collect();
        for name in catalog.tensors.keys() {
            if !known.contains(name.as_str()) {
                report.problems.push(format!("{name}: not in the model"));
            }
            if !compared.contains(name.as_str()) {
                catalog.check_checksum(name, piece_bytes)?;
            }
        }
        Ok(report)
    }
}
