//! Saved SQL: named queries (CreateNamedQuery, GetNamedQuery, BatchGetNamedQuery,
//! ListNamedQueries, UpdateNamedQuery, DeleteNamedQuery) and prepared statements
//! (CreatePreparedStatement, GetPreparedStatement, BatchGetPreparedStatement,
//! ListPreparedStatements, UpdatePreparedStatement, DeletePreparedStatement). SQL's `PREPARE`,
//! `EXECUTE` and `DEALLOCATE PREPARE` reach the same prepared statements through the engine.

use query::{NamedQuery, PreparedStatement};
use serde::{Deserialize, Serialize};

use super::workgroups::workgroup;
use super::{Athena, invalid, query_err};
use crate::protocol::{ApiError, Empty, Input, Paging};

/// Athena's validation of a member's length.
fn check_length(value: &str, member: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min {
        return Err(invalid(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        )));
    }
    if n > max {
        return Err(invalid(format!(
            "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    Ok(())
}

fn check_query(name: &str, description: Option<&str>, query_string: &str) -> Result<(), ApiError> {
    check_length(name, "name", 1, 128)?;
    if let Some(d) = description {
        check_length(d, "description", 1, 1024)?;
    }
    check_length(query_string, "queryString", 1, 262_144)
}

// ---- named queries ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNamedQueryInput {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub database: String,
    pub query_string: String,
    #[serde(default)]
    pub client_request_token: Option<String>,
    #[serde(default)]
    pub work_group: Option<String>,
}

impl Input for CreateNamedQueryInput {
    const REQUIRED: &'static [&'static str] = &["Name", "Database", "QueryString"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNamedQueryOutput {
    named_query_id: String,
}

pub async fn create_named(athena: &Athena<'_>, input: CreateNamedQueryInput) -> Result<CreateNamedQueryOutput, ApiError> {
    check_query(&input.name, input.description.as_deref(), &input.query_string)?;
    check_length(&input.database, "database", 1, 255)?;
    if let Some(token) = &input.client_request_token {
        check_length(token, "clientRequestToken", 32, 128)?;
    }
    let wg = workgroup(athena, input.work_group.as_deref())?;
    let query = NamedQuery {
        v: 0,
        id: uuid::Uuid::new_v4().to_string(),
        name: input.name,
        description: input.description,
        database: input.database,
        query_string: input.query_string,
        workgroup: wg.name,
        token: None,
    };
    let registry = athena.engine.registry();
    let named_query_id = registry.create_named_query(athena.account, query, input.client_request_token.as_deref()).await.map_err(query_err)?;
    Ok(CreateNamedQueryOutput { named_query_id })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamedQueryOutput {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    database: String,
    query_string: String,
    named_query_id: String,
    work_group: String,
}

impl From<NamedQuery> for NamedQueryOutput {
    fn from(q: NamedQuery) -> Self {
        NamedQueryOutput {
            name: q.name,
            description: q.description,
            database: q.database,
            query_string: q.query_string,
            named_query_id: q.id,
            work_group: q.workgroup,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamedQueryIdInput {
    pub named_query_id: String,
}

impl Input for NamedQueryIdInput {
    const REQUIRED: &'static [&'static str] = &["NamedQueryId"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetNamedQueryOutput {
    named_query: NamedQueryOutput,
}

pub async fn get_named(athena: &Athena<'_>, input: NamedQueryIdInput) -> Result<GetNamedQueryOutput, ApiError> {
    let q = athena.engine.registry().named_query(athena.account, &input.named_query_id).map_err(query_err)?;
    Ok(GetNamedQueryOutput { named_query: q.into() })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetNamedQueryInput {
    pub named_query_ids: Vec<String>,
}

impl Input for BatchGetNamedQueryInput {
    const REQUIRED: &'static [&'static str] = &["NamedQueryIds"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnprocessedNamedQueryId {
    named_query_id: String,
    error_code: &'static str,
    error_message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetNamedQueryOutput {
    named_queries: Vec<NamedQueryOutput>,
    unprocessed_named_query_ids: Vec<UnprocessedNamedQueryId>,
}

/// At most this many ids or names in one batch.
const MAX_BATCH: usize = 50;

fn check_batch(n: usize, member: &str) -> Result<(), ApiError> {
    if (1..=MAX_BATCH).contains(&n) {
        return Ok(());
    }
    Err(invalid(format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length between 1 and {MAX_BATCH}"
    )))
}

pub async fn batch_get_named(athena: &Athena<'_>, input: BatchGetNamedQueryInput) -> Result<BatchGetNamedQueryOutput, ApiError> {
    check_batch(input.named_query_ids.len(), "namedQueryIds")?;
    let (mut named_queries, mut unprocessed_named_query_ids) = (Vec::new(), Vec::new());
    for id in input.named_query_ids {
        match athena.engine.registry().named_query(athena.account, &id) {
            Ok(q) => named_queries.push(q.into()),
            Err(e) => unprocessed_named_query_ids.push(UnprocessedNamedQueryId {
                named_query_id: id,
                error_code: "INVALID_INPUT",
                error_message: e.to_string(),
            }),
        }
    }
    Ok(BatchGetNamedQueryOutput { named_queries, unprocessed_named_query_ids })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListNamedQueriesInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
    #[serde(default)]
    pub work_group: Option<String>,
}

impl Input for ListNamedQueriesInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListNamedQueriesOutput {
    named_query_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list_named(athena: &Athena<'_>, input: ListNamedQueriesInput) -> Result<ListNamedQueriesOutput, ApiError> {
    let wg = workgroup(athena, input.work_group.as_deref())?;
    let ids: Vec<String> = athena.engine.registry().named_queries(athena.account, &wg.name).map_err(query_err)?.into_iter().map(|q| q.id).collect();
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 50, 50, "InvalidRequestException")?.page(&ids);
    Ok(ListNamedQueriesOutput { named_query_ids: page.to_vec(), next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateNamedQueryInput {
    pub named_query_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub query_string: String,
}

impl Input for UpdateNamedQueryInput {
    const REQUIRED: &'static [&'static str] = &["NamedQueryId", "Name", "QueryString"];
}

pub async fn update_named(athena: &Athena<'_>, input: UpdateNamedQueryInput) -> Result<Empty, ApiError> {
    check_query(&input.name, input.description.as_deref(), &input.query_string)?;
    athena
        .engine
        .registry()
        .update_named_query(athena.account, &input.named_query_id, |q| {
            q.name = input.name;
            q.description = input.description;
            q.query_string = input.query_string;
        })
        .await
        .map_err(query_err)?;
    Ok(Empty {})
}

pub async fn delete_named(athena: &Athena<'_>, input: NamedQueryIdInput) -> Result<Empty, ApiError> {
    athena.engine.registry().delete_named_query(athena.account, &input.named_query_id).await.map_err(query_err)?;
    Ok(Empty {})
}

// ---- prepared statements ----

/// Athena's pattern for statement names: a letter or `_`, then letters, digits, `_`, `@`, `:`.
fn check_statement_name(name: &str) -> Result<(), ApiError> {
    let mut chars = name.chars();
    let ok = (1..=256).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | ':'));
    if ok {
        return Ok(());
    }
    Err(invalid(format!(
        "1 validation error detected: Value '{name}' at 'statementName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_@:]{{1,256}}"
    )))
}

/// A prepared statement that is not there: Athena's ResourceNotFoundException.
fn statement_err(e: query::Error, name: &str) -> ApiError {
    match e {
        query::Error::PreparedNotFound(_) => {
            ApiError::new("ResourceNotFoundException", format!("Prepared statement {name} was not found")).with("ResourceName", name.to_string())
        }
        other => query_err(other),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutPreparedStatementInput {
    pub statement_name: String,
    pub work_group: String,
    pub query_statement: String,
    #[serde(default)]
    pub description: Option<String>,
}

impl Input for PutPreparedStatementInput {
    const REQUIRED: &'static [&'static str] = &["StatementName", "WorkGroup", "QueryStatement"];
}

async fn put_statement(athena: &Athena<'_>, input: PutPreparedStatementInput, update: bool) -> Result<Empty, ApiError> {
    check_statement_name(&input.statement_name)?;
    check_length(&input.query_statement, "queryStatement", 1, 262_144)?;
    if let Some(d) = &input.description {
        check_length(d, "description", 1, 1024)?;
    }
    // The statement must be one Athena can run, as PREPARE checks it.
    query::check_prepared(&input.query_statement).map_err(|e| invalid(e.to_string()))?;
    let wg = workgroup(athena, Some(&input.work_group))?;
    let name = input.statement_name.clone();
    let statement = PreparedStatement {
        v: 0,
        name: input.statement_name,
        workgroup: wg.name,
        query_statement: input.query_statement,
        description: input.description,
        last_modified: 0.0,
    };
    athena.engine.registry().put_prepared_statement(athena.account, statement, update, update).await.map_err(|e| statement_err(e, &name))?;
    Ok(Empty {})
}

pub async fn create_prepared(athena: &Athena<'_>, input: PutPreparedStatementInput) -> Result<Empty, ApiError> {
    put_statement(athena, input, false).await
}

pub async fn update_prepared(athena: &Athena<'_>, input: PutPreparedStatementInput) -> Result<Empty, ApiError> {
    put_statement(athena, input, true).await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreparedStatementInput {
    pub statement_name: String,
    pub work_group: String,
}

impl Input for PreparedStatementInput {
    const REQUIRED: &'static [&'static str] = &["StatementName", "WorkGroup"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreparedStatementOutput {
    statement_name: String,
    query_statement: String,
    work_group_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    last_modified_time: f64,
}

impl From<PreparedStatement> for PreparedStatementOutput {
    fn from(p: PreparedStatement) -> Self {
        PreparedStatementOutput {
            statement_name: p.name,
            query_statement: p.query_statement,
            work_group_name: p.workgroup,
            description: p.description,
            last_modified_time: p.last_modified,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPreparedStatementOutput {
    prepared_statement: PreparedStatementOutput,
}

pub async fn get_prepared(athena: &Athena<'_>, input: PreparedStatementInput) -> Result<GetPreparedStatementOutput, ApiError> {
    let wg = workgroup(athena, Some(&input.work_group))?;
    let p = athena
        .engine
        .registry()
        .prepared_statement(athena.account, &wg.name, &input.statement_name)
        .map_err(|e| statement_err(e, &input.statement_name))?;
    Ok(GetPreparedStatementOutput { prepared_statement: p.into() })
}

pub async fn delete_prepared(athena: &Athena<'_>, input: PreparedStatementInput) -> Result<Empty, ApiError> {
    let wg = workgroup(athena, Some(&input.work_group))?;
    athena
        .engine
        .registry()
        .delete_prepared_statement(athena.account, &wg.name, &input.statement_name)
        .await
        .map_err(|e| statement_err(e, &input.statement_name))?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetPreparedStatementInput {
    pub prepared_statement_names: Vec<String>,
    pub work_group: String,
}

impl Input for BatchGetPreparedStatementInput {
    const REQUIRED: &'static [&'static str] = &["PreparedStatementNames", "WorkGroup"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnprocessedPreparedStatementName {
    statement_name: String,
    error_code: &'static str,
    error_message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetPreparedStatementOutput {
    prepared_statements: Vec<PreparedStatementOutput>,
    unprocessed_prepared_statement_names: Vec<UnprocessedPreparedStatementName>,
}

pub async fn batch_get_prepared(athena: &Athena<'_>, input: BatchGetPreparedStatementInput) -> Result<BatchGetPreparedStatementOutput, ApiError> {
    check_batch(input.prepared_statement_names.len(), "preparedStatementNames")?;
    let wg = workgroup(athena, Some(&input.work_group))?;
    let (mut prepared_statements, mut unprocessed) = (Vec::new(), Vec::new());
    for name in input.prepared_statement_names {
        match athena.engine.registry().prepared_statement(athena.account, &wg.name, &name) {
            Ok(p) => prepared_statements.push(p.into()),
            Err(e) => {
                unprocessed.push(UnprocessedPreparedStatementName { statement_name: name, error_code: "INVALID_INPUT", error_message: e.to_string() })
            }
        }
    }
    Ok(BatchGetPreparedStatementOutput { prepared_statements, unprocessed_prepared_statement_names: unprocessed })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPreparedStatementsInput {
    pub work_group: String,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListPreparedStatementsInput {
    const REQUIRED: &'static [&'static str] = &["WorkGroup"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreparedStatementSummary {
    statement_name: String,
    last_modified_time: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPreparedStatementsOutput {
    prepared_statements: Vec<PreparedStatementSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list_prepared(athena: &Athena<'_>, input: ListPreparedStatementsInput) -> Result<ListPreparedStatementsOutput, ApiError> {
    let wg = workgroup(athena, Some(&input.work_group))?;
    let all = athena.engine.registry().prepared_statements(athena.account, &wg.name).map_err(query_err)?;
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 50, 50, "InvalidRequestException")?.page(&all);
    let prepared_statements =
        page.iter().map(|p| PreparedStatementSummary { statement_name: p.name.clone(), last_modified_time: p.last_modified }).collect();
    Ok(ListPreparedStatementsOutput { prepared_statements, next_token })
}
