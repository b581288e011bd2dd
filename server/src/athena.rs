//! The Athena API (AWS JSON 1.1, `X-Amz-Target: AmazonAthena.<Op>`).

use catalog::{Catalog, Table};
use http::StatusCode;
use query::{Engine, QueryExecution, QueryState, StartQuery};
use serde_json::{Value, json};

use crate::aws_json::{JsonError, JsonResult, next_token, optional, page, reply};
use crate::glue::unknown_operation;
use crate::users::PRIMARY_ACCOUNT as ACCOUNT_ID;

pub const PRIMARY_WORKGROUP: &str = "primary";
const ENGINE_VERSION: &str = "Athena engine version 3";
const DATA_CATALOG: &str = "AwsDataCatalog";

/// What the Athena handlers need besides the engine and the catalog.
pub struct AthenaContext<'a> {
    pub engine: &'a Engine,
    pub catalog: &'a Catalog,
    /// The workgroup's default result location, `s3://…/`.
    pub output_location: &'a str,
    pub started: f64,
}

/// The longest `QueryString` Athena takes, in characters (a quota AWS does not raise).
const MAX_QUERY_LENGTH: usize = 262_144;

fn invalid(message: impl Into<String>) -> JsonError {
    JsonError::new("InvalidRequestException", message).with("AthenaErrorCode", "INVALID_INPUT")
}

/// A member the operation needs, refused as Athena's API refuses it when absent: the member named
/// as the wire's lowerCamelCase.
fn required<'a>(body: &'a Value, name: &str) -> Result<&'a str, JsonError> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        let mut member = name.to_string();
        if let Some(first) = member.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        invalid(format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"))
    })
}

fn query_err(e: query::Error) -> JsonError {
    match e.kind() {
        query::ErrorKind::Internal => JsonError::new("InternalServerException", e.to_string()).with_status(StatusCode::INTERNAL_SERVER_ERROR),
        query::ErrorKind::ResourceExhausted => JsonError::new("TooManyRequestsException", e.to_string()),
        _ => invalid(e.to_string()),
    }
}

fn metadata_err(e: catalog::Error) -> JsonError {
    match e.kind() {
        catalog::ErrorKind::Internal => JsonError::new("InternalServerException", e.to_string()).with_status(StatusCode::INTERNAL_SERVER_ERROR),
        _ => JsonError::new("MetadataException", e.to_string()),
    }
}

fn check_workgroup(name: Option<&str>) -> Result<&'static str, JsonError> {
    match name {
        None => Ok(PRIMARY_WORKGROUP),
        Some(n) if n == PRIMARY_WORKGROUP => Ok(PRIMARY_WORKGROUP),
        Some(n) => Err(invalid(format!("WorkGroup {n} is not found."))),
    }
}

fn check_catalog(name: Option<&str>) -> Result<(), JsonError> {
    match name {
        None => Ok(()),
        Some(n) if n.eq_ignore_ascii_case(DATA_CATALOG) => Ok(()),
        Some(n) => Err(JsonError::new("MetadataException", format!("Catalog {n} is not found"))),
    }
}

