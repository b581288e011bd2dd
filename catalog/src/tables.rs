//! Tables: create, get, list with a name `Expression`, update with version history, delete,
//! batch delete, table versions, and SearchTables across databases.

use std::cmp::Ordering;

use storage::KvOp;

use crate::indexes::{PartitionIndex, index_prefix};
use crate::model::{self, Table};
use crate::statistics::{partitions_statistics_prefix, table_statistics_prefix};
use crate::tags::table_tags_key;
use crate::{
    Catalog, Error, ItemError, Result, decode, encode, matches_expression, partition_prefix, table_key, table_prefix, validate, version_key,
    version_prefix,
};

/// One version of a table, as GetTableVersions lists it.
#[derive(Debug, Clone)]
pub struct TableVersion {
    pub table: Table,
    pub version_id: String,
}

/// A condition of SearchTables: a table attribute or parameter compared with a value.
#[derive(Debug, Clone)]
pub struct SearchFilter {
    pub key: String,
    pub value: String,
    /// EQUALS, GREATER_THAN, LESS_THAN, GREATER_THAN_EQUALS or LESS_THAN_EQUALS.
    pub comparator: String,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Matched, case-insensitively, against names, descriptions, column names and comments and
    /// parameter values; in double quotes it must equal one of them.
    pub text: Option<String>,
    pub filters: Vec<SearchFilter>,
    /// (field, ascending): `Name`, `DatabaseName`, `UpdateTime` or `CreateTime`.
    pub sort: Option<(String, bool)>,
}

