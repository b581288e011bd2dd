//! Athena data catalogs: ListDataCatalogs, GetDataCatalog. Minerva has the one every account
//! starts with, `AwsDataCatalog` (the Glue catalog), matched case-insensitively.

use serde::{Deserialize, Serialize};

use super::{Athena, DATA_CATALOG, invalid};
use crate::protocol::{ApiError, Input};

/// Whether a request names the data catalog (or none), as metadata calls check it.
pub fn check_catalog(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        None => Ok(()),
        Some(n) if n.eq_ignore_ascii_case(DATA_CATALOG) => Ok(()),
        Some(n) => Err(ApiError::new("MetadataException", format!("Catalog {n} is not found"))),
    }
}

/// Its paging members (and `WorkGroup`) are accepted and ignored: there is one catalog.
#[derive(Deserialize)]
pub struct ListDataCatalogsInput {}

impl Input for ListDataCatalogsInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataCatalogSummary {
    catalog_name: &'static str,
    r#type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDataCatalogsOutput {
    data_catalogs_summary: Vec<DataCatalogSummary>,
}

pub async fn list(_athena: &Athena<'_>, _input: ListDataCatalogsInput) -> Result<ListDataCatalogsOutput, ApiError> {
    Ok(ListDataCatalogsOutput { data_catalogs_summary: vec![DataCatalogSummary { catalog_name: DATA_CATALOG, r#type: "GLUE" }] })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDataCatalogInput {
    pub name: String,
}

impl Input for GetDataCatalogInput {
    const REQUIRED: &'static [&'static str] = &["Name"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataCatalog {
    name: &'static str,
    description: &'static str,
    r#type: &'static str,
    parameters: Parameters,
}

#[derive(Serialize)]
pub struct Parameters {
    #[serde(rename = "catalog-id")]
    catalog_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDataCatalogOutput {
    data_catalog: DataCatalog,
}

pub async fn get(athena: &Athena<'_>, input: GetDataCatalogInput) -> Result<GetDataCatalogOutput, ApiError> {
    check_catalog(Some(&input.name)).map_err(|_| invalid(format!("Catalog {} is not found", input.name)))?;
    Ok(GetDataCatalogOutput {
        data_catalog: DataCatalog {
            name: DATA_CATALOG,
            description: "The Glue data catalog",
            r#type: "GLUE",
            parameters: Parameters { catalog_id: athena.account.to_string() },
        },
    })
}
