//! Manifests (the data and delete files of a snapshot, with their partitions and column
//! statistics) and manifest lists (the manifests of a snapshot), as Avro object container files
//! with the specification's schemas and field ids. Read by member name, with the names both the
//! specification (Java) and pyiceberg use, so that files either wrote are read here.

use std::collections::BTreeMap;

use apache_avro::types::{Record, Value as Avro};
use serde_json::{Value, json};

use crate::schema::{Primitive, Schema};
use crate::values::Literal;
use crate::{Error, Result, invalid};

/// What a data or delete file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Data = 0,
    PositionDeletes = 1,
    EqualityDeletes = 2,
}

/// A manifest entry's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Existing = 0,
    Added = 1,
    Deleted = 2,
}

/// The field ids of a position delete file's columns, reserved by the specification.
pub const DELETE_FILE_PATH_ID: i32 = 2_147_483_546;
pub const DELETE_POS_ID: i32 = 2_147_483_545;

#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    pub content: Content,
    pub file_path: String,
    /// `PARQUET`, `AVRO` or `ORC`.
    pub file_format: String,
    /// The partition tuple, in the spec's field order.
    pub partition: Vec<Option<Literal>>,
    pub record_count: i64,
    pub file_size_in_bytes: i64,
    pub column_sizes: BTreeMap<i32, i64>,
    pub value_counts: BTreeMap<i32, i64>,
    pub null_value_counts: BTreeMap<i32, i64>,
    pub nan_value_counts: BTreeMap<i32, i64>,
    pub lower_bounds: BTreeMap<i32, Vec<u8>>,
    pub upper_bounds: BTreeMap<i32, Vec<u8>>,
    pub split_offsets: Option<Vec<i64>>,
    /// Equality delete files: the field ids rows are compared by.
    pub equality_ids: Option<Vec<i32>>,
    pub sort_order_id: Option<i32>,
}

impl DataFile {
    /// A Parquet position delete file (`file_path`, `pos` rows) of one partition.
    /// With the bounds of the data file paths and positions it names (`paths` and `positions`:
    /// the smallest and the largest), as the specification's writers record them, so that a
    /// reader applies it only to the data files in its range.
    pub fn position_deletes(
        file_path: String,
        partition: Vec<Option<Literal>>,
        record_count: i64,
        file_size_in_bytes: i64,
        paths: (&str, &str),
        positions: (i64, i64),
    ) -> DataFile {
        let mut f = DataFile { content: Content::PositionDeletes, ..DataFile::parquet(file_path, partition, record_count, file_size_in_bytes) };
        f.lower_bounds = BTreeMap::from([(DELETE_FILE_PATH_ID, paths.0.as_bytes().to_vec()), (DELETE_POS_ID, positions.0.to_le_bytes().to_vec())]);
        f.upper_bounds = BTreeMap::from([(DELETE_FILE_PATH_ID, paths.1.as_bytes().to_vec()), (DELETE_POS_ID, positions.1.to_le_bytes().to_vec())]);
        f
    }

    /// Whether this position delete file may name rows of the data file at `data_path`: false
    /// only when its `file_path` bounds leave the path out. Bounds compare as bytes (UTF-8 keeps
    /// the order of code points); a writer that truncates them keeps the range covering.
    pub fn may_reference(&self, data_path: &str) -> bool {
        let path = data_path.as_bytes();
        let above = self.lower_bounds.get(&DELETE_FILE_PATH_ID).is_none_or(|lower| lower.as_slice() <= path);
        let below = self.upper_bounds.get(&DELETE_FILE_PATH_ID).is_none_or(|upper| path <= upper.as_slice());
        above && below
    }

