//! The Glue Data Catalog API: one typed handler per operation, grouped by resource (databases,
//! tables with their partition indexes and column statistics, partitions, user-defined
//! functions, crawlers and their custom classifiers, tags). Glue is spoken in AWS JSON 1.1 (`X-Amz-Target: AWSGlue.<Op>`);
//! the protocol lives in `protocol`, not here.

mod classifiers;
mod crawlers;
mod databases;
mod functions;
mod partitions;
mod policy;
mod statistics;
mod tables;
mod tags;

use std::sync::Arc;

use catalog::{Catalog, Catalogs, ErrorKind};
use http::StatusCode;
use serde::Serialize;
use storage::{BucketStore, Store};

use crate::protocol::{ApiError, Document, Outcome, Paging, ServiceErrors, run};
use crate::users::{User, Users};

/// The `X-Amz-Target` prefix of Glue's operations.
pub const TARGET_PREFIX: &str = "AWSGlue";

/// What Glue's handlers work on: the catalog a request addresses, and the lake its crawlers read
/// with the caller's S3 permissions.
pub struct Glue<'a> {
    pub catalog: Catalog,
    pub store: &'a Store,
    pub acting_for: Arc<dyn storage::Permissions>,
}

/// Who calls, and what a request may address.
pub struct Caller<'a> {
    pub catalogs: &'a Catalogs,
    pub store: &'a Store,
    pub users: &'a Users,
    pub user: &'a User,
    pub region: &'a str,
    pub acting_for: Arc<dyn storage::Permissions>,
}

/// Glue's words for the errors every protocol needs.
pub struct Errors;

impl ServiceErrors for Errors {
    fn missing_member(&self, member: &str) -> ApiError {
        invalid(format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"))
    }
}

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidInputException", message)
}

/// The Glue error type of a catalog error.
fn error_type(e: &catalog::Error) -> &'static str {
    match e {
        catalog::Error::CrawlerState { state: catalog::CrawlerState::Running, .. } => "CrawlerRunningException",
        catalog::Error::CrawlerState { state: catalog::CrawlerState::NotRunning, .. } => "CrawlerNotRunningException",
        catalog::Error::CrawlerState { state: catalog::CrawlerState::Stopping, .. } => "CrawlerStoppingException",
        catalog::Error::ConditionFailed(_) => "ConditionCheckFailureException",
        _ => match e.kind() {
            ErrorKind::NotFound => "EntityNotFoundException",
            ErrorKind::AlreadyExists => "AlreadyExistsException",
            ErrorKind::InvalidInput => "InvalidInputException",
            ErrorKind::Conflict => "ConcurrentModificationException",
            ErrorKind::Unsupported => "InvalidInputException",
            ErrorKind::ResourceExhausted => "ResourceNumberLimitExceededException",
            ErrorKind::PermissionDenied => "AccessDeniedException",
            ErrorKind::Internal => "InternalServiceException",
        },
    }
}

/// A catalog error as Glue answers it.
pub fn glue_err(e: catalog::Error) -> ApiError {
    let err = ApiError::new(error_type(&e), e.to_string());
    if e.kind() == ErrorKind::Internal { err.with_status(StatusCode::INTERNAL_SERVER_ERROR) } else { err }
}

/// One item's failure in a batch answer (Glue's `ErrorDetail`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorDetail {
    error_code: &'static str,
    error_message: String,
}

impl From<&catalog::Error> for ErrorDetail {
    fn from(e: &catalog::Error) -> Self {
        ErrorDetail { error_code: error_type(e), error_message: e.to_string() }
    }
}

/// Entities as Glue returns them: with the id of the catalog that holds them.
trait InCatalog {
    fn in_catalog(self, catalog: &Catalog) -> Self;
}

macro_rules! in_catalog {
    ($($t:ty),*) => {$(
        impl InCatalog for $t {
            fn in_catalog(mut self, catalog: &Catalog) -> Self {
                self.catalog_id = Some(catalog.account().to_string());
                self
            }
        }
    )*};
}
in_catalog!(catalog::Database, catalog::Table, catalog::Partition);

/// A page of a list read whole, each item in its catalog.
fn page_of<T: InCatalog + Clone>(
    catalog: &Catalog,
    all: &[T],
    next_token: Option<&str>,
    max_results: Option<i64>,
    default_max: usize,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let paging = Paging::new(next_token, max_results, default_max, limit, "InvalidInputException")?;
    let (page, next) = paging.page(all);
    Ok((page.iter().cloned().map(|item| item.in_catalog(catalog)).collect(), next))
}

/// The operations on the catalog's resource policy, which name their catalog by `ResourceArn`
/// and which only its own account may call.
const POLICY_OPERATIONS: [&str; 3] = ["PutResourcePolicy", "GetResourcePolicy", "DeleteResourcePolicy"];

