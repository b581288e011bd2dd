//! Athena's resources of each account, which the engine runs queries by: workgroups (their state
//! and configuration, kept in Athena's own member names so that what a client stores it reads
//! back), named queries, prepared statements (per workgroup), data catalogs, and the tags on
//! workgroups and data catalogs.
//!
//! Records live in the store's tree `athena`, JSON with a format version, keyed by kind and
//! account: `w/<account>/<workgroup>`, `n/<account>/<id>`, `p/<account>/<workgroup>/<name>`,
//! `c/<account>/<catalog>`, and `nt/<account>/<token>` for CreateNamedQuery's idempotency
//! tokens. Every change is one atomic write (a workgroup and its contents go in one batch), made
//! durable before it returns. `primary` and `AwsDataCatalog` exist in every account without a
//! record; one is written only once they are changed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storage::{Kv, KvOp, KvTree};

use crate::error::{Error, Result};

const RECORD_VERSION: u32 = 1;

/// The workgroup every account has, which cannot be deleted.
pub const PRIMARY: &str = "primary";
/// The data catalog every account has: its Glue catalog.
pub const AWS_DATA_CATALOG: &str = "AwsDataCatalog";

/// A workgroup: its state, description and configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkGroup {
    #[serde(default)]
    pub v: u32,
    pub name: String,
    /// `ENABLED` or `DISABLED`: a disabled workgroup runs no queries.
    pub state: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Seconds since the epoch.
    pub created: f64,
    /// Athena's `WorkGroupConfiguration`, member for member as the client gave it.
    #[serde(default)]
    pub configuration: Map<String, Value>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl WorkGroup {
    pub fn new(name: &str, created: f64) -> Self {
        WorkGroup {
            v: RECORD_VERSION,
            name: name.to_string(),
            state: "ENABLED".into(),
            description: None,
            created,
            configuration: Map::new(),
            tags: BTreeMap::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.state != "DISABLED"
    }

    /// Whether the workgroup's settings override what a query's client sends.
    pub fn enforced(&self) -> bool {
        self.configuration.get("EnforceWorkGroupConfiguration").and_then(Value::as_bool).unwrap_or(true)
    }

    /// The workgroup's `ResultConfiguration` (empty if it has none).
    pub fn result_configuration(&self) -> Map<String, Value> {
        self.configuration.get("ResultConfiguration").and_then(Value::as_object).cloned().unwrap_or_default()
    }

    /// The most bytes one query may scan.
    pub fn bytes_scanned_cutoff(&self) -> Option<u64> {
        self.configuration.get("BytesScannedCutoffPerQuery").and_then(Value::as_u64)
    }
}

/// A saved query: its name, database and text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NamedQuery {
    #[serde(default)]
    pub v: u32,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub database: String,
    pub query_string: String,
    pub workgroup: String,
    /// The ClientRequestToken it was created with, whose record goes with it.
    #[serde(default)]
    pub token: Option<String>,
}

/// A statement prepared in a workgroup, run by `EXECUTE name [USING …]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PreparedStatement {
    #[serde(default)]
    pub v: u32,
    pub name: String,
    pub workgroup: String,
    pub query_statement: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Seconds since the epoch.
    pub last_modified: f64,
}

/// A data catalog Athena queries name: `AwsDataCatalog`, or one registered by CreateDataCatalog.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataCatalog {
    #[serde(default)]
    pub v: u32,
    pub name: String,
    /// `GLUE` (the only type Minerva runs queries on), `LAMBDA`, `HIVE` or `FEDERATED`.
    pub r#type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl DataCatalog {
    /// The account whose Glue catalog a `GLUE` data catalog is (its `catalog-id` parameter).
    pub fn glue_account<'a>(&'a self, own: &'a str) -> &'a str {
        self.parameters.get("catalog-id").map(String::as_str).unwrap_or(own)
    }
}

/// What a workgroup holds, which DeleteWorkGroup removes with it only when asked to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    pub named_queries: usize,
    pub prepared_statements: usize,
}

