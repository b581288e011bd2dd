//! Athena query executions: StartQueryExecution, GetQueryExecution, BatchGetQueryExecution,
//! GetQueryResults, GetQueryRuntimeStatistics, StopQueryExecution, ListQueryExecutions.
//!
//! A query runs as its workgroup says: a disabled workgroup runs none; its result configuration
//! fills in what the client leaves out, or overrides what it sends when the workgroup enforces
//! it; its `BytesScannedCutoffPerQuery` stops a query that reads more; an `ExpectedBucketOwner`
//! that does not own the results bucket makes writing the results an access denied.

use std::sync::Arc;

use query::{PRIMARY, QueryExecution, QueryState, StartQuery};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::workgroups::{check_result_configuration, workgroup};
use super::{Athena, DATA_CATALOG, ENGINE, EngineVersion, catalogs::check_catalog, invalid, query_err};
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
pub struct ResultReuseInput {
    #[serde(default)]
    pub result_reuse_by_age_configuration: Option<ReuseByAge>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ReuseByAge {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub max_age_in_minutes: Option<i64>,
}

/// Athena's default and largest `MaxAgeInMinutes`: 60 minutes and 7 days.
const DEFAULT_REUSE_MINUTES: i64 = 60;
const MAX_REUSE_MINUTES: i64 = 10_080;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartQueryExecutionInput {
    pub query_string: String,
    #[serde(default)]
    pub client_request_token: Option<String>,
    #[serde(default)]
    pub query_execution_context: Option<QueryExecutionContext>,
    #[serde(default)]
    pub result_configuration: Option<Map<String, Value>>,
    #[serde(default)]
    pub result_reuse_configuration: Option<ResultReuseInput>,
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
    let wg = workgroup(athena, input.work_group.as_deref())?;
    if !wg.enabled() {
        return Err(invalid(format!("WorkGroup {} is disabled.", wg.name)));
    }
    let context = input.query_execution_context.unwrap_or_default();
    // A database may arrive quoted as the console quotes it.
    let database = context.database.map(|d| d.trim_matches('`').trim_matches('"').to_string());
    check_catalog(athena, context.catalog.as_deref()).map_err(|e| invalid(e.message))?;
    let client = input.result_configuration.unwrap_or_default();
    check_result_configuration(&client)?;
    // The workgroup's settings are the defaults; when it enforces them, the client's are
    // ignored, except for a location where the workgroup has none (a query needs one).
    let mut result_configuration = wg.result_configuration();
    if !wg.enforced() {
        result_configuration.extend(client);
    } else if let Some(location) = client.get("OutputLocation") {
        result_configuration.entry("OutputLocation").or_insert_with(|| location.clone());
    }
    let output_dir = match result_configuration.remove("OutputLocation") {
        Some(Value::String(location)) => location,
        _ if wg.name == PRIMARY => athena.output_location.to_string(),
        _ => {
            return Err(invalid(
                "No output location provided. An output location is required either through the Workgroup result configuration setting or as an API input.",
            ));
        }
    };
    let reuse_max_age_minutes = match input.result_reuse_configuration.and_then(|r| r.result_reuse_by_age_configuration) {
        Some(ReuseByAge { enabled: true, max_age_in_minutes }) => {
            let minutes = max_age_in_minutes.unwrap_or(DEFAULT_REUSE_MINUTES);
            if !(0..=MAX_REUSE_MINUTES).contains(&minutes) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{minutes}' at 'resultReuseConfiguration.resultReuseByAgeConfiguration.maxAgeInMinutes' failed to satisfy constraint: Member must have value less than or equal to {MAX_REUSE_MINUTES}"
                )));
            }
            Some(minutes as u32)
        }
        _ => None,
    };
    let acting_for = match result_configuration.get("ExpectedBucketOwner").and_then(Value::as_str) {
        Some(expected) => expecting_owner(athena, &output_dir, expected),
        None => athena.acting_for.clone(),
    };
    let query_execution_id = athena
        .engine
        .start(StartQuery {
            account: athena.account.to_string(),
            sql,
            database,
            catalog: context.catalog,
            workgroup: wg.name.clone(),
            output_dir,
            client_request_token: input.client_request_token,
            execution_parameters: input.execution_parameters.unwrap_or_default(),
            acting_for: Some(acting_for),
            result_configuration,
            bytes_scanned_cutoff: wg.bytes_scanned_cutoff(),
            reuse_max_age_minutes,
        })
        .await
        .map_err(query_err)?;
    Ok(StartQueryExecutionOutput { query_execution_id })
}

