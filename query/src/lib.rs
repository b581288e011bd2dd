//! Athena-style SQL over the Glue catalog on DataFusion, and the query-execution manager.
//!
//! Queries run on a runtime of their own, apart from the one that serves HTTP, under a memory
//! limit; their results are written as Athena writes them, as CSV files in the lake.

mod budget;
mod cancel;
mod coalesce;
mod context;
mod delimited;
mod dialect;
mod engine;
mod error;
mod failure;
mod functions;
mod iceberg_deletes;
mod iceberg_live;
mod iceberg_meta;
mod iceberg_metrics;
mod iceberg_scan;
mod iceberg_tables;
mod lateral;
mod location;
mod partitioned;
mod projection;
mod registry;
mod render;
mod results;
mod rewrite;
mod session;
mod sql;
mod statements;
mod tables;
mod text;
mod tuning;
mod types;
mod views;
mod wrap;
mod write;

pub use engine::{Engine, EngineConfig, QueryCounts, QueryExecution, QueryState, StartQuery, check_prepared};
pub use error::{Error, ErrorKind, Result};
pub use registry::{AWS_DATA_CATALOG, Contents, DataCatalog, NamedQuery, PRIMARY, PreparedStatement, Registry, WorkGroup};
pub use results::ResultPage;
pub use sql::StatementType;
pub use types::ColumnInfo;
