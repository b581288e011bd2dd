//! Glue's tags: TagResource, UntagResource and GetTags on databases, tables and crawlers, named
//! by their ARNs as AWS forms them (`arn:aws:glue:<region>:<account>:database/<db>`,
//! `…:table/<db>/<table>`, `…:crawler/<name>`); CreateDatabase and CreateCrawler take `Tags`
//! too. An ARN of another account names nothing the caller has.

use std::collections::BTreeMap;

use catalog::{Tagged, Tags};
use serde::{Deserialize, Serialize};

use super::{Glue, glue_err, invalid};
use crate::protocol::{ApiError, Empty, Input};

/// What a Glue ARN names in the addressed catalog.
fn tagged(glue: &Glue<'_>, arn: &str) -> Result<Tagged, ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, _partition, service, _region, account, resource] = parts[..] else {
        return Err(invalid(format!("{arn} is not a valid ARN")));
    };
    if prefix != "arn" || service != "glue" {
        return Err(invalid(format!("{arn} is not a Glue ARN")));
    }
    if account != glue.catalog.account() {
        return Err(ApiError::new("EntityNotFoundException", format!("Resource {arn} does not exist in this account")));
    }
    let mut path = resource.splitn(3, '/');
    match (path.next(), path.next(), path.next()) {
        (Some("database"), Some(db), None) if !db.is_empty() => Ok(Tagged::Database(db.to_string())),
        (Some("table"), Some(db), Some(table)) if !db.is_empty() && !table.is_empty() => {
            Ok(Tagged::Table { database: db.to_string(), table: table.to_string() })
        }
        (Some("crawler"), Some(name), None) if !name.is_empty() => Ok(Tagged::Crawler(name.to_string())),
        _ => Err(invalid(format!("{arn} names no database, table or crawler: Minerva tags those"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    pub resource_arn: String,
    pub tags_to_add: BTreeMap<String, String>,
}

impl Input for TagResourceInput {
    const REQUIRED: &'static [&'static str] = &["ResourceArn", "TagsToAdd"];
}

pub async fn tag(glue: &Glue<'_>, input: TagResourceInput) -> Result<Empty, ApiError> {
    catalog::check_tags(&input.tags_to_add).map_err(glue_err)?;
    let what = tagged(glue, &input.resource_arn)?;
    glue.catalog.tag(&what, input.tags_to_add).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    pub resource_arn: String,
    pub tags_to_remove: Vec<String>,
}

impl Input for UntagResourceInput {
    const REQUIRED: &'static [&'static str] = &["ResourceArn", "TagsToRemove"];
}

pub async fn untag(glue: &Glue<'_>, input: UntagResourceInput) -> Result<Empty, ApiError> {
    let what = tagged(glue, &input.resource_arn)?;
    glue.catalog.untag(&what, &input.tags_to_remove).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTagsInput {
    pub resource_arn: String,
}

impl Input for GetTagsInput {
    const REQUIRED: &'static [&'static str] = &["ResourceArn"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTagsOutput {
    tags: Tags,
}

pub async fn get(glue: &Glue<'_>, input: GetTagsInput) -> Result<GetTagsOutput, ApiError> {
    let what = tagged(glue, &input.resource_arn)?;
    Ok(GetTagsOutput { tags: glue.catalog.tags(&what).map_err(glue_err)? })
}
