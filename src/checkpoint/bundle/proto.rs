//! The protocol buffers of a tensor bundle's index, as prost-derived structs (field
//! numbers and types as in TensorFlow's `tensor_bundle.proto`, `tensor_shape.proto`,
//! `tensor_slice.proto` and `versions.proto`; no protoc at build time).

/// `BundleHeaderProto`: the value of the index's empty-string key.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct BundleHeaderProto {
    /// Number of data files.
    #[prost(int32, tag = "1")]
    pub num_shards: i32,
    /// `LITTLE = 0`, `BIG = 1`.
    #[prost(int32, tag = "2")]
    pub endianness: i32,
    /// The bundle format version.
    #[prost(message, optional, tag = "3")]
    pub version: Option<VersionDef>,
}

/// `VersionDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct VersionDef {
    /// The producer's version.
    #[prost(int32, tag = "1")]
    pub producer: i32,
    /// The oldest consumer version that can read this.
    #[prost(int32, tag = "2")]
    pub min_consumer: i32,
    /// Consumer versions that must not read this.
    #[prost(int32, repeated, tag = "3")]
    pub bad_consumers: Vec<i32>,
}

/// `BundleEntryProto`: where one tensor (or the metadata of a sliced one) lives.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct BundleEntryProto {
    /// `DataType` enum value.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The tensor's shape.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    /// The data file holding the bytes.
    #[prost(int32, tag = "3")]
    pub shard_id: i32,
    /// Byte offset in that file.
    #[prost(int64, tag = "4")]
    pub offset: i64,
    /// Byte length.
    #[prost(int64, tag = "5")]
    pub size: i64,
    /// Masked CRC32C of the bytes.
    #[prost(fixed32, tag = "6")]
    pub crc32c: u32,
    /// For a sliced tensor: the slices stored (each under its slice key).
    #[prost(message, repeated, tag = "7")]
    pub slices: Vec<TensorSliceProto>,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorShapeProto {
    /// The dimensions.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    /// Unknown rank (never in a checkpoint).
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// `TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Dim {
    /// The size (`-1` for unknown, never in a checkpoint).
    #[prost(int64, tag = "1")]
    pub size: i64,
    /// An optional name.
    #[prost(string, tag = "2")]
    pub name: String,
}

/// `TensorSliceProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorSliceProto {
    /// One extent per dimension.
    #[prost(message, repeated, tag = "1")]
    pub extent: Vec<Extent>,
}

/// `TensorSliceProto.Extent`: `start`, and `length` unless the extent is the whole
/// dimension (the `has_length` oneof, which has explicit presence like `optional`).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Extent {
    /// First index.
    #[prost(int64, tag = "1")]
    pub start: i64,
    /// Number of indices; absent for the full extent.
    #[prost(int64, optional, tag = "2")]
    pub length: Option<i64>,
}

/// TF's `DataType` numbers of the dtypes varscope has.
pub(crate) mod data_type {
    pub const DT_FLOAT: i32 = 1;
    pub const DT_DOUBLE: i32 = 2;
    pub const DT_INT32: i32 = 3;
    pub const DT_INT64: i32 = 9;
    pub const DT_BOOL: i32 = 10;
    pub const DT_BFLOAT16: i32 = 14;
    pub const DT_HALF: i32 = 19;
}
