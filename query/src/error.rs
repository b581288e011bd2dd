//! The query error type and its protocol-neutral kind.

use datafusion::error::DataFusionError;

/// The prefix that marks an error as Trino's `INVALID_FUNCTION_ARGUMENT`: its message is
/// Trino's own, and Athena reports it as it is (see `failure`); functions fail with it
/// through `functions::invalid_argument`.
pub const INVALID_ARGUMENT: &str = "INVALID_FUNCTION_ARGUMENT: ";

/// What a query that read more than its workgroup allows stops with, as Athena words it.
pub const SCAN_LIMIT: &str = "Bytes scanned limit was exceeded";

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
    /// A statement Athena turns away before it becomes an execution: `StartQueryExecution`
    /// answers `InvalidRequestException` with `AthenaErrorCode` `MALFORMED_QUERY` (Hive DDL
    /// that names the wrong table type, say).
    #[error("{0}")]
    Malformed(String),
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
    /// A database a statement names does not exist: Athena's SCHEMA_NOT_FOUND.
    #[error("Schema '{0}' does not exist")]
    SchemaNotFound(String),
    /// A table a statement names does not exist: Athena's TABLE_NOT_FOUND.
    #[error("Table 'awsdatacatalog.{database}.{table}' does not exist")]
    TableNotFound { database: String, table: String },
    /// A table a CTAS would create exists: TABLE_ALREADY_EXISTS.
    #[error("Table 'awsdatacatalog.{database}.{table}' already exists")]
    TableAlreadyExists { database: String, table: String },
    /// A write's target directory already holds files: HIVE_PATH_ALREADY_EXISTS.
    #[error("{0}")]
    PathExists(String),
    /// EXECUTE or DEALLOCATE names a statement its workgroup has not prepared: Trino's NOT_FOUND.
    #[error("Prepared statement not found: {0}")]
    PreparedNotFound(String),
    /// The query read more than its workgroup's `BytesScannedCutoffPerQuery`: Athena cancels it.
    #[error("{}", SCAN_LIMIT)]
    ScanLimitExceeded,
    /// A query breaks a rule of the table it reads (an injected projected partition key without
    /// an equality filter): Athena's CONSTRAINT_VIOLATION.
    #[error("{0}")]
    ConstraintViolation(String),
    /// A Hive DDL statement failed: the message is Hive's, which Athena reports as it is.
    #[error("{message}")]
    Hive { kind: ErrorKind, message: String },
    /// An Iceberg DDL statement asks for what Athena refuses there: Athena's words, without a
    /// name, and its ErrorType (1200 for what Iceberg tables do not have, a Hive clause or an
    /// unknown table property; 1006 for a malformed statement).
    #[error("{message}")]
    IcebergDdl { message: String, error_type: u16 },
    /// An Iceberg table's files or commit failed, with Athena's name for it
    /// (`ICEBERG_COMMIT_ERROR`: another writer committed first; `ICEBERG_FILESYSTEM_ERROR`,
    /// `ICEBERG_INVALID_METADATA`).
    #[error("{message}")]
    Iceberg { code: &'static str, message: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) | Error::SchemaNotFound(_) | Error::TableNotFound { .. } | Error::PreparedNotFound(_) => ErrorKind::NotFound,
            Error::TableAlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::PathExists(_) => ErrorKind::Conflict,
            Error::InvalidInput(_) | Error::Syntax(_) | Error::Malformed(_) | Error::IcebergDdl { .. } | Error::ConstraintViolation(_) => {
                ErrorKind::InvalidInput
            }
            Error::Catalog(e) => e.kind(),
            Error::Storage(e) => e.kind(),
            Error::DataFusion(e) => match e.find_root() {
                DataFusionError::ResourcesExhausted(_) => ErrorKind::ResourceExhausted,
                DataFusionError::Internal(_) => ErrorKind::Internal,
                _ => ErrorKind::InvalidInput,
            },
            Error::Internal(_) => ErrorKind::Internal,
            Error::Timeout(_) | Error::ScanLimitExceeded => ErrorKind::ResourceExhausted,
            Error::Hive { kind, .. } => *kind,
            Error::Iceberg { code: "ICEBERG_COMMIT_ERROR", .. } => ErrorKind::Conflict,
            Error::Iceberg { .. } => ErrorKind::InvalidInput,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
