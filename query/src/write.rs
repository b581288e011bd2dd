//! Statements that write data: CREATE TABLE AS, INSERT INTO and UNLOAD. Each writes Parquet,
//! JSON lines or delimited text (GZIP-compressed unless told otherwise, as Athena does), into
//! Hive partitions and buckets, lists what it wrote in a manifest, and registers tables and
//! partitions in the catalog only once the data is in place. A statement that fails removes the
//! files it wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use catalog::{Column, SerDeInfo, StorageDescriptor, Table};
use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::{CsvOptions, JsonOptions, TableParquetOptions};
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::logical_expr::{Expr, ScalarUDF};
use storage::{ListQuery, S3Location, Store};

use crate::context::{Context, Outcome};
use crate::error::{Error, Result};
use crate::location::{self, directory_url};
use crate::partitioned::{partition_for, partition_path};
use crate::results::put_bytes;
use crate::sql::{CreateTableAs, Insert, Unload, Write};
use crate::types::{ColumnInfo, arrow_to_hive, type_name};
use crate::views::is_view;

/// Athena writes at most this many partition and bucket combinations in one statement.
const MAX_WRITERS: usize = 100;

/// Runs a statement that writes rows.
pub(crate) async fn run(cx: &Context, write: Write) -> Result<Outcome> {
    match write {
        Write::CreateTableAs(ctas) => create_table_as(cx, ctas).await,
        Write::Insert(insert) => insert_into(cx, insert).await,
        Write::Unload(unload) => self::unload(cx, unload).await,
        Write::RowChange(change) => {
            // Row-level changes work on Iceberg tables only; a Hive table refuses them as Trino's
            // Hive connector does, once it is known to exist.
            let table = cx.table(&change.target)?;
            if !crate::iceberg_scan::is_iceberg(&table) {
                return Err(invalid("Modifying Hive table rows is only supported for transactional tables"));
            }
            crate::iceberg_tables::row_change(cx, &table, &change).await
        }
        Write::Maintenance(m) => {
            let table = cx.table(&m.target)?;
            if !crate::iceberg_scan::is_iceberg(&table) {
                return Err(invalid(format!("{} is supported for Iceberg tables only", m.kind)));
            }
            match m.kind.as_str() {
                "OPTIMIZE" => crate::iceberg_tables::optimize(cx, &table, m.filter.as_deref()).await,
                _ => crate::iceberg_tables::vacuum(cx, &table).await,
            }
        }
    }
}

/// Where a write's files go: the bucket, the directory (key prefix) and, for bucketed writes,
/// the staging directory files are renamed out of.
struct Target<'a> {
    bucket: &'a str,
    prefix: &'a str,
    staging: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
enum Format {
    Parquet,
    Json,
    Text { delimiter: char },
}

/// How and where a statement writes.
#[derive(Debug, Clone)]
struct Spec {
    format: Format,
    /// Athena's name: GZIP, SNAPPY, ZSTD, LZ4, NONE, …
    compression: String,
    partitioned_by: Vec<String>,
    bucketed_by: Vec<String>,
    buckets: usize,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

impl Spec {
    fn from_properties(p: &BTreeMap<String, String>, default_format: Format) -> Result<Spec> {
        let format = match p.get("format").map(|f| f.to_ascii_uppercase()) {
            None => default_format,
            Some(f) => match f.as_str() {
                "PARQUET" => Format::Parquet,
                "JSON" => Format::Json,
                "TEXTFILE" | "CSV" => {
                    let default = if f == "CSV" { ',' } else { '\u{1}' };
                    let d = p.get("field_delimiter").cloned().unwrap_or_else(|| default.to_string());
                    let mut chars = d.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Format::Text { delimiter: c },
                        _ => return Err(invalid(format!("field_delimiter must be one character, got {d:?}"))),
                    }
                }
                "ORC" | "AVRO" | "ION" => return Err(invalid(format!("format {f} is not supported (PARQUET, JSON and TEXTFILE are)"))),
                other => return Err(invalid(format!("Unknown format: {other}"))),
            },
        };
        let compression = p
            .get("write_compression")
            .or_else(|| p.get("compression"))
            .or_else(|| p.get("parquet_compression"))
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_else(|| "GZIP".into());
        let list = |k: &str| -> Vec<String> {
            p.get(k).map(|v| v.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
        };
        let bucketed_by = list("bucketed_by");
        let buckets = match p.get("bucket_count") {
            Some(n) => n.parse::<usize>().map_err(|_| invalid(format!("bucket_count must be a number, got {n}")))?,
            None => 0,
        };
        if !bucketed_by.is_empty() && buckets == 0 {
            return Err(invalid("bucketed_by needs a bucket_count"));
        }
        if bucketed_by.is_empty() && buckets > 0 {
            return Err(invalid("bucket_count needs bucketed_by"));
        }
        if let Some(t) = p.get("table_type")
            && !t.eq_ignore_ascii_case("hive")
        {
            return Err(invalid(format!("table_type {t} is not supported")));
        }
        Ok(Spec { format, compression, partitioned_by: list("partitioned_by"), bucketed_by, buckets })
    }

