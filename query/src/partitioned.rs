//! A partitioned Glue table as DataFusion sees it: the catalog's partitions (each at its own
//! location, Hive-style or not), or those its partition projection computes, are pruned with
//! the query's filters on partition columns before a single file is listed, and each file
//! carries its partition's values as constants.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use catalog::{Catalog, Column, Partition, Table};
use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{and, cast};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, DataFusionError, Result as DfResult, ScalarValue};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::expr_to_columns;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use futures::TryStreamExt;
use object_store::path::Path;

use crate::location::directory_url;
use crate::projection::Projection;

/// A table with partition keys, read from the partitions the catalog lists.
#[derive(Debug)]
pub struct PartitionedTable {
    pub(crate) catalog: Catalog,
    pub(crate) table: Table,
    pub(crate) format: Arc<dyn FileFormat>,
    /// The columns stored in the files.
    pub(crate) file_schema: SchemaRef,
    /// The partition keys, with their declared types.
    pub(crate) partition_fields: Vec<Field>,
    /// File columns, then partition keys.
    pub(crate) schema: SchemaRef,
    /// The table's partition projection: partitions from its properties, not the catalog.
    pub(crate) projection: Option<Projection>,
}

fn df_err(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Files whose names start with `_` or `.` are not data (`_SUCCESS`, `.crc`, …), as for Hive.
fn is_data_file(path: &Path, size: u64) -> bool {
    let name = path.filename().unwrap_or_default();
    size > 0 && !name.starts_with('_') && !name.starts_with('.')
}

impl PartitionedTable {
    /// The directory a partition's files are in.
    fn partition_dir(&self, p: &Partition) -> DfResult<String> {
        if let Some(location) = p.storage_descriptor.as_ref().and_then(|sd| sd.location.as_deref()).filter(|l| !l.is_empty()) {
            return Ok(directory_url(location));
        }
        // No location: the Hive layout under the table's location.
        let base = self.table.location().ok_or_else(|| DataFusionError::Plan(format!("table {} has no location", self.table.name)))?;
        let mut dir = directory_url(base);
        for (key, value) in self.partition_fields.iter().zip(&p.values) {
            dir.push_str(&format!("{}={}/", key.name(), value));
        }
        Ok(dir)
    }

    /// The partitions that the filters (those on partition columns only) do not rule out.
    fn prune(&self, state: &dyn Session, partitions: Vec<Partition>, filters: &[Expr]) -> DfResult<Vec<Partition>> {
        let usable: Vec<&Expr> = filters.iter().filter(|f| self.only_partition_columns(f)).collect();
        if usable.is_empty() || partitions.is_empty() {
            return Ok(partitions);
        }
        // One row per partition, its values cast to the keys' declared types (a value that does
        // not cast is NULL, and so matches no comparison).
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (i, field) in self.partition_fields.iter().enumerate() {
            let raw: StringArray = partitions.iter().map(|p| p.values.get(i).map(String::as_str)).collect();
            columns.push(cast(&raw, field.data_type()).map_err(df_err)?);
        }
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(df_err)?;
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let mut keep = BooleanArray::from(vec![true; partitions.len()]);
        for filter in usable {
            let physical = state.create_physical_expr(filter.clone(), &df_schema)?;
            let result = physical.evaluate(&batch)?.into_array(partitions.len())?;
            let result = result.as_any().downcast_ref::<BooleanArray>().cloned().unwrap_or_else(|| BooleanArray::from(vec![true; partitions.len()]));
            keep = and(&keep, &result).map_err(df_err)?;
        }
        Ok(partitions.into_iter().zip(keep.iter()).filter(|(_, k)| k.unwrap_or(false)).map(|(p, _)| p).collect())
    }

    fn only_partition_columns(&self, expr: &Expr) -> bool {
        let mut columns = std::collections::HashSet::new();
        if expr_to_columns(expr, &mut columns).is_err() || columns.is_empty() {
            return false;
        }
        columns.iter().all(|c| self.partition_fields.iter().any(|f| f.name() == &c.name))
    }

    fn partition_values(&self, p: &Partition) -> DfResult<Vec<ScalarValue>> {
        self.partition_fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let raw = ScalarValue::Utf8(p.values.get(i).cloned());
                raw.cast_to(field.data_type()).or_else(|_| ScalarValue::try_from(field.data_type()))
            })
            .collect()
    }
}

