//! The Glue data catalog: databases, tables (with their versions), partitions and crawlers,
//! persisted in the embedded store, and the crawler that infers schemas and partitions.
//!
//! Names are case-insensitive, as in Glue and Athena: they are stored lowercased. Every write is one
//! atomic batch made durable before it returns, so a crash never leaves half a table behind.
//! Input is checked against Glue's constraints before anything is written.
//!
//! Tree `catalog` keys: `d/<db>`, `t/<db>\0<table>`, `tv/<db>\0<table>\0<version>` (archived
//! table versions), `p/<db>\0<table>\0<values joined by \x1f>`, `pi/<db>\0<table>\0<index>`
//! (partition indexes), `c/<crawler>` (crawlers), `g/…` (tags, see `tags`), `cs/…` and `ps/…`
//! (column statistics, see `statistics`), `f/<db>\0<function>` (user-defined functions),
//! `cl/<classifier>` (custom classifiers).

mod classifiers;
mod crawler;
mod databases;
mod expression;
mod functions;
pub mod grok;
mod indexes;
mod model;
mod partitions;
mod policy;
mod statistics;
mod tables;
mod tags;
mod validate;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use storage::{Kv, KvOp, KvTree};

pub use classifiers::Classifier;
pub use crawler::{
    Crawler, CrawlerMetrics, LastCrawl, Progress, RecrawlPolicy, Resolver, RunSummary, S3Target, SchemaChangePolicy, Targets, iceberg_columns,
};
pub use expression::PartitionFilter;
pub use functions::UserDefinedFunction;
pub use indexes::{MAX_INDEXES, PartitionIndex};
pub use model::{Column, Database, Parameters, Partition, SerDeInfo, StorageDescriptor, Table, Timestamp, now};
pub use partitions::{PartitionPage, PartitionQuery, Segment};
pub use policy::{Exists as PolicyExists, ResourcePolicy};
pub use statistics::ColumnStatistics;
pub use tables::{SearchFilter, SearchQuery, TableVersion};
pub use tags::{Tagged, Tags, check_tags};
pub use validate::normalize_name;

/// The version written into every catalog record.
pub const RECORD_VERSION: u32 = 1;

/// Why a crawler cannot do what was asked, by the state it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrawlerState {
    /// Running (or stopping): it cannot be started, changed or deleted.
    Running,
    /// Not running: there is nothing to stop.
    NotRunning,
    /// Already stopping.
    Stopping,
}

/// What sort of failure an error is, independent of any wire protocol: one set of kinds for
/// storage, catalog and query, defined by the crate at the bottom.
pub use storage::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidInput(String),
    /// The entity changed since the caller read it (Glue's ConcurrentModificationException).
    #[error("{0}")]
    Conflict(String),
    /// A change's condition on what is there did not hold (a resource policy's hash or presence).
    #[error("{0}")]
    ConditionFailed(String),
    /// A crawler in the wrong state for the request.
    #[error("{message}")]
    CrawlerState { state: CrawlerState, message: String },
    /// A resource would have more of something than Glue allows.
    #[error("{0}")]
    LimitExceeded(String),
    #[error("the catalog store failed: {0}")]
    Store(#[from] storage::Error),
    #[error("a catalog record is corrupt: {0}")]
    Corrupt(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Conflict(_) | Error::CrawlerState { .. } | Error::ConditionFailed(_) => ErrorKind::Conflict,
            Error::LimitExceeded(_) => ErrorKind::ResourceExhausted,
            Error::Store(_) | Error::Corrupt(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Serialize, Deserialize)]
struct Record<T> {
    v: u32,
    item: T,
}

pub(crate) fn encode<T: Serialize>(item: &T) -> Vec<u8> {
    serde_json::to_vec(&Record { v: RECORD_VERSION, item }).unwrap_or_default()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    let record: Record<T> = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
    if record.v > RECORD_VERSION {
        return Err(Error::Corrupt(format!("record version {} is newer than this binary understands", record.v)));
    }
    Ok(record.item)
}

pub(crate) fn db_key(db: &str) -> Vec<u8> {
    format!("d/{db}").into_bytes()
}

pub(crate) fn table_prefix(db: &str) -> Vec<u8> {
    format!("t/{db}\0").into_bytes()
}

pub(crate) fn table_key(db: &str, table: &str) -> Vec<u8> {
    format!("t/{db}\0{table}").into_bytes()
}

pub(crate) fn version_prefix(db: &str, table: &str) -> Vec<u8> {
    format!("tv/{db}\0{table}\0").into_bytes()
}

pub(crate) fn version_key(db: &str, table: &str, version: u64) -> Vec<u8> {
    format!("tv/{db}\0{table}\0{version:010}").into_bytes()
}

pub(crate) fn partition_prefix(db: &str, table: &str) -> Vec<u8> {
    format!("p/{db}\0{table}\0").into_bytes()
}

pub(crate) fn partition_key(db: &str, table: &str, values: &[String]) -> Vec<u8> {
    let mut k = partition_prefix(db, table);
    k.extend_from_slice(values.join("\u{1f}").as_bytes());
    k
}

/// Whether `name` matches a Glue `Expression`: a pattern where `*` is any run of characters and
/// `|` separates alternatives, matched case-insensitively against the whole name.
pub fn matches_expression(expression: &str, name: &str) -> bool {
    let mut pattern = String::from("(?i)^(?:");
    for c in expression.chars() {
        match c {
            '*' => pattern.push_str(".*"),
            '|' => pattern.push('|'),
            '.' => pattern.push('.'),
            c => pattern.push_str(&regex::escape(&c.to_string())),
        }
    }
    pattern.push_str(")$");
    match regex::Regex::new(&pattern) {
        Ok(re) => re.is_match(name),
        Err(_) => expression.eq_ignore_ascii_case(name),
    }
}

/// One account's catalog; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    /// The account that owns it (Glue's `CatalogId`).
    account: Arc<str>,
    pub(crate) kv: Arc<dyn Kv>,
    pub(crate) tree: Arc<dyn KvTree>,
    /// Serialises read-modify-write changes (updates, batches, crawler results), so that a check
    /// and the write it guards cannot interleave with another change.
    pub(crate) writes: Arc<tokio::sync::Mutex<()>>,
    /// The crawls in progress, with what cancels them.
    pub(crate) running: Arc<crawler::Running>,
}

