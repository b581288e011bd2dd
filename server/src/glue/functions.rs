//! User-defined functions: CreateUserDefinedFunction, GetUserDefinedFunction,
//! GetUserDefinedFunctions, UpdateUserDefinedFunction, DeleteUserDefinedFunction.

use catalog::UserDefinedFunction;
use serde::{Deserialize, Serialize};

use super::{Glue, glue_err};
use crate::protocol::{ApiError, Empty, Input, Paging};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateInput {
    pub database_name: String,
    pub function_input: UserDefinedFunction,
}

impl Input for CreateInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "FunctionInput"];
}

pub async fn create(glue: &Glue<'_>, input: CreateInput) -> Result<Empty, ApiError> {
    glue.catalog.create_function(&input.database_name, input.function_input).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameInput {
    pub database_name: String,
    pub function_name: String,
}

impl Input for NameInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "FunctionName"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetOutput {
    user_defined_function: UserDefinedFunction,
}

fn in_catalog(glue: &Glue<'_>, mut f: UserDefinedFunction) -> UserDefinedFunction {
    f.catalog_id = Some(glue.catalog.account().to_string());
    f
}

pub async fn get(glue: &Glue<'_>, input: NameInput) -> Result<GetOutput, ApiError> {
    let f = glue.catalog.get_function(&input.database_name, &input.function_name).map_err(glue_err)?;
    Ok(GetOutput { user_defined_function: in_catalog(glue, f) })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInput {
    #[serde(default)]
    pub database_name: Option<String>,
    pub pattern: String,
    #[serde(default)]
    pub function_type: Option<String>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListInput {
    const REQUIRED: &'static [&'static str] = &["Pattern"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListOutput {
    user_defined_functions: Vec<UserDefinedFunction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(glue: &Glue<'_>, input: ListInput) -> Result<ListOutput, ApiError> {
    let all = glue.catalog.list_functions(input.database_name.as_deref(), &input.pattern, input.function_type.as_deref()).map_err(glue_err)?;
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 100, 100, "InvalidInputException")?.page(&all);
    Ok(ListOutput { user_defined_functions: page.iter().cloned().map(|f| in_catalog(glue, f)).collect(), next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateInput {
    pub database_name: String,
    pub function_name: String,
    pub function_input: UserDefinedFunction,
}

impl Input for UpdateInput {
    const REQUIRED: &'static [&'static str] = &["DatabaseName", "FunctionName", "FunctionInput"];
}

pub async fn update(glue: &Glue<'_>, input: UpdateInput) -> Result<Empty, ApiError> {
    glue.catalog.update_function(&input.database_name, &input.function_name, input.function_input).await.map_err(glue_err)?;
    Ok(Empty {})
}

pub async fn delete(glue: &Glue<'_>, input: NameInput) -> Result<Empty, ApiError> {
    glue.catalog.delete_function(&input.database_name, &input.function_name).await.map_err(glue_err)?;
    Ok(Empty {})
}
