//! The Athena API: one typed handler per operation, grouped by resource (query executions,
//! workgroups, saved queries and prepared statements, data catalogs, tags, catalog metadata),
//! and the REST-JSON routes that today's SDKs send them on. Older SDKs (botocore up to 1.44.8, the AWS SDK for Rust) send the same
//! operations in AWS JSON 1.1 (`X-Amz-Target: AmazonAthena.<Op>`); see `protocol`.

mod catalogs;
mod executions;
mod metadata;
mod saved;
mod tags;
mod workgroups;

use catalog::Catalog;
use http::Method;
use query::Engine;

use crate::protocol::rest_json::{Kind, Route};
use crate::protocol::{ApiError, Document, Outcome, ServiceErrors, run};

/// The `X-Amz-Target` prefix of Athena's operations in AWS JSON 1.1.
pub const TARGET_PREFIX: &str = "AmazonAthena";
const ENGINE_VERSION: &str = "Athena engine version 3";

/// The engine version every workgroup and execution reports.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EngineVersion {
    pub selected_engine_version: &'static str,
    pub effective_engine_version: &'static str,
}

pub const ENGINE: EngineVersion = EngineVersion { selected_engine_version: "AUTO", effective_engine_version: ENGINE_VERSION };

const DATA_CATALOG: &str = "AwsDataCatalog";

/// What Athena's handlers work on.
pub struct Athena<'a> {
    pub engine: &'a Engine,
    /// The caller's account: its queries, its catalog.
    pub account: &'a str,
    /// The caller's S3 permissions, which their queries read and write with.
    pub acting_for: std::sync::Arc<dyn storage::Permissions>,
    /// The caller's Glue catalog (Athena's `AwsDataCatalog`).
    pub catalog: Catalog,
    /// The caller's default result location, `s3://…/`: the `primary` workgroup's unless
    /// it was given one.
    pub output_location: &'a str,
    /// The lake, to know who owns a bucket.
    pub store: &'a storage::Store,
    pub users: &'a crate::users::Users,
}

impl Athena<'_> {
    /// The account that owns a bucket, if it exists.
    pub fn bucket_account(&self, bucket: &str) -> Option<String> {
        let owner = self.store.head_bucket(bucket).ok()?.owner;
        Some(self.users.get(&owner).unwrap_or(self.users.primary()).account_id.clone())
    }
}

fn now() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

/// Athena's words for the errors every protocol needs.
pub struct Errors;

