//! The Glue Data Catalog API (AWS JSON 1.1, `X-Amz-Target: AWSGlue.<Op>`).

use std::sync::Arc;

use catalog::{
    Catalog, Crawler, CrawlerMetrics, Database, ErrorKind, ItemError, Partition, PartitionQuery, Resolver, SearchFilter, SearchQuery, Segment, Table,
};
use http::StatusCode;
use serde_json::{Value, json};
use storage::{BucketStore, Store};

use crate::aws_json::{JsonError, JsonResult, next_token, optional, page, reply, required};
use crate::users::PRIMARY_ACCOUNT as ACCOUNT_ID;

/// The Glue error type of a catalog error.
fn error_type(e: &catalog::Error) -> &'static str {
    match e {
        catalog::Error::CrawlerState { code, .. } => code,
        _ => match e.kind() {
            ErrorKind::NotFound => "EntityNotFoundException",
            ErrorKind::AlreadyExists => "AlreadyExistsException",
            ErrorKind::InvalidInput => "InvalidInputException",
            ErrorKind::Conflict => "ConcurrentModificationException",
            ErrorKind::Internal => "InternalServiceException",
        },
    }
}

/// Maps a catalog error to its Glue error.
pub fn glue_err(e: catalog::Error) -> JsonError {
    let err = JsonError::new(error_type(&e), e.to_string());
    if e.kind() == ErrorKind::Internal { err.with_status(StatusCode::INTERNAL_SERVER_ERROR) } else { err }
}

fn parse<T: for<'de> serde::Deserialize<'de>>(body: &Value, member: &str) -> Result<T, JsonError> {
    let v = body.get(member).cloned().ok_or_else(|| {
        JsonError::new(
            "InvalidInputException",
            format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"),
        )
    })?;
    serde_json::from_value(v).map_err(|e| JsonError::new("InvalidInputException", format!("{member}: {e}")))
}

fn parse_optional<T: for<'de> serde::Deserialize<'de>>(body: &Value, member: &str) -> Result<Option<T>, JsonError> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => parse(body, member).map(Some),
    }
}

fn with_catalog_id(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("CatalogId".into(), Value::String(ACCOUNT_ID.into()));
    }
    v
}

fn to_json<T: serde::Serialize>(item: &T) -> Value {
    with_catalog_id(serde_json::to_value(item).unwrap_or(Value::Null))
}

fn item_error(e: &catalog::Error) -> Value {
    json!({ "ErrorCode": error_type(e), "ErrorMessage": e.to_string() })
}

fn partition_errors(errors: Vec<ItemError<Vec<String>>>) -> Value {
    Value::Array(errors.iter().map(|e| json!({ "PartitionValues": e.item, "ErrorDetail": item_error(&e.error) })).collect())
}

/// A list of `{"Values": [...]}` members (PartitionsToDelete, PartitionsToGet).
fn value_lists(body: &Value, member: &str) -> Result<Vec<Vec<String>>, JsonError> {
    let items: Vec<Value> = parse(body, member)?;
    items
        .iter()
        .map(|i| serde_json::from_value(i.get("Values").cloned().unwrap_or(Value::Null)))
        .collect::<Result<_, _>>()
        .map_err(|e| JsonError::new("InvalidInputException", format!("{member}: {e}")))
}

/// A page of a list, with Glue's `NextToken`.
fn paged<T: serde::Serialize>(body: &Value, all: &[T], member: &str, default_max: usize, limit: usize) -> JsonResult {
    let (start, max) = page(body, default_max, limit)?;
    let list: Vec<Value> = all.iter().skip(start).take(max).map(to_json).collect();
    Ok(reply(json!({ member: list, "NextToken": next_token(start, max, all.len()) })))
}

fn partition_json(p: &Partition, exclude_columns: bool) -> Value {
    let mut v = to_json(p);
    if exclude_columns && let Some(sd) = v.get_mut("StorageDescriptor").and_then(Value::as_object_mut) {
        sd.remove("Columns");
    }
    v
}

