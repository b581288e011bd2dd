//! The Glue data model: databases, tables with their storage descriptors, and partitions.
//!
//! Field names follow Glue's own (PascalCase), since that is the model's vocabulary and the edge
//! serialises these types without a mapping layer. Fields this model does not interpret are kept in
//! `extra`, so that whatever a client stores it reads back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Parameters = BTreeMap<String, String>;

/// Seconds since the epoch, as Glue's JSON protocol writes timestamps.
pub type Timestamp = f64;

pub fn now() -> Timestamp {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Database {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "LocationUri")]
    pub location_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Column {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Column {
    /// False for a column that Iceberg's Glue catalog keeps from an earlier schema of the table
    /// (dropped, or the old name of a renamed one): `iceberg.field.current` is `false`.
    pub fn is_current(&self) -> bool {
        self.parameters.get("iceberg.field.current").map(String::as_str) != Some("false")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SerDeInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialization_library: Option<String>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StorageDescriptor {
    #[serde(default)]
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    #[serde(default)]
    pub compressed: bool,
    #[serde(default)]
    pub number_of_buckets: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serde_info: Option<SerDeInfo>,
    #[serde(default)]
    pub bucket_columns: Vec<String>,
    #[serde(default)]
    pub sort_columns: Vec<Value>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(default)]
    pub stored_as_sub_directories: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    pub name: String,
    #[serde(default)]
    pub database_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_descriptor: Option<StorageDescriptor>,
    #[serde(default)]
    pub partition_keys: Vec<Column>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_type: Option<String>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<String>,
    /// The table's current version: "0" when created, one more on each archived update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Table {
    pub fn columns(&self) -> &[Column] {
        self.storage_descriptor.as_ref().map(|sd| sd.columns.as_slice()).unwrap_or(&[])
    }

    /// The columns a reader sees: those of an Iceberg table's current schema (see
    /// [`Column::is_current`]); for any other table, all of them.
    pub fn current_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns().iter().filter(|c| c.is_current())
    }

    pub fn location(&self) -> Option<&str> {
        self.storage_descriptor.as_ref().and_then(|sd| sd.location.as_deref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Partition {
    pub values: Vec<String>,
    #[serde(default)]
    pub database_name: String,
    #[serde(default)]
    pub table_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_access_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_descriptor: Option<StorageDescriptor>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
