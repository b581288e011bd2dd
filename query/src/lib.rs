//! Athena-style SQL over the Glue catalog on DataFusion, and the query-execution manager.
//!
//! Queries run on a runtime of their own, apart from the one that serves HTTP, under a memory
//! limit; their results are written as Athena writes them, as CSV files in the lake.

pub mod budget;
pub mod cancel;
pub mod coalesce;
pub mod delimited;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod functions;
pub mod lateral;
pub mod partitioned;
pub mod rewrite;
pub mod sql;
pub mod statements;
pub mod tables;
pub mod text;
pub mod types;
pub mod wrap;
pub mod write;

pub use engine::{Engine, EngineConfig, QueryExecution, QueryState, ResultPage, StartQuery};
pub use error::{Error, ErrorKind, Result};
pub use sql::StatementType;
pub use types::ColumnInfo;
