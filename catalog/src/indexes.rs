//! Partition indexes (Glue's CreatePartitionIndex, GetPartitionIndexes, DeletePartitionIndex,
//! and CreateTable's `PartitionIndexes`): named lists of a table's partition keys, at most three
//! a table, kept under `pi/<db>\0<table>\0<index>` and deleted with the table. An index is
//! ACTIVE as soon as it exists: the catalog's partitions are in one ordered tree, which a filter
//! on the leading keys reads as a range either way.

use serde::{Deserialize, Serialize};
use storage::KvOp;

use crate::model::Table;
use crate::{Catalog, Error, Result, decode, encode};

/// The most partition indexes a table may have.
pub const MAX_INDEXES: usize = 3;

/// A partition index as CreatePartitionIndex takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionIndex {
    pub index_name: String,
    pub keys: Vec<String>,
}

pub(crate) fn index_prefix(db: &str, table: &str) -> Vec<u8> {
    format!("pi/{db}\0{table}\0").into_bytes()
}

fn index_key(db: &str, table: &str, index: &str) -> Vec<u8> {
    format!("pi/{db}\0{table}\0{index}").into_bytes()
}

/// Checks an index against its table: a name Glue takes, keys that are the table's partition
/// keys, each once.
pub(crate) fn check_index(table: &Table, index: &PartitionIndex) -> Result<()> {
    let name = &index.index_name;
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidInput(format!("the index name {name:?} must be between 1 and 255 characters long")));
    }
    if index.keys.is_empty() {
        return Err(Error::InvalidInput(format!("the index {name} has no keys")));
    }
    let partition_keys: Vec<String> = table.partition_keys.iter().map(|k| k.name.to_lowercase()).collect();
    for (i, key) in index.keys.iter().enumerate() {
        if !partition_keys.contains(&key.to_lowercase()) {
            return Err(Error::InvalidInput(format!("{key} is not a partition key of table {}", table.name)));
        }
        if index.keys[..i].iter().any(|k| k.eq_ignore_ascii_case(key)) {
            return Err(Error::InvalidInput(format!("the index {name} names the key {key} twice")));
        }
    }
    Ok(())
}

impl Catalog {
    /// A table's partition indexes, by name.
    pub fn partition_indexes(&self, db: &str, table: &str) -> Result<Vec<PartitionIndex>> {
        let t = self.get_table(db, table)?;
        self.tree.scan_prefix(&index_prefix(&t.database_name, &t.name)).map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(&v))).collect()
    }

    pub async fn create_partition_index(&self, db: &str, table: &str, index: PartitionIndex) -> Result<()> {
        let _writes = self.writes.lock().await;
        let t = self.get_table(db, table)?;
        check_index(&t, &index)?;
        let existing = self.partition_indexes(db, table)?;
        if existing.iter().any(|i| i.index_name == index.index_name) {
            return Err(Error::AlreadyExists(format!("Partition index {} already exists on table {}", index.index_name, t.name)));
        }
        if existing.len() >= MAX_INDEXES {
            return Err(Error::LimitExceeded(format!("Table {} has {MAX_INDEXES} partition indexes, the most it may have", t.name)));
        }
        self.commit(vec![KvOp::Put(index_key(&t.database_name, &t.name, &index.index_name), encode(&index))]).await
    }

    pub async fn delete_partition_index(&self, db: &str, table: &str, name: &str) -> Result<()> {
        let _writes = self.writes.lock().await;
        let t = self.get_table(db, table)?;
        let key = index_key(&t.database_name, &t.name, name);
        if self.tree.get(&key)?.is_none() {
            return Err(Error::NotFound(format!("Partition index {name} not found on table {}", t.name)));
        }
        self.commit(vec![KvOp::Delete(key)]).await
    }

    /// The writes that put a new table's indexes, checked against it.
    pub(crate) fn index_puts(&self, table: &Table, indexes: &[PartitionIndex]) -> Result<Vec<KvOp>> {
        if indexes.len() > MAX_INDEXES {
            return Err(Error::LimitExceeded(format!("A table may have at most {MAX_INDEXES} partition indexes")));
        }
        let mut ops = Vec::new();
        for (i, index) in indexes.iter().enumerate() {
            check_index(table, index)?;
            if indexes[..i].iter().any(|other| other.index_name == index.index_name) {
                return Err(Error::InvalidInput(format!("the index {} is given twice", index.index_name)));
            }
            ops.push(KvOp::Put(index_key(&table.database_name, &table.name, &index.index_name), encode(index)));
        }
        Ok(ops)
    }
}
