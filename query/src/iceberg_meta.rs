//! An Iceberg table's metadata tables, as Athena names them (`"t$history"`, `"t$snapshots"`,
//! `"t$refs"`, `"t$manifests"`, `"t$files"`, `"t$partitions"`) with Trino's columns: built from
//! the metadata file and, for files and partitions, the current snapshot's manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, MapBuilder, RecordBatch, StringArray, StringBuilder, StructArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use iceberg::schema::Primitive;
use iceberg::table::Table;
use iceberg::values::Literal;

use crate::error::{Error, Result};

/// `2024-01-02 03:04:05.678 UTC` of milliseconds since the epoch.
pub fn millis_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()).unwrap_or_else(|| ms.to_string())
}

/// A partition value as a DataFusion scalar of the partition field's type.
pub fn scalar(v: Option<&Literal>, t: &Primitive) -> ScalarValue {
    let tz = || Some(Arc::from("UTC"));
    match (v, t) {
        (Some(Literal::Boolean(b)), _) => ScalarValue::Boolean(Some(*b)),
        (Some(Literal::Int(n)), _) => ScalarValue::Int32(Some(*n)),
        (Some(Literal::Long(n)), _) => ScalarValue::Int64(Some(*n)),
        (Some(Literal::Float(f)), _) => ScalarValue::Float32(Some(*f)),
        (Some(Literal::Double(f)), _) => ScalarValue::Float64(Some(*f)),
        (Some(Literal::Decimal(n)), Primitive::Decimal { precision, scale }) => ScalarValue::Decimal128(Some(*n), *precision, *scale as i8),
        (Some(Literal::Date(d)), _) => ScalarValue::Date32(Some(*d)),
        (Some(Literal::Timestamp(t)), _) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        (Some(Literal::TimestampTz(t)), _) => ScalarValue::TimestampMicrosecond(Some(*t), tz()),
        (Some(Literal::String(s)), _) => ScalarValue::Utf8(Some(s.clone())),
        (Some(Literal::Binary(b) | Literal::Fixed(b)), _) => ScalarValue::Binary(Some(b.clone())),
        (Some(other), _) => ScalarValue::Utf8(Some(other.human())),
        (None, t) => ScalarValue::try_from(&iceberg::schema::Type::Primitive(t.clone()).to_arrow()).unwrap_or(ScalarValue::Null),
    }
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn mem(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::DataFusion(e.into()))?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// The partition tuples of some files as a struct column, by the default spec.
fn partition_column(table: &Table, partitions: &[&Vec<Option<Literal>>]) -> Result<Option<(Field, ArrayRef)>> {
    let m = &table.metadata;
    let fields = m.default_spec()?.partition_type(m.current_schema()?)?;
    if fields.is_empty() {
        return Ok(None);
    }
    let mut columns: Vec<(Arc<Field>, ArrayRef)> = Vec::new();
    for (i, (_, name, t)) in fields.iter().enumerate() {
        let values = partitions.iter().map(|p| scalar(p.get(i).and_then(Option::as_ref), t));
        let array = if partitions.is_empty() {
            datafusion::arrow::array::new_empty_array(&iceberg::schema::Type::Primitive(t.clone()).to_arrow())
        } else {
            ScalarValue::iter_to_array(values)?
        };
        columns.push((Arc::new(Field::new(name, array.data_type().clone(), true)), array));
    }
    let array = StructArray::from(columns);
    Ok(Some((Field::new("partition", array.data_type().clone(), true), Arc::new(array))))
}

/// A partition's tuple, and its records, files and bytes.
type PartitionRow<'a> = (&'a Vec<Option<Literal>>, i64, i64, i64);

