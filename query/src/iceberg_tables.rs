//! Statements that make and write Iceberg tables as Athena keeps them (a Glue table with
//! `table_type=ICEBERG` whose `metadata_location` names the current metadata file; the `iceberg`
//! crate reads and writes the format): CREATE TABLE, and INSERT INTO, whose commit swaps the
//! Glue table's `metadata_location` only if nobody else did first (Glue's `VersionId`): two
//! writers racing end with one commit and one `ICEBERG_COMMIT_ERROR`. Reading is
//! `iceberg_scan`'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use catalog::{Parameters, StorageDescriptor, Table};
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::Expr;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;
use iceberg::io::Io;
use iceberg::manifest::DataFile;
use iceberg::partition::{PartitionSpec, Transform};
use iceberg::schema::Type;
use iceberg::values::Literal;

use crate::context::{Context, Outcome};
use crate::error::{Error, Result};
use crate::iceberg_live::{FILE_COLUMN, LiveRows};
use crate::iceberg_scan::{iceberg_error, metadata_location, session_io};
use crate::sql::CreateTable;
use crate::types::ColumnInfo;

/// An Arrow or Parquet error as ours.
fn fail(e: impl Into<DataFusionError>) -> Error {
    Error::DataFusion(e.into())
}

/// A data file is closed and a new one started once it holds this many bytes (compressed).
const TARGET_FILE_SIZE: usize = 128 << 20;

/// Rows in a row group of the data files written.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// A partition term of `PARTITIONED BY`: `col`, `bucket(n, col)`, `truncate(w, col)`,
/// `year(col)`, `month(col)`, `day(col)`, `hour(col)`.
fn partition_term(term: &str) -> Result<(Transform, String)> {
    let bad = || Error::Syntax(format!("line 1:1: Invalid partition transform: {term}"));
    let Some((name, args)) = term.split_once('(') else { return Ok((Transform::Identity, unquote(term))) };
    let args: Vec<&str> = args.strip_suffix(')').ok_or_else(bad)?.split(',').map(str::trim).collect();
    let n = |s: &str| s.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(bad);
    // Athena's DDL writes `bucket(16, col)`; CTAS properties, as Trino, `bucket(col, 16)`.
    let (k, col) = match args.as_slice() {
        [a, b] if a.parse::<u32>().is_ok() => (Some(*a), Some(*b)),
        [a, b] => (Some(*b), Some(*a)),
        _ => (None, None),
    };
    Ok(match (name.trim().to_ascii_lowercase().as_str(), args.as_slice()) {
        ("bucket", [_, _]) => (Transform::Bucket(n(k.unwrap_or_default())?), unquote(col.unwrap_or_default())),
        ("truncate", [_, _]) => (Transform::Truncate(n(k.unwrap_or_default())?), unquote(col.unwrap_or_default())),
        ("year" | "years", [col]) => (Transform::Year, unquote(col)),
        ("month" | "months", [col]) => (Transform::Month, unquote(col)),
        ("day" | "days", [col]) => (Transform::Day, unquote(col)),
        ("hour" | "hours", [col]) => (Transform::Hour, unquote(col)),
        _ => return Err(bad()),
    })
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches(|c| c == '"' || c == '`').to_lowercase()
}

/// The Iceberg table properties Athena takes in `CREATE TABLE`'s `TBLPROPERTIES` and in
/// `ALTER TABLE SET TBLPROPERTIES` (in any case); it refuses any other key.
const ATHENA_PROPERTIES: &[&str] = &[
    "table_type",
    "format",
    "write_compression",
    "compression_level",
    "optimize_rewrite_min_data_file_size_bytes",
    "optimize_rewrite_max_data_file_size_bytes",
    "optimize_rewrite_data_file_threshold",
    "optimize_rewrite_delete_file_threshold",
    "vacuum_min_snapshots_to_keep",
    "vacuum_max_snapshot_age_seconds",
    "vacuum_max_metadata_files_to_keep",
    "write_target_data_file_size_bytes",
    "write_data_path_enabled",
];

/// The metadata properties a new table starts with, as Athena writes them whether asked or not:
/// Parquet files, zstd-compressed.
fn default_properties() -> BTreeMap<String, String> {
    BTreeMap::from([("write.format.default".to_string(), "PARQUET".to_string()), ("write.parquet.compression-codec".to_string(), "zstd".to_string())])
}

/// Athena's table properties as the table's metadata keeps them (`write_compression` as
/// Iceberg's codec property, the others under their own names, in lower case); a key Athena
/// does not take is refused in its words.
fn iceberg_properties(given: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in given {
        match k.to_ascii_lowercase().as_str() {
            "table_type" => {}
            "format" if v.eq_ignore_ascii_case("parquet") => {}
            "format" => {
                return Err(Error::InvalidInput(format!("Iceberg tables are written as Parquet here, not {v}")));
            }
            "write_compression" => {
                out.insert("write.parquet.compression-codec".into(), v.to_ascii_lowercase());
            }
            "compression_level" if !matches!(v.trim().parse::<i64>(), Ok(1..=22)) => {
                return Err(Error::InvalidInput(format!("compression_level must be 1 to 22, not {v}")));
            }
            "write_data_path_enabled" => {
                out.insert("write_data_path_enabled".into(), v.clone());
            }
            // The others are counts, sizes and ages.
            key if ATHENA_PROPERTIES.contains(&key) => {
                if !matches!(v.trim().parse::<i64>(), Ok(0..)) {
                    return Err(Error::InvalidInput(format!("Table property {key} must be a whole number, not {v}")));
                }
                out.insert(key.to_string(), v.trim().to_string());
            }
            _ => return Err(Error::IcebergDdl { message: format!("Unsupported table property key: {k}"), error_type: 1200 }),
        }
    }
    Ok(out)
}

/// CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG'): the first metadata file at the
/// location, then the Glue table naming it.
pub(crate) async fn create(cx: &Context, t: &CreateTable, db: &str) -> Result<Outcome> {
    crate::sql::iceberg_create_rules(t)?;
    let location = t.location.clone().ok_or_else(|| Error::Syntax("line 1:1: a LOCATION is required for Iceberg tables".into()))?;
    let mut fields = Vec::new();
    for c in &t.columns {
        fields.push(datafusion::arrow::datatypes::Field::new(&c.name, crate::types::hive_to_arrow(&c.r#type)?, true));
    }
    let comments: Vec<Option<String>> = t.columns.iter().map(|c| c.comment.clone()).collect();
    let new = NewTable {
        db,
        name: &t.name.name,
        location: &location,
        comment: t.comment.clone(),
        terms: &t.partition_transforms,
        properties: &t.properties,
    };
    new.create(cx, &fields, &comments).await?;
    Ok(Outcome::default())
}

/// A new Iceberg table: where it goes, its partitioning and properties.
struct NewTable<'a> {
    db: &'a str,
    name: &'a str,
    location: &'a str,
    comment: Option<String>,
    terms: &'a [String],
    properties: &'a BTreeMap<String, String>,
}

impl NewTable<'_> {
    /// Writes the first metadata file, then registers the Glue table; returns both.
    async fn create(
        &self,
        cx: &Context,
        fields: &[datafusion::arrow::datatypes::Field],
        comments: &[Option<String>],
    ) -> Result<(Table, iceberg::table::Table)> {
        let location = self.location.trim_end_matches('/').to_string();
        crate::location::parse(&location)?;
        for f in fields {
            if matches!(f.data_type(), DataType::Int8 | DataType::Int16) {
                return Err(Error::InvalidInput(format!(
                    "Unsupported column type for Iceberg: {} ({})",
                    crate::types::arrow_to_hive(f.data_type()),
                    f.name()
                )));
            }
        }
        let mut schema = iceberg::schema::Schema::from_arrow(fields, 0)?;
        for (f, c) in schema.fields.iter_mut().zip(comments) {
            f.doc = c.clone();
        }
        let terms = self.terms.iter().map(|term| partition_term(term)).collect::<Result<Vec<_>>>()?;
        let spec = PartitionSpec::from_terms(&terms, &schema).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let mut properties = default_properties();
        properties.extend(iceberg_properties(self.properties)?);
        let io = session_io(cx.session.runtime_env());
        let ice = iceberg::table::Table::create(io, &location, schema, spec, properties).await?;
        let table = Table {
            name: self.name.to_string(),
            database_name: self.db.to_string(),
            description: self.comment.clone(),
            table_type: Some("EXTERNAL_TABLE".into()),
            parameters: Parameters::from([
                ("table_type".to_string(), "ICEBERG".to_string()),
                ("metadata_location".to_string(), ice.metadata_location.clone()),
            ]),
            storage_descriptor: Some(StorageDescriptor {
                columns: catalog::iceberg_columns(&ice.metadata)?,
                location: Some(location),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = cx.catalog.create_table(self.db, table).await?;
        Ok((created, ice))
    }
}

/// CREATE TABLE ... WITH (table_type = 'ICEBERG', location = ..., partitioning = ARRAY[...]) AS
/// query: the table, then the query's rows as its first snapshot.
pub(crate) async fn create_as(
    cx: &Context,
    db: &str,
    name: &str,
    properties: &BTreeMap<String, String>,
    query: &str,
    with_data: bool,
) -> Result<Outcome> {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    let mut location = None;
    let mut terms = Vec::new();
    for (k, v) in properties {
        match k.to_ascii_lowercase().as_str() {
            "location" | "external_location" => location = Some(v.clone()),
            "is_external" if v.eq_ignore_ascii_case("true") => {
                return Err(Error::InvalidInput("Iceberg tables are not external: set is_external = false".into()));
            }
            "is_external" => {}
            "partitioning" | "partitioned_by" => terms = array_items(v),
            "table_type" => {}
            "format" => {
                props.insert("format".into(), v.clone());
            }
            "write_compression" => {
                props.insert("write_compression".into(), v.clone());
            }
            other => {
                props.insert(other.to_string(), v.clone());
            }
        }
    }
    let location = location.ok_or_else(|| Error::InvalidInput("An Iceberg CTAS needs its location: WITH (location = 's3://...')".into()))?;
    let df = cx.dataframe(query).await?;
    let fields: Vec<datafusion::arrow::datatypes::Field> = df.schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
    let comments = vec![None; fields.len()];
    let new = NewTable { db, name, location: &location, comment: None, terms: &terms, properties: &props };
    let (glue, table) = new.create(cx, &fields, &comments).await?;
    if !with_data {
        return Ok(Outcome { columns: vec![rows_column()], ..Default::default() });
    }
    match append(cx, &glue, &table, df, &[]).await {
        Ok(rows) => Ok(Outcome { columns: vec![rows_column()], rows, ..Default::default() }),
        Err(e) => {
            // The statement made the table: a failed write takes it away again.
            let _ = cx.catalog.delete_table(db, name).await;
            Err(e)
        }
    }
}

/// The items of an `ARRAY['a', 'bucket(b, 4)']` property, which the properties parser joins
/// with commas: split at the commas outside parentheses.
fn array_items(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, ch) in v.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(v[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim().to_string());
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

fn rows_column() -> ColumnInfo {
    ColumnInfo { name: "rows".into(), r#type: "bigint".into(), precision: 19, scale: 0, nullable: true }
}

/// A value of an Arrow array as an Iceberg literal (for partition tuples).
fn literal(array: &ArrayRef, row: usize) -> Result<Option<Literal>> {
    let v = ScalarValue::try_from_array(array, row)?;
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(match v {
        ScalarValue::Boolean(Some(b)) => Literal::Boolean(b),
        ScalarValue::Int32(Some(n)) => Literal::Int(n),
        ScalarValue::Int64(Some(n)) => Literal::Long(n),
        ScalarValue::Float32(Some(f)) => Literal::Float(f),
        ScalarValue::Float64(Some(f)) => Literal::Double(f),
        ScalarValue::Decimal128(Some(n), _, _) => Literal::Decimal(n),
        ScalarValue::Date32(Some(d)) => Literal::Date(d),
        ScalarValue::TimestampMicrosecond(Some(t), None) => Literal::Timestamp(t),
        ScalarValue::TimestampMicrosecond(Some(t), Some(_)) => Literal::TimestampTz(t),
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => Literal::String(s),
        ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) | ScalarValue::BinaryView(Some(b)) => Literal::Binary(b),
        other => return Err(Error::InvalidInput(format!("cannot partition by a value of type {}", other.data_type()))),
    }))
}

/// One open data file of a partition.
struct OpenFile {
    url: String,
    partition: Vec<Option<Literal>>,
    writer: ArrowWriter<Vec<u8>>,
    rows: i64,
}

/// Writes one statement's rows as Parquet data files, a file per partition (and per target
/// size: [`target_file_size`]); the files it wrote are deleted if it fails.
struct DataWriter {
    io: Io,
    target: usize,
    base: String,
    spec: PartitionSpec,
    /// Each partition field's source column in the batches.
    sources: Vec<usize>,
    schema: SchemaRef,
    /// The table's schema, by which files' column metrics are keyed.
    table_schema: iceberg::schema::Schema,
    props: WriterProperties,
    open: BTreeMap<String, OpenFile>,
    done: Vec<DataFile>,
}

impl DataWriter {
    fn new(table: &iceberg::table::Table, io: Io, schema: SchemaRef) -> Result<DataWriter> {
        let m = &table.metadata;
        let spec = m.default_spec()?.clone();
        let current = m.current_schema()?;
        let sources = spec
            .fields
            .iter()
            .map(|f| {
                current
                    .fields
                    .iter()
                    .position(|c| c.id == f.source_id)
                    .ok_or_else(|| Error::Internal(format!("partition source {} missing", f.source_id)))
            })
            .collect::<Result<Vec<_>>>()?;
        let codec = m.properties.get("write.parquet.compression-codec").map(|c| c.to_ascii_lowercase());
        let compression = match codec.as_deref() {
            // Athena's `compression_level` is zstd's, 3 unless set.
            None | Some("zstd") => {
                let level = table_property(table, "compression_level", 3)?;
                Compression::ZSTD(
                    ZstdLevel::try_new(level as i32).map_err(|_| Error::InvalidInput(format!("compression_level must be 1 to 22, not {level}")))?,
                )
            }
            Some("snappy") => Compression::SNAPPY,
            Some("gzip") => Compression::GZIP(Default::default()),
            Some("none" | "uncompressed") => Compression::UNCOMPRESSED,
            Some(other) => return Err(Error::InvalidInput(format!("Unsupported write_compression {other} for Iceberg tables"))),
        };
        // Row groups of 128Ki rows (a few MB of TPC-H's columns, as tpchgen writes them): scans
        // split a file by row groups across the cores, and skip row groups by their statistics.
        // A single row group of a million rows was read by one core.
        let props = WriterProperties::builder().set_compression(compression).set_max_row_group_row_count(Some(ROW_GROUP_ROWS)).build();
        let table_schema = current.clone();
        let target = target_file_size(table)?;
        Ok(DataWriter {
            io,
            target,
            base: table.data_location(),
            spec,
            sources,
            schema,
            table_schema,
            props,
            open: BTreeMap::new(),
            done: Vec::new(),
        })
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if self.spec.fields.is_empty() {
            return self.write_part(Vec::new(), batch).await;
        }
        let mut groups: BTreeMap<String, (Vec<Option<Literal>>, Vec<u32>)> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let mut values = Vec::with_capacity(self.sources.len());
            for (f, source) in self.spec.fields.iter().zip(&self.sources) {
                let v = literal(batch.column(*source), row)?;
                values.push(f.transform.apply(v.as_ref())?);
            }
            // Keyed by the tuple itself: NULL and the string 'null' share a folder name, not a file.
            groups.entry(format!("{values:?}")).or_insert_with(|| (values, Vec::new())).1.push(row as u32);
        }
        for (_, (values, rows)) in groups {
            let indices = UInt32Array::from(rows);
            let columns =
                batch.columns().iter().map(|c| take(c.as_ref(), &indices, None)).collect::<std::result::Result<Vec<_>, _>>().map_err(fail)?;
            self.write_part(values, RecordBatch::try_new(self.schema.clone(), columns).map_err(fail)?).await?;
        }
        Ok(())
    }

    async fn write_part(&mut self, partition: Vec<Option<Literal>>, batch: RecordBatch) -> Result<()> {
        let key = format!("{partition:?}");
        if !self.open.contains_key(&key) {
            let path = self.spec.path(&partition);
            let dir = if path.is_empty() { self.base.clone() } else { format!("{}/{path}", self.base) };
            let url = format!("{dir}/{}.parquet", uuid::Uuid::new_v4());
            let writer = ArrowWriter::try_new(Vec::new(), self.schema.clone(), Some(self.props.clone())).map_err(fail)?;
            self.open.insert(key.clone(), OpenFile { url, partition, writer, rows: 0 });
        }
        let file = self.open.get_mut(&key).expect("opened above");
        file.writer.write(&batch).map_err(fail)?;
        file.rows += batch.num_rows() as i64;
        if file.writer.bytes_written() + file.writer.in_progress_size() >= self.target {
            let file = self.open.remove(&key).expect("opened above");
            self.close(file).await?;
        }
        Ok(())
    }

    async fn close(&mut self, file: OpenFile) -> Result<()> {
        let bytes = bytes::Bytes::from(file.writer.into_inner().map_err(fail)?);
        let mut data = DataFile::parquet(file.url, file.partition, file.rows, bytes.len() as i64);
        crate::iceberg_metrics::add_metrics(&mut data, &bytes, &self.table_schema);
        self.io.write_new(&data.file_path, bytes).await?;
        self.done.push(data);
        Ok(())
    }

    async fn finish(mut self) -> Result<Vec<DataFile>> {
        let open = std::mem::take(&mut self.open);
        for (_, file) in open {
            self.close(file).await?;
        }
        Ok(self.done)
    }
}

/// The Arrow type rows are written with for an Iceberg type: what the table's schema says,
/// timestamps in microseconds.
fn write_type(t: &Type) -> DataType {
    match t.to_arrow() {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz),
        other => other,
    }
}

/// INSERT INTO an Iceberg table: the rows as new data files, committed as an append snapshot.
pub(crate) async fn insert(cx: &Context, glue: &Table, columns: &[String], query: &str) -> Result<Outcome> {
    let io = session_io(cx.session.runtime_env());
    let table = iceberg::table::Table::load(io, metadata_location(glue)?).await?;
    let df = cx.dataframe(query).await?;
    let rows = append(cx, glue, &table, df, columns).await?;
    Ok(Outcome { columns: vec![rows_column()], rows, ..Default::default() })
}

/// Writes a query's rows into a table (into `columns`, or all of them in order) and commits
/// them as an append snapshot; the files are removed if the write or the commit fails.
async fn append(cx: &Context, glue: &Table, table: &iceberg::table::Table, df: datafusion::dataframe::DataFrame, columns: &[String]) -> Result<u64> {
    let current = table.metadata.current_schema()?.clone();
    let given: Vec<String> =
        if columns.is_empty() { current.fields.iter().map(|f| f.name.clone()).collect() } else { columns.iter().map(|c| c.to_lowercase()).collect() };
    if given.len() != df.schema().fields().len() {
        return Err(Error::InvalidInput(format!(
            "Insert query has mismatched column types: the table has {} columns, the query {}",
            given.len(),
            df.schema().fields().len()
        )));
    }
    for g in &given {
        if current.field_by_name(g).is_none() {
            return Err(Error::InvalidInput(format!("Insert column name does not exist in target table: {g}")));
        }
    }
    let exprs: Vec<Expr> = current
        .fields
        .iter()
        .map(|f| {
            let t = write_type(&f.field_type);
            match given.iter().position(|g| g.eq_ignore_ascii_case(&f.name)) {
                Some(i) => {
                    let (q, field) = df.schema().qualified_field(i);
                    datafusion::logical_expr::cast(Expr::Column(datafusion::common::Column::new(q.cloned(), field.name())), t).alias(&f.name)
                }
                None => datafusion::logical_expr::cast(datafusion::logical_expr::lit(ScalarValue::Null), t).alias(&f.name),
            }
        })
        .collect();
    let df = df.select(exprs)?;
    // The files carry the table's field ids, by which other engines match their columns.
    let schema: SchemaRef =
        Arc::new(Schema::new(current.fields.iter().map(|f| f.to_arrow().with_data_type(write_type(&f.field_type))).collect::<Vec<_>>()));
    let (files, rows) = write_rows(table, &schema, df).await?;
    let written = paths(&files);
    commit_or_remove(cx, glue, table, written, table.append(files)).await?;
    Ok(rows)
}

fn paths<'a>(files: impl IntoIterator<Item = &'a DataFile>) -> Vec<String> {
    files.into_iter().map(|f| f.file_path.clone()).collect()
}

/// Makes the metadata `next` builds (from the statement's `written` files) the table's current
/// one; if building or committing it fails, the written files are deleted, so that a failed
/// statement leaves no file behind.
async fn commit_or_remove(
    cx: &Context,
    glue: &Table,
    base: &iceberg::table::Table,
    written: Vec<String>,
    next: impl std::future::Future<Output = iceberg::Result<iceberg::table::Table>>,
) -> Result<()> {
    let result = async { commit(cx, glue, base, &next.await?).await }.await;
    if result.is_err() {
        for url in written {
            let _ = base.io.delete(&url).await;
        }
    }
    result
}

/// Writes a query's rows (the table's columns, in order, as `schema` types them) as data files
/// of the table, and counts them; if anything fails, the files written so far are removed.
async fn write_rows(table: &iceberg::table::Table, schema: &SchemaRef, df: datafusion::dataframe::DataFrame) -> Result<(Vec<DataFile>, u64)> {
    let mut writer = DataWriter::new(table, table.io.clone(), schema.clone())?;
    let mut rows = 0u64;
    let outcome: Result<()> = async {
        let mut stream = df.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            writer.write(RecordBatch::try_new(schema.clone(), batch.columns().to_vec()).map_err(fail)?).await?;
        }
        Ok(())
    }
    .await;
    let written: Vec<String> = writer.done.iter().map(|f| f.file_path.clone()).chain(writer.open.values().map(|f| f.url.clone())).collect();
    let files = match outcome {
        Ok(()) => writer.finish().await,
        Err(e) => Err(e),
    };
    match files {
        Ok(files) => Ok((files, rows)),
        Err(e) => {
            for url in written {
                let _ = table.io.delete(&url).await;
            }
            Err(e)
        }
    }
}

