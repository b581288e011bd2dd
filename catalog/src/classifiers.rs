//! Custom classifiers (Glue's CreateClassifier, GetClassifier, GetClassifiers, UpdateClassifier,
//! DeleteClassifier), kept in Glue's shape under `cl/<name>`: one of `CsvClassifier`,
//! `JsonClassifier`, `GrokClassifier` or `XMLClassifier`, with its creation time, last update
//! and version. A crawler tries the classifiers it names, in its order, before the built-in
//! ones (see `crawler::custom`): CSV with its delimiter, quote, header and column names, JSON
//! records at a JSON path, and lines a grok pattern matches; XML classifiers are kept and
//! described, not applied. JSON paths and grok patterns are checked when they are stored.

use serde_json::{Map, Value};
use storage::KvOp;

use crate::{Catalog, Error, Result, decode, encode, model};

/// The members a classifier may be, one of which each classifier is.
pub const KINDS: [&str; 4] = ["CsvClassifier", "JsonClassifier", "GrokClassifier", "XMLClassifier"];

fn classifier_key(name: &str) -> Vec<u8> {
    format!("cl/{name}").into_bytes()
}

/// A classifier as Glue describes it: `{"CsvClassifier": {...}}` and so on.
pub type Classifier = Map<String, Value>;

/// The kind and body of a classifier input, checked against Glue's constraints.
fn body(input: &Classifier) -> Result<(&str, &Map<String, Value>)> {
    let given: Vec<&str> = KINDS.iter().copied().filter(|k| input.get(*k).is_some_and(|v| !v.is_null())).collect();
    let [kind] = given[..] else {
        return Err(Error::InvalidInput(format!("a classifier is exactly one of {}", KINDS.join(", "))));
    };
    let body = input[kind].as_object().ok_or_else(|| Error::InvalidInput(format!("{kind} must be a structure")))?;
    let name = body.get("Name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput("a classifier's Name must be between 1 and 255 characters long".into()));
    }
    Ok((kind, body))
}

/// What each kind needs once it is whole (created, or updated).
fn check_whole(kind: &str, body: &Map<String, Value>) -> Result<()> {
    let text = |member: &str| body.get(member).and_then(Value::as_str).filter(|s| !s.is_empty());
    let single = |member: &str| -> Result<()> {
        match body.get(member).and_then(Value::as_str) {
            // One byte of text: the crawler splits on bytes.
            Some(s) if s.len() != 1 || !s.is_ascii() => Err(Error::InvalidInput(format!("{member} must be one ASCII character, not {s:?}"))),
            _ => Ok(()),
        }
    };
    match kind {
        "CsvClassifier" => {
            single("Delimiter")?;
            single("QuoteSymbol")?;
            if text("Delimiter").is_some() && text("Delimiter") == text("QuoteSymbol") {
                return Err(Error::InvalidInput("Delimiter and QuoteSymbol must differ".into()));
            }
            if let Some(h) = text("ContainsHeader")
                && !["UNKNOWN", "PRESENT", "ABSENT"].contains(&h)
            {
                return Err(Error::InvalidInput(format!("ContainsHeader {h} is not UNKNOWN, PRESENT or ABSENT")));
            }
        }
        "JsonClassifier" => {
            let path = text("JsonPath").ok_or_else(|| Error::InvalidInput("a JSON classifier needs its JsonPath".into()))?;
            crate::crawler::JsonPathClassifier::parse(path).map_err(Error::InvalidInput)?;
        }
        "GrokClassifier" => {
            let (Some(_), Some(pattern)) = (text("Classification"), text("GrokPattern")) else {
                return Err(Error::InvalidInput("a grok classifier needs its Classification and GrokPattern".into()));
            };
            crate::grok::Grok::compile(pattern, text("CustomPatterns").unwrap_or_default()).map_err(Error::InvalidInput)?;
        }
        _ => {
            if text("Classification").is_none() {
                return Err(Error::InvalidInput("an XML classifier needs its Classification".into()));
            }
        }
    }
    Ok(())
}

impl Catalog {
    pub async fn create_classifier(&self, input: Classifier) -> Result<()> {
        let (kind, body) = body(&input)?;
        check_whole(kind, body)?;
        let name = body["Name"].as_str().unwrap_or_default().to_string();
        let mut stored = body.clone();
        let now = serde_json::to_value(model::now()).unwrap_or(Value::Null);
        stored.insert("CreationTime".into(), now.clone());
        stored.insert("LastUpdated".into(), now);
        stored.insert("Version".into(), Value::from(1));
        let _writes = self.writes.lock().await;
        if self.tree.get(&classifier_key(&name))?.is_some() {
            return Err(Error::AlreadyExists(format!("Classifier {name} already exists.")));
        }
        let record: Classifier = [(kind.to_string(), Value::Object(stored))].into_iter().collect();
        self.commit(vec![KvOp::Put(classifier_key(&name), encode(&record))]).await
    }

    pub fn get_classifier(&self, name: &str) -> Result<Classifier> {
        match self.tree.get(&classifier_key(name))? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("Classifier {name} not found."))),
        }
    }

    /// Every classifier, by name.
    pub fn list_classifiers(&self) -> Result<Vec<Classifier>> {
        self.tree.scan_prefix(b"cl/").map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(&v))).collect()
    }

    /// Changes the members given; the kind must be the classifier's own.
    pub async fn update_classifier(&self, input: Classifier) -> Result<()> {
        let (kind, body) = body(&input)?;
        let name = body["Name"].as_str().unwrap_or_default().to_string();
        let _writes = self.writes.lock().await;
        let mut record = self.get_classifier(&name)?;
        let Some(Value::Object(stored)) = record.get_mut(kind) else {
            return Err(Error::InvalidInput(format!("Classifier {name} is not a {kind}")));
        };
        for (k, v) in body {
            stored.insert(k.clone(), v.clone());
        }
        check_whole(kind, stored)?;
        let version = stored.get("Version").and_then(Value::as_i64).unwrap_or(1) + 1;
        stored.insert("Version".into(), Value::from(version));
        stored.insert("LastUpdated".into(), serde_json::to_value(model::now()).unwrap_or(Value::Null));
        self.commit(vec![KvOp::Put(classifier_key(&name), encode(&record))]).await
    }

    pub async fn delete_classifier(&self, name: &str) -> Result<()> {
        let _writes = self.writes.lock().await;
        self.get_classifier(name)?;
        self.commit(vec![KvOp::Delete(classifier_key(name))]).await
    }
}
