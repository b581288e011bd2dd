//! Runs the sqllogictest files in `tests/slt/` against the engine, the way Athena runs them:
//! each statement is a query execution, results are read back from the result file, rendered as
//! Athena renders them.
//!
//! Each file gets a fresh data directory with the files of `tests/slt/data/` uploaded to the bucket
//! `fixtures` (at the same relative paths), a `results` bucket, and the database `default`.
//!
//! Column types are checked with these letters: `I` integer types, `R` real/double/decimal, `T`
//! varchar/varbinary/json, `B` boolean, `D` date/time/timestamp, `A` array, `M` map, `S` row.
//! NULL is `NULL`, an empty string `(empty)`, a value with whitespace the comparison would not
//! see (leading, trailing, doubled, tabs, newlines) quoted with escapes: `"  x"`.
//!
//! `cargo test -p query --test slt -- NAME…` runs the files whose names contain a NAME.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use catalog::{Catalogs, Database};
use futures::StreamExt;
use query::{Engine, EngineConfig, QueryState, StartQuery};
use sqllogictest::{AsyncDB, ColumnType, DBOutput, Runner};
use storage::{PutOptions, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
enum AthenaType {
    Integer,
    Real,
    Text,
    Boolean,
    Temporal,
    Array,
    Map,
    Row,
    Other,
}

impl ColumnType for AthenaType {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            'I' => AthenaType::Integer,
            'R' => AthenaType::Real,
            'T' => AthenaType::Text,
            'B' => AthenaType::Boolean,
            'D' => AthenaType::Temporal,
            'A' => AthenaType::Array,
            'M' => AthenaType::Map,
            'S' => AthenaType::Row,
            '?' => AthenaType::Other,
            _ => return None,
        })
    }

    fn to_char(&self) -> char {
        match self {
            AthenaType::Integer => 'I',
            AthenaType::Real => 'R',
            AthenaType::Text => 'T',
            AthenaType::Boolean => 'B',
            AthenaType::Temporal => 'D',
            AthenaType::Array => 'A',
            AthenaType::Map => 'M',
            AthenaType::Row => 'S',
            AthenaType::Other => '?',
        }
    }
}

fn athena_type(name: &str) -> AthenaType {
    match name {
        "tinyint" | "smallint" | "integer" | "bigint" => AthenaType::Integer,
        "real" | "float" | "double" | "decimal" => AthenaType::Real,
        "varchar" | "char" | "varbinary" | "json" => AthenaType::Text,
        "boolean" => AthenaType::Boolean,
        "date" | "timestamp" | "timestamp with time zone" | "time" => AthenaType::Temporal,
        "array" => AthenaType::Array,
        "map" => AthenaType::Map,
        "row" => AthenaType::Row,
        _ => AthenaType::Other,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct QueryFailed(String);

struct Minerva {
    _dir: tempfile::TempDir,
    engine: Engine,
}

async fn upload_fixtures(store: &Store, root: &Path, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            Box::pin(upload_fixtures(store, root, &path)).await;
        } else {
            let key = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            let body = futures::stream::iter([Ok(Bytes::from(std::fs::read(&path).unwrap()))]).boxed();
            store.put_object("fixtures", &key, body, PutOptions::default()).await.unwrap();
        }
    }
}

/// The account every query of the suite runs as.
const ACCOUNT: &str = "000000000000";

impl Minerva {
    async fn new() -> Minerva {
        let dir = tempfile::tempdir().unwrap();
        let kv = storage::open_data_dir(dir.path()).unwrap();
        let (store, _) = Store::open(dir.path(), kv.clone(), "us-east-1").unwrap();
        let catalogs = Catalogs::new(kv.clone());
        let catalog = catalogs.account(ACCOUNT).unwrap();
        if catalog.get_database("default").is_err() {
            catalog.create_database(Database { name: "default".into(), ..Default::default() }).await.unwrap();
        }
        store.create_bucket("fixtures", "minerva").await.unwrap();
        store.create_bucket("results", "minerva").await.unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt/data");
        upload_fixtures(&store, &data, &data).await;
        let engine = Engine::new(store, catalogs, kv, EngineConfig { threads: 2, ..Default::default() }).unwrap();
        Minerva { _dir: dir, engine }
    }
}