/// The catalog a request addresses: its `CatalogId` (every Glue operation takes one; the policy
/// operations a `ResourceArn`), the caller's own account by default. Another account's catalog is
/// reached only where its resource policy grants the caller the operation on what it names.
fn addressed(caller: &Caller<'_>, operation: &str, input: &Document) -> Result<Catalog, ApiError> {
    let named = if POLICY_OPERATIONS.contains(&operation) { "ResourceArn" } else { "CatalogId" };
    let account = match input.get(named) {
        None | Some(serde_json::Value::Null) => caller.user.account_id.as_str(),
        Some(serde_json::Value::String(id)) if named == "ResourceArn" => {
            policy::catalog_account(id).ok_or_else(|| invalid(format!("{id} is not the ARN of a Glue catalog")))?
        }
        Some(serde_json::Value::String(id)) => id.as_str(),
        Some(other) => return Err(ApiError::serialization(format!("{named} must be a string, not {other}"))),
    };
    if account == caller.user.account_id {
        return caller.catalogs.account(account).map_err(glue_err);
    }
    if !catalog::is_account_id(account) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{account}' at 'catalogId' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]{{12}}"
        )));
    }
    // Only a catalog of an account Minerva has can grant anything.
    if !POLICY_OPERATIONS.contains(&operation) && caller.users.all().any(|u| u.account_id == account) {
        let catalog = caller.catalogs.account(account).map_err(glue_err)?;
        if let Some(stored) = catalog.resource_policy().map_err(glue_err)? {
            let resources = policy::resources(caller.region, account, operation, input);
            match policy::CatalogPolicy::parse(&stored.policy) {
                Ok(p) if p.allows(caller.user, &format!("glue:{operation}"), &resources) => return Ok(catalog),
                Ok(_) => {}
                Err(e) => tracing::warn!(account, error = %e, "a catalog's stored resource policy does not parse; it grants nothing"),
            }
        }
    }
    Err(ApiError::new(
        "AccessDeniedException",
        format!(
            "User: {} is not authorized to perform: glue:{operation} on resource: arn:aws:glue:{}:{account}:catalog",
            caller.user.arn(),
            caller.region
        ),
    ))
}

/// Crawls read the lake's buckets through `object_store`, with the permissions of the account
/// they crawl for (none: `minerva crawl`, which works on the data directory itself); a bucket
/// that does not exist fails the run with a message that says so.
pub fn lake_resolver(store: &Store, acting_for: Option<Arc<dyn storage::Permissions>>) -> catalog::Resolver {
    let store = store.clone();
    Arc::new(move |bucket: &str| {
        store.head_bucket(bucket).map_err(|_| format!("The S3 bucket {bucket} of the crawler's target does not exist"))?;
        let lake = match &acting_for {
            Some(p) => BucketStore::acting_for(store.clone(), bucket, p.clone()),
            None => BucketStore::new(store.clone(), bucket),
        };
        Ok(Arc::new(lake) as Arc<dyn object_store::ObjectStore>)
    })
}