pub async fn metadata_table(table: &Table, kind: &str, name: &str) -> Result<Arc<dyn TableProvider>> {
    let m = &table.metadata;
    match kind {
        "history" => {
            let mut ancestors = BTreeSet::new();
            let mut at = m.current_snapshot();
            while let Some(s) = at {
                ancestors.insert(s.snapshot_id);
                at = s.parent_snapshot_id.and_then(|p| m.snapshot(p));
            }
            let log = &m.snapshot_log;
            mem(
                vec![
                    Field::new("made_current_at", ts_type(), false),
                    Field::new("snapshot_id", DataType::Int64, false),
                    Field::new("parent_id", DataType::Int64, true),
                    Field::new("is_current_ancestor", DataType::Boolean, false),
                ],
                vec![
                    Arc::new(TimestampMillisecondArray::from(log.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>()).with_timezone("UTC")),
                    Arc::new(Int64Array::from(log.iter().map(|e| e.snapshot_id).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(log.iter().map(|e| m.snapshot(e.snapshot_id).and_then(|s| s.parent_snapshot_id)).collect::<Vec<_>>())),
                    Arc::new(BooleanArray::from(log.iter().map(|e| ancestors.contains(&e.snapshot_id)).collect::<Vec<_>>())),
                ],
            )
        }
        "snapshots" => {
            let s = &m.snapshots;
            let mut summary = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
            for snap in s {
                for (k, v) in &snap.summary {
                    summary.keys().append_value(k);
                    summary.values().append_value(v);
                }
                summary.append(true).map_err(|e| Error::DataFusion(e.into()))?;
            }
            let summary = summary.finish();
            mem(
                vec![
                    Field::new("committed_at", ts_type(), false),
                    Field::new("snapshot_id", DataType::Int64, false),
                    Field::new("parent_id", DataType::Int64, true),
                    Field::new("operation", DataType::Utf8, true),
                    Field::new("manifest_list", DataType::Utf8, false),
                    Field::new("summary", summary.data_type().clone(), true),
                ],
                vec![
                    Arc::new(TimestampMillisecondArray::from(s.iter().map(|x| x.timestamp_ms).collect::<Vec<_>>()).with_timezone("UTC")),
                    Arc::new(Int64Array::from(s.iter().map(|x| x.snapshot_id).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(s.iter().map(|x| x.parent_snapshot_id).collect::<Vec<_>>())),
                    Arc::new(StringArray::from(s.iter().map(|x| x.summary.get("operation").cloned()).collect::<Vec<_>>())),
                    Arc::new(StringArray::from(s.iter().map(|x| x.manifest_list.clone()).collect::<Vec<_>>())),
                    Arc::new(summary),
                ],
            )
        }
        "refs" => {
            let refs: Vec<(&String, &iceberg::metadata::SnapshotRef)> = m.refs.iter().collect();
            let num = |r: &iceberg::metadata::SnapshotRef, k: &str| r.extra.get(k).and_then(serde_json::Value::as_i64);
            mem(
                vec![
                    Field::new("name", DataType::Utf8, false),
                    Field::new("type", DataType::Utf8, false),
                    Field::new("snapshot_id", DataType::Int64, false),
                    Field::new("max_reference_age_in_ms", DataType::Int64, true),
                    Field::new("min_snapshots_to_keep", DataType::Int32, true),
                    Field::new("max_snapshot_age_in_ms", DataType::Int64, true),
                ],
                vec![
                    Arc::new(StringArray::from(refs.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())),
                    Arc::new(StringArray::from(refs.iter().map(|(_, r)| r.kind.to_uppercase()).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(refs.iter().map(|(_, r)| r.snapshot_id).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(refs.iter().map(|(_, r)| num(r, "max-ref-age-ms")).collect::<Vec<_>>())),
                    Arc::new(Int32Array::from(refs.iter().map(|(_, r)| num(r, "min-snapshots-to-keep").map(|n| n as i32)).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(refs.iter().map(|(_, r)| num(r, "max-snapshot-age-ms")).collect::<Vec<_>>())),
                ],
            )
        }
        "manifests" => {
            let list = match m.current_snapshot() {
                Some(s) => table.manifests(s).await?,
                None => Vec::new(),
            };
            let int = |f: fn(&iceberg::manifest::ManifestFile) -> i32| Arc::new(Int32Array::from(list.iter().map(f).collect::<Vec<_>>())) as ArrayRef;
            let long =
                |f: fn(&iceberg::manifest::ManifestFile) -> i64| Arc::new(Int64Array::from(list.iter().map(f).collect::<Vec<_>>())) as ArrayRef;
            mem(
                vec![
                    Field::new("content", DataType::Int32, false),
                    Field::new("path", DataType::Utf8, false),
                    Field::new("length", DataType::Int64, false),
                    Field::new("partition_spec_id", DataType::Int32, false),
                    Field::new("added_snapshot_id", DataType::Int64, false),
                    Field::new("added_data_files_count", DataType::Int32, false),
                    Field::new("added_rows_count", DataType::Int64, false),
                    Field::new("existing_data_files_count", DataType::Int32, false),
                    Field::new("existing_rows_count", DataType::Int64, false),
                    Field::new("deleted_data_files_count", DataType::Int32, false),
                    Field::new("deleted_rows_count", DataType::Int64, false),
                ],
                vec![
                    int(|x| x.content),
                    Arc::new(StringArray::from(list.iter().map(|x| x.manifest_path.clone()).collect::<Vec<_>>())),
                    long(|x| x.manifest_length),
                    int(|x| x.partition_spec_id),
                    long(|x| x.added_snapshot_id),
                    int(|x| x.added_files_count),
                    long(|x| x.added_rows_count),
                    int(|x| x.existing_files_count),
                    long(|x| x.existing_rows_count),
                    int(|x| x.deleted_files_count),
                    long(|x| x.deleted_rows_count),
                ],
            )
        }
        "files" => {
            let files = table.files(m.current_snapshot()).await?;
            let all: Vec<&iceberg::table::ScanFile> = files.data.iter().chain(&files.deletes).collect();
            let mut fields = vec![
                Field::new("content", DataType::Int32, false),
                Field::new("file_path", DataType::Utf8, false),
                Field::new("file_format", DataType::Utf8, false),
                Field::new("spec_id", DataType::Int32, false),
            ];
            let mut columns: Vec<ArrayRef> = vec![
                Arc::new(Int32Array::from(all.iter().map(|f| f.file.content as i32).collect::<Vec<_>>())),
                Arc::new(StringArray::from(all.iter().map(|f| f.file.file_path.clone()).collect::<Vec<_>>())),
                Arc::new(StringArray::from(all.iter().map(|f| f.file.file_format.clone()).collect::<Vec<_>>())),
                Arc::new(Int32Array::from(all.iter().map(|f| f.spec_id).collect::<Vec<_>>())),
            ];
            let partitions: Vec<&Vec<Option<Literal>>> = all.iter().map(|f| &f.file.partition).collect();
            if let Some((field, column)) = partition_column(table, &partitions)? {
                fields.push(field);
                columns.push(column);
            }
            fields.push(Field::new("record_count", DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from(all.iter().map(|f| f.file.record_count).collect::<Vec<_>>())));
            fields.push(Field::new("file_size_in_bytes", DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from(all.iter().map(|f| f.file.file_size_in_bytes).collect::<Vec<_>>())));
            mem(fields, columns)
        }
        "partitions" => {
            let files = table.files(m.current_snapshot()).await?;
            // One row a partition (one row in all for an unpartitioned table).
            let mut by: BTreeMap<String, PartitionRow> = BTreeMap::new();
            for f in &files.data {
                let e = by.entry(format!("{:?}", f.file.partition)).or_insert((&f.file.partition, 0, 0, 0));
                e.1 += f.file.record_count;
                e.2 += 1;
                e.3 += f.file.file_size_in_bytes;
            }
            let rows: Vec<_> = by.into_values().collect();
            let mut fields = Vec::new();
            let mut columns: Vec<ArrayRef> = Vec::new();
            let partitions: Vec<&Vec<Option<Literal>>> = rows.iter().map(|r| r.0).collect();
            if let Some((field, column)) = partition_column(table, &partitions)? {
                fields.push(field);
                columns.push(column);
            }
            fields.extend([
                Field::new("record_count", DataType::Int64, false),
                Field::new("file_count", DataType::Int64, false),
                Field::new("total_size", DataType::Int64, false),
            ]);
            columns.push(Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())));
            columns.push(Arc::new(Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())));
            columns.push(Arc::new(Int64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())));
            mem(fields, columns)
        }
        _ => Err(Error::TableNotFound {
            database: name.split('.').next().unwrap_or_default().into(),
            table: format!("{}${kind}", name.split('.').nth(1).unwrap_or_default()),
        }),
    }
}
