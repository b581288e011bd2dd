//! Glue tables and their versions: CreateTable, GetTable, GetTables, UpdateTable, DeleteTable,
//! BatchDeleteTable, GetTableVersions, GetTableVersion, DeleteTableVersion,
//! BatchDeleteTableVersion, SearchTables.

use catalog::{PartitionIndex, SearchFilter, SearchQuery, Table};
use serde::{Deserialize, Serialize};

use super::{ErrorDetail, Glue, InCatalog, glue_err, page_of};
use crate::protocol::{ApiError, Empty, Input, Paging};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTableInput {
    pub database_name: String,
    pub table_input: Table,
    #[serde(default)]
    pub partition_indexes: Option<Vec<PartitionIndex>>,
}

impl Input for CreateTableInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableInput", "TableInput.Name"];
}

pub async fn create(glue: &Glue<'_>, input: CreateTableInput) -> Result<Empty, ApiError> {
    let indexes = input.partition_indexes.unwrap_or_default();
    glue.catalog.create_indexed_table(&input.database_name, input.table_input, &indexes).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatePartitionIndexInput {
    pub database_name: String,
    pub table_name: String,
    pub partition_index: PartitionIndex,
}

impl Input for CreatePartitionIndexInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "PartitionIndex", "PartitionIndex.Keys", "PartitionIndex.IndexName"];
}

pub async fn create_index(glue: &Glue<'_>, input: CreatePartitionIndexInput) -> Result<Empty, ApiError> {
    glue.catalog.create_partition_index(&input.database_name, &input.table_name, input.partition_index).await.map_err(glue_err)?;
    Ok(Empty {})
}

/// Its `NextToken` is accepted and ignored: a table has at most three indexes, one page.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPartitionIndexesInput {
    pub database_name: String,
    pub table_name: String,
}

