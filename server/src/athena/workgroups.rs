//! Athena workgroups: CreateWorkGroup, GetWorkGroup, ListWorkGroups, UpdateWorkGroup,
//! DeleteWorkGroup, ListEngineVersions. Every account has `primary`; the configuration is kept
//! as the client gave it (`query::WorkGroup`), checked against Athena's constraints on the way in,
//! and given back with Athena's defaults filled in. `executions::start` enforces it.

use query::{PRIMARY, WorkGroup};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::tags::{Tag, check_tags, tag_map};
use super::{Athena, ENGINE, EngineVersion, invalid, query_err};
use crate::protocol::{ApiError, Empty, Input, Paging};

/// The engine versions Minerva runs: Athena engine version 3, also chosen by `AUTO`.
const ENGINE_VERSIONS: &[&str] = &["AUTO", super::ENGINE_VERSION];
/// The smallest `BytesScannedCutoffPerQuery` Athena takes (10 MB).
const MIN_CUTOFF: u64 = 10_000_000;

/// The workgroup a request names (`primary` when it names none), if it exists.
pub fn workgroup(athena: &Athena<'_>, name: Option<&str>) -> Result<WorkGroup, ApiError> {
    athena.engine.registry().workgroup(athena.account, name.unwrap_or(PRIMARY)).map_err(query_err)
}

/// Athena's validation message for one member.
fn constraint(value: impl std::fmt::Display, member: &str, rule: &str) -> ApiError {
    invalid(format!("1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(constraint(name, "name", "Member must satisfy regular expression pattern: [a-zA-Z0-9._-]{1,128}")) }
}

fn check_description(description: Option<&str>) -> Result<(), ApiError> {
    match description {
        Some(d) if d.chars().count() > 1024 => Err(constraint(d, "description", "Member must have length less than or equal to 1024")),
        _ => Ok(()),
    }
}

/// Checks a workgroup's configuration against Athena's constraints on its members.
fn check_configuration(configuration: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(cutoff) = configuration.get("BytesScannedCutoffPerQuery") {
        match cutoff.as_u64() {
            Some(c) if c >= MIN_CUTOFF => {}
            _ => {
                return Err(constraint(
                    cutoff,
                    "configuration.bytesScannedCutoffPerQuery",
                    &format!("Member must have value greater than or equal to {MIN_CUTOFF}"),
                ));
            }
        }
    }
    for flag in ["EnforceWorkGroupConfiguration", "PublishCloudWatchMetricsEnabled", "RequesterPaysEnabled"] {
        if let Some(v) = configuration.get(flag).filter(|v| !v.is_boolean()) {
            return Err(invalid(format!("{flag} must be a boolean, not {v}")));
        }
    }
    if let Some(engine) = configuration.get("EngineVersion") {
        let selected = engine.get("SelectedEngineVersion").and_then(Value::as_str).unwrap_or("AUTO");
        if !ENGINE_VERSIONS.contains(&selected) {
            return Err(invalid(format!("The engine version {selected} is not supported. Supported versions: {}", ENGINE_VERSIONS.join(", "))));
        }
    }
    if let Some(result) = configuration.get("ResultConfiguration") {
        check_result_configuration(result.as_object().ok_or_else(|| invalid("ResultConfiguration must be a structure"))?)?;
    }
    Ok(())
}

/// Checks a `ResultConfiguration`, a workgroup's or a query's.
pub fn check_result_configuration(result: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(location) = result.get("OutputLocation") {
        match location.as_str() {
            Some(l) if l.starts_with("s3://") && l.len() > "s3://".len() => {}
            _ => return Err(invalid(format!("OutputLocation {} is not an s3:// location", location.as_str().unwrap_or_default()))),
        }
    }
    if let Some(encryption) = result.get("EncryptionConfiguration") {
        let option = encryption.get("EncryptionOption").and_then(Value::as_str).unwrap_or_default();
        if !["SSE_S3", "SSE_KMS", "CSE_KMS"].contains(&option) {
            return Err(constraint(
                option,
                "resultConfiguration.encryptionConfiguration.encryptionOption",
                "Member must satisfy enum value set: [SSE_S3, SSE_KMS, CSE_KMS]",
            ));
        }
        if option != "SSE_S3" && encryption.get("KmsKey").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(invalid(format!("KmsKey is required for {option}")));
        }
    }
    if let Some(acl) = result.get("AclConfiguration") {
        let option = acl.get("S3AclOption").and_then(Value::as_str).unwrap_or_default();
        if option != "BUCKET_OWNER_FULL_CONTROL" {
            return Err(constraint(
                option,
                "resultConfiguration.aclConfiguration.s3AclOption",
                "Member must satisfy enum value set: [BUCKET_OWNER_FULL_CONTROL]",
            ));
        }
    }
    if let Some(owner) = result.get("ExpectedBucketOwner").and_then(Value::as_str)
        && !(owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(format!("ExpectedBucketOwner {owner} is not an AWS account id")));
    }
    Ok(())
}

