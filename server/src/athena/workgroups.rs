//! Athena workgroups: GetWorkGroup, ListWorkGroups. Minerva has the one workgroup every account
//! starts with, `primary`.

use serde::{Deserialize, Serialize};

use super::{Athena, ENGINE, EngineVersion, PRIMARY_WORKGROUP, ResultConfiguration, invalid};
use crate::protocol::{ApiError, Input};

/// The workgroup a request names (`primary` when it names none), if it exists.
pub fn check_workgroup(name: Option<&str>) -> Result<&'static str, ApiError> {
    match name {
        None => Ok(PRIMARY_WORKGROUP),
        Some(n) if n == PRIMARY_WORKGROUP => Ok(PRIMARY_WORKGROUP),
        Some(n) => Err(invalid(format!("WorkGroup {n} is not found."))),
    }
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
pub struct WorkGroup {
    name: &'static str,
    state: &'static str,
    description: &'static str,
    creation_time: f64,
    configuration: WorkGroupConfiguration,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkGroupConfiguration {
    result_configuration: ResultConfiguration,
    enforce_work_group_configuration: bool,
    publish_cloud_watch_metrics_enabled: bool,
    requester_pays_enabled: bool,
    engine_version: EngineVersion,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetWorkGroupOutput {
    work_group: WorkGroup,
}

const DESCRIPTION: &str = "The default workgroup";

pub async fn get(athena: &Athena<'_>, input: GetWorkGroupInput) -> Result<GetWorkGroupOutput, ApiError> {
    check_workgroup(Some(&input.work_group))?;
    Ok(GetWorkGroupOutput {
        work_group: WorkGroup {
            name: PRIMARY_WORKGROUP,
            state: "ENABLED",
            description: DESCRIPTION,
            creation_time: athena.started,
            configuration: WorkGroupConfiguration {
                result_configuration: ResultConfiguration { output_location: athena.output_location.to_string() },
                enforce_work_group_configuration: false,
                publish_cloud_watch_metrics_enabled: false,
                requester_pays_enabled: false,
                engine_version: ENGINE,
            },
        },
    })
}

/// Its paging members are accepted and ignored: there is one workgroup.
#[derive(Deserialize)]
pub struct ListWorkGroupsInput {}

impl Input for ListWorkGroupsInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkGroupSummary {
    name: &'static str,
    state: &'static str,
    description: &'static str,
    creation_time: f64,
    engine_version: EngineVersion,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListWorkGroupsOutput {
    work_groups: Vec<WorkGroupSummary>,
}

pub async fn list(athena: &Athena<'_>, _input: ListWorkGroupsInput) -> Result<ListWorkGroupsOutput, ApiError> {
    let primary = WorkGroupSummary {
        name: PRIMARY_WORKGROUP,
        state: "ENABLED",
        description: DESCRIPTION,
        creation_time: athena.started,
        engine_version: ENGINE,
    };
    Ok(ListWorkGroupsOutput { work_groups: vec![primary] })
}