/// Makes `next` the Glue table's current metadata, if `base` still is: compared under the
/// catalog's write lock, so that of two writers racing one commits and the other fails with
/// `ICEBERG_COMMIT_ERROR`; only the metadata location and the columns change.
async fn commit(cx: &Context, glue: &Table, base: &iceberg::table::Table, next: &iceberg::table::Table) -> Result<()> {
    let columns = catalog::iceberg_columns(&next.metadata)?;
    let result = cx
        .catalog
        .update_table_with(&glue.database_name, &glue.name, |t| {
            let current = t.parameters.get("metadata_location").cloned().unwrap_or_default();
            if current != base.metadata_location {
                return Err(catalog::Error::Conflict(format!(
                    "Cannot commit {}.{}: the table's metadata is {current}, no longer {}",
                    glue.database_name, glue.name, base.metadata_location
                )));
            }
            t.parameters.insert("metadata_location".into(), next.metadata_location.clone());
            t.parameters.insert("previous_metadata_location".into(), base.metadata_location.clone());
            if let Some(sd) = &mut t.storage_descriptor {
                sd.columns = columns;
            }
            Ok(())
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(catalog::Error::Conflict(m)) => Err(iceberg_error("ICEBERG_COMMIT_ERROR", m)),
        Err(catalog::Error::NotFound(_)) => {
            Err(iceberg_error("ICEBERG_COMMIT_ERROR", format!("Cannot commit {}.{}: the table is gone", glue.database_name, glue.name)))
        }
        Err(e) => Err(e.into()),
    }
}

// ---- row-level changes: DELETE, UPDATE, MERGE INTO, merge-on-read with position deletes ----

/// Whether this crate may change a table's rows: format version 2 (position deletes), and every
/// file under the default partition spec (delete files are written under it).
fn changeable(table: &iceberg::table::Table) -> Result<()> {
    let m = &table.metadata;
    if m.format_version < 2 {
        return Err(Error::InvalidInput(format!(
            "Iceberg table format version {} does not support row-level changes: upgrade it to 2",
            m.format_version
        )));
    }
    if m.partition_specs.len() > 1 {
        return Err(Error::InvalidInput("Row-level changes of Iceberg tables whose partitioning changed are not supported yet".into()));
    }
    Ok(())
}

/// The catalog a row-level change registers the target's live rows in, for its SQL to read.
const DML_CATALOG: &str = "__minerva_dml";

/// The target's live rows as `__minerva_dml.s.t`, in the statement's session.
fn register_rows(cx: &Context, rows: &LiveRows) -> Result<()> {
    use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider};
    let schema = Arc::new(MemorySchemaProvider::new());
    schema.register_table("t".into(), Arc::new(rows.clone()))?;
    let catalog = Arc::new(MemoryCatalogProvider::new());
    catalog.register_schema("s", schema)?;
    cx.session.register_catalog(DML_CATALOG, catalog);
    Ok(())
}