impl Input for GetPartitionIndexesInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    name: String,
    r#type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionIndexDescriptor {
    index_name: String,
    keys: Vec<KeySchemaElement>,
    index_status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPartitionIndexesOutput {
    partition_index_descriptor_list: Vec<PartitionIndexDescriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// A table's partition indexes, each key with its type, all ACTIVE.
pub async fn indexes(glue: &Glue<'_>, input: GetPartitionIndexesInput) -> Result<GetPartitionIndexesOutput, ApiError> {
    let table = glue.catalog.get_table(&input.database_name, &input.table_name).map_err(glue_err)?;
    let all = glue.catalog.partition_indexes(&input.database_name, &input.table_name).map_err(glue_err)?;
    let typed = |key: &str| {
        let column = table.partition_keys.iter().find(|k| k.name.eq_ignore_ascii_case(key));
        KeySchemaElement { name: key.to_string(), r#type: column.and_then(|c| c.r#type.clone()).unwrap_or_else(|| "string".into()) }
    };
    let partition_index_descriptor_list = all
        .into_iter()
        .map(|i| PartitionIndexDescriptor { keys: i.keys.iter().map(|k| typed(k)).collect(), index_name: i.index_name, index_status: "ACTIVE" })
        .collect();
    Ok(GetPartitionIndexesOutput { partition_index_descriptor_list, next_token: None })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletePartitionIndexInput {
    pub database_name: String,
    pub table_name: String,
    pub index_name: String,
}

impl Input for DeletePartitionIndexInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "IndexName"];
}

pub async fn delete_index(glue: &Glue<'_>, input: DeletePartitionIndexInput) -> Result<Empty, ApiError> {
    glue.catalog.delete_partition_index(&input.database_name, &input.table_name, &input.index_name).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableInput {
    pub database_name: String,
    pub name: String,
}

impl Input for GetTableInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "Name"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableOutput {
    table: Table,
}

pub async fn get(glue: &Glue<'_>, input: GetTableInput) -> Result<GetTableOutput, ApiError> {
    let table = glue.catalog.get_table(&input.database_name, &input.name).map_err(glue_err)?.in_catalog(&glue.catalog);
    Ok(GetTableOutput { table })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTablesInput {
    pub database_name: String,
    /// A glob over table names: `*` any run of characters, `|` between alternatives.
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for GetTablesInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableList {
    table_list: Vec<Table>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(glue: &Glue<'_>, input: GetTablesInput) -> Result<TableList, ApiError> {
    let all = glue.catalog.list_tables(&input.database_name, input.expression.as_deref()).map_err(glue_err)?;
    let (table_list, next_token) = page_of(&glue.catalog, &all, input.next_token.as_deref(), input.max_results, 100, 100)?;
    Ok(TableList { table_list, next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTableInput {
    pub database_name: String,
    pub table_input: Table,
    #[serde(default)]
    pub skip_archive: bool,
    /// The version the caller read: the update fails if the table has moved on since.
    #[serde(default)]
    pub version_id: Option<String>,
}

impl Input for UpdateTableInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableInput", "TableInput.Name"];
}

pub async fn update(glue: &Glue<'_>, input: UpdateTableInput) -> Result<Empty, ApiError> {
    glue.catalog.update_table(&input.database_name, input.table_input, input.skip_archive, input.version_id.as_deref()).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteTableInput {
    pub database_name: String,
    pub name: String,
}

impl Input for DeleteTableInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "Name"];
}

pub async fn delete(glue: &Glue<'_>, input: DeleteTableInput) -> Result<Empty, ApiError> {
    glue.catalog.delete_table(&input.database_name, &input.name).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchDeleteTableInput {
    pub database_name: String,
    pub tables_to_delete: Vec<String>,
}

impl Input for BatchDeleteTableInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TablesToDelete"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableError {
    table_name: String,
    error_detail: ErrorDetail,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchDeleteTableOutput {
    errors: Vec<TableError>,
}

pub async fn batch_delete(glue: &Glue<'_>, input: BatchDeleteTableInput) -> Result<BatchDeleteTableOutput, ApiError> {
    let errors = glue.catalog.batch_delete_tables(&input.database_name, &input.tables_to_delete).await.map_err(glue_err)?;
    let errors = errors.into_iter().map(|e| TableError { error_detail: (&e.error).into(), table_name: e.item }).collect();
    Ok(BatchDeleteTableOutput { errors })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableVersionsInput {
    pub database_name: String,
    pub table_name: String,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for GetTableVersionsInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableVersion {
    table: Table,
    version_id: String,
}

impl TableVersion {
    fn new(v: catalog::TableVersion, catalog: &catalog::Catalog) -> Self {
        TableVersion { table: v.table.in_catalog(catalog), version_id: v.version_id }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableVersionsOutput {
    table_versions: Vec<TableVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn versions(glue: &Glue<'_>, input: GetTableVersionsInput) -> Result<GetTableVersionsOutput, ApiError> {
    let all = glue.catalog.table_versions(&input.database_name, &input.table_name).map_err(glue_err)?;
    let paging = Paging::new(input.next_token.as_deref(), input.max_results, 100, 100, "InvalidInputException")?;
    let (page, next_token) = paging.page(&all);
    Ok(GetTableVersionsOutput { table_versions: page.iter().cloned().map(|v| TableVersion::new(v, &glue.catalog)).collect(), next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableVersionInput {
    pub database_name: String,
    pub table_name: String,
    /// The current version when absent.
    #[serde(default)]
    pub version_id: Option<String>,
}

impl Input for GetTableVersionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableVersionOutput {
    table_version: TableVersion,
}

pub async fn version(glue: &Glue<'_>, input: GetTableVersionInput) -> Result<GetTableVersionOutput, ApiError> {
    let v = glue.catalog.table_version(&input.database_name, &input.table_name, input.version_id.as_deref()).map_err(glue_err)?;
    Ok(GetTableVersionOutput { table_version: TableVersion::new(v, &glue.catalog) })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteTableVersionInput {
    pub database_name: String,
    pub table_name: String,
    pub version_id: String,
}

impl Input for DeleteTableVersionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "VersionId"];
}

pub async fn delete_version(glue: &Glue<'_>, input: DeleteTableVersionInput) -> Result<Empty, ApiError> {
    let errors = glue.catalog.delete_table_versions(&input.database_name, &input.table_name, &[input.version_id]).await.map_err(glue_err)?;
    match errors.into_iter().next() {
        Some(e) => Err(glue_err(e.error)),
        None => Ok(Empty {}),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchDeleteTableVersionInput {
    pub database_name: String,
    pub table_name: String,
    pub version_ids: Vec<String>,
}

impl Input for BatchDeleteTableVersionInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "TableName", "VersionIds"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableVersionError {
    table_name: String,
    version_id: String,
    error_detail: ErrorDetail,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchDeleteTableVersionOutput {
    errors: Vec<TableVersionError>,
}

pub async fn batch_delete_versions(glue: &Glue<'_>, input: BatchDeleteTableVersionInput) -> Result<BatchDeleteTableVersionOutput, ApiError> {
    let errors = glue.catalog.delete_table_versions(&input.database_name, &input.table_name, &input.version_ids).await.map_err(glue_err)?;
    let errors = errors
        .into_iter()
        .map(|e| TableVersionError { table_name: input.table_name.clone(), error_detail: (&e.error).into(), version_id: e.item })
        .collect();
    Ok(BatchDeleteTableVersionOutput { errors })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PropertyPredicate {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub comparator: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SortCriterion {
    #[serde(default)]
    pub field_name: Option<String>,
    #[serde(default)]
    pub sort: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchTablesInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub filters: Option<Vec<PropertyPredicate>>,
    #[serde(default)]
    pub search_text: Option<String>,
    #[serde(default)]
    pub sort_criteria: Option<Vec<SortCriterion>>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for SearchTablesInput {}

pub async fn search(glue: &Glue<'_>, input: SearchTablesInput) -> Result<TableList, ApiError> {
    let filters = input
        .filters
        .unwrap_or_default()
        .into_iter()
        .map(|f| SearchFilter { key: f.key, value: f.value, comparator: f.comparator.unwrap_or_else(|| "EQUALS".into()) })
        .collect();
    let sort = input.sort_criteria.unwrap_or_default().into_iter().next().map(|s| {
        let field = s.field_name.unwrap_or_else(|| "Name".into());
        (field, s.sort.as_deref() != Some("DESC"))
    });
    let query = SearchQuery { text: input.search_text, filters, sort };
    let all = glue.catalog.search_tables(&query).map_err(glue_err)?;
    let (table_list, next_token) = page_of(&glue.catalog, &all, input.next_token.as_deref(), input.max_results, 100, 1000)?;
    Ok(TableList { table_list, next_token })
}