    /// The file compression of text and JSON files, and how the catalog names it.
    fn text_compression(&self) -> Result<(CompressionTypeVariant, Option<&'static str>, &'static str)> {
        Ok(match self.compression.as_str() {
            "GZIP" | "DEFLATE" => (CompressionTypeVariant::GZIP, Some("gzip"), ".gz"),
            "BZIP2" => (CompressionTypeVariant::BZIP2, Some("bzip2"), ".bz2"),
            "ZSTD" => (CompressionTypeVariant::ZSTD, Some("zstd"), ".zst"),
            "NONE" | "UNCOMPRESSED" => (CompressionTypeVariant::UNCOMPRESSED, None, ""),
            other => return Err(invalid(format!("write_compression {other} is not supported for text and JSON files"))),
        })
    }

    fn parquet_compression(&self) -> Result<&'static str> {
        Ok(match self.compression.as_str() {
            "GZIP" => "gzip(6)",
            "SNAPPY" => "snappy",
            "ZSTD" => "zstd(3)",
            "LZ4" => "lz4_raw",
            "NONE" | "UNCOMPRESSED" => "uncompressed",
            other => return Err(invalid(format!("write_compression {other} is not supported for Parquet"))),
        })
    }

    /// The catalog's storage descriptor for files written this way.
    fn storage(&self, columns: Vec<Column>, location: &str) -> Result<(StorageDescriptor, BTreeMap<String, String>)> {
        let mut parameters = BTreeMap::new();
        parameters.insert("EXTERNAL".to_string(), "TRUE".to_string());
        parameters.insert("has_encrypted_data".to_string(), "false".to_string());
        let (input, output, library, serde_params) = match &self.format {
            Format::Parquet => {
                parameters.insert("classification".into(), "parquet".into());
                parameters.insert("parquet.compression".into(), self.compression.clone());
                (
                    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                    vec![("serialization.format".to_string(), "1".to_string())],
                )
            }
            Format::Json => {
                parameters.insert("classification".into(), "json".into());
                (
                    "org.apache.hadoop.mapred.TextInputFormat",
                    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "org.openx.data.jsonserde.JsonSerDe",
                    Vec::new(),
                )
            }
            Format::Text { delimiter } => {
                parameters.insert("classification".into(), "csv".into());
                (
                    "org.apache.hadoop.mapred.TextInputFormat",
                    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    vec![("field.delim".to_string(), delimiter.to_string()), ("serialization.format".to_string(), delimiter.to_string())],
                )
            }
        };
        if self.format != Format::Parquet
            && let (_, Some(name), _) = self.text_compression()?
        {
            parameters.insert("compressionType".into(), name.into());
        }
        let sd = StorageDescriptor {
            columns,
            location: Some(location.trim_end_matches('/').to_string()),
            input_format: Some(input.into()),
            output_format: Some(output.into()),
            compressed: self.compression != "NONE",
            number_of_buckets: if self.buckets > 0 { self.buckets as i64 } else { -1 },
            bucket_columns: self.bucketed_by.clone(),
            serde_info: Some(SerDeInfo {
                serialization_library: Some(library.into()),
                parameters: serde_params.into_iter().collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((sd, parameters))
    }
}

/// What a write produced.
#[derive(Debug, Default)]
struct Written {
    rows: u64,
    /// Every file written, as `s3://` URLs.
    files: Vec<String>,
    /// The partitions the files went to (values in key order).
    partitions: BTreeSet<Vec<String>>,
}

fn rows_of(batches: &[datafusion::arrow::array::RecordBatch]) -> u64 {
    batches.first().and_then(|b| b.column(0).as_primitive_opt::<datafusion::arrow::datatypes::UInt64Type>().map(|a| a.value(0))).unwrap_or(0)
}

/// A stable bucket number for a row's bucketing columns.
fn bucket_expr(columns: &[String], buckets: usize) -> Expr {
    let args: Vec<Expr> = columns
        .iter()
        .map(|c| Expr::Column(datafusion::common::Column::from_name(c)))
        .chain([datafusion::logical_expr::lit(buckets as i64)])
        .collect();
    bucket().call(args)
}

/// `__bucket(c1, …, n)`: the Hive bucket (`0..n`) of a row's bucketing columns, as Athena
/// (Trino's Hive bucketing, version 1) numbers bucket files, so that Athena reads the tables
/// Minerva writes with the right rows in each bucket.
fn bucket() -> ScalarUDF {
    crate::functions::func("__bucket", &[2, 3, 4, 5, 6, 7, 8], crate::functions::Ret::Fixed(|| DataType::Int64), |a, _| {
        let (columns, n) = a.split_at(a.len() - 1);
        let n = datafusion::arrow::compute::cast(&n[0], &DataType::Int64)?;
        let n = datafusion::arrow::array::AsArray::as_primitive::<datafusion::arrow::datatypes::Int64Type>(&n);
        let rows = a[0].len();
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            let mut h: i32 = 0;
            for c in columns {
                h = h.wrapping_mul(31).wrapping_add(hive_hash(c.as_ref(), i)?);
            }
            let buckets = n.value(i).clamp(1, i32::MAX as i64) as i32;
            out.push(((h & i32::MAX) % buckets) as i64);
        }
        Ok(Arc::new(Int64Array::from(out)))
    })
}

/// Hive's hash of one value (`ObjectInspectorUtils.hashCode`, which Trino's bucketing v1
/// mirrors): integers as themselves, a bigint's halves xor-ed, floats by their bits, strings by
/// `31 * h + byte` over their UTF-8 bytes (signed), dates as days, arrays and maps by their
/// elements; NULL is 0. Hive cannot bucket on the other types, and neither can Athena.
fn hive_hash(array: &dyn Array, i: usize) -> datafusion::common::Result<i32> {
    use datafusion::arrow::datatypes as t;
    if array.is_null(i) {
        return Ok(0);
    }
    let fold_long = |v: i64| ((v as u64 >> 32) as i64 ^ v) as i32;
    let bytes = |b: &[u8]| b.iter().fold(0i32, |h, &x| h.wrapping_mul(31).wrapping_add(x as i8 as i32));
    Ok(match array.data_type() {
        DataType::Boolean => array.as_boolean().value(i) as i32,
        DataType::Int8 => array.as_primitive::<t::Int8Type>().value(i) as i32,
        DataType::Int16 => array.as_primitive::<t::Int16Type>().value(i) as i32,
        DataType::Int32 => array.as_primitive::<t::Int32Type>().value(i),
        DataType::Int64 => fold_long(array.as_primitive::<t::Int64Type>().value(i)),
        DataType::Float32 => {
            let v = array.as_primitive::<t::Float32Type>().value(i);
            // Java's floatToIntBits: every NaN is the canonical one.
            (if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() }) as i32
        }
        DataType::Float64 => {
            let v = array.as_primitive::<t::Float64Type>().value(i);
            fold_long((if v.is_nan() { 0x7ff8_0000_0000_0000 } else { v.to_bits() }) as i64)
        }
        DataType::Utf8 => bytes(array.as_string::<i32>().value(i).as_bytes()),
        DataType::LargeUtf8 => bytes(array.as_string::<i64>().value(i).as_bytes()),
        DataType::Utf8View => bytes(array.as_string_view().value(i).as_bytes()),
        DataType::Date32 => array.as_primitive::<t::Date32Type>().value(i),
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            let mut h: i32 = 0;
            for j in 0..items.len() {
                h = h.wrapping_mul(31).wrapping_add(hive_hash(items.as_ref(), j)?);
            }
            h
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(i);
            let mut h: i32 = 0;
            for j in 0..entries.len() {
                h = h.wrapping_add(hive_hash(entries.column(0).as_ref(), j)? ^ hive_hash(entries.column(1).as_ref(), j)?);
            }
            h
        }
        other => {
            return datafusion::common::not_impl_err!(
                "Computation of Hive bucket hashCode is not supported for Hive primitive category: {}",
                type_name(other, None).to_uppercase()
            );
        }
    })
}