/// Rows a query over the live rows names: `(data file, position)` pairs, and the rest of each
/// row (new values), from column `first` on.
async fn run_rows(cx: &Context, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(cx.dataframe(sql).await?.collect().await?)
}

fn positions_of(batches: &[RecordBatch], file_col: usize, pos_col: usize) -> Result<Vec<(String, i64)>> {
    use datafusion::arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for b in batches {
        let files = datafusion::arrow::compute::cast(b.column(file_col), &DataType::Utf8).map_err(fail)?;
        let positions = datafusion::arrow::compute::cast(b.column(pos_col), &DataType::Int64).map_err(fail)?;
        let files = files.as_string::<i32>();
        let positions = positions.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            if files.is_valid(i) && positions.is_valid(i) {
                out.push((files.value(i).to_string(), positions.value(i)));
            }
        }
    }
    Ok(out)
}

/// A partition's tuple and the `(data file, position)` pairs deleted in it.
type PartitionDeletes = (Vec<Option<Literal>>, Vec<(String, i64)>);

/// Writes position delete files: one per partition of the data files named, rows sorted by file
/// and position, as the specification asks.
async fn write_position_deletes(table: &iceberg::table::Table, rows: &LiveRows, mut positions: Vec<(String, i64)>) -> Result<Vec<DataFile>> {
    use datafusion::arrow::array::{Int64Array, StringArray};
    positions.sort();
    positions.dedup();
    let spec = table.metadata.default_spec()?.clone();
    let mut by_partition: BTreeMap<String, PartitionDeletes> = BTreeMap::new();
    for (file, pos) in positions {
        let partition = rows.partitions.get(&file).cloned().unwrap_or_default();
        by_partition.entry(format!("{partition:?}")).or_insert_with(|| (partition, Vec::new())).1.push((file, pos));
    }
    let id = |f: datafusion::arrow::datatypes::Field, id: i32| f.with_metadata([(iceberg::schema::FIELD_ID_KEY.to_string(), id.to_string())].into());
    let schema = Arc::new(Schema::new(vec![
        id(datafusion::arrow::datatypes::Field::new("file_path", DataType::Utf8, false), iceberg::manifest::DELETE_FILE_PATH_ID),
        id(datafusion::arrow::datatypes::Field::new("pos", DataType::Int64, false), iceberg::manifest::DELETE_POS_ID),
    ]));
    let mut out = Vec::new();
    for (_, (partition, rows)) in by_partition {
        let path = spec.path(&partition);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            ],
        )
        .map_err(fail)?;
        let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), None).map_err(fail)?;
        writer.write(&batch).map_err(fail)?;
        let bytes = writer.into_inner().map_err(fail)?;
        let dir = if path.is_empty() { table.data_location() } else { format!("{}/{path}", table.data_location()) };
        let url = format!("{dir}/{}-deletes.parquet", uuid::Uuid::new_v4());
        let size = table.io.write_new(&url, bytes).await?;
        // Sorted by path, then position: the first and last rows bound the paths.
        let (first, last) = (&rows[0], &rows[rows.len() - 1]);
        let positions = (rows.iter().map(|r| r.1).min().unwrap_or(0), rows.iter().map(|r| r.1).max().unwrap_or(0));
        out.push(DataFile::position_deletes(url, partition, rows.len() as i64, size as i64, (&first.0, &last.0), positions));
    }
    Ok(out)
}

/// Writes new rows (batches whose columns from `first` on are the table's, in order) as data files.
async fn write_new_rows(table: &iceberg::table::Table, batches: &[RecordBatch], first: usize) -> Result<Vec<DataFile>> {
    let current = table.metadata.current_schema()?;
    let schema: SchemaRef =
        Arc::new(Schema::new(current.fields.iter().map(|f| f.to_arrow().with_data_type(write_type(&f.field_type))).collect::<Vec<_>>()));
    let mut writer = DataWriter::new(table, table.io.clone(), schema.clone())?;
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| datafusion::arrow::compute::cast(b.column(first + i), f.data_type()).map_err(fail))
            .collect::<Result<Vec<_>>>()?;
        writer.write(RecordBatch::try_new(schema.clone(), columns).map_err(fail)?).await?;
    }
    writer.finish().await
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The last part of an assignment's or insert's column name, as a table column (lower case).
fn column_of(name: &datafusion::sql::sqlparser::ast::ObjectName) -> String {
    name.0.last().map(|p| p.to_string().trim_matches('"').to_lowercase()).unwrap_or_default()
}