/// A crawler's definition from CreateCrawler/UpdateCrawler input: `Schedule` arrives as a cron
/// string and is kept as Glue returns it; `Tags` are not part of the crawler.
fn crawler_input(body: &Value) -> Result<Crawler, JsonError> {
    let mut input = body.clone();
    if let Some(m) = input.as_object_mut() {
        m.remove("Tags");
        if let Some(Value::String(expr)) = m.get("Schedule").cloned() {
            m.insert("Schedule".into(), json!({ "ScheduleExpression": expr, "State": "SCHEDULED" }));
        }
        for read_only in ["State", "LastCrawl", "CrawlElapsedTime", "CreationTime", "LastUpdated", "Version"] {
            m.remove(read_only);
        }
    }
    serde_json::from_value(input).map_err(|e| JsonError::new("InvalidInputException", format!("invalid crawler: {e}")))
}

fn metrics_json(m: &CrawlerMetrics) -> Value {
    json!({
        "CrawlerName": m.name,
        "TimeLeftSeconds": m.time_left_seconds,
        "StillEstimating": m.still_estimating,
        "LastRuntimeSeconds": m.last_runtime_seconds,
        "MedianRuntimeSeconds": m.median_runtime_seconds,
        "TablesCreated": m.tables_created,
        "TablesUpdated": m.tables_updated,
        "TablesDeleted": m.tables_deleted,
    })
}

/// Crawls read the lake's buckets through `object_store`; a bucket that does not exist fails
/// the run with a message that says so.
pub fn lake_resolver(store: &Store) -> Resolver {
    let store = store.clone();
    Arc::new(move |bucket: &str| {
        store.head_bucket(bucket).map_err(|_| format!("The S3 bucket {bucket} of the crawler's target does not exist"))?;
        Ok(Arc::new(BucketStore::new(store.clone(), bucket)) as Arc<dyn object_store::ObjectStore>)
    })
}

