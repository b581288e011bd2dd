//! Glue crawlers: CreateCrawler, GetCrawler, GetCrawlers, BatchGetCrawlers, ListCrawlers,
//! UpdateCrawler, DeleteCrawler, StartCrawler, StopCrawler, GetCrawlerMetrics.

use catalog::Crawler;
use catalog::{RecrawlPolicy, SchemaChangePolicy, Targets};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Glue, glue_err, lake_resolver};
use crate::protocol::{ApiError, Empty, Input, Paging};

/// A crawler's definition as CreateCrawler and UpdateCrawler take it. `Schedule` arrives as a
/// cron expression and is kept as Glue returns it; `Tags` are not part of the crawler. Members
/// Minerva does not interpret are kept, so that GetCrawler returns what was given.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CrawlerDefinition {
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub database_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub targets: Option<Targets>,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub classifiers: Option<Vec<String>>,
    #[serde(default)]
    pub table_prefix: Option<String>,
    #[serde(default)]
    pub schema_change_policy: Option<SchemaChangePolicy>,
    #[serde(default)]
    pub recrawl_policy: Option<RecrawlPolicy>,
    #[serde(default)]
    pub lineage_configuration: Option<Value>,
    #[serde(default)]
    pub configuration: Option<String>,
    #[serde(default)]
    pub crawler_security_configuration: Option<String>,
    #[serde(default)]
    pub lake_formation_configuration: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// What Glue reports about a crawler and never takes from a caller, and `Tags`, which belong to
/// the crawler's resource, not its definition.
const NOT_KEPT: [&str; 7] = ["State", "LastCrawl", "CrawlElapsedTime", "CreationTime", "LastUpdated", "Version", "Tags"];

fn schedule(expression: String) -> Value {
    json!({ "ScheduleExpression": expression, "State": "SCHEDULED" })
}

impl CrawlerDefinition {
    /// Applies the members that were given to a crawler.
    fn apply(self, c: &mut Crawler) {
        macro_rules! given {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field {
                    c.$field = v;
                }
            )*};
        }
        macro_rules! given_optional {
            ($($field:ident),*) => {$(
                if self.$field.is_some() {
                    c.$field = self.$field;
                }
            )*};
        }
        // An empty string clears a text member, as Glue takes it (Terraform sends `Schedule`,
        // `TablePrefix` and `Configuration` empty when they are unset).
        macro_rules! given_text {
            ($($field:ident),*) => {$(
                match self.$field {
                    Some(v) if v.is_empty() => c.$field = None,
                    Some(v) => c.$field = Some(v),
                    None => {}
                }
            )*};
        }
        given!(targets, classifiers, schema_change_policy, recrawl_policy);
        given_optional!(role, database_name, description, lineage_configuration, lake_formation_configuration);
        given_text!(table_prefix, configuration, crawler_security_configuration);
        match self.schedule {
            Some(expression) if expression.is_empty() => c.schedule = None,
            Some(expression) => c.schedule = Some(schedule(expression)),
            None => {}
        }
        for (k, v) in self.other {
            if !NOT_KEPT.contains(&k.as_str()) {
                c.extra.insert(k, v);
            }
        }
    }
}

impl Input for CrawlerDefinition {
    const REQUIRED: &'static [&'static str] = &["Name"];
}

/// CreateCrawler's input: a definition that names a role.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct CreateCrawlerInput(CrawlerDefinition);

/// CreateCrawler's `Tags`, which belong to the crawler's resource, not its definition.
fn tags_of(definition: &CrawlerDefinition) -> Result<catalog::Tags, ApiError> {
    match definition.other.get("Tags") {
        None | Some(Value::Null) => Ok(catalog::Tags::new()),
        Some(tags) => serde_json::from_value(tags.clone()).map_err(|e| ApiError::serialization(format!("Tags: {e}"))),
    }
}

impl Input for CreateCrawlerInput {
    const REQUIRED: &'static [&'static str] = &["Name", "Role"];
}

pub async fn create(glue: &Glue<'_>, CreateCrawlerInput(definition): CreateCrawlerInput) -> Result<Empty, ApiError> {
    let tags = tags_of(&definition)?;
    let mut crawler = Crawler { name: definition.name.clone(), ..Default::default() };
    definition.apply(&mut crawler);
    glue.catalog.create_tagged_crawler(crawler, tags).await.map_err(glue_err)?;
    Ok(Empty {})
}

