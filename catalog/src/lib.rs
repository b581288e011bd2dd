//! The Glue data catalog: databases, tables and partitions, persisted in the embedded store.
//!
//! Names are case-insensitive, as in Glue and Athena: they are stored lowercased. Every write is one
//! atomic batch made durable before it returns, so a crash never leaves half a table behind.

pub mod model;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use storage::{Kv, KvOp, KvTree};

pub use model::{Column, Database, Parameters, Partition, SerDeInfo, StorageDescriptor, Table};

/// The version written into every catalog record.
pub const RECORD_VERSION: u32 = 1;

/// What sort of failure an error is, independent of any wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidInput,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidInput(String),
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

fn encode<T: Serialize>(item: &T) -> Vec<u8> {
    serde_json::to_vec(&Record { v: RECORD_VERSION, item }).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    let record: Record<T> = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
    if record.v > RECORD_VERSION {
        return Err(Error::Corrupt(format!("record version {} is newer than this binary understands", record.v)));
    }
    Ok(record.item)
}

fn db_key(db: &str) -> Vec<u8> {
    format!("d/{db}").into_bytes()
}

fn table_prefix(db: &str) -> Vec<u8> {
    format!("t/{db}\0").into_bytes()
}

fn table_key(db: &str, table: &str) -> Vec<u8> {
    format!("t/{db}\0{table}").into_bytes()
}

fn partition_prefix(db: &str, table: &str) -> Vec<u8> {
    format!("p/{db}\0{table}\0").into_bytes()
}

fn partition_key(db: &str, table: &str, values: &[String]) -> Vec<u8> {
    let mut k = partition_prefix(db, table);
    k.extend_from_slice(values.join("\u{1f}").as_bytes());
    k
}

/// Checks a database, table or column name against Glue's rules and lowercases it.
pub fn normalize_name(what: &str, name: &str) -> Result<String> {
    let name = name.trim_matches('`');
    if name.is_empty() || name.len() > 255 {
        return Err(Error::InvalidInput(format!("{what} name must be between 1 and 255 characters long")));
    }
    if name.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Error::InvalidInput(format!("{what} name {name:?} contains control characters")));
    }
    Ok(name.to_lowercase())
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

/// The catalog; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    kv: Arc<dyn Kv>,
    tree: Arc<dyn KvTree>,
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

impl Catalog {
    pub fn open(kv: Arc<dyn Kv>) -> Result<Self> {
        let tree = kv.tree("catalog")?;
        Ok(Catalog { kv, tree })
    }

    async fn commit(&self, ops: Vec<KvOp>) -> Result<()> {
        self.tree.apply(ops)?;
        self.kv.flush().await?;
        Ok(())
    }

    // ---- databases ----

    pub async fn create_database(&self, mut db: Database) -> Result<Database> {
        db.name = normalize_name("database", &db.name)?;
        db.create_time.get_or_insert_with(model::now);
        if !self.tree.compare_and_swap(&db_key(&db.name), None, Some(&encode(&db)))? {
            return Err(Error::AlreadyExists(format!("Database already exists: {}", db.name)));
        }
        self.kv.flush().await?;
        Ok(db)
    }

