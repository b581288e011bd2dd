//! Column statistics: Update, Get and DeleteColumnStatisticsForTable, and the same for a
//! partition (named by its `PartitionValues`). Items that cannot be stored or found are
//! reported in `Errors`, Glue's way, the rest answered.

use catalog::ColumnStatistics;
use serde::{Deserialize, Serialize};

use super::{ErrorDetail, Errors, Glue, glue_err};
use crate::protocol::{ApiError, Empty, Input, ServiceErrors};

/// The partition a ForPartition operation names (its `PartitionValues` are required); a
/// ForTable operation names none.
fn partition(values: Option<Vec<String>>, for_partition: bool) -> Result<Option<Vec<String>>, ApiError> {
    match (for_partition, values) {
        (true, None) => Err(Errors.missing_member("PartitionValues")),
        (true, values) => Ok(values),
        (false, _) => Ok(None),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateInput {
    pub database_name: String,
    pub table_name: String,
    #[serde(default)]
    pub partition_values: Option<Vec<String>>,
    pub column_statistics_list: Vec<ColumnStatistics>,
}

impl Input for UpdateInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "ColumnStatisticsList"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateError {
    column_statistics: ColumnStatistics,
    error: ErrorDetail,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateOutput {
    errors: Vec<UpdateError>,
}

pub async fn update(glue: &Glue<'_>, input: UpdateInput, for_partition: bool) -> Result<UpdateOutput, ApiError> {
    let values = partition(input.partition_values, for_partition)?;
    let partition = values.as_deref();
    let failed = glue
        .catalog
        .update_column_statistics(&input.database_name, &input.table_name, partition, input.column_statistics_list)
        .await
        .map_err(glue_err)?;
    let errors = failed.into_iter().map(|f| UpdateError { error: ErrorDetail::from(&f.error), column_statistics: f.item }).collect();
    Ok(UpdateOutput { errors })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInput {
    pub database_name: String,
    pub table_name: String,
    #[serde(default)]
    pub partition_values: Option<Vec<String>>,
    pub column_names: Vec<String>,
}

impl Input for GetInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "ColumnNames"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ColumnError {
    column_name: String,
    error: ErrorDetail,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetOutput {
    column_statistics_list: Vec<ColumnStatistics>,
    errors: Vec<ColumnError>,
}

pub async fn get(glue: &Glue<'_>, input: GetInput, for_partition: bool) -> Result<GetOutput, ApiError> {
    let values = partition(input.partition_values, for_partition)?;
    let partition = values.as_deref();
    let (found, missing) =
        glue.catalog.column_statistics(&input.database_name, &input.table_name, partition, &input.column_names).map_err(glue_err)?;
    let errors = missing.into_iter().map(|m| ColumnError { error: ErrorDetail::from(&m.error), column_name: m.item }).collect();
    Ok(GetOutput { column_statistics_list: found, errors })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteInput {
    pub database_name: String,
    pub table_name: String,
    #[serde(default)]
    pub partition_values: Option<Vec<String>>,
    pub column_name: String,
}

impl Input for DeleteInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "ColumnName"];
}

pub async fn delete(glue: &Glue<'_>, input: DeleteInput, for_partition: bool) -> Result<Empty, ApiError> {
    let values = partition(input.partition_values, for_partition)?;
    let partition = values.as_deref();
    glue.catalog.delete_column_statistics(&input.database_name, &input.table_name, partition, &input.column_name).await.map_err(glue_err)?;
    Ok(Empty {})
}
