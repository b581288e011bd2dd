//! The Apache Iceberg v2 table format, to the specification: a table is a chain of metadata
//! files (JSON), each naming the table's schemas, partition specs and snapshots; a snapshot names a
//! manifest list (Avro), which names manifests (Avro), which name data and delete files.
//!
//! This crate reads and writes that format through `object_store` and nothing else: it knows
//! neither HTTP nor SQL, nor where a table is registered. A commit here writes new files and a new
//! metadata file, never changing one that exists; making the new metadata file the table's current
//! one (swapping a catalog's `metadata_location`) is the caller's atomic step.

pub mod io;
pub mod manifest;
pub mod metadata;
pub mod partition;
pub mod schema;
pub mod table;
pub mod values;

/// What went wrong reading or writing a table.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// A file holds something the specification does not allow, or this crate cannot read.
    #[error("{0}")]
    Invalid(String),
    /// What was asked is not supported (yet).
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}