/// Keys under a prefix.
fn keys_under(store: &Store, bucket: &str, prefix: &str) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut after = None;
    loop {
        let page =
            store.list_objects(bucket, &ListQuery { prefix: prefix.to_string(), after: after.clone(), max_keys: 1000, ..Default::default() })?;
        out.extend(page.objects.iter().map(|o| o.key.clone()));
        if !page.is_truncated {
            return Ok(out);
        }
        after = page.last;
    }
}

async fn remove_keys(store: &Store, bucket: &str, keys: Vec<String>) {
    for key in keys {
        if let Err(e) = store.delete_object(bucket, &key, None, None).await {
            tracing::warn!(bucket, key, error = %e, "could not remove a file of a failed write");
        }
    }
}

/// Writes a query's rows under `location` (a directory URL). Files already there are kept;
/// the new ones are returned. On failure, the new files are removed.
async fn write_rows(cx: &Context, df: DataFrame, location: &str, spec: &Spec) -> Result<Written> {
    let S3Location { bucket, key: prefix } = location::parse(location)?;
    cx.store.head_bucket(&bucket)?;
    // What is already there is listed as the caller lists it; the files are written through
    // the session's stores, each checked as the caller's PutObject.
    crate::session::Acting::of(df.task_ctx().session_config()).check(storage::Action::ListBucket, &bucket, None)?;
    let before = keys_under(&cx.store, &bucket, &prefix)?;
    let staging = format!("{prefix}.minerva-staging-{}/", cx.id);
    let result = write_files(cx, df, &Target { bucket: &bucket, prefix: &prefix, staging: &staging }, spec).await;
    if result.is_err() {
        let after = keys_under(&cx.store, &bucket, &prefix).unwrap_or_default();
        let new: Vec<String> = after.difference(&before).cloned().collect();
        remove_keys(&cx.store, &bucket, new).await;
        return result;
    }
    let mut written = result?;
    let after = keys_under(&cx.store, &bucket, &prefix)?;
    let new: Vec<&String> = after.difference(&before).collect();
    written.files = new.iter().map(|k| format!("s3://{bucket}/{k}")).collect();
    for k in &new {
        let rest = &k[prefix.len()..];
        let segments: Vec<&str> = rest.split('/').collect();
        let values: Vec<String> = segments
            .iter()
            .take(spec.partitioned_by.len())
            .filter_map(|s| s.split_once('=').map(|(_, v)| storage::unescape_partition_value(v)))
            .collect();
        if !spec.partitioned_by.is_empty() && values.len() == spec.partitioned_by.len() {
            written.partitions.insert(values);
        }
    }
    if written.partitions.len().max(1) * spec.buckets.max(1) > MAX_WRITERS {
        let new: Vec<String> = new.into_iter().cloned().collect();
        remove_keys(&cx.store, &bucket, new).await;
        return Err(invalid(format!(
            "HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of {MAX_WRITERS} open writers for partitions/buckets ({} partitions, {} buckets)",
            written.partitions.len(),
            spec.buckets
        )));
    }
    Ok(written)
}

