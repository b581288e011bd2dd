//! Athena query executions: StartQueryExecution, GetQueryExecution, BatchGetQueryExecution,
//! GetQueryResults, StopQueryExecution, ListQueryExecutions.

use query::{QueryExecution, QueryState, StartQuery};
use serde::{Deserialize, Serialize};

use super::workgroups::check_workgroup;
use super::{Athena, DATA_CATALOG, ENGINE, EngineVersion, ResultConfiguration, catalogs::check_catalog, invalid, query_err};
use crate::protocol::{ApiError, Empty, Input, Paging};

/// The longest `QueryString` Athena takes, in characters (a quota AWS does not raise).
const MAX_QUERY_LENGTH: usize = 262_144;
/// The most rows a page of GetQueryResults holds.
const MAX_RESULTS_PAGE: i64 = 1000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct QueryExecutionContext {
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub catalog: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ResultConfigurationInput {
    #[serde(default)]
    pub output_location: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartQueryExecutionInput {
    pub query_string: String,
    #[serde(default)]
    pub client_request_token: Option<String>,
    #[serde(default)]
    pub query_execution_context: Option<QueryExecutionContext>,
    #[serde(default)]
    pub result_configuration: Option<ResultConfigurationInput>,
    #[serde(default)]
    pub work_group: Option<String>,
    /// Values for the query's `?` placeholders, as SQL literals.
    #[serde(default)]
    pub execution_parameters: Option<Vec<String>>,
}

impl Input for StartQueryExecutionInput {
    const REQUIRED: &'static [&'static str] = &["QueryString"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartQueryExecutionOutput {
    query_execution_id: String,
}

pub async fn start(athena: &Athena<'_>, input: StartQueryExecutionInput) -> Result<StartQueryExecutionOutput, ApiError> {
    let sql = input.query_string;
    // The API's own constraint on the member, checked before anything is parsed.
    let length = sql.chars().count();
    if !(1..=MAX_QUERY_LENGTH).contains(&length) {
        let bound = if length == 0 { "greater than or equal to 1".to_string() } else { format!("less than or equal to {MAX_QUERY_LENGTH}") };
        return Err(invalid(format!(
            "1 validation error detected: Value '{sql}' at 'queryString' failed to satisfy constraint: Member must have length {bound}"
        )));
    }
    let workgroup = check_workgroup(input.work_group.as_deref())?;
    let context = input.query_execution_context.unwrap_or_default();
    // A database may arrive quoted as the console quotes it.
    let database = context.database.map(|d| d.trim_matches('`').trim_matches('"').to_string());
    check_catalog(context.catalog.as_deref())?;
    let output_dir = input.result_configuration.and_then(|r| r.output_location).unwrap_or_else(|| athena.output_location.to_string());
    if !output_dir.starts_with("s3://") {
        return Err(invalid(format!("OutputLocation {output_dir} is not an s3:// location")));
    }
    let query_execution_id = athena
        .engine
        .start(StartQuery {
            account: athena.account.to_string(),
            sql,
            database,
            catalog: context.catalog,
            workgroup: workgroup.to_string(),
            output_dir,
            client_request_token: input.client_request_token,
            execution_parameters: input.execution_parameters.unwrap_or_default(),
            acting_for: Some(athena.acting_for.clone()),
        })
        .await
        .map_err(query_err)?;
    Ok(StartQueryExecutionOutput { query_execution_id })
}

/// A query execution as Athena describes it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryExecutionOutput {
    query_execution_id: String,
    query: String,
    statement_type: &'static str,
    result_configuration: ResultConfiguration,
    result_reuse_configuration: ResultReuseConfiguration,
    query_execution_context: ExecutionContext,
    status: Status,
    statistics: Statistics,
    work_group: String,
    engine_version: EngineVersion,
    substatement_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    execution_parameters: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultReuseConfiguration {
    result_reuse_by_age_configuration: Enabled,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Enabled {
    enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    catalog: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    state: &'static str,
    submission_date_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_date_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_change_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    athena_error: Option<AthenaError>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AthenaError {
    /// 1 system, 2 user, 3 other.
    error_category: u8,
    error_type: u16,
    retryable: bool,
    error_message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statistics {
    engine_execution_time_in_millis: u64,
    data_scanned_in_bytes: u64,
    total_execution_time_in_millis: u64,
    query_queue_time_in_millis: u64,
    service_pre_processing_time_in_millis: u64,
    query_planning_time_in_millis: u64,
    service_processing_time_in_millis: u64,
    result_reuse_information: ReuseInformation,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_manifest_location: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReuseInformation {
    reused_previous_result: bool,
}

impl From<QueryExecution> for QueryExecutionOutput {
    fn from(q: QueryExecution) -> Self {
        let athena_error = match (&q.state_change_reason, q.state) {
            (Some(reason), QueryState::Failed) => {
                // Records written before the engine kept the type have only the category.
                let category = q.error_category.unwrap_or(2);
                Some(AthenaError {
                    error_category: category,
                    error_type: q.error_type.unwrap_or(if category == 1 { 200 } else { 1000 }),
                    retryable: q.retryable,
                    error_message: reason.clone(),
                })
            }
            _ => None,
        };
        // Records written before the engine kept a total have only the wall-clock times.
        let total_ms = match q.total_ms {
            0 => q.completed.map(|c| ((c - q.submitted) * 1000.0).max(0.0) as u64).unwrap_or(0),
            t => t,
        };
        QueryExecutionOutput {
            statement_type: q.statement_type.as_str(),
            result_configuration: ResultConfiguration { output_location: q.output_location },
            result_reuse_configuration: ResultReuseConfiguration { result_reuse_by_age_configuration: Enabled { enabled: false } },
            query_execution_context: ExecutionContext { database: q.database, catalog: q.catalog.unwrap_or_else(|| DATA_CATALOG.to_lowercase()) },
            status: Status {
                state: q.state.as_str(),
                submission_date_time: q.submitted,
                completion_date_time: q.completed,
                state_change_reason: q.state_change_reason,
                athena_error,
            },
            statistics: Statistics {
                engine_execution_time_in_millis: q.engine_ms,
                data_scanned_in_bytes: q.data_scanned,
                total_execution_time_in_millis: total_ms,
                query_queue_time_in_millis: q.queue_ms,
                service_pre_processing_time_in_millis: q.preprocessing_ms,
                query_planning_time_in_millis: q.planning_ms,
                service_processing_time_in_millis: q.service_ms,
                result_reuse_information: ReuseInformation { reused_previous_result: false },
                data_manifest_location: q.manifest_location,
            },
            work_group: q.workgroup,
            engine_version: ENGINE,
            substatement_type: q.substatement_type.unwrap_or_else(|| "SELECT".into()),
            execution_parameters: q.execution_parameters,
            query_execution_id: q.id,
            query: q.query,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryExecutionIdInput {
    pub query_execution_id: String,
}

impl Input for QueryExecutionIdInput {
    const REQUIRED: &'static [&'static str] = &["QueryExecutionId"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueryExecutionOutput {
    query_execution: QueryExecutionOutput,
}

pub async fn get(athena: &Athena<'_>, input: QueryExecutionIdInput) -> Result<GetQueryExecutionOutput, ApiError> {
    let q = athena.engine.get(&input.query_execution_id, athena.account).map_err(query_err)?;
    Ok(GetQueryExecutionOutput { query_execution: q.into() })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetQueryExecutionInput {
    pub query_execution_ids: Vec<String>,
}

impl Input for BatchGetQueryExecutionInput {
    const REQUIRED: &'static [&'static str] = &["QueryExecutionIds"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnprocessedQueryExecutionId {
    query_execution_id: String,
    error_code: &'static str,
    error_message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetQueryExecutionOutput {
    query_executions: Vec<QueryExecutionOutput>,
    unprocessed_query_execution_ids: Vec<UnprocessedQueryExecutionId>,
}

pub async fn batch_get(athena: &Athena<'_>, input: BatchGetQueryExecutionInput) -> Result<BatchGetQueryExecutionOutput, ApiError> {
    let (mut query_executions, mut unprocessed_query_execution_ids) = (Vec::new(), Vec::new());
    for id in input.query_execution_ids {
        match athena.engine.get(&id, athena.account) {
            Ok(q) => query_executions.push(q.into()),
            Err(e) => unprocessed_query_execution_ids.push(UnprocessedQueryExecutionId {
                query_execution_id: id,
                error_code: "INVALID_INPUT",
                error_message: e.to_string(),
            }),
        }
    }
    Ok(BatchGetQueryExecutionOutput { query_executions, unprocessed_query_execution_ids })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueryResultsInput {
    pub query_execution_id: String,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for GetQueryResultsInput {
    const REQUIRED: &'static [&'static str] = &["QueryExecutionId"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueryResultsOutput {
    update_count: u64,
    result_set: ResultSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultSet {
    rows: Vec<Row>,
    result_set_metadata: ResultSetMetadata,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Row {
    data: Vec<Datum>,
}

/// A value: a NULL is a datum without `VarCharValue`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Datum {
    #[serde(skip_serializing_if = "Option::is_none")]
    var_char_value: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultSetMetadata {
    column_info: Vec<ColumnInfo>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ColumnInfo {
    catalog_name: &'static str,
    schema_name: &'static str,
    table_name: &'static str,
    name: String,
    label: String,
    r#type: String,
    precision: u32,
    scale: u32,
    nullable: &'static str,
    case_sensitive: bool,
}

pub async fn results(athena: &Athena<'_>, input: GetQueryResultsInput) -> Result<GetQueryResultsOutput, ApiError> {
    let max = input.max_results.unwrap_or(MAX_RESULTS_PAGE);
    if !(1..=MAX_RESULTS_PAGE).contains(&max) {
        return Err(invalid(format!("MaxResults must be between 1 and {MAX_RESULTS_PAGE}")));
    }
    let page =
        athena.engine.results(&input.query_execution_id, athena.account, input.next_token.as_deref(), max as usize).await.map_err(query_err)?;
    let rows = page.rows.into_iter().map(|r| Row { data: r.into_iter().map(|v| Datum { var_char_value: v }).collect() }).collect();
    let column_info = page
        .columns
        .into_iter()
        .map(|c| ColumnInfo {
            catalog_name: "hive",
            schema_name: "",
            table_name: "",
            label: c.name.clone(),
            name: c.name,
            case_sensitive: c.r#type == "varchar",
            r#type: c.r#type,
            precision: c.precision,
            scale: c.scale,
            nullable: "UNKNOWN",
        })
        .collect();
    Ok(GetQueryResultsOutput {
        update_count: page.update_count,
        result_set: ResultSet { rows, result_set_metadata: ResultSetMetadata { column_info } },
        next_token: page.next_token,
    })
}

pub async fn stop(athena: &Athena<'_>, input: QueryExecutionIdInput) -> Result<Empty, ApiError> {
    athena.engine.stop(&input.query_execution_id, athena.account).await.map_err(query_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueryExecutionsInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
    #[serde(default)]
    pub work_group: Option<String>,
}

impl Input for ListQueryExecutionsInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueryExecutionsOutput {
    query_execution_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(athena: &Athena<'_>, input: ListQueryExecutionsInput) -> Result<ListQueryExecutionsOutput, ApiError> {
    let workgroup = check_workgroup(input.work_group.as_deref())?;
    let ids = athena.engine.list(workgroup, athena.account).map_err(query_err)?;
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 50, 50, "InvalidRequestException")?.page(&ids);
    Ok(ListQueryExecutionsOutput { query_execution_ids: page.to_vec(), next_token })
}