pub async fn update(glue: &Glue<'_>, definition: CrawlerDefinition) -> Result<Empty, ApiError> {
    let name = definition.name.clone();
    glue.catalog.update_crawler(&name, |c| definition.apply(c)).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameInput {
    pub name: String,
}

impl Input for NameInput {
    const REQUIRED: &'static [&'static str] = &["Name"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCrawlerOutput {
    crawler: Crawler,
}

pub async fn get(glue: &Glue<'_>, input: NameInput) -> Result<GetCrawlerOutput, ApiError> {
    Ok(GetCrawlerOutput { crawler: glue.catalog.get_crawler(&input.name).map_err(glue_err)? })
}

pub async fn delete(glue: &Glue<'_>, input: NameInput) -> Result<Empty, ApiError> {
    glue.catalog.delete_crawler(&input.name).await.map_err(glue_err)?;
    Ok(Empty {})
}

pub async fn start(glue: &Glue<'_>, input: NameInput) -> Result<Empty, ApiError> {
    glue.catalog.start_crawler(&input.name, lake_resolver(glue.store, Some(glue.acting_for.clone()))).await.map_err(glue_err)?;
    Ok(Empty {})
}

pub async fn stop(glue: &Glue<'_>, input: NameInput) -> Result<Empty, ApiError> {
    glue.catalog.stop_crawler(&input.name).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PageInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for PageInput {}

impl PageInput {
    fn paging(&self) -> Result<Paging, ApiError> {
        Paging::new(self.next_token.as_deref(), self.max_results, 100, 1000, "InvalidInputException")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCrawlersOutput {
    crawlers: Vec<Crawler>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(glue: &Glue<'_>, input: PageInput) -> Result<GetCrawlersOutput, ApiError> {
    let all = glue.catalog.list_crawlers().map_err(glue_err)?;
    let (page, next_token) = input.paging()?.page(&all);
    Ok(GetCrawlersOutput { crawlers: page.to_vec(), next_token })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCrawlersOutput {
    crawler_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list_names(glue: &Glue<'_>, input: PageInput) -> Result<ListCrawlersOutput, ApiError> {
    let all: Vec<String> = glue.catalog.list_crawlers().map_err(glue_err)?.into_iter().map(|c| c.name).collect();
    let (page, next_token) = input.paging()?.page(&all);
    Ok(ListCrawlersOutput { crawler_names: page.to_vec(), next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetCrawlersInput {
    pub crawler_names: Vec<String>,
}

impl Input for BatchGetCrawlersInput {
    const REQUIRED: &'static [&'static str] = &["CrawlerNames"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetCrawlersOutput {
    crawlers: Vec<Crawler>,
    crawlers_not_found: Vec<String>,
}

pub async fn batch_get(glue: &Glue<'_>, input: BatchGetCrawlersInput) -> Result<BatchGetCrawlersOutput, ApiError> {
    let (mut crawlers, mut crawlers_not_found) = (Vec::new(), Vec::new());
    for name in input.crawler_names {
        match glue.catalog.get_crawler(&name) {
            Ok(c) => crawlers.push(c),
            Err(catalog::Error::NotFound(_)) => crawlers_not_found.push(name),
            Err(e) => return Err(glue_err(e)),
        }
    }
    Ok(BatchGetCrawlersOutput { crawlers, crawlers_not_found })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCrawlerMetricsInput {
    /// Every crawler's when absent.
    #[serde(default)]
    pub crawler_name_list: Option<Vec<String>>,
    #[serde(flatten)]
    pub page: PageInput,
}

impl Input for GetCrawlerMetricsInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CrawlerMetrics {
    crawler_name: String,
    time_left_seconds: f64,
    still_estimating: bool,
    last_runtime_seconds: f64,
    median_runtime_seconds: f64,
    tables_created: u64,
    tables_updated: u64,
    tables_deleted: u64,
}

impl From<catalog::CrawlerMetrics> for CrawlerMetrics {
    fn from(m: catalog::CrawlerMetrics) -> Self {
        CrawlerMetrics {
            crawler_name: m.name,
            time_left_seconds: m.time_left_seconds,
            still_estimating: m.still_estimating,
            last_runtime_seconds: m.last_runtime_seconds,
            median_runtime_seconds: m.median_runtime_seconds,
            tables_created: m.tables_created,
            tables_updated: m.tables_updated,
            tables_deleted: m.tables_deleted,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCrawlerMetricsOutput {
    crawler_metrics_list: Vec<CrawlerMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn metrics(glue: &Glue<'_>, input: GetCrawlerMetricsInput) -> Result<GetCrawlerMetricsOutput, ApiError> {
    let names = match input.crawler_name_list {
        Some(names) => names,
        None => glue.catalog.list_crawlers().map_err(glue_err)?.into_iter().map(|c| c.name).collect(),
    };
    let mut all = Vec::new();
    for name in names {
        match glue.catalog.crawler_metrics(&name) {
            Ok(m) => all.push(m),
            Err(catalog::Error::NotFound(_)) => {}
            Err(e) => return Err(glue_err(e)),
        }
    }
    let (page, next_token) = input.page.paging()?.page(&all);
    Ok(GetCrawlerMetricsOutput { crawler_metrics_list: page.iter().cloned().map(CrawlerMetrics::from).collect(), next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_apply_only_what_was_given() {
        let mut crawler = Crawler { name: "c".into(), role: Some("r".into()), description: Some("kept".into()), ..Default::default() };
        let definition: CrawlerDefinition = serde_json::from_value(json!({
            "Name": "c", "Schedule": "cron(0 1 * * ? *)", "TablePrefix": "t_", "State": "RUNNING", "Custom": {"x": 1}, "Tags": {"a": "b"}
        }))
        .unwrap();
        definition.apply(&mut crawler);
        assert_eq!((crawler.role.as_deref(), crawler.description.as_deref(), crawler.table_prefix.as_deref()), (Some("r"), Some("kept"), Some("t_")));
        assert_eq!(crawler.schedule, Some(json!({"ScheduleExpression": "cron(0 1 * * ? *)", "State": "SCHEDULED"})));
        // Read-only members are not taken from the caller; tags are not part of the crawler.
        assert_eq!(crawler.extra, Map::from_iter([("Custom".to_string(), json!({"x": 1}))]));
    }
}