async fn write_files(cx: &Context, df: DataFrame, target: &Target<'_>, spec: &Spec) -> Result<Written> {
    let Target { bucket, prefix, staging } = *target;
    let bucketed = spec.buckets > 0;
    let mut partition_by = spec.partitioned_by.clone();
    let (df, target) = if bucketed {
        partition_by.push("__bucket".into());
        (df.with_column("__bucket", bucket_expr(&spec.bucketed_by, spec.buckets))?, format!("s3://{bucket}/{staging}"))
    } else {
        (df, format!("s3://{bucket}/{prefix}"))
    };
    let options = DataFrameWriteOptions::new().with_single_file_output(false).with_partition_by(partition_by);
    let batches = match &spec.format {
        Format::Parquet => {
            let mut opts = TableParquetOptions::default();
            opts.global.compression = Some(spec.parquet_compression()?.to_string());
            df.write_parquet(&target, options, Some(opts)).await?
        }
        Format::Json => {
            let opts = JsonOptions { compression: spec.text_compression()?.0, ..Default::default() };
            df.write_json(&target, options, Some(opts)).await?
        }
        Format::Text { delimiter } => {
            let mut delim = [0u8; 4];
            let d = delimiter.encode_utf8(&mut delim);
            if d.len() != 1 {
                return Err(invalid("field_delimiter must be a single-byte character"));
            }
            let opts = CsvOptions {
                has_header: Some(false),
                delimiter: d.as_bytes()[0],
                compression: spec.text_compression()?.0,
                null_value: Some("\\N".into()),
                ..Default::default()
            };
            df.write_csv(&target, options, Some(opts)).await?
        }
    };
    let rows = rows_of(&batches);
    if bucketed {
        // `…/__bucket=k/file` moves into its partition as `00000k_0_<uuid>_<query id>`, the
        // name Trino (and so Athena) gives bucket files: Hive reads the bucket from its
        // leading digits. Only a compression suffix (`.gz`) is kept, as Trino keeps it.
        let staged = keys_under(&cx.store, bucket, staging)?;
        for key in &staged {
            let rest = &key[staging.len()..];
            let (dir, file) = rest.rsplit_once('/').unwrap_or(("", rest));
            let (partition_dir, bucket_dir) = dir.rsplit_once('/').map(|(p, b)| (format!("{p}/"), b)).unwrap_or((String::new(), dir));
            let n: usize = bucket_dir.strip_prefix("__bucket=").and_then(|b| b.parse().ok()).unwrap_or(0);
            let suffix = [".gz", ".bz2", ".zst"].into_iter().find(|s| file.ends_with(s)).unwrap_or_default();
            let dest = format!("{prefix}{partition_dir}0{n:05}_0_{}_{}{suffix}", uuid::Uuid::new_v4(), cx.id);
            cx.store.copy_object(bucket, key, bucket, &dest, Default::default()).await?;
            cx.store.delete_object(bucket, key, None, None).await?;
        }
    }
    Ok(Written { rows, ..Default::default() })
}