    pub fn get_database(&self, name: &str) -> Result<Database> {
        let name = normalize_name("database", name)?;
        match self.tree.get(&db_key(&name))? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("Database {name} not found."))),
        }
    }

    pub fn list_databases(&self) -> Result<Vec<Database>> {
        self.tree.scan_prefix(b"d/").map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(&v))).collect()
    }

    pub async fn update_database(&self, name: &str, mut input: Database) -> Result<Database> {
        let old = self.get_database(name)?;
        input.name = normalize_name("database", &input.name)?;
        if input.name != old.name {
            return Err(Error::InvalidInput("renaming a database is not supported".into()));
        }
        input.create_time = old.create_time;
        self.commit(vec![KvOp::Put(db_key(&old.name), encode(&input))]).await?;
        Ok(input)
    }

    /// Deletes a database with its tables and their partitions, as Glue does.
    pub async fn delete_database(&self, name: &str) -> Result<()> {
        let db = self.get_database(name)?;
        let mut ops = vec![KvOp::Delete(db_key(&db.name))];
        for entry in self.tree.scan_prefix(&table_prefix(&db.name)) {
            let (k, v) = entry?;
            let table: Table = decode(&v)?;
            ops.push(KvOp::Delete(k));
            ops.extend(self.partition_deletes(&db.name, &table.name)?);
        }
        self.commit(ops).await
    }

    // ---- tables ----

    fn check_table(db: &str, mut table: Table) -> Result<Table> {
        table.name = normalize_name("table", &table.name)?;
        table.database_name = db.to_string();
        if let Some(sd) = &mut table.storage_descriptor {
            for c in &mut sd.columns {
                c.name = normalize_name("column", &c.name)?;
            }
        }
        for c in &mut table.partition_keys {
            c.name = normalize_name("column", &c.name)?;
        }
        Ok(table)
    }

    pub async fn create_table(&self, db: &str, table: Table) -> Result<Table> {
        let db = self.get_database(db)?.name;
        let mut table = Self::check_table(&db, table)?;
        let now = model::now();
        table.create_time = Some(now);
        table.update_time = Some(now);
        if !self.tree.compare_and_swap(&table_key(&db, &table.name), None, Some(&encode(&table)))? {
            return Err(Error::AlreadyExists(format!("Table already exists: {}", table.name)));
        }
        self.kv.flush().await?;
        Ok(table)
    }

    pub fn get_table(&self, db: &str, name: &str) -> Result<Table> {
        let db = self.get_database(db)?.name;
        let name = normalize_name("table", name)?;
        match self.tree.get(&table_key(&db, &name))? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("Table {name} not found."))),
        }
    }

    /// Tables of a database in name order, optionally filtered by a Glue `Expression`.
    pub fn list_tables(&self, db: &str, expression: Option<&str>) -> Result<Vec<Table>> {
        let db = self.get_database(db)?.name;
        let mut tables = Vec::new();
        for entry in self.tree.scan_prefix(&table_prefix(&db)) {
            let (_, v) = entry?;
            let table: Table = decode(&v)?;
            if expression.is_none_or(|e| matches_expression(e, &table.name)) {
                tables.push(table);
            }
        }
        Ok(tables)
    }

    pub async fn update_table(&self, db: &str, input: Table) -> Result<Table> {
        let old = self.get_table(db, &input.name)?;
        let mut table = Self::check_table(&old.database_name, input)?;
        table.create_time = old.create_time;
        table.update_time = Some(model::now());
        self.commit(vec![KvOp::Put(table_key(&old.database_name, &table.name), encode(&table))]).await?;
        Ok(table)
    }

    fn partition_deletes(&self, db: &str, table: &str) -> Result<Vec<KvOp>> {
        self.tree.scan_prefix(&partition_prefix(db, table)).map(|e| e.map(|(k, _)| KvOp::Delete(k)).map_err(Error::from)).collect()
    }

    pub async fn delete_table(&self, db: &str, name: &str) -> Result<()> {
        let table = self.get_table(db, name)?;
        let mut ops = vec![KvOp::Delete(table_key(&table.database_name, &table.name))];
        ops.extend(self.partition_deletes(&table.database_name, &table.name)?);
        self.commit(ops).await
    }

    /// Deletes each named table; the ones that fail are reported, the rest are deleted.
    pub async fn batch_delete_tables(&self, db: &str, names: &[String]) -> Result<Vec<ItemError<String>>> {
        self.get_database(db)?;
        let mut errors = Vec::new();
        for name in names {
            if let Err(error) = self.delete_table(db, name).await {
                errors.push(ItemError { item: name.clone(), error });
            }
        }
        Ok(errors)
    }

    // ---- partitions ----

    pub fn get_partitions(&self, db: &str, table: &str) -> Result<Vec<Partition>> {
        let table = self.get_table(db, table)?;
        self.tree
            .scan_prefix(&partition_prefix(&table.database_name, &table.name))
            .map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(&v)))
            .collect()
    }

    pub fn get_partition(&self, db: &str, table: &str, values: &[String]) -> Result<Partition> {
        let table = self.get_table(db, table)?;
        match self.tree.get(&partition_key(&table.database_name, &table.name, values))? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("Partition not found: {values:?}"))),
        }
    }

    /// Adds partitions; each one that cannot be added is reported, the others are stored.
    pub async fn batch_create_partitions(&self, db: &str, table: &str, inputs: Vec<Partition>) -> Result<Vec<ItemError<Vec<String>>>> {
        let table = self.get_table(db, table)?;
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        for mut p in inputs {
            if p.values.len() != table.partition_keys.len() {
                errors.push(ItemError {
                    item: p.values.clone(),
                    error: Error::InvalidInput(format!(
                        "the partition has {} values but the table has {} partition keys",
                        p.values.len(),
                        table.partition_keys.len()
                    )),
                });
                continue;
            }
            let key = partition_key(&table.database_name, &table.name, &p.values);
            let pending = ops.iter().any(|op| matches!(op, KvOp::Put(k, _) if *k == key));
            if pending || self.tree.get(&key)?.is_some() {
                errors.push(ItemError { item: p.values.clone(), error: Error::AlreadyExists("Partition already exists.".into()) });
                continue;
            }
            p.database_name = table.database_name.clone();
            p.table_name = table.name.clone();
            p.creation_time.get_or_insert_with(model::now);
            ops.push(KvOp::Put(key, encode(&p)));
        }
        self.commit(ops).await?;
        Ok(errors)
    }

    pub async fn batch_delete_partitions(&self, db: &str, table: &str, values: Vec<Vec<String>>) -> Result<Vec<ItemError<Vec<String>>>> {
        let table = self.get_table(db, table)?;
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        for v in values {
            let key = partition_key(&table.database_name, &table.name, &v);
            if self.tree.get(&key)?.is_none() {
                errors.push(ItemError { item: v, error: Error::NotFound("Partition not found.".into()) });
                continue;
            }
            ops.push(KvOp::Delete(key));
        }
        self.commit(ops).await?;
        Ok(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let kv = storage::open_data_dir(dir.path()).unwrap();
        (dir, Catalog::open(kv).unwrap())
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