/// An updated row's values, each column as `<expression> AS "column"`: the assignment's
/// expression, or the column as it was (`prefix` qualifies it).
fn new_values(assignments: &[datafusion::sql::sqlparser::ast::Assignment], columns: &[String], prefix: &str) -> Result<Vec<String>> {
    let mut assigned: BTreeMap<String, String> = BTreeMap::new();
    for a in assignments {
        let datafusion::sql::sqlparser::ast::AssignmentTarget::ColumnName(name) = &a.target else {
            return Err(Error::InvalidInput("UPDATE of a tuple of columns is not supported".into()));
        };
        let c = column_of(name);
        if !columns.contains(&c) {
            return Err(Error::InvalidInput(format!("Column '{c}' cannot be resolved")));
        }
        assigned.insert(c, a.value.to_string());
    }
    Ok(columns.iter().map(|c| format!("{} AS {}", assigned.get(c).cloned().unwrap_or_else(|| format!("{prefix}{}", quoted(c))), quoted(c))).collect())
}

/// DELETE, UPDATE or MERGE INTO an Iceberg table: the rows it changes found by SQL over the
/// live rows, then position delete files for the rows it removes or replaces and data files for
/// the rows it writes, committed as one snapshot (`delete` or `overwrite`).
pub(crate) async fn row_change(cx: &Context, glue: &Table, change: &crate::sql::RowChange) -> Result<Outcome> {
    use datafusion::sql::sqlparser::ast::{FromTable, MergeAction, MergeClauseKind, MergeInsertKind, Statement, TableFactor};
    let statement = datafusion::sql::sqlparser::parser::Parser::new(&crate::dialect::AthenaDialect)
        .try_with_sql(&change.sql)
        .and_then(|mut p| p.parse_statement())
        .map_err(|e| Error::Syntax(format!("line 1:1: {e}")))?;
    let io = session_io(cx.session.runtime_env());
    let table = iceberg::table::Table::load(io, metadata_location(glue)?).await?;
    changeable(&table)?;
    let current = table.metadata.current_schema()?.clone();
    let write_schema: SchemaRef =
        Arc::new(Schema::new(current.fields.iter().map(|f| f.to_arrow().with_data_type(write_type(&f.field_type))).collect::<Vec<_>>()));
    let rows = LiveRows::of(&table, &table.files(table.metadata.current_snapshot()).await?, &write_schema).await?;
    register_rows(cx, &rows)?;
    let target = format!("{DML_CATALOG}.s.t");
    let columns: Vec<String> = current.fields.iter().map(|f| f.name.clone()).collect();
    let known = |c: &str| -> Result<()> {
        match columns.iter().any(|k| k == c) {
            true => Ok(()),
            false => Err(Error::InvalidInput(format!("Column '{c}' cannot be resolved"))),
        }
    };
    let (deleted, added) = match statement {
        Statement::Delete(d) => {
            let from = match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            if from.len() != 1 || d.using.is_some() {
                return Err(Error::InvalidInput("DELETE reads one table".into()));
            }
            let cond = d.selection.as_ref().map(|e| e.to_string()).unwrap_or_else(|| "true".into());
            let found = run_rows(cx, &format!("SELECT __file, __pos FROM {target} AS {} WHERE {cond}", quoted(&glue.name))).await?;
            (positions_of(&found, 0, 1)?, Vec::new())
        }
        Statement::Update(u) => {
            let values = new_values(&u.assignments, &columns, "")?;
            let cond = u.selection.as_ref().map(|e| e.to_string()).unwrap_or_else(|| "true".into());
            let found =
                run_rows(cx, &format!("SELECT __file, __pos, {} FROM {target} AS {} WHERE {cond}", values.join(", "), quoted(&glue.name))).await?;
            (positions_of(&found, 0, 1)?, found)
        }
        Statement::Merge(m) => {
            let talias = match &m.table {
                // Unquoted names fold to lower case, as the rest of the statement's do.
                TableFactor::Table { alias: Some(a), .. } if a.name.quote_style.is_some() => a.name.value.clone(),
                TableFactor::Table { alias: Some(a), .. } => a.name.value.to_lowercase(),
                TableFactor::Table { name, .. } => name.0.last().map(|p| p.to_string().trim_matches('"').to_lowercase()).unwrap_or_default(),
                _ => return Err(Error::InvalidInput("MERGE INTO names a table".into())),
            };
            let t = quoted(&talias);
            let from = format!("{} LEFT JOIN {target} AS {t} ON {}", m.source, m.on);
            let matched = format!("{t}.__pos IS NOT NULL");
            let mut whens = Vec::new();
            for c in &m.clauses {
                let base = match c.clause_kind {
                    MergeClauseKind::Matched => matched.clone(),
                    MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget => format!("{t}.__pos IS NULL"),
                    MergeClauseKind::NotMatchedBySource => return Err(Error::InvalidInput("WHEN NOT MATCHED BY SOURCE is not supported".into())),
                };
                whens.push(match &c.predicate {
                    Some(p) => format!("{base} AND ({p})"),
                    None => base,
                });
            }
            let action =
                format!("CASE {} ELSE -1 END", whens.iter().enumerate().map(|(i, w)| format!("WHEN {w} THEN {i}")).collect::<Vec<_>>().join(" "));
            let mut deleted = Vec::new();
            let mut added = Vec::new();
            for (i, c) in m.clauses.iter().enumerate() {
                let clause = format!("FROM {from} WHERE ({action}) = {i}");
                match &c.action {
                    MergeAction::Delete { .. } => {
                        deleted.extend(positions_of(&run_rows(cx, &format!("SELECT {t}.__file, {t}.__pos {clause}")).await?, 0, 1)?);
                    }
                    MergeAction::Update(u) => {
                        let values = new_values(&u.assignments, &columns, &format!("{t}."))?;
                        let found = run_rows(cx, &format!("SELECT {t}.__file, {t}.__pos, {} {clause}", values.join(", "))).await?;
                        deleted.extend(positions_of(&found, 0, 1)?);
                        added.extend(found);
                    }
                    MergeAction::Insert(ins) => {
                        let MergeInsertKind::Values(v) = &ins.kind else { return Err(Error::InvalidInput("INSERT ROW is not supported".into())) };
                        let row = v.rows.first().ok_or_else(|| Error::InvalidInput("INSERT needs VALUES".into()))?;
                        let named: Vec<String> = if ins.columns.is_empty() { columns.clone() } else { ins.columns.iter().map(column_of).collect() };
                        if named.len() != row.len() {
                            return Err(Error::InvalidInput("MERGE INSERT has as many values as columns".into()));
                        }
                        for n in &named {
                            known(n)?;
                        }
                        let values: Vec<String> = columns
                            .iter()
                            .map(|col| match named.iter().position(|n| n == col) {
                                Some(k) => format!("{} AS {}", row[k], quoted(col)),
                                None => format!("NULL AS {}", quoted(col)),
                            })
                            .collect();
                        // Two placeholder columns keep the new values where an update's are.
                        let found = run_rows(cx, &format!("SELECT NULL AS __file, NULL AS __pos, {} {clause}", values.join(", "))).await?;
                        added.extend(found);
                    }
                }
            }
            let mut seen = std::collections::HashSet::new();
            if deleted.iter().any(|p| !seen.insert(p.clone())) {
                return Err(iceberg_error("MERGE_TARGET_ROW_MULTIPLE_MATCHES", "One MERGE target table row matched more than one source row"));
            }
            (deleted, added)
        }
        _ => return Err(Error::Internal(format!("{} is not a row-level change", change.kind))),
    };
    // Rows updated, deleted or inserted: an updated row is one (its delete names it; its new
    // row has the old one's position, an inserted row none).
    let inserted: u64 = added.iter().map(|b| b.column(1).logical_null_count() as u64).sum();
    let changed = deleted.len() as u64 + inserted;
    if deleted.is_empty() && added.iter().all(|b| b.num_rows() == 0) {
        return Ok(Outcome { columns: vec![rows_column()], rows: 0, ..Default::default() });
    }
    let delete_files = write_position_deletes(&table, &rows, deleted).await?;
    let data_files = match write_new_rows(&table, &added, 2).await {
        Ok(files) => files,
        Err(e) => {
            for url in paths(&delete_files) {
                let _ = table.io.delete(&url).await;
            }
            return Err(e);
        }
    };
    let written = paths(delete_files.iter().chain(&data_files));
    commit_or_remove(cx, glue, &table, written, table.row_delta(data_files, delete_files)).await?;
    Ok(Outcome { columns: vec![rows_column()], rows: changed, ..Default::default() })
}

