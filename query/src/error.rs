//! The query error type and its protocol-neutral kind.

use datafusion::error::DataFusionError;

/// The prefix that marks an error as Trino's `INVALID_FUNCTION_ARGUMENT`: its message is
/// Trino's own, and Athena reports it as it is (see [`Error::athena_reason`]); functions fail with it
/// through `functions::invalid_argument`.
pub const INVALID_ARGUMENT: &str = "INVALID_FUNCTION_ARGUMENT: ";

/// What sort of failure an error is: the kinds storage and catalog use too.
pub use storage::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An unknown query id or similar.
    #[error("{0}")]
    NotFound(String),
    /// The request is wrong for the current state (results of a running query, …) or malformed.
    #[error("{0}")]
    InvalidInput(String),
    /// The statement does not parse, or breaks a rule of the grammar (`line 1:1: …`, as Athena
    /// words it): Athena's SYNTAX_ERROR.
    #[error("{0}")]
    Syntax(String),
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
            Error::InvalidInput(_) | Error::Syntax(_) => ErrorKind::InvalidInput,
            Error::Catalog(e) => e.kind(),
            Error::Storage(e) => e.kind(),
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
                    && m.starts_with(INVALID_ARGUMENT)
                {
                    return m.clone();
                }
                // A scan or a write of an object the caller may not touch: Athena's own words.
                if let Some(path) = denied_path(e) {
                    return format!("Permission denied on S3 path: {path}");
                }
                let name = athena_error_name(root);
                if name == "EXCEEDED_SPILL_LIMIT" {
                    // Spill files reached the room the data directory has left (`Sessions::session`).
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
                format!("{name}: {text}")
            }
            Error::Timeout(m) => format!("EXCEEDED_TIME_LIMIT: {m}"),
            Error::Hive { message, .. } => message.clone(),
            Error::Syntax(m) => format!("SYNTAX_ERROR: {m}"),
            Error::InvalidInput(m) => format!("NOT_SUPPORTED: {m}"),
            Error::Catalog(e) => format!("{}: {e}", if e.kind() == catalog::ErrorKind::NotFound { "ENTITY_NOT_FOUND" } else { "CATALOG_ERROR" }),
            Error::Storage(e @ storage::Error::AccessDenied { .. }) => e.to_string(),
            other => format!("GENERIC_INTERNAL_ERROR: {other}"),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Athena's name for a DataFusion error (its root). DataFusion says some things only in words: a
/// missing table, column or function, and a full spill directory, are plan and resources errors
/// like any other. This is the one place that reads its messages; the tests below make
/// DataFusion produce each message it relies on, so a change of wording fails them.
fn athena_error_name(root: &DataFusionError) -> &'static str {
    let text = root.to_string();
    match root {
        _ if text.contains("exceeded the allowable limit") => "EXCEEDED_SPILL_LIMIT",
        DataFusionError::SQL(_, _) => "SYNTAX_ERROR",
        DataFusionError::ResourcesExhausted(_) => "EXCEEDED_LOCAL_MEMORY_LIMIT",
        DataFusionError::Plan(_) | DataFusionError::SchemaError(_, _) => {
            if text.contains("table '") && text.contains("not found") {
                "TABLE_NOT_FOUND"
            } else if text.contains("Invalid function") {
                "FUNCTION_NOT_FOUND"
            } else if text.contains("No field named") || text.contains("not found") {
                "COLUMN_NOT_FOUND"
            } else {
                "SEMANTIC_ERROR"
            }
        }
        DataFusionError::NotImplemented(_) => "NOT_SUPPORTED",
        DataFusionError::Internal(_) => "GENERIC_INTERNAL_ERROR",
        _ => "GENERIC_USER_ERROR",
    }
}

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

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    /// DataFusion's own errors for each mistake, named as Athena names them.
    #[tokio::test]
    async fn datafusion_errors_get_athenas_names() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a INT, s VARCHAR)").await.unwrap();
        let cases = [
            ("SELECT * FROM nothing", "TABLE_NOT_FOUND"),
            ("SELECT nothing FROM t", "COLUMN_NOT_FOUND"),
            ("SELECT no_such_function(a) FROM t", "FUNCTION_NOT_FOUND"),
            ("SELECT a + s FROM t", "SEMANTIC_ERROR"),
            ("SELEC 1", "SYNTAX_ERROR"),
        ];
        for (sql, want) in cases {
            let error = ctx.sql(sql).await.err().unwrap_or_else(|| panic!("{sql} planned"));
            assert_eq!(athena_error_name(error.find_root()), want, "{sql}: {error}");
        }
        let spill =
            DataFusionError::ResourcesExhausted("The used disk space during the spilling process has exceeded the allowable limit of 1.0 MB".into());
        assert_eq!(athena_error_name(&spill), "EXCEEDED_SPILL_LIMIT");
        assert_eq!(athena_error_name(&DataFusionError::ResourcesExhausted("out of memory".into())), "EXCEEDED_LOCAL_MEMORY_LIMIT");
        assert_eq!(Error::Syntax("line 1:1: x".into()).athena_reason(), "SYNTAX_ERROR: line 1:1: x");
        assert_eq!(Error::InvalidInput("x".into()).athena_reason(), "NOT_SUPPORTED: x");
    }
}
