//! Column statistics of tables and partitions (Glue's Update, Get and
//! DeleteColumnStatisticsFor{Table,Partition}), kept in Glue's own shape under
//! `cs/<db>\0<table>\0<column>` and `ps/<db>\0<table>\0<values>\0<column>`, and deleted with the
//! table, or the partition, they describe.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storage::KvOp;

use crate::model::Table;
use crate::{Catalog, Error, ItemError, Result, decode, encode};

/// One column's statistics, as Glue takes and gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ColumnStatistics {
    pub column_name: String,
    pub column_type: String,
    pub analyzed_time: Value,
    pub statistics_data: Map<String, Value>,
}

/// The most columns one update may carry, as Glue limits it.
pub const MAX_UPDATE: usize = 25;
/// The most columns one get may name.
pub const MAX_GET: usize = 100;

/// The statistics types Glue knows, and the member that carries each one's figures.
const TYPES: [(&str, &str); 7] = [
    ("BOOLEAN", "BooleanColumnStatisticsData"),
    ("DATE", "DateColumnStatisticsData"),
    ("DECIMAL", "DecimalColumnStatisticsData"),
    ("DOUBLE", "DoubleColumnStatisticsData"),
    ("LONG", "LongColumnStatisticsData"),
    ("STRING", "StringColumnStatisticsData"),
    ("BINARY", "BinaryColumnStatisticsData"),
];

pub(crate) fn table_statistics_prefix(db: &str, table: &str) -> Vec<u8> {
    format!("cs/{db}\0{table}\0").into_bytes()
}

/// The statistics of every partition of a table.
pub(crate) fn partitions_statistics_prefix(db: &str, table: &str) -> Vec<u8> {
    format!("ps/{db}\0{table}\0").into_bytes()
}

/// The statistics of one partition.
pub(crate) fn partition_statistics_prefix(db: &str, table: &str, values: &[String]) -> Vec<u8> {
    format!("ps/{db}\0{table}\0{}\0", values.join("\u{1f}")).into_bytes()
}

/// Checks statistics against the table: a column it has (a data column, for a partition), a
/// type Glue knows, and that type's figures.
fn check(table: &Table, s: &ColumnStatistics, partition: bool) -> Result<()> {
    let name = s.column_name.to_lowercase();
    let data = table.columns().iter().any(|c| c.name.eq_ignore_ascii_case(&name));
    let key = table.partition_keys.iter().any(|c| c.name.eq_ignore_ascii_case(&name));
    // A partition key has statistics on its table, not on one of its partitions.
    let known = data || (key && !partition);
    if !known {
        return Err(Error::NotFound(format!("Column {} not found in table {}", s.column_name, table.name)));
    }
    let kind = s.statistics_data.get("Type").and_then(Value::as_str).unwrap_or_default();
    let Some((_, member)) = TYPES.iter().find(|(t, _)| *t == kind) else {
        return Err(Error::InvalidInput(format!("{kind:?} is not a column statistics type (BOOLEAN, DATE, DECIMAL, DOUBLE, LONG, STRING, BINARY)")));
    };
    if !s.statistics_data.get(*member).is_some_and(Value::is_object) {
        return Err(Error::InvalidInput(format!("statistics of type {kind} need {member}")));
    }
    Ok(())
}

impl Catalog {
    /// The table a partition's statistics belong to, and the partition, which must exist.
    fn statistics_target(&self, db: &str, table: &str, partition: Option<&[String]>) -> Result<(Table, Vec<u8>)> {
        let t = self.get_table(db, table)?;
        let prefix = match partition {
            Some(values) => {
                self.get_partition(db, table, values)?;
                partition_statistics_prefix(&t.database_name, &t.name, values)
            }
            None => table_statistics_prefix(&t.database_name, &t.name),
        };
        Ok((t, prefix))
    }

    /// Stores statistics of a table's (or a partition's) columns; each that cannot be stored
    /// is reported, the rest are stored together.
    pub async fn update_column_statistics(
        &self,
        db: &str,
        table: &str,
        partition: Option<&[String]>,
        statistics: Vec<ColumnStatistics>,
    ) -> Result<Vec<ItemError<ColumnStatistics>>> {
        if statistics.len() > MAX_UPDATE {
            return Err(Error::InvalidInput(format!("at most {MAX_UPDATE} columns' statistics may be updated at once")));
        }
        let _writes = self.writes.lock().await;
        let (t, prefix) = self.statistics_target(db, table, partition)?;
        let (mut ops, mut errors) = (Vec::new(), Vec::new());
        for mut s in statistics {
            match check(&t, &s, partition.is_some()) {
                Ok(()) => {
                    s.column_name = s.column_name.to_lowercase();
                    let mut key = prefix.clone();
                    key.extend_from_slice(s.column_name.as_bytes());
                    ops.push(KvOp::Put(key, encode(&s)));
                }
                Err(error) => errors.push(ItemError { item: s, error }),
            }
        }
        self.commit(ops).await?;
        Ok(errors)
    }

    /// The statistics of the named columns; a column without any is reported.
    pub fn column_statistics(
        &self,
        db: &str,
        table: &str,
        partition: Option<&[String]>,
        columns: &[String],
    ) -> Result<(Vec<ColumnStatistics>, Vec<ItemError<String>>)> {
        if columns.len() > MAX_GET {
            return Err(Error::InvalidInput(format!("at most {MAX_GET} columns may be named at once")));
        }
        let (_, prefix) = self.statistics_target(db, table, partition)?;
        let (mut found, mut errors) = (Vec::new(), Vec::new());
        for column in columns {
            let mut key = prefix.clone();
            key.extend_from_slice(column.to_lowercase().as_bytes());
            match self.tree.get(&key)? {
                Some(v) => found.push(decode(&v)?),
                None => errors.push(ItemError { item: column.clone(), error: Error::NotFound(format!("No statistics for column {column}")) }),
            }
        }
        Ok((found, errors))
    }

    pub async fn delete_column_statistics(&self, db: &str, table: &str, partition: Option<&[String]>, column: &str) -> Result<()> {
        let _writes = self.writes.lock().await;
        let (_, mut key) = self.statistics_target(db, table, partition)?;
        key.extend_from_slice(column.to_lowercase().as_bytes());
        if self.tree.get(&key)?.is_none() {
            return Err(Error::NotFound(format!("No statistics for column {column}")));
        }
        self.commit(vec![KvOp::Delete(key)]).await
    }
}