/// OPTIMIZE's WHERE may name only partition columns (Athena's rule; Trino, which Athena runs,
/// accepts only a filter the partitions decide whole): the source columns of the partition
/// spec's identity fields. Its error is Trino's.
fn only_partition_columns(glue: &Table, table: &iceberg::table::Table, cond: &str) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{Expr as Sql, visit_expressions};
    use datafusion::sql::sqlparser::parser::Parser;
    let schema = table.metadata.current_schema()?;
    let partition: Vec<String> = table
        .metadata
        .default_spec()?
        .fields
        .iter()
        .filter(|f| f.transform == Transform::Identity)
        .filter_map(|f| schema.field(f.source_id))
        .map(|c| c.name.to_lowercase())
        .collect();
    let expr = Parser::new(&crate::dialect::AthenaDialect)
        .try_with_sql(cond)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| Error::Syntax(format!("line 1:1: {e}")))?;
    // A column is named alone, or after the table's name (`t.kind`, `db.t.kind`); what follows
    // the column is a field of it (`s.kind`: field kind of column s).
    let qualifiers = [glue.database_name.to_lowercase(), glue.name.to_lowercase()];
    let mut other = false;
    let _ = visit_expressions(&expr, |e| {
        let name = match e {
            Sql::Identifier(i) => Some(i.value.to_lowercase()),
            Sql::CompoundIdentifier(parts) => {
                let parts: Vec<String> = parts.iter().map(|i| i.value.to_lowercase()).collect();
                let skip = match parts.as_slice() {
                    [db, t, _, ..] if *db == qualifiers[0] && *t == qualifiers[1] => 2,
                    [t, _, ..] if *t == qualifiers[1] => 1,
                    _ => 0,
                };
                parts.into_iter().nth(skip)
            }
            _ => None,
        };
        other |= name.is_some_and(|n| !partition.contains(&n));
        std::ops::ControlFlow::<()>::Continue(())
    });
    if other {
        return Err(iceberg_error(
            "GENERIC_INTERNAL_ERROR",
            "Unexpected FilterNode found in plan; probably connector was not able to handle provided WHERE expression",
        ));
    }
    Ok(())
}

/// `OPTIMIZE t REWRITE DATA USING BIN_PACK [WHERE filter]`: the live rows of the data files in
/// scope (those holding a row the filter matches, or all) that need it, by the table's
/// `optimize_rewrite_*_threshold` properties, written again into one file per partition, their
/// deletes folded in, as a `replace` snapshot. Files already alone in their
/// partition and without deletes are left as they are.
pub(crate) async fn optimize(cx: &Context, glue: &Table, filter: Option<&str>) -> Result<Outcome> {
    use datafusion::arrow::array::AsArray;
    let io = session_io(cx.session.runtime_env());
    let table = iceberg::table::Table::load(io, metadata_location(glue)?).await?;
    if table.metadata.current_snapshot().is_none() {
        return Ok(Outcome::default());
    }
    changeable(&table)?;
    let current = table.metadata.current_schema()?.clone();
    let write_schema: SchemaRef =
        Arc::new(Schema::new(current.fields.iter().map(|f| f.to_arrow().with_data_type(write_type(&f.field_type))).collect::<Vec<_>>()));
    let files = table.files(table.metadata.current_snapshot()).await?;
    let rows = LiveRows::of(&table, &files, &write_schema).await?;
    let mut scope: std::collections::BTreeSet<String> = match filter {
        None => files.data.iter().map(|f| f.file.file_path.clone()).collect(),
        Some(cond) => {
            only_partition_columns(glue, &table, cond)?;
            register_rows(cx, &rows)?;
            let found = run_rows(cx, &format!("SELECT DISTINCT {FILE_COLUMN} FROM {DML_CATALOG}.s.t AS {} WHERE {cond}", quoted(&glue.name))).await?;
            let mut out = std::collections::BTreeSet::new();
            for b in &found {
                let col = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8).map_err(fail)?;
                out.extend(col.as_string::<i32>().iter().flatten().map(str::to_string));
            }
            out
        }
    };
    // Bin packing as Athena does it (Iceberg's rewrite of data files): in each partition, the
    // files that need it (smaller than three quarters of the target size, or with
    // `optimize_rewrite_delete_file_threshold` delete files or more) are rewritten when there are
    // `optimize_rewrite_data_file_threshold` of them or more, when one has that many deletes, or
    // when together they are larger than the target.
    let data_threshold = table_property(&table, "optimize_rewrite_data_file_threshold", 5)?.max(1) as usize;
    // Files smaller than `optimize_rewrite_min_data_file_size_bytes` (three quarters of the
    // target size unless set) need rewriting.
    let target = target_file_size(&table)? as u64;
    let small = table_property(&table, "optimize_rewrite_min_data_file_size_bytes", (target / 4 * 3) as i64)?.max(0) as u64;
    let delete_threshold = table_property(&table, "optimize_rewrite_delete_file_threshold", 2)?.max(1) as usize;
    let mut deletes_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut referenced_by: Vec<(String, std::collections::BTreeSet<String>)> = Vec::new();
    for d in files.deletes.iter().filter(|d| d.file.content == iceberg::manifest::Content::PositionDeletes) {
        let referenced = referenced_files(&table, d).await?;
        for f in &referenced {
            *deletes_of.entry(f.clone()).or_default() += 1;
        }
        referenced_by.push((d.file.file_path.clone(), referenced));
    }
    for f in &files.data {
        *deletes_of.entry(f.file.file_path.clone()).or_default() += rows.equality_deletes_of(&f.file.file_path);
    }
    let spec = table.metadata.default_spec()?.clone();
    let too_many_deletes = |path: &str| deletes_of.get(path).copied().unwrap_or(0) >= delete_threshold;
    let mut groups: BTreeMap<String, Vec<&iceberg::table::ScanFile>> = BTreeMap::new();
    for f in files.data.iter().filter(|f| scope.contains(&f.file.file_path)) {
        if (f.file.file_size_in_bytes as u64) < small || too_many_deletes(&f.file.file_path) {
            groups.entry(spec.path(&f.file.partition)).or_default().push(f);
        }
    }
    scope.clear();
    for candidates in groups.values() {
        let total: u64 = candidates.iter().map(|f| f.file.file_size_in_bytes as u64).sum();
        let several = candidates.len() > 1;
        if (several && candidates.len() >= data_threshold)
            || candidates.iter().any(|f| too_many_deletes(&f.file.file_path))
            || (several && total > target)
        {
            scope.extend(candidates.iter().map(|f| f.file.file_path.clone()));
        }
    }
    if scope.is_empty() {
        return Ok(Outcome::default());
    }
    // The live rows of the files in scope, streamed into new files.
    let source = Arc::new(rows.only(&scope));
    let df = cx.session.read_table(source)?.select_columns(&current.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>())?;
    let (added, _) = write_rows(&table, &write_schema, df).await?;
    // Delete files whose every position is in a rewritten file are folded in and dropped.
    let removed_deletes: std::collections::BTreeSet<String> =
        referenced_by.into_iter().filter(|(_, referenced)| referenced.iter().all(|f| scope.contains(f))).map(|(d, _)| d).collect();
    let written = paths(&added);
    commit_or_remove(cx, glue, &table, written, table.rewrite(&scope, &removed_deletes, added)).await?;
    Ok(Outcome::default())
}

