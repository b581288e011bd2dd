//! The storage error type and its protocol-neutral kind.

use std::fmt;

/// What sort of failure an error is, independent of any wire protocol.
///
/// The server maps each [`Error`] variant to an S3 error code; this kind is for callers that only
/// need to know whose fault it was (for logging, retries, or other protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidInput,
    Conflict,
    Unsupported,
    ResourceExhausted,
    /// The caller may not do this (a query or crawl acting for someone; see `access`).
    PermissionDenied,
    Internal,
}

/// Which digest a client sent that did not match the data received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    ContentMd5,
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl fmt::Display for DigestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DigestKind::ContentMd5 => "Content-MD5",
            DigestKind::Crc32 => "CRC32",
            DigestKind::Crc32c => "CRC32C",
            DigestKind::Crc64Nvme => "CRC64NVME",
            DigestKind::Sha1 => "SHA1",
            DigestKind::Sha256 => "SHA256",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the specified bucket does not exist: {0}")]
    NoSuchBucket(String),
    #[error("the specified key does not exist: {0}")]
    NoSuchKey(String),
    #[error("the specified multipart upload does not exist: {0}")]
    NoSuchUpload(String),
    #[error("the specified version does not exist: {0}")]
    NoSuchVersion(String),
    #[error("invalid version id specified: {0}")]
    InvalidVersionId(String),
    /// The version asked for is a delete marker. `latest` tells whether it was found as the
    /// object's current version (S3 answers 404) or named by its version id (S3 answers 405).
    #[error("the object {key} is deleted (delete marker {version_id})")]
    DeleteMarker { key: String, version_id: String, last_modified: chrono::DateTime<chrono::Utc>, latest: bool },
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    #[error("a conflicting operation on this object is in progress; retry")]
    ConditionalConflict,
    #[error("bucket {0} already exists and is owned by you")]
    BucketAlreadyOwnedByYou(String),
    #[error("bucket {0} already exists and is owned by another account")]
    BucketAlreadyExists(String),
    #[error("the bucket you tried to delete is not empty: {0}")]
    BucketNotEmpty(String),
    #[error("invalid bucket name {name:?}: {reason}")]
    InvalidBucketName { name: String, reason: &'static str },
    #[error("invalid object key: {0}")]
    InvalidKey(&'static str),
    #[error("the {0} you specified did not match the calculated checksum")]
    BadDigest(DigestKind),
    #[error("the {0} value you specified is not a valid digest")]
    InvalidDigest(DigestKind),
    #[error("the requested range is not satisfiable for an object of {size} bytes")]
    InvalidRange { size: u64 },
    #[error("the requested part number {0} is not satisfiable")]
    InvalidPartNumber(u32),
    #[error("one or more of the specified parts could not be found: part {0}")]
    InvalidPart(u32),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("part {part} is {size} bytes, smaller than the minimum allowed size of {min} bytes")]
    EntityTooSmall { part: u32, size: u64, min: u64 },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("the request body ended early or could not be read: {0}")]
    IncompleteBody(String),
    #[error("the data directory is full: {0}")]
    NoSpace(std::io::Error),
    #[error("storage I/O failed: {context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("the index store failed: {0}")]
    Index(String),
    #[error("a stored record is corrupt or of an unknown format: {0}")]
    Corrupt(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Another process holds the data directory's lock.
    #[error("{}", in_use_message(dir, *pid))]
    InUse { dir: std::path::PathBuf, pid: Option<u32> },
    /// A directory that holds no Minerva data where one was required.
    #[error("{} holds no Minerva data (it has no FORMAT file)", dir.display())]
    NotADataDir { dir: std::path::PathBuf },
    /// A query or crawl acting for someone touched an object that person may not: Athena's words.
    #[error("Permission denied on S3 path: {path}")]
    AccessDenied { path: String },
}

fn in_use_message(dir: &std::path::Path, pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("another Minerva (pid {pid}) is using the data directory {}", dir.display()),
        None => format!("another Minerva is using the data directory {}", dir.display()),
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchBucket(_) | Error::NoSuchKey(_) | Error::NoSuchUpload(_) | Error::NoSuchVersion(_) | Error::DeleteMarker { .. } => {
                ErrorKind::NotFound
            }
            Error::PreconditionFailed | Error::ConditionalConflict => ErrorKind::Conflict,
            Error::BucketAlreadyOwnedByYou(_) | Error::BucketAlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::BucketNotEmpty(_) | Error::InUse { .. } => ErrorKind::Conflict,
            Error::NotADataDir { .. } => ErrorKind::NotFound,
            Error::InvalidBucketName { .. }
            | Error::InvalidKey(_)
            | Error::BadDigest(_)
            | Error::InvalidDigest(_)
            | Error::InvalidRange { .. }
            | Error::InvalidPart(_)
            | Error::InvalidPartNumber(_)
            | Error::InvalidPartOrder
            | Error::EntityTooSmall { .. }
            | Error::InvalidArgument(_)
            | Error::InvalidVersionId(_)
            | Error::IncompleteBody(_) => ErrorKind::InvalidInput,
            Error::NoSpace(_) => ErrorKind::ResourceExhausted,
            Error::AccessDenied { .. } => ErrorKind::PermissionDenied,
            Error::Io { .. } | Error::Index(_) | Error::Corrupt(_) | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Wraps an I/O error, singling out a full disk so that it can be reported as such.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            // ENOSPC: the caller is told the disk is full rather than "internal error".
            return Error::NoSpace(source);
        }
        Error::Io { context: context.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