/// Athena's resources of every account.
pub struct Registry {
    tree: Arc<dyn KvTree>,
    kv: Arc<dyn Kv>,
    /// When the registry opened: the creation time of `primary` until it has a record.
    opened: f64,
    /// Serialises read-modify-write changes.
    writing: Mutex<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

fn now() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("{what} record: {e}")))
}

fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

fn workgroup_key(account: &str, name: &str) -> Vec<u8> {
    format!("w/{account}/{name}").into_bytes()
}

fn named_key(account: &str, id: &str) -> Vec<u8> {
    format!("n/{account}/{id}").into_bytes()
}

fn prepared_prefix(account: &str, workgroup: &str) -> Vec<u8> {
    format!("p/{account}/{workgroup}/").into_bytes()
}

/// Statement names are matched without regard to case, as SQL names them (`EXECUTE ByWord` is
/// `byword`).
fn prepared_key(account: &str, workgroup: &str, name: &str) -> Vec<u8> {
    format!("p/{account}/{workgroup}/{}", name.to_lowercase()).into_bytes()
}

fn catalog_key(account: &str, name: &str) -> Vec<u8> {
    // Catalog names are matched without regard to case, as Athena matches them.
    format!("c/{account}/{}", name.to_lowercase()).into_bytes()
}

fn not_found_workgroup(name: &str) -> Error {
    Error::NotFound(format!("WorkGroup {name} is not found."))
}

impl Registry {
    pub fn open(kv: Arc<dyn Kv>) -> Result<Self> {
        Ok(Registry { tree: kv.tree("athena")?, kv, opened: now(), writing: Mutex::new(()) })
    }