/// The size data files are written to: Athena's `write_target_data_file_size_bytes`, or
/// [`TARGET_FILE_SIZE`].
fn target_file_size(table: &iceberg::table::Table) -> Result<usize> {
    Ok(table_property(table, "write_target_data_file_size_bytes", TARGET_FILE_SIZE as i64)?.max(1) as usize)
}

/// A table property that is a number, or its default.
fn table_property(table: &iceberg::table::Table, key: &str, default: i64) -> Result<i64> {
    match table.metadata.properties.get(key) {
        Some(v) => v.trim().parse().map_err(|_| Error::InvalidInput(format!("Table property {key} must be a number, not {v}"))),
        None => Ok(default),
    }
}

/// The data files a position delete file names.
async fn referenced_files(table: &iceberg::table::Table, d: &iceberg::table::ScanFile) -> Result<std::collections::BTreeSet<String>> {
    use datafusion::arrow::array::AsArray;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bytes = table.io.read(&d.file.file_path).await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).and_then(|b| b.build()).map_err(fail)?;
    let mut out = std::collections::BTreeSet::new();
    for batch in reader {
        let batch = batch.map_err(fail)?;
        if let Some(paths) = batch.column_by_name("file_path") {
            let paths = datafusion::arrow::compute::cast(paths, &DataType::Utf8).map_err(fail)?;
            out.extend(paths.as_string::<i32>().iter().flatten().map(str::to_string));
        }
    }
    Ok(out)
}

/// `VACUUM t`: snapshots older than the table's `vacuum_max_snapshot_age_seconds` (five days by
/// default) expire, keeping the newest `vacuum_min_snapshots_to_keep` (one), and the files only
/// they reached are deleted once the new metadata is current; then orphan files under the
/// table's location as old as that are deleted too.
pub(crate) async fn vacuum(cx: &Context, glue: &Table) -> Result<Outcome> {
    let io = session_io(cx.session.runtime_env());
    let table = iceberg::table::Table::load(io, metadata_location(glue)?).await?;
    let max_age_s = table_property(&table, "vacuum_max_snapshot_age_seconds", 432_000)?;
    let keep = table_property(&table, "vacuum_min_snapshots_to_keep", 1)?.max(1) as usize;
    let cutoff = iceberg::metadata::now_ms() - max_age_s.saturating_mul(1000);
    let (next, unreachable) = table.expire_snapshots(cutoff, keep).await?;
    if next.metadata_location != table.metadata_location {
        commit(cx, glue, &table, &next).await?;
        for url in unreachable {
            table.io.delete(&url).await?;
        }
    }
    // Orphan files (of writes that failed or were abandoned) as old as expired snapshots.
    for url in next.orphan_files(cutoff).await? {
        table.io.delete(&url).await?;
    }
    Ok(Outcome::default())
}

/// A change of an Iceberg table's schema or properties (ALTER TABLE).
pub(crate) enum Evolution {
    Add(Vec<crate::sql::ColumnDef>),
    Drop(String),
    /// A column's new name, type (a wider one) and comment.
    Change(String, crate::sql::ColumnDef),
    Properties(BTreeMap<String, String>),
}

/// Whether Iceberg allows a column's type to become another: the same, or wider
/// (int to long, float to double, a decimal's precision raised).
fn widens(from: &Type, to: &Type) -> bool {
    use iceberg::schema::Primitive as P;
    match (from, to) {
        (a, b) if a == b => true,
        (Type::Primitive(P::Int), Type::Primitive(P::Long)) | (Type::Primitive(P::Float), Type::Primitive(P::Double)) => true,
        (Type::Primitive(P::Decimal { precision: p1, scale: s1 }), Type::Primitive(P::Decimal { precision: p2, scale: s2 })) => s1 == s2 && p2 >= p1,
        _ => false,
    }
}

