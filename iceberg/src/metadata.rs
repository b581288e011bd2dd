//! Table metadata files (format version 2): schemas, partition specs, snapshots, the logs of
//! snapshots and metadata files, and branch and tag references. Members this crate does not
//! know are kept, so that what another engine wrote survives a commit made here.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::partition::{FIRST_FIELD_ID, PartitionSpec};
use crate::schema::Schema;
use crate::{Error, Result, invalid};

/// The branch every table has.
pub const MAIN_BRANCH: &str = "main";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TableMetadata {
    pub format_version: u8,
    pub table_uuid: String,
    pub location: String,
    #[serde(default)]
    pub last_sequence_number: i64,
    pub last_updated_ms: i64,
    pub last_column_id: i32,
    pub schemas: Vec<Schema>,
    pub current_schema_id: i32,
    pub partition_specs: Vec<PartitionSpec>,
    pub default_spec_id: i32,
    pub last_partition_id: i32,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default, serialize_with = "snapshot_id_out", deserialize_with = "snapshot_id_in")]
    pub current_snapshot_id: Option<i64>,
    #[serde(default)]
    pub snapshots: Vec<Snapshot>,
    #[serde(default)]
    pub snapshot_log: Vec<SnapshotLogEntry>,
    #[serde(default)]
    pub metadata_log: Vec<MetadataLogEntry>,
    #[serde(default = "unsorted")]
    pub sort_orders: Vec<Value>,
    #[serde(default)]
    pub default_sort_order_id: i32,
    #[serde(default)]
    pub refs: BTreeMap<String, SnapshotRef>,
    /// What this crate does not model (statistics files, ...), kept as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn unsorted() -> Vec<Value> {
    vec![json!({"order-id": 0, "fields": []})]
}

/// No current snapshot is written `-1`, as Java's writer does; read either way.
fn snapshot_id_out<S: Serializer>(id: &Option<i64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_i64(id.unwrap_or(-1))
}

fn snapshot_id_in<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.filter(|id| *id != -1))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Snapshot {
    pub snapshot_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_snapshot_id: Option<i64>,
    #[serde(default)]
    pub sequence_number: i64,
    pub timestamp_ms: i64,
    pub manifest_list: String,
    /// `operation` (append, overwrite, delete, replace) and counts, all as strings.
    #[serde(default)]
    pub summary: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnapshotRef {
    pub snapshot_id: i64,
    /// `branch` or `tag`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnapshotLogEntry {
    pub timestamp_ms: i64,
    pub snapshot_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MetadataLogEntry {
    pub timestamp_ms: i64,
    pub metadata_file: String,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl TableMetadata {
    /// The metadata of a new, empty table.
    pub fn new(location: &str, schema: Schema, spec: PartitionSpec, properties: BTreeMap<String, String>) -> TableMetadata {
        let last_partition_id = spec.fields.iter().map(|f| f.field_id).max().unwrap_or(FIRST_FIELD_ID - 1);
        TableMetadata {
            format_version: 2,
            table_uuid: uuid::Uuid::new_v4().to_string(),
            location: location.trim_end_matches('/').to_string(),
            last_sequence_number: 0,
            last_updated_ms: now_ms(),
            last_column_id: schema.highest_field_id(),
            current_schema_id: schema.schema_id,
            schemas: vec![schema],
            default_spec_id: spec.spec_id,
            partition_specs: vec![spec],
            last_partition_id,
            properties,
            current_snapshot_id: None,
            snapshots: Vec::new(),
            snapshot_log: Vec::new(),
            metadata_log: Vec::new(),
            sort_orders: unsorted(),
            default_sort_order_id: 0,
            refs: BTreeMap::new(),
            extra: Map::new(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<TableMetadata> {
        let m: TableMetadata = serde_json::from_slice(bytes).map_err(|e| invalid(format!("table metadata: {e}")))?;
        if m.format_version != 2 && m.format_version != 1 {
            return Err(Error::Unsupported(format!("Iceberg format version {} is not supported", m.format_version)));
        }
        Ok(m)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn current_schema(&self) -> Result<&Schema> {
        self.schema(self.current_schema_id)
    }

    pub fn schema(&self, id: i32) -> Result<&Schema> {
        self.schemas.iter().find(|s| s.schema_id == id).ok_or_else(|| invalid(format!("no schema {id}")))
    }

    pub fn spec(&self, id: i32) -> Result<&PartitionSpec> {
        self.partition_specs.iter().find(|s| s.spec_id == id).ok_or_else(|| invalid(format!("no partition spec {id}")))
    }

    pub fn default_spec(&self) -> Result<&PartitionSpec> {
        self.spec(self.default_spec_id)
    }

    pub fn snapshot(&self, id: i64) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.snapshot_id == id)
    }

    /// The snapshot the main branch is at, if any.
    pub fn current_snapshot(&self) -> Option<&Snapshot> {
        let id = self.refs.get(MAIN_BRANCH).map(|r| r.snapshot_id).or(self.current_snapshot_id)?;
        self.snapshot(id)
    }

    /// The snapshot that was current at a time (the last one committed at or before it).
    pub fn snapshot_as_of(&self, timestamp_ms: i64) -> Option<&Snapshot> {
        let id = self.snapshot_log.iter().rfind(|e| e.timestamp_ms <= timestamp_ms)?.snapshot_id;
        self.snapshot(id)
    }

    /// A snapshot id no snapshot has: positive, as other engines expect.
    pub fn new_snapshot_id(&self) -> i64 {
        loop {
            let id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) as i64;
            if id != 0 && self.snapshot(id).is_none() {
                return id;
            }
        }
    }

    /// Makes a snapshot the main branch's, logged.
    pub fn add_snapshot(&mut self, snapshot: Snapshot) {
        self.last_sequence_number = self.last_sequence_number.max(snapshot.sequence_number);
        self.last_updated_ms = snapshot.timestamp_ms;
        self.current_snapshot_id = Some(snapshot.snapshot_id);
        self.snapshot_log.push(SnapshotLogEntry { timestamp_ms: snapshot.timestamp_ms, snapshot_id: snapshot.snapshot_id });
        self.refs.insert(MAIN_BRANCH.into(), SnapshotRef { snapshot_id: snapshot.snapshot_id, kind: "branch".into(), extra: Map::new() });
        self.snapshots.push(snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_others_write() {
        // No current snapshot as `null` (pyiceberg) or -1 (Java), and members this crate does not
        // know, which are kept.
        let text = r#"{"format-version":2,"table-uuid":"u","location":"s3://b/t","last-sequence-number":0,"last-updated-ms":1,
            "last-column-id":1,"schemas":[{"type":"struct","schema-id":0,"fields":[{"id":1,"name":"x","required":false,"type":"long"}]}],
            "current-schema-id":0,"partition-specs":[{"spec-id":0,"fields":[]}],"default-spec-id":0,"last-partition-id":999,
            "current-snapshot-id":null,"statistics":[],"sort-orders":[{"order-id":0,"fields":[]}],"default-sort-order-id":0}"#;
        let m = TableMetadata::parse(text.as_bytes()).unwrap();
        assert_eq!(m.current_snapshot_id, None);
        assert!(m.extra.contains_key("statistics"));
        let out: Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(out["current-snapshot-id"], -1);
        assert_eq!(TableMetadata::parse(&m.to_json()).unwrap(), m);
    }
}