fn check_state(state: &str) -> Result<(), ApiError> {
    match state {
        "ENABLED" | "DISABLED" => Ok(()),
        other => Err(constraint(other, "state", "Member must satisfy enum value set: [ENABLED, DISABLED]")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateWorkGroupInput {
    pub name: String,
    #[serde(default)]
    pub configuration: Option<Map<String, Value>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
}

impl Input for CreateWorkGroupInput {
    const REQUIRED: &'static [&'static str] = &["Name"];
}

pub async fn create(athena: &Athena<'_>, input: CreateWorkGroupInput) -> Result<Empty, ApiError> {
    check_name(&input.name)?;
    check_description(input.description.as_deref())?;
    let configuration = input.configuration.unwrap_or_default();
    check_configuration(&configuration)?;
    let tags = input.tags.unwrap_or_default();
    check_tags(&tags)?;
    let mut workgroup = WorkGroup::new(&input.name, super::now());
    workgroup.description = input.description;
    workgroup.configuration = configuration;
    workgroup.tags = tag_map(tags);
    athena.engine.registry().create_workgroup(athena.account, workgroup).await.map_err(query_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetWorkGroupInput {
    pub work_group: String,
}

impl Input for GetWorkGroupInput {
    const REQUIRED: &'static [&'static str] = &["WorkGroup"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkGroupOutput {
    name: String,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    creation_time: f64,
    configuration: Map<String, Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetWorkGroupOutput {
    work_group: WorkGroupOutput,
}

const PRIMARY_DESCRIPTION: &str = "The default workgroup";

/// A workgroup's configuration as Athena describes it: what was set, Athena's defaults for the
/// rest, and for `primary` the account's results location unless one was set.
fn described(athena: &Athena<'_>, workgroup: &WorkGroup) -> Map<String, Value> {
    let mut configuration = workgroup.configuration.clone();
    configuration.entry("EnforceWorkGroupConfiguration").or_insert(Value::Bool(true));
    configuration.entry("PublishCloudWatchMetricsEnabled").or_insert(Value::Bool(false));
    configuration.entry("RequesterPaysEnabled").or_insert(Value::Bool(false));
    let selected = configuration.get("EngineVersion").and_then(|e| e.get("SelectedEngineVersion")).and_then(Value::as_str).unwrap_or("AUTO");
    configuration.insert("EngineVersion".into(), engine_version(selected));
    if workgroup.name == PRIMARY {
        let result = configuration.entry("ResultConfiguration").or_insert_with(|| Value::Object(Map::new()));
        if let Some(result) = result.as_object_mut() {
            result.entry("OutputLocation").or_insert_with(|| Value::String(athena.output_location.to_string()));
        }
    }
    configuration
}

fn engine_version(selected: &str) -> Value {
    serde_json::json!({ "SelectedEngineVersion": selected, "EffectiveEngineVersion": super::ENGINE_VERSION })
}

pub async fn get(athena: &Athena<'_>, input: GetWorkGroupInput) -> Result<GetWorkGroupOutput, ApiError> {
    let w = workgroup(athena, Some(&input.work_group))?;
    let description = w.description.clone().or_else(|| (w.name == PRIMARY).then(|| PRIMARY_DESCRIPTION.to_string()));
    Ok(GetWorkGroupOutput {
        work_group: WorkGroupOutput { configuration: described(athena, &w), name: w.name, state: w.state, description, creation_time: w.created },
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListWorkGroupsInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListWorkGroupsInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkGroupSummary {
    name: String,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    creation_time: f64,
    engine_version: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListWorkGroupsOutput {
    work_groups: Vec<WorkGroupSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(athena: &Athena<'_>, input: ListWorkGroupsInput) -> Result<ListWorkGroupsOutput, ApiError> {
    let all = athena.engine.registry().workgroups(athena.account).map_err(query_err)?;
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 50, 50, "InvalidRequestException")?.page(&all);
    let work_groups = page
        .iter()
        .map(|w| WorkGroupSummary {
            name: w.name.clone(),
            state: w.state.clone(),
            description: w.description.clone().or_else(|| (w.name == PRIMARY).then(|| PRIMARY_DESCRIPTION.to_string())),
            creation_time: w.created,
            engine_version: described(athena, w).remove("EngineVersion").unwrap_or(Value::Null),
        })
        .collect();
    Ok(ListWorkGroupsOutput { work_groups, next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateWorkGroupInput {
    pub work_group: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub configuration_updates: Option<Map<String, Value>>,
    #[serde(default)]
    pub state: Option<String>,
}

impl Input for UpdateWorkGroupInput {
    const REQUIRED: &'static [&'static str] = &["WorkGroup"];
}

/// Applies Athena's `…Updates` structure to a configuration: `RemoveX: true` removes `X`,
/// `XUpdates` is applied to `X` the same way, and any other member is set.
fn apply_updates(configuration: &mut Map<String, Value>, updates: Map<String, Value>) {
    for (key, value) in updates {
        if let Some(removed) = key.strip_prefix("Remove") {
            if value == Value::Bool(true) {
                configuration.remove(removed);
            }
        } else if let (Some(inner), Value::Object(nested)) = (key.strip_suffix("Updates"), &value) {
            let target = configuration.entry(inner.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(target) = target {
                apply_updates(target, nested.clone());
            }
        } else {
            configuration.insert(key, value);
        }
    }
}

pub async fn update(athena: &Athena<'_>, input: UpdateWorkGroupInput) -> Result<Empty, ApiError> {
    check_description(input.description.as_deref())?;
    if let Some(state) = &input.state {
        check_state(state)?;
    }
    let mut refused = None;
    athena
        .engine
        .registry()
        .update_workgroup(athena.account, &input.work_group, |w| {
            let mut configuration = w.configuration.clone();
            if let Some(updates) = input.configuration_updates {
                apply_updates(&mut configuration, updates);
            }
            if let Err(e) = check_configuration(&configuration) {
                refused = Some(e);
                return Err(query::Error::InvalidInput("refused".into()));
            }
            w.configuration = configuration;
            if let Some(d) = input.description {
                w.description = Some(d);
            }
            if let Some(s) = input.state {
                w.state = s;
            }
            Ok(())
        })
        .await
        .map_err(|e| refused.take().unwrap_or_else(|| query_err(e)))?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteWorkGroupInput {
    pub work_group: String,
    #[serde(default)]
    pub recursive_delete_option: Option<bool>,
}

impl Input for DeleteWorkGroupInput {
    const REQUIRED: &'static [&'static str] = &["WorkGroup"];
}

pub async fn delete(athena: &Athena<'_>, input: DeleteWorkGroupInput) -> Result<Empty, ApiError> {
    let registry = athena.engine.registry();
    let name = input.work_group;
    if name == PRIMARY {
        return Err(invalid("Cannot delete primary workgroup"));
    }
    workgroup(athena, Some(&name))?;
    // Without the recursive option only an empty workgroup goes: no named queries, prepared
    // statements or query executions (checked by the registry as it deletes).
    let recursive = input.recursive_delete_option.unwrap_or(false);
    let executions = athena.engine.list(&name, athena.account).map_err(query_err)?.len();
    if recursive {
        // Its query history goes with it (first: a retry after a crash finds the workgroup).
        athena.engine.forget_workgroup(&name, athena.account).await.map_err(query_err)?;
    }
    registry.delete_workgroup(athena.account, &name, recursive, executions).await.map_err(query_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListEngineVersionsInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListEngineVersionsInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListEngineVersionsOutput {
    engine_versions: Vec<EngineVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn engine_versions(_athena: &Athena<'_>, input: ListEngineVersionsInput) -> Result<ListEngineVersionsOutput, ApiError> {
    let all: Vec<&str> = ENGINE_VERSIONS.to_vec();
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 10, 10, "InvalidRequestException")?.page(&all);
    let engine_versions = page
        .iter()
        .map(|selected| EngineVersion { selected_engine_version: selected, effective_engine_version: ENGINE.effective_engine_version })
        .collect();
    Ok(ListEngineVersionsOutput { engine_versions, next_token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_set_remove_and_nest() {
        let mut configuration = json!({
            "ResultConfiguration": { "OutputLocation": "s3://a/", "ExpectedBucketOwner": "111111111111" },
            "BytesScannedCutoffPerQuery": 10000000,
        })
        .as_object()
        .cloned()
        .unwrap();
        let updates = json!({
            "ResultConfigurationUpdates": { "OutputLocation": "s3://b/", "RemoveExpectedBucketOwner": true },
            "RemoveBytesScannedCutoffPerQuery": true,
            "EnforceWorkGroupConfiguration": false,
        });
        apply_updates(&mut configuration, updates.as_object().cloned().unwrap());
        assert_eq!(
            Value::Object(configuration),
            json!({ "ResultConfiguration": { "OutputLocation": "s3://b/" }, "EnforceWorkGroupConfiguration": false })
        );
    }
}
