//! Partitions: create, batch create with per-item errors, get, batch get, update (one or many),
//! delete (one or many), and GetPartitions with the filter `Expression`, segments and pages.

use storage::KvOp;

use crate::expression::PartitionFilter;
use crate::model::{self, Partition, Table};
use crate::statistics::partition_statistics_prefix;
use crate::{Catalog, Error, ItemError, Result, decode, encode, partition_key, partition_prefix, validate};

/// One of `total` disjoint parts of a table's partitions, for readers that fetch in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub number: usize,
    pub total: usize,
}

#[derive(Debug, Clone, Default)]
pub struct PartitionQuery {
    pub expression: Option<String>,
    pub segment: Option<Segment>,
    /// Where a previous page ended (an opaque token it returned).
    pub token: Option<String>,
    pub max: usize,
}

#[derive(Debug, Clone, Default)]
pub struct PartitionPage {
    pub partitions: Vec<Partition>,
    pub next_token: Option<String>,
}

impl Catalog {
    fn partition_table(&self, db: &str, table: &str) -> Result<Table> {
        self.get_table(db, table)
    }

    /// Every partition of a table, in the order of their values.
    pub fn get_partitions(&self, db: &str, table: &str) -> Result<Vec<Partition>> {
        let table = self.partition_table(db, table)?;
        self.tree
            .scan_prefix(&partition_prefix(&table.database_name, &table.name))
            .map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(&v)))
            .collect()
    }

    /// A page of partitions that pass the filter and fall in the segment.
    pub fn list_partitions(&self, db: &str, table: &str, query: &PartitionQuery) -> Result<PartitionPage> {
        let table = self.partition_table(db, table)?;
        let filter = match query.expression.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(PartitionFilter::parse(e, &table.partition_keys)?),
            None => None,
        };
        if let Some(s) = query.segment
            && (s.total == 0 || s.total > 10 || s.number >= s.total)
        {
            return Err(Error::InvalidInput("Segment.TotalSegments must be 1 to 10 and SegmentNumber below it".into()));
        }
        let start: usize = match &query.token {
            Some(t) => t.parse().map_err(|_| Error::InvalidInput("The NextToken is invalid".into()))?,
            None => 0,
        };
        let max = query.max.clamp(1, 1000);
        let mut page = PartitionPage::default();
        for (i, entry) in self.tree.scan_prefix(&partition_prefix(&table.database_name, &table.name)).enumerate().skip(start) {
            if page.partitions.len() == max {
                page.next_token = Some(i.to_string());
                break;
            }
            let (_, v) = entry?;
            if query.segment.is_some_and(|s| i % s.total != s.number) {
                continue;
            }
            let p: Partition = decode(&v)?;
            if let Some(f) = &filter
                && !f.matches(&p.values)?
            {
                continue;
            }
            page.partitions.push(p);
        }
        Ok(page)
    }

    pub fn get_partition(&self, db: &str, table: &str, values: &[String]) -> Result<Partition> {
        let table = self.partition_table(db, table)?;
        match self.tree.get(&partition_key(&table.database_name, &table.name, values))? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("Partition not found: {values:?}"))),
        }
    }

    /// The partitions that exist among those asked for (missing ones are left out, as on Glue).
    pub fn batch_get_partitions(&self, db: &str, table: &str, values: &[Vec<String>]) -> Result<Vec<Partition>> {
        let table = self.partition_table(db, table)?;
        let mut found = Vec::new();
        for v in values {
            if let Some(bytes) = self.tree.get(&partition_key(&table.database_name, &table.name, v))? {
                found.push(decode(&bytes)?);
            }
        }
        Ok(found)
    }

    /// Adds partitions; each one that cannot be added is reported, the others are stored in one
    /// atomic batch.
    pub async fn batch_create_partitions(&self, db: &str, table: &str, inputs: Vec<Partition>) -> Result<Vec<ItemError<Vec<String>>>> {
        let _writes = self.writes.lock().await;
        let table = self.partition_table(db, table)?;
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        for mut p in inputs {
            if let Err(error) = validate::partition(&mut p, table.partition_keys.len()) {
                errors.push(ItemError { item: p.values.clone(), error });
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

    /// Replaces the partition with values `old` by `new` (whose values may differ).
    pub async fn update_partition(&self, db: &str, table: &str, old: &[String], new: Partition) -> Result<()> {
        let errors = self.batch_update_partitions(db, table, vec![(old.to_vec(), new)]).await?;
        match errors.into_iter().next() {
            Some(e) => Err(e.error),
            None => Ok(()),
        }
    }

    /// Updates partitions; each one that cannot be updated is reported.
    pub async fn batch_update_partitions(
        &self,
        db: &str,
        table: &str,
        entries: Vec<(Vec<String>, Partition)>,
    ) -> Result<Vec<ItemError<Vec<String>>>> {
        let _writes = self.writes.lock().await;
        let table = self.partition_table(db, table)?;
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        for (old_values, mut p) in entries {
            let old_key = partition_key(&table.database_name, &table.name, &old_values);
            let Some(old) = self.tree.get(&old_key)? else {
                errors.push(ItemError { item: old_values, error: Error::NotFound("Partition not found.".into()) });
                continue;
            };
            let old: Partition = decode(&old)?;
            if let Err(error) = validate::partition(&mut p, table.partition_keys.len()) {
                errors.push(ItemError { item: old_values, error });
                continue;
            }
            let new_key = partition_key(&table.database_name, &table.name, &p.values);
            if new_key != old_key && self.tree.get(&new_key)?.is_some() {
                errors.push(ItemError { item: old_values, error: Error::AlreadyExists("Partition already exists.".into()) });
                continue;
            }
            p.database_name = table.database_name.clone();
            p.table_name = table.name.clone();
            p.creation_time = old.creation_time;
            if new_key != old_key {
                ops.push(KvOp::Delete(old_key));
                // Statistics described the partition under its old values: they go with them.
                ops.extend(self.deletes_under(&crate::statistics::partition_statistics_prefix(&table.database_name, &table.name, &old_values))?);
            }
            ops.push(KvOp::Put(new_key, encode(&p)));
        }
        self.commit(ops).await?;
        Ok(errors)
    }

    pub async fn batch_delete_partitions(&self, db: &str, table: &str, values: Vec<Vec<String>>) -> Result<Vec<ItemError<Vec<String>>>> {
        let _writes = self.writes.lock().await;
        let table = self.partition_table(db, table)?;
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        for v in values {
            let key = partition_key(&table.database_name, &table.name, &v);
            if self.tree.get(&key)?.is_none() {
                errors.push(ItemError { item: v, error: Error::NotFound("Partition not found.".into()) });
                continue;
            }
            ops.push(KvOp::Delete(key));
            ops.extend(self.deletes_under(&partition_statistics_prefix(&table.database_name, &table.name, &v))?);
        }
        self.commit(ops).await?;
        Ok(errors)
    }
}