impl ServiceErrors for Errors {
    /// The member named in the wire's lowerCamelCase, as Athena's validation words it.
    fn missing_member(&self, member: &str) -> ApiError {
        let mut member = member.to_string();
        if let Some(first) = member.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        invalid(format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"))
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidRequestException", message).with("AthenaErrorCode", "INVALID_INPUT")
}

fn query_err(e: query::Error) -> ApiError {
    match e.kind() {
        _ if matches!(e, query::Error::Malformed(_)) => {
            ApiError::new("InvalidRequestException", e.to_string()).with("AthenaErrorCode", "MALFORMED_QUERY")
        }
        _ if matches!(e, query::Error::PreparedNotFound(_)) => {
            ApiError::new("ResourceNotFoundException", e.to_string()).with("ResourceName", e.to_string())
        }
        query::ErrorKind::Internal => ApiError::internal(e.to_string()),
        query::ErrorKind::ResourceExhausted => ApiError::new("TooManyRequestsException", e.to_string()),
        _ => invalid(e.to_string()),
    }
}

fn metadata_err(e: catalog::Error) -> ApiError {
    match e.kind() {
        catalog::ErrorKind::Internal => ApiError::internal(e.to_string()),
        _ => ApiError::new("MetadataException", e.to_string()),
    }
}

const PAGE: &[(&str, &str, Kind)] = &[("NextToken", "NextToken", Kind::String), ("MaxResults", "MaxResults", Kind::Integer)];
const WORKGROUP: &[(&str, &str, Kind)] = &[("WorkGroup", "WorkGroup", Kind::String)];
const PAGE_IN_WORKGROUP: &[(&str, &str, Kind)] =
    &[("NextToken", "NextToken", Kind::String), ("MaxResults", "MaxResults", Kind::Integer), ("WorkGroup", "WorkGroup", Kind::String)];
const METADATA_PAGE: &[(&str, &str, Kind)] = &[
    ("NextToken", "NextToken", Kind::String),
    ("MaxResults", "MaxResults", Kind::Integer),
    ("WorkGroup", "WorkGroup", Kind::String),
    ("AttributesToGet", "AttributesToGet", Kind::StringList),
];

/// Athena's REST-JSON bindings (botocore's `athena` model since 1.44.1x), one per operation.
pub static ROUTES: &[Route] = &[
    // ---- query executions ----
    Route::new(Method::POST, "/query-executions", "StartQueryExecution"),
    Route::new(Method::GET, "/query-executions", "ListQueryExecutions").query(PAGE_IN_WORKGROUP),
    Route::new(Method::GET, "/query-executions/{QueryExecutionId}", "GetQueryExecution"),
    Route::new(Method::GET, "/query-executions/{QueryExecutionId}/results", "GetQueryResults").query(&[
        ("NextToken", "NextToken", Kind::String),
        ("MaxResults", "MaxResults", Kind::Integer),
        ("QueryResultType", "QueryResultType", Kind::String),
    ]),
    Route::new(Method::POST, "/query-executions/{QueryExecutionId}/stop", "StopQueryExecution"),
    Route::new(Method::POST, "/batch-get-query-executions", "BatchGetQueryExecution"),
    Route::new(Method::GET, "/query-executions/{QueryExecutionId}/runtime-statistics", "GetQueryRuntimeStatistics"),
    // ---- workgroups ----
    Route::new(Method::POST, "/workgroups", "CreateWorkGroup"),
    Route::new(Method::GET, "/workgroups", "ListWorkGroups").query(PAGE),
    Route::new(Method::GET, "/workgroups/{WorkGroup}", "GetWorkGroup"),
    Route::new(Method::PATCH, "/workgroups/{WorkGroup}", "UpdateWorkGroup"),
    Route::new(Method::DELETE, "/workgroups/{WorkGroup}", "DeleteWorkGroup").query(&[(
        "RecursiveDeleteOption",
        "RecursiveDeleteOption",
        Kind::Boolean,
    )]),
    Route::new(Method::GET, "/engine-versions", "ListEngineVersions").query(PAGE),
    // ---- named queries ----
    Route::new(Method::POST, "/named-queries", "CreateNamedQuery"),
    Route::new(Method::GET, "/named-queries", "ListNamedQueries").query(PAGE_IN_WORKGROUP),
    Route::new(Method::GET, "/named-queries/{NamedQueryId}", "GetNamedQuery"),
    Route::new(Method::PATCH, "/named-queries/{NamedQueryId}", "UpdateNamedQuery"),
    Route::new(Method::DELETE, "/named-queries/{NamedQueryId}", "DeleteNamedQuery"),
    Route::new(Method::POST, "/batch-get-named-queries", "BatchGetNamedQuery"),
    // ---- prepared statements ----
    Route::new(Method::POST, "/workgroups/{WorkGroup}/prepared-statements", "CreatePreparedStatement"),
    Route::new(Method::GET, "/workgroups/{WorkGroup}/prepared-statements", "ListPreparedStatements").query(PAGE),
    Route::new(Method::GET, "/workgroups/{WorkGroup}/prepared-statements/{StatementName}", "GetPreparedStatement"),
    Route::new(Method::PATCH, "/workgroups/{WorkGroup}/prepared-statements/{StatementName}", "UpdatePreparedStatement"),
    Route::new(Method::DELETE, "/workgroups/{WorkGroup}/prepared-statements/{StatementName}", "DeletePreparedStatement"),
    Route::new(Method::POST, "/workgroups/{WorkGroup}/batch-get-prepared-statements", "BatchGetPreparedStatement"),
    // ---- data catalogs ----
    Route::new(Method::POST, "/data-catalogs", "CreateDataCatalog"),
    Route::new(Method::GET, "/data-catalogs", "ListDataCatalogs").query(PAGE_IN_WORKGROUP),
    Route::new(Method::GET, "/data-catalogs/{Name}", "GetDataCatalog").query(WORKGROUP),
    Route::new(Method::PATCH, "/data-catalogs/{Name}", "UpdateDataCatalog"),
    Route::new(Method::DELETE, "/data-catalogs/{Name}", "DeleteDataCatalog").query(&[("DeleteCatalogOnly", "DeleteCatalogOnly", Kind::Boolean)]),
    // ---- tags ----
    Route::new(Method::POST, "/tags/{ResourceARN}", "TagResource"),
    Route::new(Method::DELETE, "/tags/{ResourceARN}", "UntagResource").query(&[("TagKeys", "TagKeys", Kind::StringList)]),
    Route::new(Method::GET, "/tags/{ResourceARN}", "ListTagsForResource").query(PAGE),
    // ---- catalog metadata ----
    Route::new(Method::GET, "/data-catalogs/{CatalogName}/databases", "ListDatabases").query(METADATA_PAGE),
    Route::new(Method::GET, "/data-catalogs/{CatalogName}/databases/{DatabaseName}", "GetDatabase").query(WORKGROUP),
    Route::new(Method::GET, "/data-catalogs/{CatalogName}/databases/{DatabaseName}/tables", "ListTableMetadata").query(&[
        ("Expression", "Expression", Kind::String),
        ("NextToken", "NextToken", Kind::String),
        ("MaxResults", "MaxResults", Kind::Integer),
        ("WorkGroup", "WorkGroup", Kind::String),
        ("AttributesToGet", "AttributesToGet", Kind::StringList),
    ]),
    Route::new(Method::GET, "/data-catalogs/{CatalogName}/databases/{DatabaseName}/tables/{TableName}", "GetTableMetadata").query(WORKGROUP),
];

/// Runs one Athena operation.
pub async fn call(athena: &Athena<'_>, operation: &str, input: Document) -> Outcome {
    let e = &Errors;
    match operation {
        // ---- query executions ----
        "StartQueryExecution" => run(input, e, |i| executions::start(athena, i)).await,
        "GetQueryExecution" => run(input, e, |i| executions::get(athena, i)).await,
        "BatchGetQueryExecution" => run(input, e, |i| executions::batch_get(athena, i)).await,
        "GetQueryResults" => run(input, e, |i| executions::results(athena, i)).await,
        "StopQueryExecution" => run(input, e, |i| executions::stop(athena, i)).await,
        "ListQueryExecutions" => run(input, e, |i| executions::list(athena, i)).await,
        "GetQueryRuntimeStatistics" => run(input, e, |i| executions::runtime_statistics(athena, i)).await,
        // ---- workgroups ----
        "CreateWorkGroup" => run(input, e, |i| workgroups::create(athena, i)).await,
        "GetWorkGroup" => run(input, e, |i| workgroups::get(athena, i)).await,
        "ListWorkGroups" => run(input, e, |i| workgroups::list(athena, i)).await,
        "UpdateWorkGroup" => run(input, e, |i| workgroups::update(athena, i)).await,
        "DeleteWorkGroup" => run(input, e, |i| workgroups::delete(athena, i)).await,
        "ListEngineVersions" => run(input, e, |i| workgroups::engine_versions(athena, i)).await,
        // ---- named queries ----
        "CreateNamedQuery" => run(input, e, |i| saved::create_named(athena, i)).await,
        "GetNamedQuery" => run(input, e, |i| saved::get_named(athena, i)).await,
        "BatchGetNamedQuery" => run(input, e, |i| saved::batch_get_named(athena, i)).await,
        "ListNamedQueries" => run(input, e, |i| saved::list_named(athena, i)).await,
        "UpdateNamedQuery" => run(input, e, |i| saved::update_named(athena, i)).await,
        "DeleteNamedQuery" => run(input, e, |i| saved::delete_named(athena, i)).await,
        // ---- prepared statements ----
        "CreatePreparedStatement" => run(input, e, |i| saved::create_prepared(athena, i)).await,
        "GetPreparedStatement" => run(input, e, |i| saved::get_prepared(athena, i)).await,
        "BatchGetPreparedStatement" => run(input, e, |i| saved::batch_get_prepared(athena, i)).await,
        "ListPreparedStatements" => run(input, e, |i| saved::list_prepared(athena, i)).await,
        "UpdatePreparedStatement" => run(input, e, |i| saved::update_prepared(athena, i)).await,
        "DeletePreparedStatement" => run(input, e, |i| saved::delete_prepared(athena, i)).await,
        // ---- data catalogs ----
        "CreateDataCatalog" => run(input, e, |i| catalogs::create(athena, i)).await,
        "ListDataCatalogs" => run(input, e, |i| catalogs::list(athena, i)).await,
        "GetDataCatalog" => run(input, e, |i| catalogs::get(athena, i)).await,
        "UpdateDataCatalog" => run(input, e, |i| catalogs::update(athena, i)).await,
        "DeleteDataCatalog" => run(input, e, |i| catalogs::delete(athena, i)).await,
        // ---- tags ----
        "TagResource" => run(input, e, |i| tags::tag(athena, i)).await,
        "UntagResource" => run(input, e, |i| tags::untag(athena, i)).await,
        "ListTagsForResource" => run(input, e, |i| tags::list(athena, i)).await,
        // ---- catalog metadata ----
        "ListDatabases" => run(input, e, |i| metadata::list_databases(athena, i)).await,
        "GetDatabase" => run(input, e, |i| metadata::get_database(athena, i)).await,
        "ListTableMetadata" => run(input, e, |i| metadata::list_tables(athena, i)).await,
        "GetTableMetadata" => run(input, e, |i| metadata::get_table(athena, i)).await,
        other => Err(ApiError::new("UnknownOperationException", format!("{TARGET_PREFIX}.{other} is not supported by Minerva yet"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::rest_json::route;

    /// Every route names an operation `call` answers, and no two routes can take one request.
    #[test]
    fn routes_are_unambiguous() {
        for (i, r) in ROUTES.iter().enumerate() {
            let sample: String = r.path.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/");
            let (found, _) = route(ROUTES, &r.method, &sample).unwrap_or_else(|| panic!("{} {} takes no request", r.method, r.path));
            assert_eq!(found.operation, r.operation, "{sample}");
            assert!(ROUTES[..i].iter().all(|other| other.operation != r.operation), "{} is routed twice", r.operation);
        }
    }
}
