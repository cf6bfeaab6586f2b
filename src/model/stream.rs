//! Streamed checkpoint writes of a built model: values are computed piece by piece
//! straight from the variables' initializers and written as they are produced.

use super::build::BuiltModel;
use crate::checkpoint::{
    safetensors_layout, write_safetensors_streamed, StreamOptions, StreamStats,
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
