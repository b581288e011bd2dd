//! Athena data catalogs: CreateDataCatalog, GetDataCatalog, ListDataCatalogs,
//! UpdateDataCatalog, DeleteDataCatalog. Every account has `AwsDataCatalog`, its Glue catalog;
//! others may be registered. Minerva runs queries and metadata calls on `GLUE` catalogs of the
//! caller's own account (`catalog-id`, the default); others are kept and described.

use std::collections::BTreeMap;

use query::DataCatalog;
use serde::{Deserialize, Serialize};

use super::tags::{Tag, check_tags, tag_map};
use super::{Athena, invalid, query_err};
use crate::protocol::{ApiError, Input, Paging};

/// The data catalog a request names (or `AwsDataCatalog`), if queries and metadata calls can use
/// it: a `GLUE` catalog of the caller's account. Errors are `MetadataException`s, as the
/// metadata calls report them.
pub fn check_catalog(athena: &Athena<'_>, name: Option<&str>) -> Result<(), ApiError> {
    let Some(name) = name else { return Ok(()) };
    let catalog = athena
        .engine
        .registry()
        .data_catalog(athena.account, name)
        .map_err(|_| ApiError::new("MetadataException", format!("Catalog {name} is not found")))?;
    if catalog.r#type != "GLUE" {
        return Err(ApiError::new("MetadataException", format!("Catalog {name} is of type {}: Minerva reads GLUE catalogs only", catalog.r#type)));
    }
    if catalog.glue_account(athena.account) != athena.account {
        return Err(ApiError::new(
            "MetadataException",
            format!(
                "Catalog {name} is account {}'s Glue catalog: Minerva reads the caller's own Glue catalog only",
                catalog.glue_account(athena.account)
            ),
        ));
    }
    Ok(())
}

const TYPES: &[&str] = &["LAMBDA", "GLUE", "HIVE", "FEDERATED"];

fn check_type(r#type: &str) -> Result<(), ApiError> {
    if TYPES.contains(&r#type) {
        return Ok(());
    }
    Err(invalid(format!(
        "1 validation error detected: Value '{type}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        TYPES.join(", ")
    )))
}

/// Athena's rule for catalog names: at most 127 letters, digits, `_`, `@` and `-`.
fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("The catalog name {name:?} may have at most 127 letters, digits, underscores, at signs and hyphens")))
    }
}

/// A `GLUE` catalog names the Glue catalog it is by `catalog-id`, an account id.
fn check_parameters(r#type: &str, parameters: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if r#type == "GLUE" {
        match parameters.get("catalog-id") {
            Some(id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => {}
            Some(id) => return Err(invalid(format!("catalog-id {id} is not an AWS account id"))),
            None => return Err(invalid("A GLUE data catalog needs the parameter catalog-id")),
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDataCatalogInput {
    pub name: String,
    pub r#type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
}

impl Input for CreateDataCatalogInput {
    const REQUIRED: &'static [&'static str] = &["Name", "Type"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataCatalogOutput {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    r#type: String,
    parameters: BTreeMap<String, String>,
    status: &'static str,
}

impl DataCatalogOutput {
    fn of(c: DataCatalog, status: &'static str) -> Self {
        DataCatalogOutput { name: c.name, description: c.description, r#type: c.r#type, parameters: c.parameters, status }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataCatalogReply {
    data_catalog: DataCatalogOutput,
}

pub async fn create(athena: &Athena<'_>, input: CreateDataCatalogInput) -> Result<DataCatalogReply, ApiError> {
    check_name(&input.name)?;
    check_type(&input.r#type)?;
    let parameters = input.parameters.unwrap_or_default();
    check_parameters(&input.r#type, &parameters)?;
    let tags = input.tags.unwrap_or_default();
    check_tags(&tags)?;
    let catalog = DataCatalog { v: 0, name: input.name, r#type: input.r#type, description: input.description, parameters, tags: tag_map(tags) };
    athena.engine.registry().create_data_catalog(athena.account, catalog.clone()).await.map_err(query_err)?;
    Ok(DataCatalogReply { data_catalog: DataCatalogOutput::of(catalog, "CREATE_COMPLETE") })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDataCatalogInput {
    pub name: String,
}

impl Input for GetDataCatalogInput {
    const REQUIRED: &'static [&'static str] = &["Name"];
}

pub async fn get(athena: &Athena<'_>, input: GetDataCatalogInput) -> Result<DataCatalogReply, ApiError> {
    let catalog = athena.engine.registry().data_catalog(athena.account, &input.name).map_err(query_err)?;
    Ok(DataCatalogReply { data_catalog: DataCatalogOutput::of(catalog, "CREATE_COMPLETE") })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDataCatalogsInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListDataCatalogsInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataCatalogSummary {
    catalog_name: String,
    r#type: String,
    status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDataCatalogsOutput {
    data_catalogs_summary: Vec<DataCatalogSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(athena: &Athena<'_>, input: ListDataCatalogsInput) -> Result<ListDataCatalogsOutput, ApiError> {
    let all = athena.engine.registry().data_catalogs(athena.account).map_err(query_err)?;
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 50, 50, "InvalidRequestException")?.page(&all);
    let data_catalogs_summary =
        page.iter().map(|c| DataCatalogSummary { catalog_name: c.name.clone(), r#type: c.r#type.clone(), status: "CREATE_COMPLETE" }).collect();
    Ok(ListDataCatalogsOutput { data_catalogs_summary, next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDataCatalogInput {
    pub name: String,
    pub r#type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<BTreeMap<String, String>>,
}

impl Input for UpdateDataCatalogInput {
    const REQUIRED: &'static [&'static str] = &["Name", "Type"];
}

pub async fn update(athena: &Athena<'_>, input: UpdateDataCatalogInput) -> Result<crate::protocol::Empty, ApiError> {
    check_type(&input.r#type)?;
    if input.name.eq_ignore_ascii_case(query::AWS_DATA_CATALOG) {
        return Err(invalid(format!("The {} catalog cannot be changed", query::AWS_DATA_CATALOG)));
    }
    let parameters = input.parameters.unwrap_or_default();
    check_parameters(&input.r#type, &parameters)?;
    athena
        .engine
        .registry()
        .update_data_catalog(athena.account, &input.name, |c| {
            c.r#type = input.r#type;
            c.description = input.description;
            c.parameters = parameters;
            Ok(())
        })
        .await
        .map_err(query_err)?;
    Ok(crate::protocol::Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteDataCatalogInput {
    pub name: String,
    #[serde(default)]
    pub delete_catalog_only: Option<bool>,
}

impl Input for DeleteDataCatalogInput {
    const REQUIRED: &'static [&'static str] = &["Name"];
}

pub async fn delete(athena: &Athena<'_>, input: DeleteDataCatalogInput) -> Result<DataCatalogReply, ApiError> {
    // The Glue catalog a GLUE data catalog names stays either way: only the registration goes.
    let _ = input.delete_catalog_only;
    let catalog = athena.engine.registry().delete_data_catalog(athena.account, &input.name).await.map_err(query_err)?;
    Ok(DataCatalogReply { data_catalog: DataCatalogOutput::of(catalog, "DELETE_COMPLETE") })
}