pub async fn handle(catalog: &Catalog, store: &Store, op: &str, body: &Value) -> JsonResult {
    let r = |res: Result<Value, catalog::Error>| -> JsonResult { res.map(reply).map_err(glue_err) };
    match op {
        // ---- crawlers ----
        "CreateCrawler" => {
            required(body, "Name")?;
            required(body, "Role")?;
            r(catalog.create_crawler(crawler_input(body)?).await.map(|_| json!({})))
        }
        "GetCrawler" => r(catalog.get_crawler(required(body, "Name")?).map(|c| json!({ "Crawler": c }))),
        "GetCrawlers" => {
            let all = catalog.list_crawlers().map_err(glue_err)?;
            let (start, max) = page(body, 100, 1000)?;
            let list: Vec<&Crawler> = all.iter().skip(start).take(max).collect();
            Ok(reply(json!({ "Crawlers": list, "NextToken": next_token(start, max, all.len()) })))
        }
        "BatchGetCrawlers" => {
            let names: Vec<String> = parse(body, "CrawlerNames")?;
            let (mut found, mut missing) = (Vec::new(), Vec::new());
            for n in names {
                match catalog.get_crawler(&n) {
                    Ok(c) => found.push(c),
                    Err(catalog::Error::NotFound(_)) => missing.push(n),
                    Err(e) => return Err(glue_err(e)),
                }
            }
            Ok(reply(json!({ "Crawlers": found, "CrawlersNotFound": missing })))
        }
        "ListCrawlers" => {
            let all: Vec<String> = catalog.list_crawlers().map_err(glue_err)?.into_iter().map(|c| c.name).collect();
            let (start, max) = page(body, 100, 1000)?;
            let list: Vec<&String> = all.iter().skip(start).take(max).collect();
            Ok(reply(json!({ "CrawlerNames": list, "NextToken": next_token(start, max, all.len()) })))
        }
        "UpdateCrawler" => {
            let name = required(body, "Name")?.to_string();
            let patch = crawler_input(body)?;
            let given = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
            r(catalog
                .update_crawler(&name, |c| {
                    if given("Role") {
                        c.role = patch.role;
                    }
                    if given("DatabaseName") {
                        c.database_name = patch.database_name;
                    }
                    if given("Description") {
                        c.description = patch.description;
                    }
                    if given("Targets") {
                        c.targets = patch.targets;
                    }
                    if given("Schedule") {
                        c.schedule = patch.schedule;
                    }
                    if given("Classifiers") {
                        c.classifiers = patch.classifiers;
                    }
                    if given("TablePrefix") {
                        c.table_prefix = patch.table_prefix;
                    }
                    if given("SchemaChangePolicy") {
                        c.schema_change_policy = patch.schema_change_policy;
                    }
                    if given("RecrawlPolicy") {
                        c.recrawl_policy = patch.recrawl_policy;
                    }
                    if given("LineageConfiguration") {
                        c.lineage_configuration = patch.lineage_configuration;
                    }
                    if given("Configuration") {
                        c.configuration = patch.configuration;
                    }
                    if given("CrawlerSecurityConfiguration") {
                        c.crawler_security_configuration = patch.crawler_security_configuration;
                    }
                    if given("LakeFormationConfiguration") {
                        c.lake_formation_configuration = patch.lake_formation_configuration;
                    }
                })
                .await
                .map(|_| json!({})))
        }
        "DeleteCrawler" => r(catalog.delete_crawler(required(body, "Name")?).await.map(|_| json!({}))),
        "StartCrawler" => r(catalog.start_crawler(required(body, "Name")?, lake_resolver(store)).await.map(|_| json!({}))),
        "StopCrawler" => r(catalog.stop_crawler(required(body, "Name")?).await.map(|_| json!({}))),
        "GetCrawlerMetrics" => {
            let names: Option<Vec<String>> = parse_optional(body, "CrawlerNameList")?;
            let names = match names {
                Some(n) => n,
                None => catalog.list_crawlers().map_err(glue_err)?.into_iter().map(|c| c.name).collect(),
            };
            let mut list = Vec::new();
            for n in names {
                match catalog.crawler_metrics(&n) {
                    Ok(m) => list.push(metrics_json(&m)),
                    Err(catalog::Error::NotFound(_)) => {}
                    Err(e) => return Err(glue_err(e)),
                }
            }
            let (start, max) = page(body, 100, 1000)?;
            let shown: Vec<&Value> = list.iter().skip(start).take(max).collect();
            Ok(reply(json!({ "CrawlerMetricsList": shown, "NextToken": next_token(start, max, list.len()) })))
        }
        // ---- databases ----
        "CreateDatabase" => {
            let db: Database = parse(body, "DatabaseInput")?;
            r(catalog.create_database(db).await.map(|_| json!({})))
        }
        "GetDatabase" => {
            let name = required(body, "Name")?;
            r(catalog.get_database(name).map(|d| json!({ "Database": to_json(&d) })))
        }
        "GetDatabases" => paged(body, &catalog.list_databases().map_err(glue_err)?, "DatabaseList", 100, 100),
        "UpdateDatabase" => {
            let name = required(body, "Name")?;
            let db: Database = parse(body, "DatabaseInput")?;
            r(catalog.update_database(name, db).await.map(|_| json!({})))
        }
        "DeleteDatabase" => {
            let name = required(body, "Name")?;
            r(catalog.delete_database(name).await.map(|_| json!({})))
        }
        // ---- tables ----
        "CreateTable" => {
            let db = required(body, "DatabaseName")?;
            let table: Table = parse(body, "TableInput")?;
            r(catalog.create_table(db, table).await.map(|_| json!({})))
        }
        "GetTable" => {
            let db = required(body, "DatabaseName")?;
            let name = required(body, "Name")?;
            r(catalog.get_table(db, name).map(|t| json!({ "Table": to_json(&t) })))
        }
        "GetTables" => {
            let db = required(body, "DatabaseName")?;
            paged(body, &catalog.list_tables(db, optional(body, "Expression")).map_err(glue_err)?, "TableList", 100, 100)
        }
        "UpdateTable" => {
            let db = required(body, "DatabaseName")?;
            let table: Table = parse(body, "TableInput")?;
            let skip_archive = body.get("SkipArchive").and_then(Value::as_bool).unwrap_or(false);
            r(catalog.update_table(db, table, skip_archive, optional(body, "VersionId")).await.map(|_| json!({})))
        }
        "DeleteTable" => {
            let db = required(body, "DatabaseName")?;
            let name = required(body, "Name")?;
            r(catalog.delete_table(db, name).await.map(|_| json!({})))
        }
        "BatchDeleteTable" => {
            let db = required(body, "DatabaseName")?;
            let names: Vec<String> = parse(body, "TablesToDelete")?;
            let errors = catalog.batch_delete_tables(db, &names).await.map_err(glue_err)?;
            let errors: Vec<Value> = errors.iter().map(|e| json!({ "TableName": e.item, "ErrorDetail": item_error(&e.error) })).collect();
            Ok(reply(json!({ "Errors": errors })))
        }
        "GetTableVersions" => {
            let versions = catalog.table_versions(required(body, "DatabaseName")?, required(body, "TableName")?).map_err(glue_err)?;
            let list: Vec<Value> = versions.iter().map(|v| json!({ "Table": to_json(&v.table), "VersionId": v.version_id })).collect();
            let (start, max) = page(body, 100, 100)?;
            let shown: Vec<&Value> = list.iter().skip(start).take(max).collect();
            Ok(reply(json!({ "TableVersions": shown, "NextToken": next_token(start, max, list.len()) })))
        }
        "GetTableVersion" => {
            let v = catalog
                .table_version(required(body, "DatabaseName")?, required(body, "TableName")?, optional(body, "VersionId"))
                .map_err(glue_err)?;
            Ok(reply(json!({ "TableVersion": { "Table": to_json(&v.table), "VersionId": v.version_id } })))
        }
        "DeleteTableVersion" | "BatchDeleteTableVersion" => {
            let (db, table) = (required(body, "DatabaseName")?, required(body, "TableName")?);
            let ids: Vec<String> =
                if op == "DeleteTableVersion" { vec![required(body, "VersionId")?.to_string()] } else { parse(body, "VersionIds")? };
            let errors = catalog.delete_table_versions(db, table, &ids).await.map_err(glue_err)?;
            if op == "DeleteTableVersion" {
                return match errors.into_iter().next() {
                    Some(e) => Err(glue_err(e.error)),
                    None => Ok(reply(json!({}))),
                };
            }
            let errors: Vec<Value> =
                errors.iter().map(|e| json!({ "TableName": table, "VersionId": e.item, "ErrorDetail": item_error(&e.error) })).collect();
            Ok(reply(json!({ "Errors": errors })))
        }
        "SearchTables" => {
            let filters: Vec<Value> = parse_optional(body, "Filters")?.unwrap_or_default();
            let filters = filters
                .iter()
                .map(|f| SearchFilter {
                    key: f.get("Key").and_then(Value::as_str).unwrap_or_default().to_string(),
                    value: f.get("Value").and_then(Value::as_str).unwrap_or_default().to_string(),
                    comparator: f.get("Comparator").and_then(Value::as_str).unwrap_or("EQUALS").to_string(),
                })
                .collect();
            let sort: Vec<Value> = parse_optional(body, "SortCriteria")?.unwrap_or_default();
            let sort = sort.first().map(|s| {
                let field = s.get("FieldName").and_then(Value::as_str).unwrap_or("Name").to_string();
                (field, s.get("Sort").and_then(Value::as_str) != Some("DESC"))
            });
            let query = SearchQuery { text: optional(body, "SearchText").map(str::to_string), filters, sort };
            paged(body, &catalog.search_tables(&query).map_err(glue_err)?, "TableList", 100, 1000)
        }
        // ---- partitions ----
        "GetPartitions" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let segment = match body.get("Segment") {
                Some(s) if !s.is_null() => Some(Segment {
                    number: s.get("SegmentNumber").and_then(Value::as_u64).unwrap_or(0) as usize,
                    total: s.get("TotalSegments").and_then(Value::as_u64).unwrap_or(1) as usize,
                }),
                _ => None,
            };
            let query = PartitionQuery {
                expression: optional(body, "Expression").map(str::to_string),
                segment,
                token: optional(body, "NextToken").map(str::to_string),
                max: body.get("MaxResults").and_then(Value::as_u64).map(|m| m as usize).unwrap_or(1000),
            };
            let exclude = body.get("ExcludeColumnSchema").and_then(Value::as_bool).unwrap_or(false);
            let page = catalog.list_partitions(db, table, &query).map_err(glue_err)?;
            let list: Vec<Value> = page.partitions.iter().map(|p| partition_json(p, exclude)).collect();
            Ok(reply(json!({ "Partitions": list, "NextToken": page.next_token })))
        }
        "GetPartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let values: Vec<String> = parse(body, "PartitionValues")?;
            r(catalog.get_partition(db, table, &values).map(|p| json!({ "Partition": to_json(&p) })))
        }
        "BatchGetPartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let wanted = value_lists(body, "PartitionsToGet")?;
            if wanted.len() > 1000 {
                return Err(JsonError::new("InvalidInputException", "PartitionsToGet may list at most 1000 partitions"));
            }
            let found = catalog.batch_get_partitions(db, table, &wanted).map_err(glue_err)?;
            let list: Vec<Value> = found.iter().map(to_json).collect();
            Ok(reply(json!({ "Partitions": list, "UnprocessedKeys": [] })))
        }
        "CreatePartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let p: Partition = parse(body, "PartitionInput")?;
            let errors = catalog.batch_create_partitions(db, table, vec![p]).await.map_err(glue_err)?;
            match errors.into_iter().next() {
                Some(e) => Err(glue_err(e.error)),
                None => Ok(reply(json!({}))),
            }
        }
        "BatchCreatePartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let inputs: Vec<Partition> = parse(body, "PartitionInputList")?;
            if inputs.len() > 100 {
                return Err(JsonError::new("InvalidInputException", "PartitionInputList may hold at most 100 partitions"));
            }
            let errors = catalog.batch_create_partitions(db, table, inputs).await.map_err(glue_err)?;
            Ok(reply(json!({ "Errors": partition_errors(errors) })))
        }
        "UpdatePartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let old: Vec<String> = parse(body, "PartitionValueList")?;
            let p: Partition = parse(body, "PartitionInput")?;
            r(catalog.update_partition(db, table, &old, p).await.map(|_| json!({})))
        }
        "BatchUpdatePartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let entries: Vec<Value> = parse(body, "Entries")?;
            let mut list = Vec::with_capacity(entries.len());
            for e in &entries {
                list.push((parse(e, "PartitionValueList")?, parse(e, "PartitionInput")?));
            }
            let errors = catalog.batch_update_partitions(db, table, list).await.map_err(glue_err)?;
            let errors: Vec<Value> = errors.iter().map(|e| json!({ "PartitionValueList": e.item, "ErrorDetail": item_error(&e.error) })).collect();
            Ok(reply(json!({ "Errors": errors })))
        }
        "BatchDeletePartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let values = value_lists(body, "PartitionsToDelete")?;
            let errors = catalog.batch_delete_partitions(db, table, values).await.map_err(glue_err)?;
            Ok(reply(json!({ "Errors": partition_errors(errors) })))
        }
        "DeletePartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let values: Vec<String> = parse(body, "PartitionValues")?;
            let errors = catalog.batch_delete_partitions(db, table, vec![values]).await.map_err(glue_err)?;
            match errors.into_iter().next() {
                Some(e) => Err(glue_err(e.error)),
                None => Ok(reply(json!({}))),
            }
        }
        other => Err(unknown_operation("AWSGlue", other)),
    }
}

pub fn unknown_operation(service: &str, op: &str) -> JsonError {
    JsonError::new("UnknownOperationException", format!("{service}.{op} is not supported by Minerva yet"))
}