    /// A Parquet data file with its row count and size, no statistics yet.
    pub fn parquet(file_path: String, partition: Vec<Option<Literal>>, record_count: i64, file_size_in_bytes: i64) -> DataFile {
        DataFile {
            content: Content::Data,
            file_path,
            file_format: "PARQUET".into(),
            partition,
            record_count,
            file_size_in_bytes,
            column_sizes: BTreeMap::new(),
            value_counts: BTreeMap::new(),
            null_value_counts: BTreeMap::new(),
            nan_value_counts: BTreeMap::new(),
            lower_bounds: BTreeMap::new(),
            upper_bounds: BTreeMap::new(),
            split_offsets: None,
            equality_ids: None,
            sort_order_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    pub status: Status,
    pub snapshot_id: Option<i64>,
    /// The data sequence number (inherited from the manifest when the entry has none).
    pub sequence_number: Option<i64>,
    pub file_sequence_number: Option<i64>,
    pub data_file: DataFile,
}

/// A partition field's summary across a manifest's files.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSummary {
    pub contains_null: bool,
    pub contains_nan: Option<bool>,
    pub lower_bound: Option<Vec<u8>>,
    pub upper_bound: Option<Vec<u8>>,
}

/// A manifest as a manifest list describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestFile {
    pub manifest_path: String,
    pub manifest_length: i64,
    pub partition_spec_id: i32,
    /// 0 data, 1 deletes.
    pub content: i32,
    pub sequence_number: i64,
    pub min_sequence_number: i64,
    pub added_snapshot_id: i64,
    pub added_files_count: i32,
    pub existing_files_count: i32,
    pub deleted_files_count: i32,
    pub added_rows_count: i64,
    pub existing_rows_count: i64,
    pub deleted_rows_count: i64,
    pub partitions: Option<Vec<FieldSummary>>,
}

fn optional(t: Value, id: i32, name: &str) -> Value {
    json!({"name": name, "type": ["null", t], "default": null, "field-id": id})
}

fn required(t: Value, id: i32, name: &str) -> Value {
    json!({"name": name, "type": t, "field-id": id})
}

/// The Avro type of a partition value.
fn avro_type(p: &Primitive) -> Result<Value> {
    Ok(match p {
        Primitive::Boolean => json!("boolean"),
        Primitive::Int => json!("int"),
        Primitive::Long => json!("long"),
        Primitive::Float => json!("float"),
        Primitive::Double => json!("double"),
        Primitive::Date => json!({"type": "int", "logicalType": "date"}),
        Primitive::Time => json!({"type": "long", "logicalType": "time-micros"}),
        Primitive::Timestamp => json!({"type": "long", "logicalType": "timestamp-micros", "adjust-to-utc": false}),
        Primitive::Timestamptz => json!({"type": "long", "logicalType": "timestamp-micros", "adjust-to-utc": true}),
        Primitive::String => json!("string"),
        Primitive::Binary => json!("bytes"),
        other => return Err(Error::Unsupported(format!("partition values of type {} are not supported", other.name()))),
    })
}

fn int_map(id: i32, name: &str, key_id: i32, value_id: i32, value: &str) -> Value {
    let record = json!({
        "type": "record",
        "name": format!("k{key_id}_v{value_id}"),
        "fields": [{"name": "key", "type": "int", "field-id": key_id}, {"name": "value", "type": value, "field-id": value_id}],
    });
    optional(json!({"type": "array", "items": record, "logicalType": "map"}), id, name)
}

