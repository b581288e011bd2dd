//! What a statement runs with ([`Context`]: its query's id, the lake, the caller's catalog and
//! permissions, its session and output location) and what it produces ([`Outcome`]). Statements
//! and writes are functions over a context; only the engine makes one.

use catalog::{Catalog, Table};
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use storage::Store;

use crate::error::{Error, Result};
use crate::session::{Acting, plan_query};
use crate::sql::Name;
use crate::types::ColumnInfo;

pub(crate) struct Context {
    /// The query execution's id: it names the result file, manifests and staged files.
    pub id: String,
    pub store: Store,
    /// The caller's Glue catalog.
    pub catalog: Catalog,
    /// The database unqualified names are in (the execution context's), if any.
    pub database: Option<String>,
    /// Whose S3 permissions the statement reads and writes with.
    pub acting: Acting,
    pub session: SessionContext,
    /// Where the result file and manifests go: `s3://bucket/prefix/`.
    pub output_dir: String,
}

impl Context {
    /// The database a name is in: its own qualifier, the context's database, or `default`.
    pub(crate) fn database_of(&self, name: &Name) -> String {
        name.database.clone().or_else(|| self.database.clone()).unwrap_or_else(|| "default".into()).to_lowercase()
    }

    /// The table (or view) a name names, in Athena's words when it or its database is missing.
    pub(crate) fn table(&self, name: &Name) -> Result<Table> {
        let db = self.database_of(name);
        self.catalog.get_database(&db).map_err(|_| Error::SchemaNotFound(db.clone()))?;
        self.catalog.get_table(&db, &name.name).map_err(|_| Error::TableNotFound { database: db, table: name.name.clone() })
    }

    /// Plans a query in the statement's session.
    pub(crate) async fn dataframe(&self, sql: &str) -> Result<DataFrame> {
        plan_query(&self.session, sql).await
    }
}

pub(crate) fn already_exists(what: String) -> Error {
    Error::Catalog(catalog::Error::AlreadyExists(what))
}

/// What a statement produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub columns: Vec<ColumnInfo>,
    pub rows: u64,
    pub manifest: Option<String>,
    pub scanned: u64,
    pub planning_ms: u64,
    /// Rows the statement's scans produced.
    pub input_rows: u64,
    /// The size of its result file.
    pub output_bytes: u64,
    /// What a DDL or utility statement prints, one line a row.
    pub lines: Vec<String>,
}
