//! The query error type and its protocol-neutral kind.

use datafusion::error::DataFusionError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidInput,
    ResourceExhausted,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An unknown query id or similar.
    #[error("{0}")]
    NotFound(String),
    /// The request is wrong for the current state (results of a running query, …) or malformed.
    #[error("{0}")]
    InvalidInput(String),
    #[error(transparent)]
    Catalog(#[from] catalog::Error),
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error("{0}")]
    Internal(String),
    /// The query ran longer than allowed.
    #[error("{0}")]
    Timeout(String),
    /// A Hive DDL statement failed: the message is Hive's, which Athena reports as it is.
    #[error("{message}")]
    Hive { kind: ErrorKind, message: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Catalog(e) => match e.kind() {
                catalog::ErrorKind::Internal => ErrorKind::Internal,
                catalog::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::InvalidInput,
            },
            Error::Storage(e) => match e.kind() {
                storage::ErrorKind::Internal => ErrorKind::Internal,
                storage::ErrorKind::ResourceExhausted => ErrorKind::ResourceExhausted,
                storage::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::InvalidInput,
            },
            Error::DataFusion(e) => match e.find_root() {
                DataFusionError::ResourcesExhausted(_) => ErrorKind::ResourceExhausted,
                DataFusionError::Internal(_) => ErrorKind::Internal,
                _ => ErrorKind::InvalidInput,
            },
            Error::Internal(_) => ErrorKind::Internal,
            Error::Timeout(_) => ErrorKind::ResourceExhausted,
            Error::Hive { kind, .. } => *kind,
        }
    }

    /// The message Athena puts in `StateChangeReason`: an error name as Athena spells it, then
    /// the detail.
    pub fn athena_reason(&self) -> String {
        match self {
            Error::DataFusion(e) => {
                let root = e.find_root();
                // A function that names Trino's error already says it as Athena would.
                if let DataFusionError::Execution(m) = root
                    && m.starts_with(crate::functions::INVALID_ARGUMENT)
                {
                    return m.clone();
                }
                // A scan or a write of an object the caller may not touch: Athena's own words.
                if let Some(path) = denied_path(e) {
                    return format!("Permission denied on S3 path: {path}");
                }
                // Spill files reached the room the data directory has left (see `Engine::session_with`).
                if root.to_string().contains("exceeded the allowable limit") {
                    return "EXCEEDED_SPILL_LIMIT: Query exceeded the space it may spill to: the data directory is full, but for the room kept free for its index".into();
                }
                let text = match root {
                    // The pool's own message first, then which operators held the memory.
                    DataFusionError::ResourcesExhausted(detail) => match detail.split_once("\nError: ") {
                        Some((consumers, cause)) => {
                            let consumers = consumers.replace("Additional allocation failed for ", "").replace('\n', " ");
                            format!("{}. Failed allocating for {}", cause.trim_end_matches('.'), consumers.trim())
                        }
                        None => detail.clone(),
                    },
                    other => other.to_string(),
                };
                let name = match root {
                    DataFusionError::SQL(_, _) => "SYNTAX_ERROR",
                    DataFusionError::ResourcesExhausted(_) => "EXCEEDED_LOCAL_MEMORY_LIMIT",
                    DataFusionError::Plan(_) | DataFusionError::SchemaError(_, _) => {
                        if text.contains("table '") && text.contains("not found") {
                            "TABLE_NOT_FOUND"
                        } else {
                            "COLUMN_NOT_FOUND_OR_SEMANTIC_ERROR"
                        }
                    }
                    DataFusionError::NotImplemented(_) => "NOT_SUPPORTED",
                    DataFusionError::Internal(_) => "GENERIC_INTERNAL_ERROR",
                    _ => "GENERIC_USER_ERROR",
                };
                let name = if name == "COLUMN_NOT_FOUND_OR_SEMANTIC_ERROR" {
                    if text.contains("Invalid function") {
                        "FUNCTION_NOT_FOUND"
                    } else if text.contains("No field named") || text.contains("not found") {
                        "COLUMN_NOT_FOUND"
                    } else {
                        "SEMANTIC_ERROR"
                    }
                } else {
                    name
                };
                format!("{name}: {text}")
            }
            Error::Timeout(m) => format!("EXCEEDED_TIME_LIMIT: {m}"),
            Error::Hive { message, .. } => message.clone(),
            Error::InvalidInput(m) if m.starts_with("line ") => format!("SYNTAX_ERROR: {m}"),
            Error::InvalidInput(m) => format!("NOT_SUPPORTED: {m}"),
            Error::Catalog(e) => format!("{}: {e}", if e.kind() == catalog::ErrorKind::NotFound { "ENTITY_NOT_FOUND" } else { "CATALOG_ERROR" }),
            Error::Storage(e @ storage::Error::AccessDenied { .. }) => e.to_string(),
            other => format!("GENERIC_INTERNAL_ERROR: {other}"),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The S3 path a refused read or write named, wherever in the error's chain the refusal is (an
/// object store's error arrives wrapped as DataFusion's external error, or as its own variant).
fn denied_path(e: &DataFusionError) -> Option<String> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = at {
        if let Some(object_store::Error::PermissionDenied { path, .. }) = err.downcast_ref::<object_store::Error>() {
            return Some(path.clone());
        }
        if let Some(DataFusionError::ObjectStore(os)) = err.downcast_ref::<DataFusionError>()
            && let object_store::Error::PermissionDenied { path, .. } = os.as_ref()
        {
            return Some(path.clone());
        }
        if let Some(storage::Error::AccessDenied { path }) = err.downcast_ref::<storage::Error>() {
            return Some(path.clone());
        }
        at = err.source();
    }
    None
}