async fn write_manifest(cx: &Context, files: &[String]) -> Result<String> {
    let S3Location { bucket, key: prefix } = location::parse(&cx.output_dir)?;
    let key = format!("{prefix}tables/{}-manifest.csv", cx.id);
    let mut text = String::new();
    for f in files {
        text.push_str(f);
        text.push('\n');
    }
    put_bytes(&cx.store, &bucket, &key, text.into_bytes()).await?;
    Ok(format!("s3://{bucket}/{key}"))
}

/// CREATE TABLE AS: the rows in files at the table's location, the table (and its partitions)
/// in the catalog, and a manifest naming the files.
async fn create_table_as(cx: &Context, ctas: CreateTableAs) -> Result<Outcome> {
    let CreateTableAs { name, properties, query, if_not_exists, with_data } = ctas;
    let (name, properties, query) = (&name, &properties, query.as_str());
    let catalog = &cx.catalog;
    let database = cx.database_of(name);
    let database = catalog.get_database(&database).map_err(|_| Error::SchemaNotFound(database.clone()))?.name;
    if catalog.get_table(&database, &name.name).is_ok() {
        if if_not_exists {
            return Ok(Outcome::default());
        }
        return Err(Error::TableAlreadyExists { database, table: name.name.clone() });
    }
    if properties.get("table_type").is_some_and(|t| t.eq_ignore_ascii_case("iceberg")) {
        return crate::iceberg_tables::create_as(cx, &database, &name.name, properties, query, with_data).await;
    }
    let spec = Spec::from_properties(properties, Format::Parquet)?;
    let location = match properties.get("external_location") {
        Some(l) => directory_url(l),
        None => format!("{}tables/{}/", cx.output_dir, cx.id),
    };
    let S3Location { bucket, key: prefix } = location::parse(&location)?;
    cx.store.head_bucket(&bucket)?;
    if !keys_under(&cx.store, &bucket, &prefix)?.is_empty() {
        return Err(Error::PathExists(format!("Target directory for table '{database}.{}' already exists: {location}", name.name)));
    }
    let df = cx.dataframe(query).await?;
    let fields: Vec<(String, DataType)> = df.schema().fields().iter().map(|f| (f.name().to_lowercase(), f.data_type().clone())).collect();
    // Partition columns come last, in the order named, as Athena requires.
    let n = spec.partitioned_by.len();
    if n > 0 {
        let tail: Vec<&str> = fields.iter().skip(fields.len().saturating_sub(n)).map(|(f, _)| f.as_str()).collect();
        if fields.len() <= n || tail != spec.partitioned_by.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(invalid(format!(
                "Partition columns ({}) must be the last columns of the query, in that order",
                spec.partitioned_by.join(", ")
            )));
        }
    }
    for b in &spec.bucketed_by {
        if !fields.iter().any(|(f, _)| f == b) {
            return Err(invalid(format!("bucketed_by column {b} is not a column of the query")));
        }
    }
    let hive = |(name, t): &(String, DataType)| Column { name: name.clone(), r#type: Some(arrow_to_hive(t)), ..Default::default() };
    let columns: Vec<Column> = fields[..fields.len() - n].iter().map(hive).collect();
    let partition_keys: Vec<Column> = fields[fields.len() - n..].iter().map(hive).collect();
    let written = if with_data { write_rows(cx, df, &location, &spec).await? } else { Written::default() };
    let (sd, parameters) = spec.storage(columns, &location)?;
    let table = Table {
        name: name.name.clone(),
        database_name: database.clone(),
        table_type: Some("EXTERNAL_TABLE".into()),
        parameters,
        partition_keys,
        storage_descriptor: Some(sd),
        ..Default::default()
    };
    let created = match catalog.create_table(&database, table).await {
        Ok(t) => t,
        Err(e) => {
            let keys: Vec<String> = written.files.iter().filter_map(|f| location::parse(f).ok().map(|l| l.key)).collect();
            remove_keys(&cx.store, &bucket, keys).await;
            return Err(e.into());
        }
    };
    register_partitions(cx, &created, &location, &written.partitions).await?;
    let manifest = write_manifest(cx, &written.files).await?;
    Ok(Outcome { columns: vec![rows_column()], rows: written.rows, manifest: Some(manifest), ..Default::default() })
}