#[async_trait]
impl TableProvider for PartitionedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Partition filters prune partitions; DataFusion still applies every filter to the rows,
        // so pruning only ever needs to be conservative.
        Ok(filters.iter().map(|_| TableProviderFilterPushDown::Inexact).collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let partitions = match &self.projection {
            Some(projection) => projection
                .partitions(state, &self.partition_fields, filters)?
                .into_iter()
                .map(|(values, location)| match location {
                    Some(location) => partition_for(&self.table, values, location),
                    None => Partition { values, ..Default::default() },
                })
                .collect(),
            None => self.catalog.get_partitions(&self.table.database_name, &self.table.name).map_err(df_err)?,
        };
        let total = partitions.len();
        let partitions = self.prune(state, partitions, filters)?;
        tracing::debug!(table = %self.table.name, partitions = total, kept = partitions.len(), "pruned partitions");
        // Files by the object store (bucket) they are in.
        let mut by_store: BTreeMap<String, Vec<PartitionedFile>> = BTreeMap::new();
        for p in &partitions {
            let dir = self.partition_dir(p)?;
            let url = ListingTableUrl::parse(&dir)?;
            let store = state.runtime_env().object_store(url.object_store())?;
            let values = self.partition_values(p)?;
            let prefix = url.prefix().clone();
            let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.map_err(df_err)?;
            let files = by_store.entry(url.object_store().as_str().to_string()).or_default();
            for meta in listed.into_iter().filter(|m| is_data_file(&m.location, m.size)) {
                files.push(PartitionedFile::new_from_meta(meta).with_partition_values(values.clone()));
            }
        }
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let scan = FileScan {
            format: self.format.clone(),
            file_schema: self.file_schema.clone(),
            partition_fields: self.partition_fields.clone(),
            projected,
        };
        scan.plan(state, by_store, projection, limit).await
    }
}

/// A scan of listed files, in the stores (buckets) they are in: each store's files spread over
/// the session's target partitions, one plan per store, their union.
pub(crate) struct FileScan {
    pub format: Arc<dyn FileFormat>,
    pub file_schema: SchemaRef,
    pub partition_fields: Vec<Field>,
    /// The schema of what the scan returns, after the projection.
    pub projected: SchemaRef,
}

impl FileScan {
    pub(crate) async fn plan(
        &self,
        state: &dyn Session,
        by_store: BTreeMap<String, Vec<PartitionedFile>>,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let target = state.config().target_partitions().max(1);
        let mut plans = Vec::new();
        for (store_url, files) in by_store {
            if files.is_empty() {
                continue;
            }
            let mut groups: Vec<Vec<PartitionedFile>> = (0..target.min(files.len())).map(|_| Vec::new()).collect();
            let n = groups.len();
            for (i, f) in files.into_iter().enumerate() {
                groups[i % n].push(f);
            }
            let table_schema = TableSchemaBuilder::new(self.file_schema.clone())
                .with_table_partition_cols(self.partition_fields.iter().map(|f| Arc::new(f.clone())).collect::<Vec<_>>())
                .build();
            let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(&store_url)?, self.format.file_source(table_schema))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
            plans.push(self.format.create_physical_plan(state, config).await?);
        }
        match plans.len() {
            0 => Ok(Arc::new(EmptyExec::new(self.projected.clone()))),
            1 => Ok(plans.remove(0)),
            _ => UnionExec::try_new(plans),
        }
    }
}

/// The `key=value/…` path of a partition, as Hive escapes it.
pub fn partition_path(keys: &[Column], values: &[String]) -> String {
    keys.iter().zip(values).map(|(k, v)| format!("{}={}", k.name, storage::escape_partition_value(v))).collect::<Vec<_>>().join("/")
}

/// A partition of a table at a location, stored as the table stores its rows.
pub(crate) fn partition_for(table: &Table, values: Vec<String>, location: String) -> Partition {
    let mut sd = table.storage_descriptor.clone().unwrap_or_default();
    sd.location = Some(location);
    Partition {
        values,
        database_name: table.database_name.clone(),
        table_name: table.name.clone(),
        creation_time: Some(catalog::now()),
        storage_descriptor: Some(sd),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_paths_escape_and_unescape() {
        let keys = vec![Column { name: "dt".into(), ..Default::default() }, Column { name: "k".into(), ..Default::default() }];
        let path = partition_path(&keys, &["2024-01-01 10:00".into(), "a/b".into()]);
        assert_eq!(path, "dt=2024-01-01 10%3A00/k=a%2Fb");
        assert_eq!(storage::unescape_partition_value("a%2Fb"), "a/b");
    }
}
