//! Glue partitions: GetPartitions (filters, segments, pages), GetPartition, BatchGetPartition,
//! CreatePartition, BatchCreatePartition, UpdatePartition, BatchUpdatePartition, DeletePartition,
//! BatchDeletePartition. Batch calls answer per-item errors and apply the rest.

use catalog::{ItemError, Partition, PartitionQuery, Segment};
use serde::{Deserialize, Serialize};

use super::{ErrorDetail, Glue, InCatalog, glue_err, invalid};
use crate::protocol::{ApiError, Empty, Input};

/// The most partitions BatchGetPartition reads and BatchCreatePartition writes in one call.
const MAX_BATCH_GET: usize = 1000;
const MAX_BATCH_CREATE: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionValueList {
    pub values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentInput {
    pub segment_number: usize,
    pub total_segments: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPartitionsInput {
    pub database_name: String,
    pub table_name: String,
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub segment: Option<SegmentInput>,
    #[serde(default)]
    pub max_results: Option<usize>,
    #[serde(default)]
    pub exclude_column_schema: bool,
}

impl Input for GetPartitionsInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPartitionsOutput {
    /// Partitions as documents: with `ExcludeColumnSchema` their storage descriptors have no
    /// `Columns` member at all, which the model type cannot express.
    partitions: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(glue: &Glue<'_>, input: GetPartitionsInput) -> Result<GetPartitionsOutput, ApiError> {
    let query = PartitionQuery {
        expression: input.expression,
        segment: input.segment.map(|s| Segment { number: s.segment_number, total: s.total_segments }),
        token: input.next_token,
        max: input.max_results.unwrap_or(1000),
    };
    let page = glue.catalog.list_partitions(&input.database_name, &input.table_name, &query).map_err(glue_err)?;
    let partitions = page
        .partitions
        .into_iter()
        .map(|p| {
            let mut document = serde_json::to_value(p.in_catalog(&glue.catalog)).unwrap_or_default();
            if input.exclude_column_schema
                && let Some(sd) = document.get_mut("StorageDescriptor").and_then(serde_json::Value::as_object_mut)
            {
                sd.remove("Columns");
            }
            document
        })
        .collect();
    Ok(GetPartitionsOutput { partitions, next_token: page.next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPartitionInput {
    pub database_name: String,
    pub table_name: String,
    pub partition_values: Vec<String>,
}

impl Input for GetPartitionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "PartitionValues"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPartitionOutput {
    partition: Partition,
}

pub async fn get(glue: &Glue<'_>, input: GetPartitionInput) -> Result<GetPartitionOutput, ApiError> {
    let partition = glue.catalog.get_partition(&input.database_name, &input.table_name, &input.partition_values).map_err(glue_err)?;
    Ok(GetPartitionOutput { partition: partition.in_catalog(&glue.catalog) })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetPartitionInput {
    pub database_name: String,
    pub table_name: String,
    pub partitions_to_get: Vec<PartitionValueList>,
}

impl Input for BatchGetPartitionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "PartitionsToGet"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetPartitionOutput {
    partitions: Vec<Partition>,
    unprocessed_keys: Vec<PartitionValues>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionValues {
    values: Vec<String>,
}

pub async fn batch_get(glue: &Glue<'_>, input: BatchGetPartitionInput) -> Result<BatchGetPartitionOutput, ApiError> {
    if input.partitions_to_get.len() > MAX_BATCH_GET {
        return Err(invalid(format!("PartitionsToGet may list at most {MAX_BATCH_GET} partitions")));
    }
    let wanted: Vec<Vec<String>> = input.partitions_to_get.into_iter().map(|p| p.values).collect();
    let found = glue.catalog.batch_get_partitions(&input.database_name, &input.table_name, &wanted).map_err(glue_err)?;
    Ok(BatchGetPartitionOutput { partitions: found.into_iter().map(|p| p.in_catalog(&glue.catalog)).collect(), unprocessed_keys: Vec::new() })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatePartitionInput {
    pub database_name: String,
    pub table_name: String,
    pub partition_input: Partition,
}

impl Input for CreatePartitionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "PartitionInput"];
}

pub async fn create(glue: &Glue<'_>, input: CreatePartitionInput) -> Result<Empty, ApiError> {
    let errors =
        glue.catalog.batch_create_partitions(&input.database_name, &input.table_name, vec![input.partition_input]).await.map_err(glue_err)?;
    first_error(errors)
}

/// A single-item call fails with its item's error.
fn first_error<K>(errors: Vec<ItemError<K>>) -> Result<Empty, ApiError> {
    match errors.into_iter().next() {
        Some(e) => Err(glue_err(e.error)),
        None => Ok(Empty {}),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchCreatePartitionInput {
    pub database_name: String,
    pub table_name: String,
    pub partition_input_list: Vec<Partition>,
}

impl Input for BatchCreatePartitionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "PartitionInputList"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionError {
    partition_values: Vec<String>,
    error_detail: ErrorDetail,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionErrors {
    errors: Vec<PartitionError>,
}

impl From<Vec<ItemError<Vec<String>>>> for PartitionErrors {
    fn from(errors: Vec<ItemError<Vec<String>>>) -> Self {
        let errors = errors.into_iter().map(|e| PartitionError { error_detail: (&e.error).into(), partition_values: e.item }).collect();
        PartitionErrors { errors }
    }
}

pub async fn batch_create(glue: &Glue<'_>, input: BatchCreatePartitionInput) -> Result<PartitionErrors, ApiError> {
    if input.partition_input_list.len() > MAX_BATCH_CREATE {
        return Err(invalid(format!("PartitionInputList may hold at most {MAX_BATCH_CREATE} partitions")));
    }
    let errors = glue.catalog.batch_create_partitions(&input.database_name, &input.table_name, input.partition_input_list).await.map_err(glue_err)?;
    Ok(errors.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdatePartitionInput {
    pub database_name: String,
    pub table_name: String,
    pub partition_value_list: Vec<String>,
    pub partition_input: Partition,
}

impl Input for UpdatePartitionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "PartitionValueList", "PartitionInput"];
}

pub async fn update(glue: &Glue<'_>, input: UpdatePartitionInput) -> Result<Empty, ApiError> {
    glue.catalog
        .update_partition(&input.database_name, &input.table_name, &input.partition_value_list, input.partition_input)
        .await
        .map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchUpdatePartitionEntry {
    pub partition_value_list: Vec<String>,
    pub partition_input: Partition,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchUpdatePartitionInput {
    pub database_name: String,
    pub table_name: String,
    pub entries: Vec<BatchUpdatePartitionEntry>,
}

impl Input for BatchUpdatePartitionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "Entries"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchUpdatePartitionError {
    partition_value_list: Vec<String>,
    error_detail: ErrorDetail,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchUpdatePartitionOutput {
    errors: Vec<BatchUpdatePartitionError>,
}

pub async fn batch_update(glue: &Glue<'_>, input: BatchUpdatePartitionInput) -> Result<BatchUpdatePartitionOutput, ApiError> {
    let entries = input.entries.into_iter().map(|e| (e.partition_value_list, e.partition_input)).collect();
    let errors = glue.catalog.batch_update_partitions(&input.database_name, &input.table_name, entries).await.map_err(glue_err)?;
    let errors = errors.into_iter().map(|e| BatchUpdatePartitionError { error_detail: (&e.error).into(), partition_value_list: e.item }).collect();
    Ok(BatchUpdatePartitionOutput { errors })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletePartitionInput {
    pub database_name: String,
    pub table_name: String,
    pub partition_values: Vec<String>,
}

impl Input for DeletePartitionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "PartitionValues"];
}

pub async fn delete(glue: &Glue<'_>, input: DeletePartitionInput) -> Result<Empty, ApiError> {
    let errors =
        glue.catalog.batch_delete_partitions(&input.database_name, &input.table_name, vec![input.partition_values]).await.map_err(glue_err)?;
    first_error(errors)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchDeletePartitionInput {
    pub database_name: String,
    pub table_name: String,
    pub partitions_to_delete: Vec<PartitionValueList>,
}

impl Input for BatchDeletePartitionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "PartitionsToDelete"];
}

pub async fn batch_delete(glue: &Glue<'_>, input: BatchDeletePartitionInput) -> Result<PartitionErrors, ApiError> {
    let values = input.partitions_to_delete.into_iter().map(|p| p.values).collect();
    let errors = glue.catalog.batch_delete_partitions(&input.database_name, &input.table_name, values).await.map_err(glue_err)?;
    Ok(errors.into())
}