    async fn durable(&self) -> Result<()> {
        self.kv.flush().await?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &[u8], what: &str) -> Result<Vec<T>> {
        self.tree.scan_prefix(prefix).map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(what, &v))).collect()
    }

    // ---- workgroups ----

    /// A workgroup of the account, `primary` whether or not it was ever changed.
    pub fn workgroup(&self, account: &str, name: &str) -> Result<WorkGroup> {
        match self.tree.get(&workgroup_key(account, name))? {
            Some(v) => decode("workgroup", &v),
            None if name == PRIMARY => {
                let mut primary = WorkGroup::new(PRIMARY, self.opened);
                primary.configuration.insert("EnforceWorkGroupConfiguration".into(), Value::Bool(false));
                Ok(primary)
            }
            None => Err(not_found_workgroup(name)),
        }
    }

    /// The account's workgroups by name, `primary` among them.
    pub fn workgroups(&self, account: &str) -> Result<Vec<WorkGroup>> {
        let mut all: Vec<WorkGroup> = self.scan(format!("w/{account}/").as_bytes(), "workgroup")?;
        if !all.iter().any(|w| w.name == PRIMARY) {
            all.push(self.workgroup(account, PRIMARY)?);
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    pub async fn create_workgroup(&self, account: &str, workgroup: WorkGroup) -> Result<()> {
        {
            let _w = self.lock();
            if workgroup.name == PRIMARY || self.tree.get(&workgroup_key(account, &workgroup.name))?.is_some() {
                return Err(Error::InvalidInput("WorkGroup is already created".into()));
            }
            self.tree.put(&workgroup_key(account, &workgroup.name), &encode(&WorkGroup { v: RECORD_VERSION, ..workgroup }))?;
        }
        self.durable().await
    }

    /// Changes a workgroup: `change` sees the current record and may refuse, changing nothing.
    pub async fn update_workgroup(&self, account: &str, name: &str, change: impl FnOnce(&mut WorkGroup) -> Result<()>) -> Result<WorkGroup> {
        let updated = {
            let _w = self.lock();
            let mut workgroup = self.workgroup(account, name)?;
            change(&mut workgroup)?;
            workgroup.v = RECORD_VERSION;
            self.tree.put(&workgroup_key(account, name), &encode(&workgroup))?;
            workgroup
        };
        self.durable().await?;
        Ok(updated)
    }

    /// What a workgroup holds.
    pub fn contents(&self, account: &str, workgroup: &str) -> Result<Contents> {
        let named_queries = self.named_queries(account, workgroup)?.len();
        let prepared_statements = self.tree.scan_prefix(&prepared_prefix(account, workgroup)).count();
        Ok(Contents { named_queries, prepared_statements })
    }

    /// Deletes a workgroup with its named queries and prepared statements, in one batch; unless
    /// `recursive`, only an empty one (`executions` is how many query executions it has).
    /// `primary` cannot be deleted.
    pub async fn delete_workgroup(&self, account: &str, name: &str, recursive: bool, executions: usize) -> Result<()> {
        if name == PRIMARY {
            return Err(Error::InvalidInput("Cannot delete primary workgroup".into()));
        }
        {
            let _w = self.lock();
            self.workgroup(account, name)?;
            let contents = self.contents(account, name)?;
            if !recursive && contents.named_queries + contents.prepared_statements + executions > 0 {
                return Err(Error::InvalidInput(format!("WorkGroup {name} is not empty")));
            }
            let mut ops = vec![KvOp::Delete(workgroup_key(account, name))];
            for q in self.named_queries(account, name)? {
                ops.extend(self.named_deletes(account, &q));
            }
            for entry in self.tree.scan_prefix(&prepared_prefix(account, name)) {
                ops.push(KvOp::Delete(entry?.0));
            }
            self.tree.apply(ops)?;
        }
        self.durable().await
    }

    // ---- named queries ----

    /// Saves a query; a retry with the same token returns the first one's id.
    pub async fn create_named_query(&self, account: &str, query: NamedQuery, token: Option<&str>) -> Result<String> {
        let id = {
            let _w = self.lock();
            self.workgroup(account, &query.workgroup)?;
            if let Some(token) = token
                && let Some(existing) = self.tree.get(format!("nt/{account}/{token}").as_bytes())?
            {
                return Ok(String::from_utf8_lossy(&existing).into_owned());
            }
            let record = NamedQuery { v: RECORD_VERSION, token: token.map(str::to_string), ..query.clone() };
            let mut ops = vec![KvOp::Put(named_key(account, &query.id), encode(&record))];
            if let Some(token) = token {
                ops.push(KvOp::Put(format!("nt/{account}/{token}").into_bytes(), query.id.clone().into_bytes()));
            }
            self.tree.apply(ops)?;
            query.id
        };
        self.durable().await?;
        Ok(id)
    }

    pub fn named_query(&self, account: &str, id: &str) -> Result<NamedQuery> {
        match self.tree.get(&named_key(account, id))? {
            Some(v) => decode("named query", &v),
            None => Err(Error::NotFound(format!("NamedQuery {id} was not found"))),
        }
    }

    /// The account's named queries in a workgroup, oldest first.
    pub fn named_queries(&self, account: &str, workgroup: &str) -> Result<Vec<NamedQuery>> {
        let all: Vec<NamedQuery> = self.scan(format!("n/{account}/").as_bytes(), "named query")?;
        Ok(all.into_iter().filter(|q| q.workgroup == workgroup).collect())
    }

    pub async fn update_named_query(&self, account: &str, id: &str, change: impl FnOnce(&mut NamedQuery)) -> Result<()> {
        {
            let _w = self.lock();
            let mut query = self.named_query(account, id)?;
            change(&mut query);
            self.tree.put(&named_key(account, id), &encode(&query))?;
        }
        self.durable().await
    }

    pub async fn delete_named_query(&self, account: &str, id: &str) -> Result<()> {
        {
            let _w = self.lock();
            let query = self.named_query(account, id)?;
            self.tree.apply(self.named_deletes(account, &query))?;
        }
        self.durable().await
    }

    /// The deletes of a named query and of its token's record.
    fn named_deletes(&self, account: &str, query: &NamedQuery) -> Vec<KvOp> {
        let mut ops = vec![KvOp::Delete(named_key(account, &query.id))];
        if let Some(token) = &query.token {
            ops.push(KvOp::Delete(format!("nt/{account}/{token}").into_bytes()));
        }
        ops
    }

    // ---- prepared statements ----

    pub fn prepared_statement(&self, account: &str, workgroup: &str, name: &str) -> Result<PreparedStatement> {
        match self.tree.get(&prepared_key(account, workgroup, name))? {
            Some(v) => decode("prepared statement", &v),
            None => {
                self.workgroup(account, workgroup)?;
                Err(Error::PreparedNotFound(name.to_string()))
            }
        }
    }

    /// The workgroup's prepared statements by name.
    pub fn prepared_statements(&self, account: &str, workgroup: &str) -> Result<Vec<PreparedStatement>> {
        self.workgroup(account, workgroup)?;
        self.scan(&prepared_prefix(account, workgroup), "prepared statement")
    }

    /// Saves a prepared statement: a new one (`replace` false, as CreatePreparedStatement) or
    /// one that exists (`replace` true and `must_exist`, as UpdatePreparedStatement), or either
    /// (`PREPARE` in SQL, which replaces one of the same name).
    pub async fn put_prepared_statement(&self, account: &str, statement: PreparedStatement, replace: bool, must_exist: bool) -> Result<()> {
        {
            let _w = self.lock();
            self.workgroup(account, &statement.workgroup)?;
            let key = prepared_key(account, &statement.workgroup, &statement.name);
            let exists = self.tree.get(&key)?.is_some();
            if exists && !replace {
                return Err(Error::InvalidInput(format!(
                    "Prepared statement {} already exists in workgroup {}",
                    statement.name, statement.workgroup
                )));
            }
            if !exists && must_exist {
                return Err(Error::PreparedNotFound(statement.name));
            }
            self.tree.put(&key, &encode(&PreparedStatement { v: RECORD_VERSION, last_modified: now(), ..statement }))?;
        }
        self.durable().await
    }

    pub async fn delete_prepared_statement(&self, account: &str, workgroup: &str, name: &str) -> Result<()> {
        {
            let _w = self.lock();
            self.prepared_statement(account, workgroup, name)?;
            self.tree.delete(&prepared_key(account, workgroup, name))?;
        }
        self.durable().await
    }

    // ---- data catalogs ----

    fn default_catalog(account: &str) -> DataCatalog {
        DataCatalog {
            v: RECORD_VERSION,
            name: AWS_DATA_CATALOG.into(),
            r#type: "GLUE".into(),
            description: Some("The Glue data catalog".into()),
            parameters: BTreeMap::from([("catalog-id".to_string(), account.to_string())]),
            tags: BTreeMap::new(),
        }
    }

    /// A data catalog of the account by name, matched without regard to case.
    pub fn data_catalog(&self, account: &str, name: &str) -> Result<DataCatalog> {
        match self.tree.get(&catalog_key(account, name))? {
            Some(v) => decode("data catalog", &v),
            None if name.eq_ignore_ascii_case(AWS_DATA_CATALOG) => Ok(Self::default_catalog(account)),
            None => Err(Error::NotFound(format!("Catalog {name} is not found"))),
        }
    }

    /// The account's data catalogs, `AwsDataCatalog` first.
    pub fn data_catalogs(&self, account: &str) -> Result<Vec<DataCatalog>> {
        let mut all: Vec<DataCatalog> = self.scan(format!("c/{account}/").as_bytes(), "data catalog")?;
        if !all.iter().any(|c| c.name.eq_ignore_ascii_case(AWS_DATA_CATALOG)) {
            all.insert(0, Self::default_catalog(account));
        }
        Ok(all)
    }

    /// The names of the account's registered `GLUE` data catalogs of its own Glue catalog.
    pub fn glue_aliases(&self, account: &str) -> Result<Vec<String>> {
        Ok(self
            .data_catalogs(account)?
            .into_iter()
            .filter(|c| c.r#type == "GLUE" && c.glue_account(account) == account && !c.name.eq_ignore_ascii_case(AWS_DATA_CATALOG))
            .map(|c| c.name)
            .collect())
    }

    pub async fn create_data_catalog(&self, account: &str, catalog: DataCatalog) -> Result<()> {
        {
            let _w = self.lock();
            if catalog.name.eq_ignore_ascii_case(AWS_DATA_CATALOG) || self.tree.get(&catalog_key(account, &catalog.name))?.is_some() {
                return Err(Error::InvalidInput(format!("DataCatalog {} already exists", catalog.name)));
            }
            self.tree.put(&catalog_key(account, &catalog.name), &encode(&DataCatalog { v: RECORD_VERSION, ..catalog }))?;
        }
        self.durable().await
    }

    pub async fn update_data_catalog(&self, account: &str, name: &str, change: impl FnOnce(&mut DataCatalog) -> Result<()>) -> Result<DataCatalog> {
        let updated = {
            let _w = self.lock();
            let mut catalog = self.data_catalog(account, name)?;
            change(&mut catalog)?;
            catalog.v = RECORD_VERSION;
            self.tree.put(&catalog_key(account, name), &encode(&catalog))?;
            catalog
        };
        self.durable().await?;
        Ok(updated)
    }

    pub async fn delete_data_catalog(&self, account: &str, name: &str) -> Result<DataCatalog> {
        if name.eq_ignore_ascii_case(AWS_DATA_CATALOG) {
            return Err(Error::InvalidInput(format!("Cannot delete the {AWS_DATA_CATALOG} catalog")));
        }
        let deleted = {
            let _w = self.lock();
            let catalog = self.data_catalog(account, name)?;
            self.tree.delete(&catalog_key(account, name))?;
            catalog
        };
        self.durable().await?;
        Ok(deleted)
    }

    /// Forgets every account's resources (a server reset).
    pub async fn clear(&self) -> Result<usize> {
        let n = {
            let _w = self.lock();
            let ops: Vec<KvOp> = self.tree.scan_prefix(b"").map(|e| e.map(|(k, _)| KvOp::Delete(k))).collect::<std::result::Result<_, _>>()?;
            let n = ops.len();
            self.tree.apply(ops)?;
            n
        };
        self.durable().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn Kv> = Arc::new(storage::SledKv::open(dir.path()).unwrap());
        (dir, Registry::open(kv).unwrap())
    }

    #[tokio::test]
    async fn a_workgroup_goes_with_its_contents_and_primary_stays() {
        let (_dir, r) = registry();
        r.create_workgroup("111111111111", WorkGroup::new("etl", 1.0)).await.unwrap();
        assert!(r.create_workgroup("111111111111", WorkGroup::new("etl", 2.0)).await.is_err());
        // Another account has a workgroup of the same name, apart.
        r.create_workgroup("222222222222", WorkGroup::new("etl", 1.0)).await.unwrap();
        let q = NamedQuery {
            v: 0,
            id: "q1".into(),
            name: "n".into(),
            description: None,
            database: "db".into(),
            query_string: "SELECT 1".into(),
            workgroup: "etl".into(),
            token: None,
        };
        r.create_named_query("111111111111", q, None).await.unwrap();
        let p = PreparedStatement {
            v: 0,
            name: "p".into(),
            workgroup: "etl".into(),
            query_statement: "SELECT ?".into(),
            description: None,
            last_modified: 0.0,
        };
        r.put_prepared_statement("111111111111", p, false, false).await.unwrap();
        assert_eq!(r.contents("111111111111", "etl").unwrap(), Contents { named_queries: 1, prepared_statements: 1 });
        assert!(r.delete_workgroup("111111111111", "etl", false, 0).await.is_err());
        r.delete_workgroup("111111111111", "etl", true, 0).await.unwrap();
        assert!(r.named_query("111111111111", "q1").is_err());
        assert!(r.prepared_statement("111111111111", "etl", "p").is_err());
        assert_eq!(r.workgroup("222222222222", "etl").unwrap().name, "etl");
        assert!(r.delete_workgroup("111111111111", PRIMARY, true, 0).await.is_err());
        assert_eq!(r.workgroups("111111111111").unwrap().iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), [PRIMARY]);
    }
}
