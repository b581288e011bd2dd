//! Glue databases: CreateDatabase, GetDatabase, GetDatabases, UpdateDatabase, DeleteDatabase.

use catalog::Database;
use serde::{Deserialize, Serialize};

use super::{Glue, InCatalog, glue_err, page_of};
use crate::protocol::{ApiError, Empty, Input};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDatabaseInput {
    pub database_input: Database,
    #[serde(default)]
    pub tags: Option<catalog::Tags>,
}

impl Input for CreateDatabaseInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseInput", "DatabaseInput.Name"];
}

pub async fn create(glue: &Glue<'_>, input: CreateDatabaseInput) -> Result<Empty, ApiError> {
    glue.catalog.create_tagged_database(input.database_input, input.tags.unwrap_or_default()).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabaseInput {
    pub name: String,
}

impl Input for GetDatabaseInput {
    const REQUIRED: &'static [&'static str] = &["Name"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabaseOutput {
    database: Database,
}

pub async fn get(glue: &Glue<'_>, input: GetDatabaseInput) -> Result<GetDatabaseOutput, ApiError> {
    let database = glue.catalog.get_database(&input.name).map_err(glue_err)?.in_catalog(&glue.catalog);
    Ok(GetDatabaseOutput { database })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabasesInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for GetDatabasesInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabasesOutput {
    database_list: Vec<Database>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(glue: &Glue<'_>, input: GetDatabasesInput) -> Result<GetDatabasesOutput, ApiError> {
    let all = glue.catalog.list_databases().map_err(glue_err)?;
    let (database_list, next_token) = page_of(&glue.catalog, &all, input.next_token.as_deref(), input.max_results, 100, 100)?;
    Ok(GetDatabasesOutput { database_list, next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDatabaseInput {
    pub name: String,
    pub database_input: Database,
}

impl Input for UpdateDatabaseInput {
    const REQUIRED: &'static [&'static str] = &["Name", "DatabaseInput", "DatabaseInput.Name"];
}

pub async fn update(glue: &Glue<'_>, input: UpdateDatabaseInput) -> Result<Empty, ApiError> {
    glue.catalog.update_database(&input.name, input.database_input).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteDatabaseInput {
    pub name: String,
}

impl Input for DeleteDatabaseInput {
    const REQUIRED: &'static [&'static str] = &["Name"];
}

pub async fn delete(glue: &Glue<'_>, input: DeleteDatabaseInput) -> Result<Empty, ApiError> {
    glue.catalog.delete_database(&input.name).await.map_err(glue_err)?;
    Ok(Empty {})
}