/// The Avro schema of a manifest's entries, for a partition type (field id, name, type).
pub fn entry_schema(partition: &[(i32, String, Primitive)]) -> Result<String> {
    let partition_fields = partition.iter().map(|(id, name, t)| Ok(optional(avro_type(t)?, *id, name))).collect::<Result<Vec<_>>>()?;
    let data_file = json!({
        "type": "record",
        "name": "r2",
        "fields": [
            required(json!("int"), 134, "content"),
            required(json!("string"), 100, "file_path"),
            required(json!("string"), 101, "file_format"),
            required(json!({"type": "record", "name": "r102", "fields": partition_fields}), 102, "partition"),
            required(json!("long"), 103, "record_count"),
            required(json!("long"), 104, "file_size_in_bytes"),
            int_map(108, "column_sizes", 117, 118, "long"),
            int_map(109, "value_counts", 119, 120, "long"),
            int_map(110, "null_value_counts", 121, 122, "long"),
            int_map(137, "nan_value_counts", 138, 139, "long"),
            int_map(125, "lower_bounds", 126, 127, "bytes"),
            int_map(128, "upper_bounds", 129, 130, "bytes"),
            optional(json!("bytes"), 131, "key_metadata"),
            optional(json!({"type": "array", "items": "long", "element-id": 133}), 132, "split_offsets"),
            optional(json!({"type": "array", "items": "int", "element-id": 136}), 135, "equality_ids"),
            optional(json!("int"), 140, "sort_order_id"),
        ],
    });
    let entry = json!({
        "type": "record",
        "name": "manifest_entry",
        "fields": [
            required(json!("int"), 0, "status"),
            optional(json!("long"), 1, "snapshot_id"),
            optional(json!("long"), 3, "sequence_number"),
            optional(json!("long"), 4, "file_sequence_number"),
            required(data_file, 2, "data_file"),
        ],
    });
    Ok(entry.to_string())
}

/// The Avro schema of a manifest list.
pub fn manifest_list_schema() -> String {
    let summary = json!({
        "type": "record",
        "name": "r508",
        "fields": [
            required(json!("boolean"), 509, "contains_null"),
            optional(json!("boolean"), 518, "contains_nan"),
            optional(json!("bytes"), 510, "lower_bound"),
            optional(json!("bytes"), 511, "upper_bound"),
        ],
    });
    json!({
        "type": "record",
        "name": "manifest_file",
        "fields": [
            required(json!("string"), 500, "manifest_path"),
            required(json!("long"), 501, "manifest_length"),
            required(json!("int"), 502, "partition_spec_id"),
            required(json!("int"), 517, "content"),
            required(json!("long"), 515, "sequence_number"),
            required(json!("long"), 516, "min_sequence_number"),
            required(json!("long"), 503, "added_snapshot_id"),
            required(json!("int"), 504, "added_files_count"),
            required(json!("int"), 505, "existing_files_count"),
            required(json!("int"), 506, "deleted_files_count"),
            required(json!("long"), 512, "added_rows_count"),
            required(json!("long"), 513, "existing_rows_count"),
            required(json!("long"), 514, "deleted_rows_count"),
            optional(json!({"type": "array", "items": summary, "element-id": 508}), 507, "partitions"),
            optional(json!("bytes"), 519, "key_metadata"),
        ],
    })
    .to_string()
}

/// A zigzag varint of Avro's binary encoding, at `at`.
fn read_long(b: &[u8], at: &mut usize) -> Result<i64> {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let byte = *b.get(*at).ok_or_else(|| invalid("a truncated Avro header"))?;
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((n >> 1) as i64 ^ -((n & 1) as i64));
        }
        shift += 7;
        if shift > 63 {
            return Err(invalid("a bad varint in an Avro header"));
        }
    }
}

fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

/// The file with `avro.schema` in its header replaced by the schema as written here: the Avro
/// library drops attributes it does not know (an array's `logicalType: map`), which Iceberg
/// readers need. The data blocks are the same bytes either way.
fn with_schema_text(file: Vec<u8>, schema: &str) -> Result<Vec<u8>> {
    if !file.starts_with(b"Obj\x01") {
        return Err(invalid("not an Avro object container file"));
    }
    let mut at = 4;
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        let mut count = read_long(&file, &mut at)?;
        if count == 0 {
            break;
        }
        if count < 0 {
            count = -count;
            read_long(&file, &mut at)?;
        }
        for _ in 0..count {
            let mut take = || -> Result<Vec<u8>> {
                let len = read_long(&file, &mut at)? as usize;
                let v = file.get(at..at + len).ok_or_else(|| invalid("a truncated Avro header"))?.to_vec();
                at += len;
                Ok(v)
            };
            let k = take()?;
            let v = take()?;
            entries.push((k, v));
        }
    }
    let mut out = b"Obj\x01".to_vec();
    write_long(&mut out, entries.len() as i64);
    for (k, v) in entries {
        let v = if k == b"avro.schema" { schema.as_bytes().to_vec() } else { v };
        write_long(&mut out, k.len() as i64);
        out.extend_from_slice(&k);
        write_long(&mut out, v.len() as i64);
        out.extend_from_slice(&v);
    }
    write_long(&mut out, 0);
    out.extend_from_slice(&file[at..]);
    Ok(out)
}