fn execution_json(q: &QueryExecution) -> Value {
    let mut status = json!({ "State": q.state.as_str(), "SubmissionDateTime": q.submitted });
    if let Some(done) = q.completed {
        status["CompletionDateTime"] = json!(done);
    }
    if let Some(reason) = &q.state_change_reason {
        status["StateChangeReason"] = json!(reason);
        if q.state == QueryState::Failed {
            let category = q.error_category.unwrap_or(2);
            status["AthenaError"] =
                json!({ "ErrorCategory": category, "ErrorType": if category == 1 { 401 } else { 1000 }, "Retryable": false, "ErrorMessage": reason });
        }
    }
    // Records written before the engine kept a total have only the wall-clock times.
    let total_ms = match q.total_ms {
        0 => q.completed.map(|c| ((c - q.submitted) * 1000.0).max(0.0) as u64).unwrap_or(0),
        t => t,
    };
    let mut statistics = json!({
        "EngineExecutionTimeInMillis": q.engine_ms,
        "DataScannedInBytes": q.data_scanned,
        "TotalExecutionTimeInMillis": total_ms,
        "QueryQueueTimeInMillis": q.queue_ms,
        "ServicePreProcessingTimeInMillis": q.preprocessing_ms,
        "QueryPlanningTimeInMillis": q.planning_ms,
        "ServiceProcessingTimeInMillis": q.service_ms,
        "ResultReuseInformation": { "ReusedPreviousResult": false },
    });
    if let Some(m) = &q.manifest_location {
        statistics["DataManifestLocation"] = json!(m);
    }
    let mut context = json!({});
    if let Some(db) = &q.database {
        context["Database"] = json!(db);
    }
    context["Catalog"] = json!(q.catalog.clone().unwrap_or_else(|| DATA_CATALOG.to_lowercase()));
    let mut out = json!({
        "QueryExecutionId": q.id,
        "Query": q.query,
        "StatementType": q.statement_type.as_str(),
        "ResultConfiguration": { "OutputLocation": q.output_location },
        "ResultReuseConfiguration": { "ResultReuseByAgeConfiguration": { "Enabled": false } },
        "QueryExecutionContext": context,
        "Status": status,
        "Statistics": statistics,
        "WorkGroup": q.workgroup,
        "EngineVersion": { "SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": ENGINE_VERSION },
        "SubstatementType": q.substatement_type.clone().unwrap_or_else(|| "SELECT".into()),
    });
    if !q.execution_parameters.is_empty() {
        out["ExecutionParameters"] = json!(q.execution_parameters);
    }
    out
}