fn version_number(t: &Table) -> u64 {
    t.version_id.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn table_field(t: &Table, key: &str) -> Option<String> {
    match key {
        "DatabaseName" => Some(t.database_name.clone()),
        "Name" | "TableName" => Some(t.name.clone()),
        "Description" => t.description.clone(),
        "Owner" => t.owner.clone(),
        "TableType" => t.table_type.clone(),
        "Location" => t.location().map(str::to_string),
        "UpdateTime" => t.update_time.map(|v| v.to_string()),
        "CreateTime" => t.create_time.map(|v| v.to_string()),
        other => t.parameters.get(other).cloned(),
    }
}

fn compare_values(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn search_matches(t: &Table, q: &SearchQuery) -> Result<bool> {
    if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let mut haystack: Vec<String> = vec![t.name.clone(), t.database_name.clone()];
        haystack.extend(t.description.clone());
        for c in t.columns().iter().chain(&t.partition_keys) {
            haystack.push(c.name.clone());
            haystack.extend(c.comment.clone());
        }
        haystack.extend(t.parameters.values().cloned());
        let found = match text.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(exact) => haystack.iter().any(|h| h.eq_ignore_ascii_case(exact)),
            None => {
                let text = text.to_lowercase();
                haystack.iter().any(|h| h.to_lowercase().contains(&text))
            }
        };
        if !found {
            return Ok(false);
        }
    }
    for f in &q.filters {
        let Some(have) = table_field(t, &f.key) else { return Ok(false) };
        let ord = compare_values(&have, &f.value);
        let ok = match f.comparator.as_str() {
            "" | "EQUALS" => have == f.value,
            "GREATER_THAN" => ord == Ordering::Greater,
            "LESS_THAN" => ord == Ordering::Less,
            "GREATER_THAN_EQUALS" => ord != Ordering::Less,
            "LESS_THAN_EQUALS" => ord != Ordering::Greater,
            other => return Err(Error::InvalidInput(format!("unknown comparator {other}"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Catalog {
    pub async fn create_table(&self, db: &str, table: Table) -> Result<Table> {
        self.create_indexed_table(db, table, &[]).await
    }

    /// Creates a table with its partition indexes, in one batch.
    pub async fn create_indexed_table(&self, db: &str, mut table: Table, indexes: &[PartitionIndex]) -> Result<Table> {
        let db = self.get_database(db)?.name;
        validate::table(&mut table)?;
        table.database_name = db.clone();
        let now = model::now();
        table.create_time = Some(now);
        table.update_time = Some(now);
        table.version_id = Some("0".into());
        let mut ops = self.index_puts(&table, indexes)?;
        let _writes = self.writes.lock().await;
        if self.tree.get(&table_key(&db, &table.name))?.is_some() {
            return Err(Error::AlreadyExists(format!("Table already exists: {}", table.name)));
        }
        ops.push(KvOp::Put(table_key(&db, &table.name), encode(&table)));
        self.commit(ops).await?;
        Ok(table)
    }

    pub fn get_table(&self, db: &str, name: &str) -> Result<Table> {
        let db = self.get_database(db)?.name;
        let name = validate::normalize_name("table", name)?;
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

    /// Replaces a table's definition. The previous definition is kept as an older version unless
    /// `skip_archive`; `expected_version` (Glue's `VersionId`) refuses the update if the table
    /// changed since the caller read it.
    pub async fn update_table(&self, db: &str, input: Table, skip_archive: bool, expected_version: Option<&str>) -> Result<Table> {
        let _writes = self.writes.lock().await;
        let old = self.get_table(db, &input.name)?;
        if let Some(v) = expected_version
            && old.version_id.as_deref().unwrap_or("0") != v
        {
            return Err(Error::Conflict(format!("Table {} has version {}, not {v}", old.name, old.version_id.as_deref().unwrap_or("0"))));
        }
        let mut table = input;
        validate::table(&mut table)?;
        table.database_name = old.database_name.clone();
        table.create_time = old.create_time;
        table.update_time = Some(model::now());
        let mut ops = Vec::new();
        let next = version_number(&old) + 1;
        if !skip_archive {
            ops.push(KvOp::Put(version_key(&old.database_name, &old.name, version_number(&old)), encode(&old)));
        }
        table.version_id = Some(next.to_string());
        ops.push(KvOp::Put(table_key(&old.database_name, &table.name), encode(&table)));
        self.commit(ops).await?;
        Ok(table)
    }

    /// Changes a table in place under the write lock: `change` sees the current record and may
    /// refuse (its error is returned, nothing written); the old record is archived as a version.
    /// A compare-and-swap for what a record holds (an Iceberg table's `metadata_location`), where
    /// `VersionId` alone could be fooled by a table dropped and made again.
    pub async fn update_table_with(&self, db: &str, name: &str, change: impl FnOnce(&mut Table) -> Result<()>) -> Result<Table> {
        let _writes = self.writes.lock().await;
        let old = self.get_table(db, name)?;
        let mut table = old.clone();
        change(&mut table)?;
        validate::table(&mut table)?;
        table.update_time = Some(model::now());
        let next = version_number(&old) + 1;
        table.version_id = Some(next.to_string());
        let ops = vec![
            KvOp::Put(version_key(&old.database_name, &old.name, version_number(&old)), encode(&old)),
            KvOp::Put(table_key(&old.database_name, &old.name), encode(&table)),
        ];
        self.commit(ops).await?;
        Ok(table)
    }

    pub async fn delete_table(&self, db: &str, name: &str) -> Result<()> {
        let _writes = self.writes.lock().await;
        let table = self.get_table(db, name)?;
        let mut ops = vec![KvOp::Delete(table_key(&table.database_name, &table.name))];
        ops.extend(self.table_belongings(&table.database_name, &table.name)?);
        self.commit(ops).await
    }

    /// Renames a table (into another database, maybe), in one batch: the record under its new
    /// name, the old one deleted with what belonged to it (Glue has no rename; Athena's
    /// `ALTER TABLE RENAME TO` of an Iceberg table is this).
    pub async fn rename_table(&self, db: &str, name: &str, new_db: &str, new_name: &str) -> Result<Table> {
        let _writes = self.writes.lock().await;
        let mut table = self.get_table(db, name)?;
        let new_db = self.get_database(new_db)?.name;
        let new_name = crate::validate::normalize_name("Table", new_name)?;
        if self.tree.get(&table_key(&new_db, &new_name))?.is_some() {
            return Err(Error::AlreadyExists(format!("Table {new_name} already exists.")));
        }
        let mut ops = vec![KvOp::Delete(table_key(&table.database_name, &table.name))];
        ops.extend(self.table_belongings(&table.database_name, &table.name)?);
        table.name = new_name.clone();
        table.database_name = new_db.clone();
        table.update_time = Some(model::now());
        ops.push(KvOp::Put(table_key(&new_db, &new_name), encode(&table)));
        self.commit(ops).await?;
        Ok(table)
    }

    /// The deletes of everything that belongs to a table besides its record: partitions,
    /// versions, partition indexes, column statistics, tags. Every path that deletes a table
    /// deletes these with it, so that a table made again under the name starts bare.
    pub(crate) fn table_belongings(&self, db: &str, table: &str) -> Result<Vec<KvOp>> {
        let mut ops = vec![KvOp::Delete(table_tags_key(db, table))];
        for prefix in [
            partition_prefix(db, table),
            version_prefix(db, table),
            index_prefix(db, table),
            table_statistics_prefix(db, table),
            partitions_statistics_prefix(db, table),
        ] {
            ops.extend(self.deletes_under(&prefix)?);
        }
        Ok(ops)
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

    /// Every version of a table, the current one first, then older ones newest first.
    pub fn table_versions(&self, db: &str, name: &str) -> Result<Vec<TableVersion>> {
        let current = self.get_table(db, name)?;
        let mut versions = vec![TableVersion { version_id: current.version_id.clone().unwrap_or_else(|| "0".into()), table: current.clone() }];
        let mut older = Vec::new();
        for entry in self.tree.scan_prefix(&version_prefix(&current.database_name, &current.name)) {
            let (_, v) = entry?;
            let table: Table = decode(&v)?;
            older.push(TableVersion { version_id: table.version_id.clone().unwrap_or_else(|| "0".into()), table });
        }
        older.reverse();
        versions.extend(older);
        Ok(versions)
    }

    pub fn table_version(&self, db: &str, name: &str, version_id: Option<&str>) -> Result<TableVersion> {
        let versions = self.table_versions(db, name)?;
        match version_id {
            None => Ok(versions.into_iter().next().expect("the current version is always there")),
            Some(id) => {
                versions.into_iter().find(|v| v.version_id == id).ok_or_else(|| Error::NotFound(format!("Version {id} of table {name} not found.")))
            }
        }
    }

    /// Deletes archived versions; the current version cannot be deleted this way.
    pub async fn delete_table_versions(&self, db: &str, name: &str, version_ids: &[String]) -> Result<Vec<ItemError<String>>> {
        let current = self.get_table(db, name)?;
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        for id in version_ids {
            let key = id.parse::<u64>().ok().map(|n| version_key(&current.database_name, &current.name, n));
            match key {
                _ if current.version_id.as_deref() == Some(id.as_str()) => {
                    errors.push(ItemError { item: id.clone(), error: Error::InvalidInput("the current version of a table cannot be deleted".into()) })
                }
                Some(k) if self.tree.get(&k)?.is_some() => ops.push(KvOp::Delete(k)),
                _ => errors.push(ItemError { item: id.clone(), error: Error::NotFound(format!("Version {id} of table {name} not found.")) }),
            }
        }
        self.commit(ops).await?;
        Ok(errors)
    }

    /// SearchTables: tables of every database that match the text and filters, sorted.
    pub fn search_tables(&self, query: &SearchQuery) -> Result<Vec<Table>> {
        let mut found = Vec::new();
        for entry in self.tree.scan_prefix(b"t/") {
            let (_, v) = entry?;
            let table: Table = decode(&v)?;
            if search_matches(&table, query)? {
                found.push(table);
            }
        }
        if let Some((field, ascending)) = &query.sort {
            found.sort_by(|a, b| {
                let (x, y) = (table_field(a, field).unwrap_or_default(), table_field(b, field).unwrap_or_default());
                let o = compare_values(&x, &y);
                if *ascending { o } else { o.reverse() }
            });
        }
        Ok(found)
    }
}