/// Runs one Glue operation on the catalog it addresses.
pub async fn call(caller: &Caller<'_>, operation: &str, input: Document) -> Outcome {
    let glue = &Glue { catalog: addressed(caller, operation, &input)?, store: caller.store, acting_for: caller.acting_for.clone() };
    let e = &Errors;
    match operation {
        // ---- databases ----
        "CreateDatabase" => run(input, e, |i| databases::create(glue, i)).await,
        "GetDatabase" => run(input, e, |i| databases::get(glue, i)).await,
        "GetDatabases" => run(input, e, |i| databases::list(glue, i)).await,
        "UpdateDatabase" => run(input, e, |i| databases::update(glue, i)).await,
        "DeleteDatabase" => run(input, e, |i| databases::delete(glue, i)).await,
        // ---- tables ----
        "CreateTable" => run(input, e, |i| tables::create(glue, i)).await,
        "GetTable" => run(input, e, |i| tables::get(glue, i)).await,
        "GetTables" => run(input, e, |i| tables::list(glue, i)).await,
        "UpdateTable" => run(input, e, |i| tables::update(glue, i)).await,
        "DeleteTable" => run(input, e, |i| tables::delete(glue, i)).await,
        "BatchDeleteTable" => run(input, e, |i| tables::batch_delete(glue, i)).await,
        "GetTableVersions" => run(input, e, |i| tables::versions(glue, i)).await,
        "GetTableVersion" => run(input, e, |i| tables::version(glue, i)).await,
        "DeleteTableVersion" => run(input, e, |i| tables::delete_version(glue, i)).await,
        "BatchDeleteTableVersion" => run(input, e, |i| tables::batch_delete_versions(glue, i)).await,
        "SearchTables" => run(input, e, |i| tables::search(glue, i)).await,
        "CreatePartitionIndex" => run(input, e, |i| tables::create_index(glue, i)).await,
        "GetPartitionIndexes" => run(input, e, |i| tables::indexes(glue, i)).await,
        "DeletePartitionIndex" => run(input, e, |i| tables::delete_index(glue, i)).await,
        // ---- column statistics ----
        "UpdateColumnStatisticsForTable" => run(input, e, |i| statistics::update(glue, i, false)).await,
        "UpdateColumnStatisticsForPartition" => run(input, e, |i| statistics::update(glue, i, true)).await,
        "GetColumnStatisticsForTable" => run(input, e, |i| statistics::get(glue, i, false)).await,
        "GetColumnStatisticsForPartition" => run(input, e, |i| statistics::get(glue, i, true)).await,
        "DeleteColumnStatisticsForTable" => run(input, e, |i| statistics::delete(glue, i, false)).await,
        "DeleteColumnStatisticsForPartition" => run(input, e, |i| statistics::delete(glue, i, true)).await,
        // ---- user-defined functions ----
        "CreateUserDefinedFunction" => run(input, e, |i| functions::create(glue, i)).await,
        "GetUserDefinedFunction" => run(input, e, |i| functions::get(glue, i)).await,
        "GetUserDefinedFunctions" => run(input, e, |i| functions::list(glue, i)).await,
        "UpdateUserDefinedFunction" => run(input, e, |i| functions::update(glue, i)).await,
        "DeleteUserDefinedFunction" => run(input, e, |i| functions::delete(glue, i)).await,
        // ---- partitions ----
        "GetPartitions" => run(input, e, |i| partitions::list(glue, i)).await,
        "GetPartition" => run(input, e, |i| partitions::get(glue, i)).await,
        "BatchGetPartition" => run(input, e, |i| partitions::batch_get(glue, i)).await,
        "CreatePartition" => run(input, e, |i| partitions::create(glue, i)).await,
        "BatchCreatePartition" => run(input, e, |i| partitions::batch_create(glue, i)).await,
        "UpdatePartition" => run(input, e, |i| partitions::update(glue, i)).await,
        "BatchUpdatePartition" => run(input, e, |i| partitions::batch_update(glue, i)).await,
        "DeletePartition" => run(input, e, |i| partitions::delete(glue, i)).await,
        "BatchDeletePartition" => run(input, e, |i| partitions::batch_delete(glue, i)).await,
        // ---- crawlers ----
        "CreateCrawler" => run(input, e, |i| crawlers::create(glue, i)).await,
        "GetCrawler" => run(input, e, |i| crawlers::get(glue, i)).await,
        "GetCrawlers" => run(input, e, |i| crawlers::list(glue, i)).await,
        "BatchGetCrawlers" => run(input, e, |i| crawlers::batch_get(glue, i)).await,
        "ListCrawlers" => run(input, e, |i| crawlers::list_names(glue, i)).await,
        "UpdateCrawler" => run(input, e, |i| crawlers::update(glue, i)).await,
        "DeleteCrawler" => run(input, e, |i| crawlers::delete(glue, i)).await,
        "StartCrawler" => run(input, e, |i| crawlers::start(glue, i)).await,
        "StopCrawler" => run(input, e, |i| crawlers::stop(glue, i)).await,
        "GetCrawlerMetrics" => run(input, e, |i| crawlers::metrics(glue, i)).await,
        // ---- tags ----
        "TagResource" => run(input, e, |i| tags::tag(glue, i)).await,
        "UntagResource" => run(input, e, |i| tags::untag(glue, i)).await,
        "GetTags" => run(input, e, |i| tags::get(glue, i)).await,
        // ---- custom classifiers ----
        "CreateClassifier" => run(input, e, |i| classifiers::create(glue, i)).await,
        "GetClassifier" => run(input, e, |i| classifiers::get(glue, i)).await,
        "GetClassifiers" => run(input, e, |i| classifiers::list(glue, i)).await,
        "UpdateClassifier" => run(input, e, |i| classifiers::update(glue, i)).await,
        "DeleteClassifier" => run(input, e, |i| classifiers::delete(glue, i)).await,
        // ---- the catalog's resource policy ----
        "PutResourcePolicy" => run(input, e, |i| policy::put(glue, i)).await,
        "GetResourcePolicy" => run(input, e, |i| policy::get(glue, i)).await,
        "DeleteResourcePolicy" => run(input, e, |i| policy::delete(glue, i)).await,
        other => Err(unknown_operation(other)),
    }
}

pub fn unknown_operation(op: &str) -> ApiError {
    ApiError::new("UnknownOperationException", format!("{TARGET_PREFIX}.{op} is not supported by Minerva yet"))
}