fn avro_err(e: impl std::fmt::Display) -> Error {
    invalid(format!("Avro: {e}"))
}

fn some(v: Avro) -> Avro {
    Avro::Union(1, Box::new(v))
}

fn none() -> Avro {
    Avro::Union(0, Box::new(Avro::Null))
}

fn map_of<V>(m: &BTreeMap<i32, V>, value: impl Fn(&V) -> Avro) -> Avro {
    if m.is_empty() {
        return none();
    }
    some(Avro::Array(m.iter().map(|(k, v)| Avro::Record(vec![("key".into(), Avro::Int(*k)), ("value".into(), value(v))])).collect()))
}

/// Writes a manifest: an Avro file with the table's schema and the partition spec in its
/// metadata, as readers expect.
pub fn write_manifest(
    entries: &[ManifestEntry],
    schema: &Schema,
    spec: &crate::partition::PartitionSpec,
    partition: &[(i32, String, Primitive)],
    content: &str,
) -> Result<Vec<u8>> {
    let schema_text = entry_schema(partition)?;
    let avro_schema = apache_avro::Schema::parse_str(&schema_text).map_err(avro_err)?;
    let mut writer = apache_avro::Writer::with_codec(&avro_schema, Vec::new(), apache_avro::Codec::Deflate(Default::default())).map_err(avro_err)?;
    let meta = [
        ("schema", serde_json::to_string(schema).unwrap_or_default()),
        ("schema-id", schema.schema_id.to_string()),
        ("partition-spec", serde_json::to_string(&spec.fields).unwrap_or_default()),
        ("partition-spec-id", spec.spec_id.to_string()),
        ("format-version", "2".into()),
        ("content", content.into()),
    ];
    for (k, v) in meta {
        writer.add_user_metadata(k.into(), v).map_err(avro_err)?;
    }
    for e in entries {
        let f = &e.data_file;
        let partition_record = Avro::Record(
            partition
                .iter()
                .zip(&f.partition)
                .map(|((_, name, _), v)| (name.clone(), v.as_ref().map(|l| some(l.to_avro())).unwrap_or_else(none)))
                .collect(),
        );
        let data_file = Avro::Record(vec![
            ("content".into(), Avro::Int(f.content as i32)),
            ("file_path".into(), Avro::String(f.file_path.clone())),
            ("file_format".into(), Avro::String(f.file_format.clone())),
            ("partition".into(), partition_record),
            ("record_count".into(), Avro::Long(f.record_count)),
            ("file_size_in_bytes".into(), Avro::Long(f.file_size_in_bytes)),
            ("column_sizes".into(), map_of(&f.column_sizes, |v| Avro::Long(*v))),
            ("value_counts".into(), map_of(&f.value_counts, |v| Avro::Long(*v))),
            ("null_value_counts".into(), map_of(&f.null_value_counts, |v| Avro::Long(*v))),
            ("nan_value_counts".into(), map_of(&f.nan_value_counts, |v| Avro::Long(*v))),
            ("lower_bounds".into(), map_of(&f.lower_bounds, |v| Avro::Bytes(v.clone()))),
            ("upper_bounds".into(), map_of(&f.upper_bounds, |v| Avro::Bytes(v.clone()))),
            ("key_metadata".into(), none()),
            (
                "split_offsets".into(),
                f.split_offsets.as_ref().map(|s| some(Avro::Array(s.iter().map(|n| Avro::Long(*n)).collect()))).unwrap_or_else(none),
            ),
            (
                "equality_ids".into(),
                f.equality_ids.as_ref().map(|s| some(Avro::Array(s.iter().map(|n| Avro::Int(*n)).collect()))).unwrap_or_else(none),
            ),
            ("sort_order_id".into(), f.sort_order_id.map(|n| some(Avro::Int(n))).unwrap_or_else(none)),
        ]);
        let opt_long = |v: Option<i64>| v.map(|n| some(Avro::Long(n))).unwrap_or_else(none);
        let mut record = Record::new(writer.schema()).ok_or_else(|| invalid("a manifest entry's schema is a record"))?;
        record.put("status", Avro::Int(e.status as i32));
        record.put("snapshot_id", opt_long(e.snapshot_id));
        record.put("sequence_number", opt_long(e.sequence_number));
        record.put("file_sequence_number", opt_long(e.file_sequence_number));
        record.put("data_file", data_file);
        writer.append_value(record).map_err(avro_err)?;
    }
    with_schema_text(writer.into_inner().map_err(avro_err)?, &schema_text)
}

