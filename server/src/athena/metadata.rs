//! The catalog as Athena shows it: ListDatabases, GetDatabase, ListTableMetadata,
//! GetTableMetadata. Errors are Athena's `MetadataException`.

use std::collections::BTreeMap;

use catalog::Table;
use serde::{Deserialize, Serialize};

use super::catalogs::check_catalog;
use super::{Athena, metadata_err};
use crate::protocol::{ApiError, Input, Paging};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatabasesInput {
    pub catalog_name: String,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListDatabasesInput {
    const REQUIRED: &'static [&'static str] = &["CatalogName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Database {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    parameters: BTreeMap<String, String>,
}

impl From<catalog::Database> for Database {
    fn from(d: catalog::Database) -> Self {
        Database { name: d.name, description: d.description, parameters: d.parameters }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatabasesOutput {
    database_list: Vec<Database>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn paging(next_token: Option<&str>, max_results: Option<i64>) -> Result<Paging, ApiError> {
    Paging::new(next_token, max_results, 50, 50, "InvalidRequestException")
}

pub async fn list_databases(athena: &Athena<'_>, input: ListDatabasesInput) -> Result<ListDatabasesOutput, ApiError> {
    check_catalog(athena, Some(&input.catalog_name))?;
    let all = athena.catalog.list_databases().map_err(metadata_err)?;
    let (page, next_token) = paging(input.next_token.as_deref(), input.max_results)?.page(&all);
    Ok(ListDatabasesOutput { database_list: page.iter().cloned().map(Database::from).collect(), next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabaseInput {
    pub catalog_name: String,
    pub database_name: String,
}

impl Input for GetDatabaseInput {
    const REQUIRED: &'static [&'static str] = &["CatalogName", "DatabaseName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabaseOutput {
    database: Database,
}

pub async fn get_database(athena: &Athena<'_>, input: GetDatabaseInput) -> Result<GetDatabaseOutput, ApiError> {
    check_catalog(athena, Some(&input.catalog_name))?;
    let d = athena.catalog.get_database(&input.database_name).map_err(metadata_err)?;
    Ok(GetDatabaseOutput { database: d.into() })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Column {
    name: String,
    r#type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

impl From<&catalog::Column> for Column {
    fn from(c: &catalog::Column) -> Self {
        Column { name: c.name.clone(), r#type: c.r#type.clone().unwrap_or_else(|| "string".into()), comment: c.comment.clone() }
    }
}

/// A table as Athena describes it: the storage descriptor's location, formats and SerDe folded
/// into the parameters, as Athena's own answers have them.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableMetadata {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_access_time: Option<f64>,
    table_type: String,
    columns: Vec<Column>,
    partition_keys: Vec<Column>,
    parameters: BTreeMap<String, String>,
}

impl From<&Table> for TableMetadata {
    fn from(t: &Table) -> Self {
        let mut parameters = t.parameters.clone();
        if let Some(sd) = &t.storage_descriptor {
            for (k, v) in [("location", &sd.location), ("inputformat", &sd.input_format), ("outputformat", &sd.output_format)] {
                if let Some(v) = v {
                    parameters.insert(k.into(), v.clone());
                }
            }
            if let Some(lib) = sd.serde_info.as_ref().and_then(|s| s.serialization_library.as_ref()) {
                parameters.insert("serde.serialization.lib".into(), lib.clone());
            }
            for (k, v) in sd.serde_info.iter().flat_map(|s| s.parameters.iter()) {
                parameters.insert(format!("serde.param.{k}"), v.clone());
            }
        }
        TableMetadata {
            name: t.name.clone(),
            create_time: t.create_time,
            last_access_time: t.update_time,
            table_type: t.table_type.clone().unwrap_or_else(|| "EXTERNAL_TABLE".into()),
            columns: t.current_columns().map(Column::from).collect(),
            partition_keys: t.partition_keys.iter().map(Column::from).collect(),
            parameters,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTableMetadataInput {
    pub catalog_name: String,
    pub database_name: String,
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListTableMetadataInput {
    const REQUIRED: &'static [&'static str] = &["CatalogName", "DatabaseName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTableMetadataOutput {
    table_metadata_list: Vec<TableMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list_tables(athena: &Athena<'_>, input: ListTableMetadataInput) -> Result<ListTableMetadataOutput, ApiError> {
    check_catalog(athena, Some(&input.catalog_name))?;
    let all = athena.catalog.list_tables(&input.database_name, input.expression.as_deref()).map_err(metadata_err)?;
    let (page, next_token) = paging(input.next_token.as_deref(), input.max_results)?.page(&all);
    Ok(ListTableMetadataOutput { table_metadata_list: page.iter().map(TableMetadata::from).collect(), next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableMetadataInput {
    pub catalog_name: String,
    pub database_name: String,
    pub table_name: String,
}

impl Input for GetTableMetadataInput {
    const REQUIRED: &'static [&'static str] = &["CatalogName", "DatabaseName", "TableName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableMetadataOutput {
    table_metadata: TableMetadata,
}

pub async fn get_table(athena: &Athena<'_>, input: GetTableMetadataInput) -> Result<GetTableMetadataOutput, ApiError> {
    check_catalog(athena, Some(&input.catalog_name))?;
    let t = athena.catalog.get_table(&input.database_name, &input.table_name).map_err(metadata_err)?;
    Ok(GetTableMetadataOutput { table_metadata: (&t).into() })
}
