//! Databases: create, get, list, update, and delete with everything in them.

use storage::KvOp;

use crate::functions::function_prefix;
use crate::model::{self, Database, Table};
use crate::tags::{Tags, database_tags_key, table_tags_prefix};
use crate::{Catalog, Error, Result, db_key, decode, encode, table_prefix, validate};

impl Catalog {
    pub async fn create_database(&self, db: Database) -> Result<Database> {
        self.create_tagged_database(db, Tags::new()).await
    }

    /// Creates a database with its tags, in one batch.
    pub async fn create_tagged_database(&self, mut db: Database, tags: Tags) -> Result<Database> {
        validate::database(&mut db)?;
        validate::tags(&tags)?;
        db.create_time.get_or_insert_with(model::now);
        let _writes = self.writes.lock().await;
        if self.tree.get(&db_key(&db.name))?.is_some() {
            return Err(Error::AlreadyExists(format!("Database already exists: {}", db.name)));
        }
        let mut ops = vec![KvOp::Put(db_key(&db.name), encode(&db))];
        if !tags.is_empty() {
            ops.push(KvOp::Put(database_tags_key(&db.name), encode(&tags)));
        }
        self.commit(ops).await?;
        Ok(db)
    }

    /// Creates the `default` database ("Default Hive database") the first time a data directory's
    /// catalog is opened by a server, as an AWS account's catalog has one: Athena runs queries
    /// there when none is named, and awswrangler's CTAS puts its temporary tables there. Deleted,
    /// it stays deleted. Returns whether it was created now.
    pub async fn provision_default_database(&self) -> Result<bool> {
        const PROVISIONED: &[u8] = b"meta/default-database";
        let _guard = self.writes.lock().await;
        if self.tree.get(PROVISIONED)?.is_some() {
            return Ok(false);
        }
        let mut ops = vec![KvOp::Put(PROVISIONED.to_vec(), encode(&true))];
        let created = self.tree.get(&db_key("default"))?.is_none();
        if created {
            let db = Database {
                name: "default".into(),
                description: Some("Default Hive database".into()),
                create_time: Some(model::now()),
                ..Default::default()
            };
            ops.push(KvOp::Put(db_key("default"), encode(&db)));
        }
        self.commit(ops).await?;
        Ok(created)
    }

    pub fn get_database(&self, name: &str) -> Result<Database> {
        let name = validate::normalize_name("database", name)?;
        match self.tree.get(&db_key(&name))? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("Database {name} not found."))),
        }
    }

    /// Every database, in name order.
    pub fn list_databases(&self) -> Result<Vec<Database>> {
        self.tree.scan_prefix(b"d/").map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(&v))).collect()
    }

    pub async fn update_database(&self, name: &str, mut input: Database) -> Result<Database> {
        let old = self.get_database(name)?;
        validate::database(&mut input)?;
        if input.name != old.name {
            return Err(Error::InvalidInput("renaming a database is not supported".into()));
        }
        input.create_time = old.create_time;
        self.commit(vec![KvOp::Put(db_key(&old.name), encode(&input))]).await?;
        Ok(input)
    }

    /// Deletes a database with its tables, their versions and their partitions, as Glue does.
    pub async fn delete_database(&self, name: &str) -> Result<()> {
        let _writes = self.writes.lock().await;
        let db = self.get_database(name)?;
        let mut ops = vec![KvOp::Delete(db_key(&db.name)), KvOp::Delete(database_tags_key(&db.name))];
        ops.extend(self.deletes_under(&table_tags_prefix(&db.name))?);
        ops.extend(self.deletes_under(&function_prefix(&db.name))?);
        for entry in self.tree.scan_prefix(&table_prefix(&db.name)) {
            let (k, v) = entry?;
            let table: Table = decode(&v)?;
            ops.push(KvOp::Delete(k));
            ops.extend(self.table_belongings(&db.name, &table.name)?);
        }
        self.commit(ops).await
    }

    /// Empties the catalog as if the account were new (databases, tables, partitions, crawlers,
    /// the resource policy), in one batch, then gives it its `default` database again. Refused
    /// while a crawl runs.
    pub async fn clear(&self) -> Result<()> {
        {
            let _guard = self.writes.lock().await;
            if self.running.any() {
                return Err(Error::Conflict("a crawler is running: stop it before the catalog is emptied".into()));
            }
            let ops = self.deletes_under(b"")?;
            self.commit(ops).await?;
        }
        self.provision_default_database().await?;
        Ok(())
    }

    /// Delete operations for every entry under a prefix.
    pub(crate) fn deletes_under(&self, prefix: &[u8]) -> Result<Vec<KvOp>> {
        self.tree.scan_prefix(prefix).map(|e| e.map(|(k, _)| KvOp::Delete(k)).map_err(Error::from)).collect()
    }
}