/// Writes a manifest list.
pub fn write_manifest_list(manifests: &[ManifestFile], snapshot_id: i64, parent: Option<i64>, sequence_number: i64) -> Result<Vec<u8>> {
    let schema_text = manifest_list_schema();
    let avro_schema = apache_avro::Schema::parse_str(&schema_text).map_err(avro_err)?;
    let mut writer = apache_avro::Writer::with_codec(&avro_schema, Vec::new(), apache_avro::Codec::Deflate(Default::default())).map_err(avro_err)?;
    let meta = [
        ("snapshot-id", snapshot_id.to_string()),
        ("parent-snapshot-id", parent.map(|p| p.to_string()).unwrap_or_else(|| "null".into())),
        ("sequence-number", sequence_number.to_string()),
        ("format-version", "2".into()),
    ];
    for (k, v) in meta {
        writer.add_user_metadata(k.into(), v).map_err(avro_err)?;
    }
    for m in manifests {
        let mut record = Record::new(writer.schema()).ok_or_else(|| invalid("a manifest list's schema is a record"))?;
        record.put("manifest_path", Avro::String(m.manifest_path.clone()));
        record.put("manifest_length", Avro::Long(m.manifest_length));
        record.put("partition_spec_id", Avro::Int(m.partition_spec_id));
        record.put("content", Avro::Int(m.content));
        record.put("sequence_number", Avro::Long(m.sequence_number));
        record.put("min_sequence_number", Avro::Long(m.min_sequence_number));
        record.put("added_snapshot_id", Avro::Long(m.added_snapshot_id));
        record.put("added_files_count", Avro::Int(m.added_files_count));
        record.put("existing_files_count", Avro::Int(m.existing_files_count));
        record.put("deleted_files_count", Avro::Int(m.deleted_files_count));
        record.put("added_rows_count", Avro::Long(m.added_rows_count));
        record.put("existing_rows_count", Avro::Long(m.existing_rows_count));
        record.put("deleted_rows_count", Avro::Long(m.deleted_rows_count));
        let partitions = m.partitions.as_ref().map(|p| {
            some(Avro::Array(
                p.iter()
                    .map(|s| {
                        Avro::Record(vec![
                            ("contains_null".into(), Avro::Boolean(s.contains_null)),
                            ("contains_nan".into(), s.contains_nan.map(|b| some(Avro::Boolean(b))).unwrap_or_else(none)),
                            ("lower_bound".into(), s.lower_bound.clone().map(|b| some(Avro::Bytes(b))).unwrap_or_else(none)),
                            ("upper_bound".into(), s.upper_bound.clone().map(|b| some(Avro::Bytes(b))).unwrap_or_else(none)),
                        ])
                    })
                    .collect(),
            ))
        });
        record.put("partitions", partitions.unwrap_or_else(none));
        record.put("key_metadata", none());
        writer.append_value(record).map_err(avro_err)?;
    }
    with_schema_text(writer.into_inner().map_err(avro_err)?, &schema_text)
}