#[async_trait::async_trait]
impl AsyncDB for Minerva {
    type Error = QueryFailed;
    type ColumnType = AthenaType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<AthenaType>, QueryFailed> {
        let start = StartQuery {
            account: ACCOUNT.into(),
            sql: sql.into(),
            database: Some("default".into()),
            workgroup: "primary".into(),
            output_dir: "s3://results/".into(),
            ..Default::default()
        };
        let id = self.engine.start(start).await.map_err(|e| QueryFailed(e.to_string()))?;
        let q = loop {
            let q = self.engine.get(&id, ACCOUNT).map_err(|e| QueryFailed(e.to_string()))?;
            if q.state.is_final() {
                break q;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        if q.state != QueryState::Succeeded {
            return Err(QueryFailed(q.state_change_reason.unwrap_or_else(|| format!("{:?}", q.state))));
        }
        let mut rows = Vec::new();
        let mut token = None;
        let mut columns;
        loop {
            let page = self.engine.results(&id, ACCOUNT, token.as_deref(), 1000).await.map_err(|e| QueryFailed(e.to_string()))?;
            columns = page.columns;
            rows.extend(page.rows);
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        if q.statement_type == query::StatementType::Dml {
            // The first row of a SELECT's results is its header.
            if !rows.is_empty() {
                rows.remove(0);
            }
        } else if columns.is_empty() && rows.is_empty() {
            return Ok(DBOutput::StatementComplete(q.rows));
        }
        // What DDL and utility statements print comes one line a row, as one datum.
        let types = if q.statement_type != query::StatementType::Dml || columns.is_empty() {
            vec![AthenaType::Text; rows.first().map(|r| r.len()).unwrap_or(1)]
        } else {
            columns.iter().map(|c| athena_type(&c.r#type)).collect()
        };
        let rows = rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| match v {
                        None => "NULL".to_string(),
                        Some(s) if s.is_empty() => "(empty)".to_string(),
                        Some(s) => visible(s),
                    })
                    .collect()
            })
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "minerva"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// A value whose whitespace a reader of the file could not see (leading or trailing, runs, tabs,
/// newlines) is written quoted, with escapes, as `"  padded"`.
fn visible(s: String) -> String {
    if s.split_ascii_whitespace().collect::<Vec<_>>().join(" ") == s { s } else { format!("{s:?}") }
}

/// Rows compare exactly: values joined by one space against the expected line (sqllogictest's
/// default trims and collapses whitespace, so a result that differed only in it passed).
fn exact_validator(_: sqllogictest::Normalizer, actual: &[Vec<String>], expected: &[String]) -> bool {
    actual.len() == expected.len() && actual.iter().zip(expected).all(|(row, line)| row.join(" ") == line.trim_end())
}

fn files(filters: &[String]) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| filters.is_empty() || filters.iter().any(|f| p.file_name().unwrap().to_string_lossy().contains(f.as_str())))
        .collect();
    out.sort();
    out
}

fn main() {
    // `cargo test` passes its own flags (`--nocapture`, …); names are the other arguments.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut failed = Vec::new();
    let files = files(&filters);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let started = std::time::Instant::now();
        let outcome = runtime.block_on(async {
            let mut runner = Runner::new(|| async { Ok(Minerva::new().await) });
            runner.with_column_validator(sqllogictest::strict_column_validator);
            runner.with_validator(exact_validator);
            runner.run_file_async(path).await
        });
        match outcome {
            Ok(()) => println!("slt {name} ... ok ({:.1} s)", started.elapsed().as_secs_f64()),
            Err(e) => {
                println!("slt {name} ... FAILED\n{}", e.display(true));
                failed.push(name);
            }
        }
    }
    println!("\nslt: {} files, {} failed", files.len(), failed.len());
    if !failed.is_empty() {
        println!("failed: {}", failed.join(", "));
        std::process::exit(1);
    }
}