/// Every account's catalog, each opened once (so that each has one write lock and one set of
/// running crawls); cheap to clone.
#[derive(Clone)]
pub struct Catalogs {
    kv: Arc<dyn Kv>,
    open: Arc<std::sync::Mutex<std::collections::HashMap<String, Catalog>>>,
}

impl Catalogs {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Catalogs { kv, open: Arc::default() }
    }

    /// The catalog of `account`, opened (and its interrupted crawls recovered) on first use.
    pub fn account(&self, account: &str) -> Result<Catalog> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = open.get(account) {
            return Ok(c.clone());
        }
        let catalog = Catalog::open(self.kv.clone(), account)?;
        open.insert(account.to_string(), catalog.clone());
        Ok(catalog)
    }

    /// Upgrades a data directory of layout 1, whose one catalog served every account: its records
    /// become `owner`'s (the primary account's). They are copied into the owner's tree, made
    /// durable, then removed from the shared tree, so a crash at any point leaves them where the
    /// next start finds and finishes the move. Returns how many records moved.
    pub async fn adopt_shared_catalog(&self, owner: &str) -> Result<usize> {
        let shared = self.kv.tree(SHARED_TREE)?;
        let records: Vec<(Vec<u8>, Vec<u8>)> = shared.scan_prefix(b"").collect::<Result<_, _>>()?;
        if records.is_empty() {
            return Ok(0);
        }
        if !is_account_id(owner) {
            return Err(Error::InvalidInput(format!("{owner:?} is not an account id (12 digits)")));
        }
        let target = self.kv.tree(&tree_name(owner))?;
        target.apply(records.iter().map(|(k, v)| KvOp::Put(k.clone(), v.clone())).collect())?;
        self.kv.flush().await?;
        shared.apply(records.iter().map(|(k, _)| KvOp::Delete(k.clone())).collect())?;
        self.kv.flush().await?;
        Ok(records.len())
    }
}

/// A per-item failure of a batch call.
#[derive(Debug)]
pub struct ItemError<K> {
    pub item: K,
    pub error: Error,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

/// The tree that holds an account's catalog.
fn tree_name(account: &str) -> String {
    format!("catalog/{account}")
}

/// The tree of layout 1, where one catalog served every account.
const SHARED_TREE: &str = "catalog";

/// Whether `account` is an account id: twelve digits.
pub fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

impl Catalog {
    /// Opens one account's catalog, in a tree of its own (`catalog/<account>`): nothing one
    /// account's catalog does can reach another's records.
    pub fn open(kv: Arc<dyn Kv>, account: &str) -> Result<Self> {
        if !is_account_id(account) {
            return Err(Error::InvalidInput(format!("{account:?} is not an account id (12 digits)")));
        }
        let tree = kv.tree(&tree_name(account))?;
        let catalog = Catalog {
            account: account.into(),
            kv,
            tree,
            writes: Arc::new(tokio::sync::Mutex::new(())),
            running: Arc::new(crawler::Running::default()),
        };
        catalog.recover_crawlers()?;
        Ok(catalog)
    }

    /// The account that owns this catalog (its Glue `CatalogId`).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Applies the operations as one atomic batch and makes them durable.
    pub(crate) async fn commit(&self, ops: Vec<KvOp>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.tree.apply(ops)?;
        self.kv.flush().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let kv = storage::open_data_dir(dir.path()).unwrap();
        (dir, Catalog::open(kv, "000000000000").unwrap())
    }

