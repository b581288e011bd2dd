//! A crawler's `IcebergTargets`: folders under each path that hold an Iceberg table
//! (`<table>/metadata/*.metadata.json`) are registered as Athena keeps Iceberg tables
//! (`table_type=ICEBERG`, `metadata_location` naming the newest metadata file, columns from its
//! current schema), and such a table the crawler registered before moves to a newer file.

use std::collections::{BTreeMap, HashSet};

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::Value;

use super::Crawler;
use super::plan::sanitize;
use crate::model::{Column, Parameters, StorageDescriptor, Table};
use crate::{Catalog, Error};

/// What crawling the Iceberg targets did.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The tables it made or kept, by name.
    pub produced: HashSet<String>,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Metadata files it could not read, and why.
    pub skipped: Vec<(String, String)>,
}

/// The Glue columns of an Iceberg table, as Iceberg's Glue catalog (and so Athena) writes them:
/// the current schema's columns, then those of earlier schemas no longer in it (a column dropped,
/// or renamed: its old name), each with its `iceberg.field.*` parameters, `current` saying which.
/// Readers of the Glue table skip the columns that are not current.
pub fn columns(metadata: &iceberg::metadata::TableMetadata) -> Result<Vec<Column>, iceberg::Error> {
    let current = metadata.current_schema()?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let earlier = metadata.schemas.iter().filter(|s| s.schema_id != current.schema_id);
    for (is_current, schema) in std::iter::once((true, current)).chain(earlier.map(|s| (false, s))) {
        for f in &schema.fields {
            // Glue's column names are lower case: `Qty` and `qty` are one column there.
            if seen.insert(f.name.to_lowercase()) {
                out.push(Column {
                    name: f.name.clone(),
                    r#type: Some(f.field_type.to_hive()),
                    comment: f.doc.clone(),
                    parameters: Parameters::from([
                        ("iceberg.field.id".to_string(), f.id.to_string()),
                        ("iceberg.field.optional".to_string(), (!f.required).to_string()),
                        ("iceberg.field.current".to_string(), is_current.to_string()),
                    ]),
                    ..Default::default()
                });
            }
        }
    }
    Ok(out)
}

/// The paths of a crawler's `IcebergTargets` (`[{"Paths": [...]}]`).
pub(crate) fn paths(crawler: &Crawler) -> Vec<String> {
    let Some(Value::Array(targets)) = crawler.targets.extra.get("IcebergTargets") else { return Vec::new() };
    targets.iter().filter_map(|t| t.get("Paths")?.as_array().cloned()).flatten().filter_map(|p| p.as_str().map(str::to_string)).collect()
}

/// The version a metadata file's name starts with (`00003-<uuid>.metadata.json`), for ordering.
fn version(key: &str) -> (u64, String) {
    let name = key.rsplit('/').next().unwrap_or(key);
    (name.split('-').next().and_then(|v| v.parse().ok()).unwrap_or(0), name.to_string())
}

/// A bucket's object store.
type StoreFor<'a> = dyn Fn(&str) -> Result<std::sync::Arc<dyn object_store::ObjectStore>, String> + Sync + 'a;

/// Crawls the Iceberg targets, each bucket's objects through `store_for`.
pub(crate) async fn crawl(catalog: &Catalog, crawler: &Crawler, db: &str, store_for: &StoreFor<'_>) -> Result<Found, String> {
    let mut found = Found::default();
    for target in paths(crawler) {
        let location = storage::S3Location::parse(&target).map_err(|e| e.to_string())?;
        let (bucket, prefix) = (location.bucket, location.key.trim_matches('/').to_string());
        let store = store_for(&bucket)?;
        let listing = (!prefix.is_empty()).then(|| Path::from(prefix.as_str()));
        let objects: Vec<object_store::ObjectMeta> =
            store.list(listing.as_ref()).try_collect().await.map_err(|e| format!("cannot list {target}: {e}"))?;
        // The newest metadata file of each table folder.
        let mut newest: BTreeMap<String, String> = BTreeMap::new();
        for o in &objects {
            let key = o.location.as_ref();
            let Some((dir, _)) = key.rsplit_once("/metadata/") else { continue };
            if !key.ends_with(".metadata.json") || key[dir.len() + "/metadata/".len()..].contains('/') {
                continue;
            }
            let entry = newest.entry(dir.to_string()).or_insert_with(|| key.to_string());
            if version(key) > version(entry) {
                *entry = key.to_string();
            }
        }
        for (dir, key) in newest {
            let bytes = store
                .get(&Path::from(key.as_str()))
                .await
                .map_err(|e| format!("cannot read {key}: {e}"))?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            let metadata = match iceberg::metadata::TableMetadata::parse(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    found.skipped.push((format!("s3://{bucket}/{key}"), e.to_string()));
                    continue;
                }
            };
            let columns = columns(&metadata).map_err(|e| e.to_string())?;
            let folder = dir.rsplit('/').next().unwrap_or(&dir);
            let name = format!("{}{}", crawler.table_prefix.as_deref().unwrap_or_default(), sanitize(folder)).to_lowercase();
            let metadata_location = format!("s3://{bucket}/{key}");
            let location = format!("s3://{bucket}/{dir}");
            found.produced.insert(name.clone());
            match catalog.get_table(db, &name) {
                Ok(existing) if existing.parameters.get("metadata_location") == Some(&metadata_location) => {}
                Ok(existing) if existing.parameters.get("UPDATED_BY_CRAWLER") == Some(&crawler.name) => {
                    catalog
                        .update_table_with(db, &name, |t| {
                            let previous = t.parameters.insert("metadata_location".into(), metadata_location.clone());
                            if let Some(p) = previous {
                                t.parameters.insert("previous_metadata_location".into(), p);
                            }
                            if let Some(sd) = &mut t.storage_descriptor {
                                sd.columns = columns.clone();
                            }
                            Ok(())
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    found.updated.push(name);
                }
                // A table of the name that another made is left as it is.
                Ok(_) => {}
                Err(Error::NotFound(_)) => {
                    let table = Table {
                        name: name.clone(),
                        database_name: db.to_string(),
                        table_type: Some("EXTERNAL_TABLE".into()),
                        parameters: Parameters::from([
                            ("table_type".to_string(), "ICEBERG".to_string()),
                            ("metadata_location".to_string(), metadata_location),
                            ("classification".to_string(), "iceberg".to_string()),
                            ("UPDATED_BY_CRAWLER".to_string(), crawler.name.clone()),
                        ]),
                        storage_descriptor: Some(StorageDescriptor { columns, location: Some(location), ..Default::default() }),
                        ..Default::default()
                    };
                    catalog.create_table(db, table).await.map_err(|e| e.to_string())?;
                    found.created.push(name);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    Ok(found)
}
