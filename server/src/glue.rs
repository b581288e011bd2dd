//! The Glue Data Catalog API (AWS JSON 1.1, `X-Amz-Target: AWSGlue.<Op>`).

use catalog::{Catalog, Database, ErrorKind, ItemError, Partition, Table};
use http::StatusCode;
use serde_json::{Value, json};

use crate::aws_json::{JsonError, JsonResult, next_token, optional, page, reply, required};
use crate::users::PRIMARY_ACCOUNT as ACCOUNT_ID;

/// Maps a catalog error to its Glue error type.
pub fn glue_err(e: catalog::Error) -> JsonError {
    let kind = match e.kind() {
        ErrorKind::NotFound => "EntityNotFoundException",
        ErrorKind::AlreadyExists => "AlreadyExistsException",
        ErrorKind::InvalidInput => "InvalidInputException",
        ErrorKind::Internal => "InternalServiceException",
    };
    let err = JsonError::new(kind, e.to_string());
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
    let code = match e.kind() {
        ErrorKind::NotFound => "EntityNotFoundException",
        ErrorKind::AlreadyExists => "AlreadyExistsException",
        ErrorKind::InvalidInput => "InvalidInputException",
        ErrorKind::Internal => "InternalServiceException",
    };
    json!({ "ErrorCode": code, "ErrorMessage": e.to_string() })
}

fn partition_errors(errors: Vec<ItemError<Vec<String>>>) -> Value {
    Value::Array(errors.iter().map(|e| json!({ "PartitionValues": e.item, "ErrorDetail": item_error(&e.error) })).collect())
}

pub async fn handle(catalog: &Catalog, op: &str, body: &Value) -> JsonResult {
    let r = |res: Result<Value, catalog::Error>| -> JsonResult { res.map(reply).map_err(glue_err) };
    match op {
        "CreateDatabase" => {
            let db: Database = parse(body, "DatabaseInput")?;
            r(catalog.create_database(db).await.map(|_| json!({})))
        }
        "GetDatabase" => {
            let name = required(body, "Name")?;
            r(catalog.get_database(name).map(|d| json!({ "Database": to_json(&d) })))
        }
        "GetDatabases" => {
            let all = catalog.list_databases().map_err(glue_err)?;
            let (start, max) = page(body, 100, 100)?;
            let list: Vec<Value> = all.iter().skip(start).take(max).map(to_json).collect();
            Ok(reply(json!({ "DatabaseList": list, "NextToken": next_token(start, max, all.len()) })))
        }
        "UpdateDatabase" => {
            let name = required(body, "Name")?;
            let db: Database = parse(body, "DatabaseInput")?;
            r(catalog.update_database(name, db).await.map(|_| json!({})))
        }
        "DeleteDatabase" => {
            let name = required(body, "Name")?;
            r(catalog.delete_database(name).await.map(|_| json!({})))
        }
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
            let all = catalog.list_tables(db, optional(body, "Expression")).map_err(glue_err)?;
            let (start, max) = page(body, 100, 100)?;
            let list: Vec<Value> = all.iter().skip(start).take(max).map(to_json).collect();
            Ok(reply(json!({ "TableList": list, "NextToken": next_token(start, max, all.len()) })))
        }
        "UpdateTable" => {
            let db = required(body, "DatabaseName")?;
            let table: Table = parse(body, "TableInput")?;
            r(catalog.update_table(db, table).await.map(|_| json!({})))
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
        "GetPartitions" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            if optional(body, "Expression").is_some_and(|e| !e.trim().is_empty()) {
                return Err(JsonError::new("InvalidInputException", "GetPartitions with an Expression is not supported yet"));
            }
            let all = catalog.get_partitions(db, table).map_err(glue_err)?;
            let (start, max) = page(body, 1000, 1000)?;
            let list: Vec<Value> = all.iter().skip(start).take(max).map(to_json).collect();
            Ok(reply(json!({ "Partitions": list, "NextToken": next_token(start, max, all.len()) })))
        }
        "GetPartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let values: Vec<String> = parse(body, "PartitionValues")?;
            r(catalog.get_partition(db, table, &values).map(|p| json!({ "Partition": to_json(&p) })))
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
            let errors = catalog.batch_create_partitions(db, table, inputs).await.map_err(glue_err)?;
            Ok(reply(json!({ "Errors": partition_errors(errors) })))
        }
        "BatchDeletePartition" => {
            let db = required(body, "DatabaseName")?;
            let table = required(body, "TableName")?;
            let items: Vec<Value> = parse(body, "PartitionsToDelete")?;
            let values: Vec<Vec<String>> = items
                .iter()
                .map(|i| serde_json::from_value(i.get("Values").cloned().unwrap_or(Value::Null)))
                .collect::<Result<_, _>>()
                .map_err(|e| JsonError::new("InvalidInputException", format!("PartitionsToDelete: {e}")))?;
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