    fn table(name: &str) -> Table {
        Table {
            name: name.into(),
            storage_descriptor: Some(StorageDescriptor {
                columns: vec![Column { name: "A".into(), r#type: Some("int".into()), ..Default::default() }],
                location: Some("s3://b/t/".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Layout 1 kept one catalog in the tree `catalog`; the primary account adopts it, once.
    #[tokio::test]
    async fn the_shared_catalog_of_layout_1_becomes_the_owners() {
        let dir = tempfile::tempdir().unwrap();
        let kv = storage::open_data_dir(dir.path()).unwrap();
        let shared = kv.tree(SHARED_TREE).unwrap();
        let db = Database { name: "legacy".into(), ..Default::default() };
        shared.put(&db_key("legacy"), &encode(&db)).unwrap();
        shared.put(b"meta/default-database", &encode(&true)).unwrap();
        let catalogs = Catalogs::new(kv.clone());
        assert_eq!(catalogs.adopt_shared_catalog("000000000000").await.unwrap(), 2);
        assert_eq!(catalogs.adopt_shared_catalog("000000000000").await.unwrap(), 0);
        assert_eq!(shared.scan_prefix(b"").count(), 0);
        let owner = catalogs.account("000000000000").unwrap();
        assert_eq!(owner.get_database("legacy").unwrap().name, "legacy");
        // Deleted before, `default` is not made again: the marker moved with the records.
        assert!(!owner.provision_default_database().await.unwrap());
        let other = catalogs.account("111111111111").unwrap();
        assert!(other.list_databases().unwrap().is_empty());
        assert!(catalogs.account("12345").is_err());
    }

    #[test]
    fn expressions_match_like_glue() {
        let cases = [
            ("*part*", "my_partition", true),
            ("*part*", "other", false),
            ("temp_table_*", "temp_table_abc", true),
            ("orders|items", "items", true),
            ("ORDERS", "orders", true),
            ("a.c", "abc", true),
        ];
        for (expr, name, want) in cases {
            assert_eq!(matches_expression(expr, name), want, "{expr} vs {name}");
        }
    }

    #[tokio::test]
    async fn tables_live_and_die_with_their_database() {
        let (_dir, cat) = catalog();
        cat.create_database(Database { name: "Sales".into(), ..Default::default() }).await.unwrap();
        assert!(matches!(cat.create_database(Database { name: "sales".into(), ..Default::default() }).await, Err(Error::AlreadyExists(_))));
        let t = cat.create_table("SALES", table("Orders")).await.unwrap();
        assert_eq!(t.name, "orders");
        assert_eq!(t.columns()[0].name, "a");
        assert!(matches!(cat.create_table("sales", table("orders")).await, Err(Error::AlreadyExists(_))));
        assert!(matches!(cat.create_table("nope", table("x")).await, Err(Error::NotFound(_))));
        cat.create_table("sales", table("items")).await.unwrap();
        assert_eq!(cat.list_tables("sales", Some("*ord*")).unwrap().len(), 1);
        let errors = cat.batch_delete_tables("sales", &["items".into(), "ghost".into()]).await.unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].item, "ghost");
        cat.delete_database("sales").await.unwrap();
        assert!(matches!(cat.get_table("sales", "orders"), Err(Error::NotFound(_))));
        cat.create_database(Database { name: "sales".into(), ..Default::default() }).await.unwrap();
        assert!(cat.list_tables("sales", None).unwrap().is_empty());
    }

    #[tokio::test]
    async fn partitions_report_per_item_errors() {
        let (_dir, cat) = catalog();
        cat.create_database(Database { name: "d".into(), ..Default::default() }).await.unwrap();
        let mut t = table("t");
        t.partition_keys = vec![Column { name: "dt".into(), r#type: Some("string".into()), ..Default::default() }];
        cat.create_table("d", t).await.unwrap();
        let p = |v: &str| Partition { values: vec![v.into()], ..Default::default() };
        let errors = cat.batch_create_partitions("d", "t", vec![p("1"), p("2"), p("1")]).await.unwrap();
        assert_eq!(errors.len(), 1);
        assert!(matches!(errors[0].error, Error::AlreadyExists(_)));
        assert_eq!(cat.get_partitions("d", "t").unwrap().len(), 2);
        let errors = cat.batch_delete_partitions("d", "t", vec![vec!["1".into()], vec!["9".into()]]).await.unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(cat.get_partitions("d", "t").unwrap().len(), 1);
    }

    #[tokio::test]
    async fn unknown_fields_round_trip() {
        let (_dir, cat) = catalog();
        let db: Database = serde_json::from_value(serde_json::json!({"Name": "x", "TargetDatabase": {"CatalogId": "1"}})).unwrap();
        cat.create_database(db).await.unwrap();
        let back = serde_json::to_value(cat.get_database("x").unwrap()).unwrap();
        assert_eq!(back["TargetDatabase"]["CatalogId"], "1");
    }
}
