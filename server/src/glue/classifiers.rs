//! Custom classifiers: CreateClassifier, GetClassifier, GetClassifiers, UpdateClassifier,
//! DeleteClassifier. Crawlers try the ones they name before the built-in classifiers.

use catalog::Classifier;
use serde::{Deserialize, Serialize};

use super::{Glue, glue_err};
use crate::protocol::{ApiError, Empty, Input, Paging};

/// CreateClassifier's and UpdateClassifier's input: one of `CsvClassifier`, `JsonClassifier`,
/// `GrokClassifier`, `XMLClassifier`.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct ClassifierInput(Classifier);

impl Input for ClassifierInput {}

pub async fn create(glue: &Glue<'_>, ClassifierInput(input): ClassifierInput) -> Result<Empty, ApiError> {
    glue.catalog.create_classifier(input).await.map_err(glue_err)?;
    Ok(Empty {})
}

pub async fn update(glue: &Glue<'_>, ClassifierInput(input): ClassifierInput) -> Result<Empty, ApiError> {
    glue.catalog.update_classifier(input).await.map_err(glue_err)?;
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
pub struct GetOutput {
    classifier: Classifier,
}

pub async fn get(glue: &Glue<'_>, input: NameInput) -> Result<GetOutput, ApiError> {
    Ok(GetOutput { classifier: glue.catalog.get_classifier(&input.name).map_err(glue_err)? })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInput {
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

impl Input for ListInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListOutput {
    classifiers: Vec<Classifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list(glue: &Glue<'_>, input: ListInput) -> Result<ListOutput, ApiError> {
    let all = glue.catalog.list_classifiers().map_err(glue_err)?;
    let (page, next_token) = Paging::new(input.next_token.as_deref(), input.max_results, 100, 1000, "InvalidInputException")?.page(&all);
    Ok(ListOutput { classifiers: page.to_vec(), next_token })
}

pub async fn delete(glue: &Glue<'_>, input: NameInput) -> Result<Empty, ApiError> {
    glue.catalog.delete_classifier(&input.name).await.map_err(glue_err)?;
    Ok(Empty {})
}