fn table_metadata(t: &Table) -> Value {
    let column = |c: &catalog::Column| {
        let mut v = json!({ "Name": c.name, "Type": c.r#type.clone().unwrap_or_else(|| "string".into()) });
        if let Some(comment) = &c.comment {
            v["Comment"] = json!(comment);
        }
        v
    };
    let mut parameters: serde_json::Map<String, Value> = t.parameters.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    if let Some(sd) = &t.storage_descriptor {
        for (k, v) in [("location", &sd.location), ("inputformat", &sd.input_format), ("outputformat", &sd.output_format)] {
            if let Some(v) = v {
                parameters.insert(k.into(), json!(v));
            }
        }
        if let Some(lib) = sd.serde_info.as_ref().and_then(|s| s.serialization_library.as_ref()) {
            parameters.insert("serde.serialization.lib".into(), json!(lib));
        }
        for (k, v) in sd.serde_info.iter().flat_map(|s| s.parameters.iter()) {
            parameters.insert(format!("serde.param.{k}"), json!(v));
        }
    }
    json!({
        "Name": t.name,
        "CreateTime": t.create_time,
        "LastAccessTime": t.update_time,
        "TableType": t.table_type.clone().unwrap_or_else(|| "EXTERNAL_TABLE".into()),
        "Columns": t.columns().iter().map(column).collect::<Vec<_>>(),
        "PartitionKeys": t.partition_keys.iter().map(column).collect::<Vec<_>>(),
        "Parameters": parameters,
    })
}

pub async fn handle(ctx: &AthenaContext<'_>, op: &str, body: &Value) -> JsonResult {
    match op {
        "StartQueryExecution" => {
            let sql = required(body, "QueryString")?;
            // The API's own constraint on the member, checked before anything is parsed.
            let length = sql.chars().count();
            if !(1..=MAX_QUERY_LENGTH).contains(&length) {
                let bound = if length == 0 { "greater than or equal to 1".to_string() } else { format!("less than or equal to {MAX_QUERY_LENGTH}") };
                return Err(invalid(format!(
                    "1 validation error detected: Value '{sql}' at 'queryString' failed to satisfy constraint: Member must have length {bound}"
                )));
            }
            let workgroup = check_workgroup(optional(body, "WorkGroup"))?;
            let context = body.get("QueryExecutionContext");
            let database = context.and_then(|c| optional(c, "Database")).map(|d| d.trim_matches('`').trim_matches('"').to_string());
            let catalog = context.and_then(|c| optional(c, "Catalog")).map(str::to_string);
            check_catalog(catalog.as_deref())?;
            let execution_parameters: Vec<String> = match body.get("ExecutionParameters") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => serde_json::from_value(v.clone()).map_err(|e| invalid(format!("ExecutionParameters must be a list of strings: {e}")))?,
            };
            let output_dir = body.get("ResultConfiguration").and_then(|r| optional(r, "OutputLocation")).unwrap_or(ctx.output_location).to_string();
            if !output_dir.starts_with("s3://") {
                return Err(invalid(format!("OutputLocation {output_dir} is not an s3:// location")));
            }
            let id = ctx
                .engine
                .start(StartQuery {
                    sql: sql.to_string(),
                    database,
                    catalog,
                    workgroup: workgroup.to_string(),
                    output_dir,
                    client_request_token: optional(body, "ClientRequestToken").map(str::to_string),
                    execution_parameters,
                })
                .await
                .map_err(query_err)?;
            Ok(reply(json!({ "QueryExecutionId": id })))
        }
        "GetQueryExecution" => {
            let id = required(body, "QueryExecutionId")?;
            let q = ctx.engine.get(id).map_err(query_err)?;
            Ok(reply(json!({ "QueryExecution": execution_json(&q) })))
        }
        "BatchGetQueryExecution" => {
            let ids: Vec<String> = serde_json::from_value(body.get("QueryExecutionIds").cloned().unwrap_or(Value::Null))
                .map_err(|e| invalid(format!("QueryExecutionIds: {e}")))?;
            let (mut found, mut missing) = (Vec::new(), Vec::new());
            for id in ids {
                match ctx.engine.get(&id) {
                    Ok(q) => found.push(execution_json(&q)),
                    Err(e) => missing.push(json!({ "QueryExecutionId": id, "ErrorCode": "INVALID_INPUT", "ErrorMessage": e.to_string() })),
                }
            }
            Ok(reply(json!({ "QueryExecutions": found, "UnprocessedQueryExecutionIds": missing })))
        }
        "GetQueryResults" => {
            let id = required(body, "QueryExecutionId")?;
            let max = body.get("MaxResults").and_then(Value::as_u64).unwrap_or(1000);
            if !(1..=1000).contains(&max) {
                return Err(invalid("MaxResults must be between 1 and 1000"));
            }
            let page = ctx.engine.results(id, optional(body, "NextToken"), max as usize).await.map_err(query_err)?;
            let rows: Vec<Value> = page
                .rows
                .iter()
                .map(|r| {
                    let data: Vec<Value> = r
                        .iter()
                        .map(|v| match v {
                            Some(s) => json!({ "VarCharValue": s }),
                            None => json!({}),
                        })
                        .collect();
                    json!({ "Data": data })
                })
                .collect();
            let columns: Vec<Value> = page
                .columns
                .iter()
                .map(|c| {
                    json!({
                        "CatalogName": "hive", "SchemaName": "", "TableName": "",
                        "Name": c.name, "Label": c.name, "Type": c.r#type,
                        "Precision": c.precision, "Scale": c.scale,
                        "Nullable": "UNKNOWN", "CaseSensitive": c.r#type == "varchar",
                    })
                })
                .collect();
            let mut out = json!({ "UpdateCount": page.update_count, "ResultSet": { "Rows": rows, "ResultSetMetadata": { "ColumnInfo": columns } } });
            if let Some(t) = page.next_token {
                out["NextToken"] = json!(t);
            }
            Ok(reply(out))
        }
        "StopQueryExecution" => {
            let id = required(body, "QueryExecutionId")?;
            ctx.engine.stop(id).await.map_err(query_err)?;
            Ok(reply(json!({})))
        }
        "ListQueryExecutions" => {
            let workgroup = check_workgroup(optional(body, "WorkGroup"))?;
            let ids = ctx.engine.list(workgroup).map_err(query_err)?;
            let (start, max) = page(body, 50, 50)?;
            let list: Vec<&String> = ids.iter().skip(start).take(max).collect();
            Ok(reply(json!({ "QueryExecutionIds": list, "NextToken": next_token(start, max, ids.len()) })))
        }
        "GetWorkGroup" => {
            let name = required(body, "WorkGroup")?;
            check_workgroup(Some(name))?;
            Ok(reply(json!({ "WorkGroup": {
                "Name": PRIMARY_WORKGROUP,
                "State": "ENABLED",
                "Description": "The default workgroup",
                "CreationTime": ctx.started,
                "Configuration": {
                    "ResultConfiguration": { "OutputLocation": ctx.output_location },
                    "EnforceWorkGroupConfiguration": false,
                    "PublishCloudWatchMetricsEnabled": false,
                    "RequesterPaysEnabled": false,
                    "EngineVersion": { "SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": ENGINE_VERSION },
                },
            }})))
        }
        "ListWorkGroups" => Ok(reply(json!({ "WorkGroups": [{
            "Name": PRIMARY_WORKGROUP, "State": "ENABLED", "Description": "The default workgroup", "CreationTime": ctx.started,
            "EngineVersion": { "SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": ENGINE_VERSION },
        }]}))),
        "ListDataCatalogs" => Ok(reply(json!({ "DataCatalogsSummary": [{ "CatalogName": DATA_CATALOG, "Type": "GLUE" }] }))),
        "GetDataCatalog" => {
            let name = required(body, "Name")?;
            check_catalog(Some(name)).map_err(|_| invalid(format!("Catalog {name} is not found")))?;
            Ok(reply(json!({ "DataCatalog": {
                "Name": DATA_CATALOG, "Description": "The Glue data catalog", "Type": "GLUE",
                "Parameters": { "catalog-id": ACCOUNT_ID },
            }})))
        }
        "ListDatabases" => {
            check_catalog(Some(required(body, "CatalogName")?))?;
            let all = ctx.catalog.list_databases().map_err(metadata_err)?;
            let (start, max) = page(body, 50, 50)?;
            let list: Vec<Value> = all
                .iter()
                .skip(start)
                .take(max)
                .map(|d| json!({ "Name": d.name, "Description": d.description, "Parameters": d.parameters }))
                .collect();
            Ok(reply(json!({ "DatabaseList": list, "NextToken": next_token(start, max, all.len()) })))
        }
        "GetDatabase" => {
            check_catalog(Some(required(body, "CatalogName")?))?;
            let d = ctx.catalog.get_database(required(body, "DatabaseName")?).map_err(metadata_err)?;
            Ok(reply(json!({ "Database": { "Name": d.name, "Description": d.description, "Parameters": d.parameters } })))
        }
        "ListTableMetadata" => {
            check_catalog(Some(required(body, "CatalogName")?))?;
            let db = required(body, "DatabaseName")?;
            let all = ctx.catalog.list_tables(db, optional(body, "Expression")).map_err(metadata_err)?;
            let (start, max) = page(body, 50, 50)?;
            let list: Vec<Value> = all.iter().skip(start).take(max).map(table_metadata).collect();
            Ok(reply(json!({ "TableMetadataList": list, "NextToken": next_token(start, max, all.len()) })))
        }
        "GetTableMetadata" => {
            check_catalog(Some(required(body, "CatalogName")?))?;
            let t = ctx.catalog.get_table(required(body, "DatabaseName")?, required(body, "TableName")?).map_err(metadata_err)?;
            Ok(reply(json!({ "TableMetadata": table_metadata(&t) })))
        }
        other => Err(unknown_operation("AmazonAthena", other)),
    }
}
