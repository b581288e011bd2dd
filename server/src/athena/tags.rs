//! Athena's tags: TagResource, UntagResource, ListTagsForResource on workgroups and data
//! catalogs, named by their ARNs (`arn:aws:athena:<region>:<account>:workgroup/<name>`,
//! `…:datacatalog/<name>`), and the tags given when one is created.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Athena, invalid, query_err};
use crate::protocol::{ApiError, Empty, Input, Paging};

/// The most tags a resource may have.
const MAX_TAGS: usize = 50;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// Checks tags against Athena's constraints: keys of 1 to 128 characters not starting with
/// `aws:`, values of at most 256.
pub fn check_tags(tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!("A resource can have at most {MAX_TAGS} tags, not {}", tags.len())));
    }
    for t in tags {
        let length = t.key.chars().count();
        if !(1..=128).contains(&length) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'tags.key' failed to satisfy constraint: Member must have length between 1 and 128",
                t.key
            )));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!("Tag key {} is reserved: keys may not start with aws:", t.key)));
        }
        if t.value.chars().count() > 256 {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'tags.value' failed to satisfy constraint: Member must have length less than or equal to 256",
                t.value
            )));
        }
    }
    Ok(())
}

pub fn tag_map(tags: Vec<Tag>) -> BTreeMap<String, String> {
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}

pub fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(key, value)| Tag { key: key.clone(), value: value.clone() }).collect()
}

/// What an ARN names.
enum Resource {
    WorkGroup(String),
    DataCatalog(String),
}

/// The caller's resource an ARN names; another account's, or one of another kind, is not
/// found.
fn resource(athena: &Athena<'_>, arn: &str) -> Result<Resource, ApiError> {
    let not_found = || ApiError::new("ResourceNotFoundException", format!("The resource {arn} was not found")).with("ResourceName", arn.to_string());
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, _partition, service, _region, account, path] = parts[..] else {
        return Err(invalid(format!("{arn} is not a valid ARN")));
    };
    if prefix != "arn" || service != "athena" {
        return Err(invalid(format!("{arn} is not an Athena ARN")));
    }
    if account != athena.account {
        return Err(not_found());
    }
    let registry = athena.engine.registry();
    match path.split_once('/') {
        Some(("workgroup", name)) if registry.workgroup(athena.account, name).is_ok() => Ok(Resource::WorkGroup(name.to_string())),
        Some(("datacatalog", name)) if registry.data_catalog(athena.account, name).is_ok() => Ok(Resource::DataCatalog(name.to_string())),
        _ => Err(not_found()),
    }
}

/// Changes a resource's tags; `change` may refuse, changing nothing.
async fn retag(athena: &Athena<'_>, arn: &str, change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), ApiError>) -> Result<(), ApiError> {
    let registry = athena.engine.registry();
    let mut refused = None;
    let apply = |tags: &mut BTreeMap<String, String>| match change(tags) {
        Ok(()) => Ok(()),
        Err(e) => {
            refused = Some(e);
            Err(query::Error::InvalidInput("refused".into()))
        }
    };
    let done = match resource(athena, arn)? {
        Resource::WorkGroup(name) => registry.update_workgroup(athena.account, &name, |w| apply(&mut w.tags)).await.map(drop),
        Resource::DataCatalog(name) => registry.update_data_catalog(athena.account, &name, |c| apply(&mut c.tags)).await.map(drop),
    };
    done.map_err(|e| refused.take().unwrap_or_else(|| query_err(e)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub tags: Vec<Tag>,
}

impl Input for TagResourceInput {
    const REQUIRED: &'static [&'static str] = &["ResourceARN", "Tags"];
}

pub async fn tag(athena: &Athena<'_>, input: TagResourceInput) -> Result<Empty, ApiError> {
    check_tags(&input.tags)?;
    retag(athena, &input.resource_arn, |tags| {
        let mut merged = tags.clone();
        merged.extend(tag_map(input.tags));
        if merged.len() > MAX_TAGS {
            return Err(invalid(format!("A resource can have at most {MAX_TAGS} tags, not {}", merged.len())));
        }
        *tags = merged;
        Ok(())
    })
    .await?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

impl Input for UntagResourceInput {
    const REQUIRED: &'static [&'static str] = &["ResourceARN", "TagKeys"];
}

pub async fn untag(athena: &Athena<'_>, input: UntagResourceInput) -> Result<Empty, ApiError> {
    retag(athena, &input.resource_arn, |tags| {
        for key in &input.tag_keys {
            tags.remove(key);
        }
        Ok(())
    })
    .await?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListTagsForResourceInput {
    const REQUIRED: &'static [&'static str] = &["ResourceARN"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceOutput {
    tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(athena: &Athena<'_>, input: ListTagsForResourceInput) -> Result<ListTagsForResourceOutput, ApiError> {
    let registry = athena.engine.registry();
    let tags = match resource(athena, &input.resource_arn)? {
        Resource::WorkGroup(name) => registry.workgroup(athena.account, &name).map_err(query_err)?.tags,
        Resource::DataCatalog(name) => registry.data_catalog(athena.account, &name).map_err(query_err)?.tags,
    };
    let all = tag_list(&tags);
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 100, 100, "InvalidRequestException")?.page(&all);
    Ok(ListTagsForResourceOutput { tags: page.to_vec(), next_token })
}