// ---- reading ----

fn unwrap_union(v: &Avro) -> &Avro {
    match v {
        Avro::Union(_, inner) => inner,
        v => v,
    }
}

/// A record's member by any of its names.
fn member<'a>(record: &'a [(String, Avro)], names: &[&str]) -> Option<&'a Avro> {
    names.iter().find_map(|n| record.iter().find(|(k, _)| k == n).map(|(_, v)| unwrap_union(v))).filter(|v| !matches!(v, Avro::Null))
}

fn as_long(v: Option<&Avro>) -> Option<i64> {
    match v? {
        Avro::Long(n) => Some(*n),
        Avro::Int(n) => Some(i64::from(*n)),
        _ => None,
    }
}

fn fields(v: &Avro) -> Result<&[(String, Avro)]> {
    match unwrap_union(v) {
        Avro::Record(r) => Ok(r),
        other => Err(invalid(format!("expected an Avro record, found {other:?}"))),
    }
}

fn read_map<V>(v: Option<&Avro>, value: impl Fn(&Avro) -> Option<V>) -> BTreeMap<i32, V> {
    let mut out = BTreeMap::new();
    match v {
        Some(Avro::Array(items)) => {
            for item in items {
                if let Avro::Record(kv) = item
                    && let (Some(Avro::Int(k)), Some(val)) = (member(kv, &["key"]), member(kv, &["value"]))
                    && let Some(val) = value(val)
                {
                    out.insert(*k, val);
                }
            }
        }
        // A map written as Avro's own map (string keys).
        Some(Avro::Map(m)) => {
            for (k, val) in m {
                if let (Ok(k), Some(val)) = (k.parse(), value(val)) {
                    out.insert(k, val);
                }
            }
        }
        _ => {}
    }
    out
}

fn bytes_of(v: &Avro) -> Option<Vec<u8>> {
    match v {
        Avro::Bytes(b) | Avro::Fixed(_, b) => Some(b.clone()),
        _ => None,
    }
}

fn long_list(v: Option<&Avro>) -> Option<Vec<i64>> {
    match v? {
        Avro::Array(items) => Some(items.iter().filter_map(|i| as_long(Some(i))).collect()),
        _ => None,
    }
}