/// ALTER TABLE on an Iceberg table: a new schema (with fresh ids for new columns; files written
/// before read a column they lack as NULL, and a widened one cast) or new properties, committed as
/// a new metadata file without a new snapshot.
pub(crate) async fn evolve(cx: &Context, glue: &Table, change: Evolution) -> Result<Outcome> {
    let io = session_io(cx.session.runtime_env());
    let table = iceberg::table::Table::load(io, metadata_location(glue)?).await?;
    let m = &table.metadata;
    let current = m.current_schema()?.clone();
    let mut fields = current.fields.clone();
    let mut next_id = m.last_column_id;
    let partition_sources: Vec<i32> = m.partition_specs.iter().flat_map(|s| s.fields.iter().map(|f| f.source_id)).collect();
    let mut properties = None;
    match change {
        Evolution::Add(columns) => {
            for c in columns {
                let name = c.name.to_lowercase();
                if fields.iter().any(|f| f.name == name) {
                    return Err(Error::InvalidInput(format!("Column '{name}' already exists")));
                }
                let arrow = crate::types::hive_to_arrow(&c.r#type)?;
                let mut fresh = iceberg::schema::Schema::from_arrow(&[datafusion::arrow::datatypes::Field::new(&name, arrow, true)], 0)?;
                // Ids after the table's last: the new field's, then those inside it.
                let shift = next_id;
                let mut field = fresh.fields.remove(0);
                renumber(&mut field, shift);
                next_id = next_id
                    .max(iceberg::schema::Schema { schema_id: 0, identifier_field_ids: Vec::new(), fields: vec![field.clone()] }.highest_field_id());
                field.doc = c.comment.clone();
                fields.push(field);
            }
        }
        Evolution::Drop(column) => {
            let column = column.to_lowercase();
            let at = fields.iter().position(|f| f.name == column).ok_or_else(|| Error::InvalidInput(format!("Column '{column}' does not exist")))?;
            if partition_sources.contains(&fields[at].id) {
                return Err(Error::InvalidInput(format!("Cannot drop partition column: {column}")));
            }
            if fields.len() == 1 {
                return Err(Error::InvalidInput("Cannot drop the only column in a table".into()));
            }
            fields.remove(at);
        }
        Evolution::Change(old, column) => {
            let old = old.to_lowercase();
            let new_name = column.name.to_lowercase();
            let at = fields.iter().position(|f| f.name == old).ok_or_else(|| Error::InvalidInput(format!("Column '{old}' does not exist")))?;
            // A rename: files keep the field id, by which they are read.
            if new_name != old && fields.iter().any(|f| f.name == new_name) {
                return Err(Error::InvalidInput(format!("Column '{new_name}' already exists")));
            }
            fields[at].name = new_name.clone();
            let arrow = crate::types::hive_to_arrow(&column.r#type)?;
            let wanted = iceberg::schema::Schema::from_arrow(&[datafusion::arrow::datatypes::Field::new(&new_name, arrow, true)], 0)?
                .fields
                .remove(0)
                .field_type;
            if !widens(&fields[at].field_type, &wanted) {
                return Err(Error::InvalidInput(format!(
                    "Cannot change column type: {}: {} -> {}",
                    old,
                    fields[at].field_type.to_hive(),
                    wanted.to_hive()
                )));
            }
            if let Type::Primitive(_) = wanted {
                fields[at].field_type = wanted;
            }
            if column.comment.is_some() {
                fields[at].doc = column.comment;
            }
        }
        Evolution::Properties(given) => properties = Some(iceberg_properties(&given)?),
    }
    let next = match properties {
        Some(p) => table.commit_metadata(|n| n.properties.extend(p)).await?,
        None => {
            let schema_id = m.schemas.iter().map(|s| s.schema_id).max().unwrap_or(0) + 1;
            let schema = iceberg::schema::Schema { schema_id, identifier_field_ids: current.identifier_field_ids.clone(), fields };
            table
                .commit_metadata(|n| {
                    n.last_column_id = n.last_column_id.max(next_id);
                    n.schemas.push(schema);
                    n.current_schema_id = schema_id;
                })
                .await?
        }
    };
    commit(cx, glue, &table, &next).await?;
    Ok(Outcome::default())
}

/// A field numbered from 1 moved past the table's ids: every id in it plus `shift`.
fn renumber(field: &mut iceberg::schema::NestedField, shift: i32) {
    fn inner(t: &mut Type, shift: i32) {
        match t {
            Type::Primitive(_) => {}
            Type::Struct(fields) => fields.iter_mut().for_each(|f| renumber(f, shift)),
            Type::List { element_id, element, .. } => {
                *element_id += shift;
                inner(element, shift);
            }
            Type::Map { key_id, key, value_id, value, .. } => {
                *key_id += shift;
                *value_id += shift;
                inner(key, shift);
                inner(value, shift);
            }
        }
    }
    field.id += shift;
    inner(&mut field.field_type, shift);
}

/// SHOW CREATE TABLE of an Iceberg table, as Athena prints it: its columns, its partitioning in
/// the DDL's terms, its location and its properties in Athena's names.
pub(crate) async fn create_table_lines(cx: &Context, glue: &Table) -> Result<Vec<String>> {
    let table = iceberg::table::Table::load(session_io(cx.session.runtime_env()), metadata_location(glue)?).await?;
    let m = &table.metadata;
    let schema = m.current_schema()?;
    let mut out = vec![format!("CREATE TABLE {}.{} (", glue.database_name, glue.name)];
    let n = schema.fields.len();
    for (i, f) in schema.fields.iter().enumerate() {
        let comment = f.doc.as_ref().map(|d| format!(" COMMENT '{}'", d.replace('\'', "''"))).unwrap_or_default();
        out.push(format!("  {} {}{comment}{}", f.name, f.field_type.to_hive(), if i + 1 == n { ")" } else { "," }));
    }
    let spec = m.default_spec()?;
    if !spec.fields.is_empty() {
        let terms: Vec<String> = spec
            .fields
            .iter()
            .map(|f| {
                let col = schema.field(f.source_id).map(|c| format!("`{}`", c.name)).unwrap_or_default();
                match f.transform {
                    Transform::Identity => col,
                    Transform::Bucket(n) => format!("bucket({n}, {col})"),
                    Transform::Truncate(w) => format!("truncate({w}, {col})"),
                    Transform::Year => format!("year({col})"),
                    Transform::Month => format!("month({col})"),
                    Transform::Day => format!("day({col})"),
                    Transform::Hour => format!("hour({col})"),
                    Transform::Void => format!("void({col})"),
                }
            })
            .collect();
        out.push(format!("PARTITIONED BY ({})", terms.join(", ")));
    }
    out.push(format!("LOCATION '{}'", m.location));
    let mut properties = vec![("table_type".to_string(), "iceberg".to_string())];
    for (k, v) in &m.properties {
        let k = match k.as_str() {
            "write.parquet.compression-codec" => "write_compression",
            "write.format.default" => "format",
            other => other,
        };
        // Athena spells the format in lower case here (`'format'='parquet'`).
        let v = if k == "format" { v.to_ascii_lowercase() } else { v.clone() };
        properties.push((k.to_string(), v));
    }
    out.push("TBLPROPERTIES (".into());
    let n = properties.len();
    for (i, (k, v)) in properties.into_iter().enumerate() {
        out.push(format!("  '{k}'='{v}'{}", if i + 1 == n { "" } else { "," }));
    }
    out.push(")".into());
    Ok(out)
}

/// `DESCRIBE` of an Iceberg table as Athena prints it: nothing padded, a heading over the
/// columns and one over the partition spec, each row one value with tabs between its fields
/// (`<name>\t<type>\t<comment>`, `<field>\t<transform>\t<column>`). `FORMATTED` adds the
/// table's name (in Athena's `iceberg` catalog), its location, its format and the Iceberg
/// properties of its metadata.
pub(crate) async fn describe_lines(cx: &Context, glue: &Table, formatted: bool) -> Result<Vec<String>> {
    let table = iceberg::table::Table::load(session_io(cx.session.runtime_env()), metadata_location(glue)?).await?;
    let m = &table.metadata;
    let schema = m.current_schema()?;
    let mut out = vec!["# Table schema:\t\t".to_string(), "# col_name\tdata_type\tcomment".to_string()];
    for f in &schema.fields {
        out.push(format!("{}\t{}\t{}", f.name, describe_type(&f.field_type), f.doc.as_deref().unwrap_or("")));
    }
    out.extend(["\t\t".to_string(), "# Partition spec:\t\t".to_string(), "# field_name\tfield_transform\tcolumn_name".to_string()]);
    for f in &m.default_spec()?.fields {
        let column = schema.field(f.source_id).map(|c| c.name.as_str()).unwrap_or_default();
        // Athena prints the specification's names of the transforms (`bucket[4]`, `month`).
        out.push(format!("{}\t{}\t{column}", f.name, f.transform.name()));
    }
    if formatted {
        let format = m.properties.get("write.format.default").map(|f| f.to_uppercase()).unwrap_or_else(|| "PARQUET".into());
        let codec = m.properties.get("write.parquet.compression-codec").map(|c| c.to_ascii_lowercase()).unwrap_or_else(|| "zstd".into());
        out.extend([
            "\t\t".to_string(),
            format!("Name:\ticeberg.{}.{}\t", glue.database_name, glue.name),
            format!("Location:\t{}\t", m.location),
            "\t\t".to_string(),
            "# Table properties:\t\t".to_string(),
            "# key\tvalue\t".to_string(),
            format!("format\t{format}\t"),
            format!("write_compression\t{codec}\t"),
            "\t\t".to_string(),
            "# Iceberg storage table properties:\t\t".to_string(),
            "# key\tvalue\t".to_string(),
        ]);
        out.extend(m.properties.iter().map(|(k, v)| format!("{k}\t{v}\t")));
    }
    Ok(out)
}

/// A column's type as Athena's `DESCRIBE` of an Iceberg table spells it: Hive's names, with a
/// space after each comma and after a struct field's colon (`decimal(10, 2)`,
/// `map<string, int>`, `struct<a: int>`).
fn describe_type(t: &Type) -> String {
    match t {
        Type::Primitive(iceberg::schema::Primitive::Decimal { precision, scale }) => format!("decimal({precision}, {scale})"),
        Type::Primitive(_) => t.to_hive(),
        Type::Struct(fields) => {
            format!("struct<{}>", fields.iter().map(|f| format!("{}: {}", f.name, describe_type(&f.field_type))).collect::<Vec<_>>().join(", "))
        }
        Type::List { element, .. } => format!("array<{}>", describe_type(element)),
        Type::Map { key, value, .. } => format!("map<{}, {}>", describe_type(key), describe_type(value)),
    }
}