/// The caller's permissions, except that writing the results is denied if their bucket's owner
/// is not the expected one (S3's `ExpectedBucketOwner` on the result writes; what else the query
/// reads or writes is as it was).
fn expecting_owner(athena: &Athena<'_>, output_dir: &str, expected: &str) -> Arc<dyn storage::Permissions> {
    let (bucket, prefix) = output_dir.trim_start_matches("s3://").split_once('/').unwrap_or((output_dir.trim_start_matches("s3://"), ""));
    match athena.bucket_account(bucket) {
        Some(owner) if owner != expected => {
            Arc::new(OwnerMismatch { inner: athena.acting_for.clone(), bucket: bucket.to_string(), prefix: prefix.to_string() })
        }
        _ => athena.acting_for.clone(),
    }
}

/// Denies writes under the results location, whose bucket's owner is not who the caller
/// expected.
#[derive(Debug)]
struct OwnerMismatch {
    inner: Arc<dyn storage::Permissions>,
    bucket: String,
    prefix: String,
}

impl storage::Permissions for OwnerMismatch {
    fn allows(&self, action: storage::Action, bucket: &str, key: Option<&str>) -> bool {
        let results = bucket == self.bucket
            && matches!(action, storage::Action::PutObject | storage::Action::DeleteObject)
            && key.is_some_and(|k| k.starts_with(&self.prefix));
        !results && self.inner.allows(action, bucket, key)
    }
}

/// A query execution as Athena describes it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryExecutionOutput {
    query_execution_id: String,
    query: String,
    statement_type: &'static str,
    result_configuration: Map<String, Value>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age_in_minutes: Option<u32>,
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
        let mut result_configuration = q.result_configuration;
        result_configuration.insert("OutputLocation".into(), Value::String(q.output_location));
        QueryExecutionOutput {
            statement_type: q.statement_type.as_str(),
            result_configuration,
            result_reuse_configuration: ResultReuseConfiguration {
                result_reuse_by_age_configuration: Enabled {
                    enabled: q.reuse_max_age_minutes.is_some(),
                    max_age_in_minutes: q.reuse_max_age_minutes,
                },
            },
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
                result_reuse_information: ReuseInformation { reused_previous_result: q.reused },
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
    let wg = workgroup(athena, input.work_group.as_deref())?;
    let ids = athena.engine.list(&wg.name, athena.account).map_err(query_err)?;
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 50, 50, "InvalidRequestException")?.page(&ids);
    Ok(ListQueryExecutionsOutput { query_execution_ids: page.to_vec(), next_token })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Timeline {
    query_queue_time_in_millis: u64,
    service_pre_processing_time_in_millis: u64,
    query_planning_time_in_millis: u64,
    engine_execution_time_in_millis: u64,
    service_processing_time_in_millis: u64,
    total_execution_time_in_millis: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeRows {
    input_rows: u64,
    input_bytes: u64,
    output_bytes: u64,
    output_rows: u64,
}

/// The stage that wrote the result: Minerva runs a query as one stage.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputStage {
    stage_id: u64,
    state: &'static str,
    output_bytes: u64,
    output_rows: u64,
    input_bytes: u64,
    input_rows: u64,
    execution_time: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryRuntimeStatistics {
    timeline: Timeline,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<RuntimeRows>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_stage: Option<OutputStage>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueryRuntimeStatisticsOutput {
    query_runtime_statistics: QueryRuntimeStatistics,
}

/// The timeline of any execution; the rows and the output stage once it has ended (a reused
/// result read nothing).
pub async fn runtime_statistics(athena: &Athena<'_>, input: QueryExecutionIdInput) -> Result<GetQueryRuntimeStatisticsOutput, ApiError> {
    let q = athena.engine.get(&input.query_execution_id, athena.account).map_err(query_err)?;
    let timeline = Timeline {
        query_queue_time_in_millis: q.queue_ms,
        service_pre_processing_time_in_millis: q.preprocessing_ms,
        query_planning_time_in_millis: q.planning_ms,
        engine_execution_time_in_millis: q.engine_ms,
        service_processing_time_in_millis: q.service_ms,
        total_execution_time_in_millis: q.total_ms,
    };
    let ended = q.state.is_final();
    let output_rows = if q.statement_type == query::StatementType::Dml { q.rows } else { 0 };
    let rows = ended.then_some(RuntimeRows { input_rows: q.input_rows, input_bytes: q.data_scanned, output_bytes: q.output_bytes, output_rows });
    let output_stage = ended.then(|| OutputStage {
        stage_id: 0,
        state: if q.state == QueryState::Succeeded { "FINISHED" } else { "FAILED" },
        output_bytes: q.output_bytes,
        output_rows,
        input_bytes: q.data_scanned,
        input_rows: q.input_rows,
        execution_time: q.engine_ms,
    });
    Ok(GetQueryRuntimeStatisticsOutput { query_runtime_statistics: QueryRuntimeStatistics { timeline, rows, output_stage } })
}