/// Reads a manifest's entries. Partition values are read by the spec's field names, in its order.
pub fn read_manifest(bytes: &[u8], partition: &[(i32, String, Primitive)]) -> Result<Vec<ManifestEntry>> {
    let reader = apache_avro::Reader::new(bytes).map_err(avro_err)?;
    let mut out = Vec::new();
    for value in reader {
        let value = value.map_err(avro_err)?;
        let entry = fields(&value)?;
        let f = fields(member(entry, &["data_file"]).ok_or_else(|| invalid("a manifest entry without data_file"))?)?;
        let part = member(f, &["partition"]).map(fields).transpose()?.unwrap_or(&[]);
        let partition_values = partition
            .iter()
            .enumerate()
            .map(|(i, (_, name, t))| {
                let v = part.iter().find(|(k, _)| k == name).map(|(_, v)| v).or_else(|| part.get(i).map(|(_, v)| v));
                match v {
                    Some(v) => Literal::from_avro(v, t),
                    None => Ok(None),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let content = match as_long(member(f, &["content"])).unwrap_or(0) {
            0 => Content::Data,
            1 => Content::PositionDeletes,
            2 => Content::EqualityDeletes,
            n => return Err(invalid(format!("data file content {n}"))),
        };
        let status = match as_long(member(entry, &["status"])).unwrap_or(1) {
            0 => Status::Existing,
            1 => Status::Added,
            2 => Status::Deleted,
            n => return Err(invalid(format!("manifest entry status {n}"))),
        };
        let text = |names: &[&str]| match member(f, names) {
            Some(Avro::String(s)) => Ok(s.clone()),
            _ => Err(invalid(format!("a data file without {}", names[0]))),
        };
        out.push(ManifestEntry {
            status,
            snapshot_id: as_long(member(entry, &["snapshot_id"])),
            sequence_number: as_long(member(entry, &["sequence_number", "data_sequence_number"])),
            file_sequence_number: as_long(member(entry, &["file_sequence_number"])),
            data_file: DataFile {
                content,
                file_path: text(&["file_path"])?,
                file_format: text(&["file_format"])?.to_uppercase(),
                partition: partition_values,
                record_count: as_long(member(f, &["record_count"])).unwrap_or(0),
                file_size_in_bytes: as_long(member(f, &["file_size_in_bytes"])).unwrap_or(0),
                column_sizes: read_map(member(f, &["column_sizes"]), |v| as_long(Some(v))),
                value_counts: read_map(member(f, &["value_counts"]), |v| as_long(Some(v))),
                null_value_counts: read_map(member(f, &["null_value_counts"]), |v| as_long(Some(v))),
                nan_value_counts: read_map(member(f, &["nan_value_counts"]), |v| as_long(Some(v))),
                lower_bounds: read_map(member(f, &["lower_bounds"]), bytes_of),
                upper_bounds: read_map(member(f, &["upper_bounds"]), bytes_of),
                split_offsets: long_list(member(f, &["split_offsets"])),
                equality_ids: long_list(member(f, &["equality_ids"])).map(|l| l.into_iter().map(|n| n as i32).collect()),
                sort_order_id: as_long(member(f, &["sort_order_id"])).map(|n| n as i32),
            },
        });
    }
    Ok(out)
}

/// Reads a manifest list (v1 lists too: their members' older names, no content or sequence numbers).
pub fn read_manifest_list(bytes: &[u8]) -> Result<Vec<ManifestFile>> {
    let reader = apache_avro::Reader::new(bytes).map_err(avro_err)?;
    let mut out = Vec::new();
    for value in reader {
        let value = value.map_err(avro_err)?;
        let r = fields(&value)?;
        let long = |names: &[&str]| as_long(member(r, names)).unwrap_or(0);
        let partitions = match member(r, &["partitions"]) {
            Some(Avro::Array(items)) => Some(
                items
                    .iter()
                    .map(|i| {
                        let s = fields(i)?;
                        Ok(FieldSummary {
                            contains_null: matches!(member(s, &["contains_null"]), Some(Avro::Boolean(true))),
                            contains_nan: match member(s, &["contains_nan"]) {
                                Some(Avro::Boolean(b)) => Some(*b),
                                _ => None,
                            },
                            lower_bound: member(s, &["lower_bound"]).and_then(bytes_of),
                            upper_bound: member(s, &["upper_bound"]).and_then(bytes_of),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            _ => None,
        };
        out.push(ManifestFile {
            manifest_path: match member(r, &["manifest_path"]) {
                Some(Avro::String(s)) => s.clone(),
                _ => return Err(invalid("a manifest list entry without manifest_path")),
            },
            manifest_length: long(&["manifest_length"]),
            partition_spec_id: long(&["partition_spec_id"]) as i32,
            content: long(&["content"]) as i32,
            sequence_number: long(&["sequence_number"]),
            min_sequence_number: long(&["min_sequence_number"]),
            added_snapshot_id: long(&["added_snapshot_id"]),
            added_files_count: long(&["added_files_count", "added_data_files_count"]) as i32,
            existing_files_count: long(&["existing_files_count", "existing_data_files_count"]) as i32,
            deleted_files_count: long(&["deleted_files_count", "deleted_data_files_count"]) as i32,
            added_rows_count: long(&["added_rows_count"]),
            existing_rows_count: long(&["existing_rows_count"]),
            deleted_rows_count: long(&["deleted_rows_count"]),
            partitions,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{PartitionSpec, Transform};

    #[test]
    fn manifests_round_trip() {
        let schema = Schema::from_json(&json!({"type": "struct", "schema-id": 0, "fields": [
            {"id": 1, "name": "id", "required": false, "type": "long"},
            {"id": 2, "name": "day", "required": false, "type": "date"},
        ]}))
        .unwrap();
        let spec = PartitionSpec::from_terms(&[(Transform::Identity, "day".into())], &schema).unwrap();
        let partition = spec.partition_type(&schema).unwrap();
        let mut file = DataFile::parquet("s3://b/t/data/day=2024-01-01/a.parquet".into(), vec![Some(Literal::Date(19_723))], 10, 1234);
        file.value_counts.insert(1, 10);
        file.lower_bounds.insert(1, Literal::Long(3).to_bytes());
        let entries = vec![ManifestEntry {
            status: Status::Added,
            snapshot_id: Some(7),
            sequence_number: Some(1),
            file_sequence_number: Some(1),
            data_file: file,
        }];
        let bytes = write_manifest(&entries, &schema, &spec, &partition, "data").unwrap();
        assert_eq!(read_manifest(&bytes, &partition).unwrap(), entries);
        let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
        assert_eq!(reader.user_metadata()["partition-spec-id"], b"0");
        // The header's schema is the one written here, attributes Iceberg readers need included.
        let header = String::from_utf8_lossy(&bytes[..4096.min(bytes.len())]).into_owned();
        assert!(header.contains(r#""logicalType":"map""#) && header.contains(r#""field-id":102"#), "{header}");

        let list = vec![ManifestFile {
            manifest_path: "s3://b/t/metadata/m.avro".into(),
            manifest_length: bytes.len() as i64,
            partition_spec_id: 0,
            content: 0,
            sequence_number: 1,
            min_sequence_number: 1,
            added_snapshot_id: 7,
            added_files_count: 1,
            existing_files_count: 0,
            deleted_files_count: 0,
            added_rows_count: 10,
            existing_rows_count: 0,
            deleted_rows_count: 0,
            partitions: Some(vec![FieldSummary { contains_null: false, contains_nan: None, lower_bound: Some(vec![1]), upper_bound: None }]),
        }];
        let bytes = write_manifest_list(&list, 7, None, 1).unwrap();
        assert_eq!(read_manifest_list(&bytes).unwrap(), list);
        // Unpartitioned: an empty partition record.
        let unpartitioned = write_manifest(&[], &schema, &PartitionSpec::unpartitioned(), &[], "data").unwrap();
        assert!(read_manifest(&unpartitioned, &[]).unwrap().is_empty());
    }

    #[test]
    fn position_deletes_apply_within_their_path_bounds() {
        let d = DataFile::position_deletes(
            "s3://b/t/data/d.parquet".into(),
            vec![],
            3,
            100,
            ("s3://b/t/data/b.parquet", "s3://b/t/data/c.parquet"),
            (4, 9),
        );
        assert_eq!(d.lower_bounds[&DELETE_POS_ID], 4i64.to_le_bytes());
        assert_eq!(d.upper_bounds[&DELETE_FILE_PATH_ID], b"s3://b/t/data/c.parquet");
        for (path, may) in [
            ("s3://b/t/data/a.parquet", false),
            ("s3://b/t/data/b.parquet", true),
            ("s3://b/t/data/bb.parquet", true),
            ("s3://b/t/data/c.parquet", true),
            ("s3://b/t/data/d.parquet", false),
        ] {
            assert_eq!(d.may_reference(path), may, "{path}");
        }
        // Without bounds (another writer left them out) it may name any file.
        let unbounded = DataFile { content: Content::PositionDeletes, ..DataFile::parquet("s3://b/t/data/e.parquet".into(), vec![], 1, 10) };
        assert!(unbounded.may_reference("s3://b/t/data/a.parquet"));
    }
}