async fn register_partitions(cx: &Context, table: &Table, location: &str, partitions: &BTreeSet<Vec<String>>) -> Result<()> {
    if partitions.is_empty() {
        return Ok(());
    }
    let known: BTreeSet<Vec<String>> = cx.catalog.get_partitions(&table.database_name, &table.name)?.into_iter().map(|p| p.values).collect();
    let new: Vec<catalog::Partition> = partitions
        .iter()
        .filter(|v| !known.contains(*v))
        .map(|v| partition_for(table, v.clone(), format!("{location}{}/", partition_path(&table.partition_keys, v))))
        .collect();
    let errors = cx.catalog.batch_create_partitions(&table.database_name, &table.name, new).await?;
    if let Some(e) = errors.into_iter().find(|e| e.error.kind() != catalog::ErrorKind::AlreadyExists) {
        return Err(Error::Internal(format!("registering partition {}: {}", e.item.join("/"), e.error)));
    }
    Ok(())
}

/// INSERT INTO: new files in the table's location (and partitions), in the table's format.
async fn insert_into(cx: &Context, insert: Insert) -> Result<Outcome> {
    let Insert { name, columns, query } = insert;
    let (name, columns, query) = (&name, columns.as_slice(), query.as_str());
    let database = cx.database_of(name);
    let table =
        cx.catalog.get_table(&database, &name.name).map_err(|_| Error::TableNotFound { database: database.clone(), table: name.name.clone() })?;
    if is_view(&table) {
        return Err(invalid(format!("Inserting into views is not supported: {database}.{}", name.name)));
    }
    if crate::iceberg_scan::is_iceberg(&table) {
        return crate::iceberg_tables::insert(cx, &table, columns, query).await;
    }
    let location = directory_url(table.location().ok_or_else(|| invalid("the table has no location"))?);
    let spec = spec_of_table(&table)?;
    // The target's columns in order: data columns, then partition keys.
    let targets: Vec<(String, DataType)> = table
        .columns()
        .iter()
        .chain(&table.partition_keys)
        .map(|c| Ok((c.name.clone(), crate::types::hive_to_arrow(c.r#type.as_deref().unwrap_or("string"))?)))
        .collect::<Result<_>>()?;
    let df = cx.dataframe(query).await?;
    let given: Vec<String> = if columns.is_empty() { targets.iter().map(|(n, _)| n.clone()).collect() } else { columns.to_vec() };
    if given.len() != df.schema().fields().len() {
        return Err(invalid(format!(
            "Insert query has mismatched column types: the table has {} columns, the query {}",
            given.len(),
            df.schema().fields().len()
        )));
    }
    for g in &given {
        if !targets.iter().any(|(n, _)| n == g) {
            return Err(invalid(format!("Insert column name does not exist in target table: {g}")));
        }
    }
    // Map the query's columns onto the table's, casting to the declared types; columns not
    // given are NULL.
    let exprs: Vec<Expr> = targets
        .iter()
        .map(|(n, t)| match given.iter().position(|g| g == n) {
            Some(i) => {
                let (q, f) = df.schema().qualified_field(i);
                datafusion::logical_expr::cast(Expr::Column(datafusion::common::Column::new(q.cloned(), f.name())), t.clone()).alias(n)
            }
            None => datafusion::logical_expr::cast(datafusion::logical_expr::lit(datafusion::common::ScalarValue::Null), t.clone()).alias(n),
        })
        .collect();
    let df = df.select(exprs)?;
    let written = write_rows(cx, df, &location, &spec).await?;
    register_partitions(cx, &table, &location, &written.partitions).await?;
    let manifest = write_manifest(cx, &written.files).await?;
    Ok(Outcome { columns: vec![rows_column()], rows: written.rows, manifest: Some(manifest), ..Default::default() })
}

/// UNLOAD: a query's rows in files at a location that must be empty, and a manifest.
async fn unload(cx: &Context, unload: Unload) -> Result<Outcome> {
    let Unload { query, location, properties } = unload;
    let (query, properties) = (query.as_str(), &properties);
    let spec = Spec::from_properties(properties, Format::Parquet)?;
    let location = directory_url(&location);
    let S3Location { bucket, key: prefix } = location::parse(&location)?;
    cx.store.head_bucket(&bucket)?;
    if !keys_under(&cx.store, &bucket, &prefix)?.is_empty() {
        return Err(Error::PathExists(format!("Target directory for UNLOAD already exists: {location}")));
    }
    let df = cx.dataframe(query).await?;
    let written = write_rows(cx, df, &location, &spec).await?;
    let manifest = write_manifest(cx, &written.files).await?;
    Ok(Outcome { columns: vec![rows_column()], rows: written.rows, manifest: Some(manifest), ..Default::default() })
}

fn rows_column() -> ColumnInfo {
    ColumnInfo { name: "rows".into(), r#type: "bigint".into(), precision: 19, scale: 0, nullable: true }
}

/// How an existing table's files are written: its format, delimiter and compression.
fn spec_of_table(table: &Table) -> Result<Spec> {
    let sd = table.storage_descriptor.clone().unwrap_or_default();
    let library = sd.serde_info.as_ref().and_then(|s| s.serialization_library.clone()).unwrap_or_default().to_lowercase();
    let input = sd.input_format.clone().unwrap_or_default().to_lowercase();
    let params = sd.serde_info.as_ref().map(|s| s.parameters.clone()).unwrap_or_default();
    let parquet = library.contains("parquet") || input.contains("parquet");
    let compression: String = match table.parameters.get("compressionType").map(|c| c.to_lowercase()).as_deref() {
        _ if parquet => table.parameters.get("parquet.compression").map(|c| c.to_uppercase()).unwrap_or_else(|| "GZIP".into()),
        Some("gzip") => "GZIP".into(),
        Some("bzip2") => "BZIP2".into(),
        Some("zstd") => "ZSTD".into(),
        _ => "NONE".into(),
    };
    let format = if parquet {
        Format::Parquet
    } else if library.contains("json") {
        Format::Json
    } else if library.contains("lazysimpleserde") || library.contains("opencsvserde") || input.contains("textinputformat") {
        let d = params.get("field.delim").or_else(|| params.get("separatorChar")).cloned().unwrap_or_else(|| "\u{1}".into());
        Format::Text { delimiter: d.chars().next().unwrap_or('\u{1}') }
    } else {
        return Err(invalid(format!("Inserting into a table with SerDe {library:?} is not supported")));
    };
    Ok(Spec {
        format,
        compression,
        partitioned_by: table.partition_keys.iter().map(|k| k.name.clone()).collect(),
        bucketed_by: sd.bucket_columns.clone(),
        buckets: if sd.number_of_buckets > 0 { sd.number_of_buckets as usize } else { 0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, ListArray, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::Int32Type;

    fn hash(array: ArrayRef) -> Vec<i32> {
        (0..array.len()).map(|i| hive_hash(array.as_ref(), i).unwrap()).collect()
    }

    /// The values Java's Hive computes (`ObjectInspectorUtils.hashCode`), worked by hand.
    #[test]
    fn hive_hashes_values_as_hive_does() {
        assert_eq!(hash(Arc::new(Int32Array::from(vec![Some(7), Some(-3), None]))), [7, -3, 0]);
        // 5,000,000,000 is 0x1_2A05_F200: the halves xor-ed, 0x2A05_F201.
        assert_eq!(hash(Arc::new(Int64Array::from(vec![5_000_000_000, -1]))), [0x2A05_F201, 0]);
        // 'a' is 97; 'é' is the signed bytes -61, -87: -61 * 31 - 87.
        assert_eq!(hash(Arc::new(StringArray::from(vec!["a", "é", "ab", ""]))), [97, -1978, 97 * 31 + 98, 0]);
        assert_eq!(hash(Arc::new(StringViewArray::from(vec!["é"]))), [-1978]);
        assert_eq!(hash(Arc::new(BooleanArray::from(vec![true, false]))), [1, 0]);
        assert_eq!(hash(Arc::new(Float64Array::from(vec![1.0]))), [0x3FF0_0000]);
        assert_eq!(hash(Arc::new(Date32Array::from(vec![19_723]))), [19_723]);
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)]), Some(vec![])]);
        assert_eq!(hash(Arc::new(list)), [33, 0]);
        let err = hive_hash(&datafusion::arrow::array::TimestampMicrosecondArray::from(vec![0]), 0).unwrap_err();
        assert!(err.to_string().contains("Hive bucket hashCode is not supported for Hive primitive category: TIMESTAMP"), "{err}");
    }
}
