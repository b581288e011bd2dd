//! Iceberg tables as DataFusion reads them: a Glue table with `table_type=ICEBERG` names its
//! current metadata file in `metadata_location`; the table's schema is that file's, and a scan
//! reads the Parquet data files of its current snapshot. The metadata file is read when a query
//! names the table; manifests and data files through the session's stores, so with the
//! caller's S3 permissions.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use catalog::Table;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use iceberg::io::Io;
use iceberg::values::Literal;
use storage::Store;

use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
use iceberg::manifest::Content;
use iceberg::table::ScanFiles;

use crate::error::{Error, Result};
use crate::partitioned::FileScan;

/// Whether a Glue table is an Iceberg table.
pub(crate) fn is_iceberg(table: &Table) -> bool {
    table.parameters.get("table_type").is_some_and(|t| t.eq_ignore_ascii_case("iceberg"))
}

pub(crate) fn metadata_location(table: &Table) -> Result<&str> {
    table.parameters.get("metadata_location").map(String::as_str).ok_or_else(|| {
        iceberg_error("ICEBERG_INVALID_METADATA", format!("Iceberg table {}.{} has no metadata_location", table.database_name, table.name))
    })
}

pub(crate) fn iceberg_error(code: &'static str, message: impl Into<String>) -> Error {
    Error::Iceberg { code, message: message.into() }
}

impl From<iceberg::Error> for Error {
    fn from(e: iceberg::Error) -> Self {
        match e {
            iceberg::Error::Io(m) => iceberg_error("ICEBERG_FILESYSTEM_ERROR", m),
            iceberg::Error::Invalid(m) => iceberg_error("ICEBERG_INVALID_METADATA", m),
            iceberg::Error::Unsupported(m) => Error::InvalidInput(m),
        }
    }
}

fn df_err(e: impl Into<Error>) -> DataFusionError {
    DataFusionError::External(Box::new(e.into()))
}

/// The lake without permission checks: the engine's own reads (a table's metadata file).
pub(crate) fn engine_io(store: &Store) -> Io {
    let store = store.clone();
    Io::new(Arc::new(move |bucket: &str| {
        store.head_bucket(bucket).map_err(|e| e.to_string())?;
        Ok(Arc::new(storage::BucketStore::new(store.clone(), bucket)) as Arc<dyn object_store::ObjectStore>)
    }))
}

/// The lake as a session sees it: each bucket's store checks the caller's permissions.
pub(crate) fn session_io(env: Arc<RuntimeEnv>) -> Io {
    Io::new(Arc::new(move |bucket: &str| {
        let url = ObjectStoreUrl::parse(format!("s3://{bucket}")).map_err(|e| e.to_string())?;
        env.object_store(url).map_err(|e| e.to_string())
    }))
}

/// An Iceberg table as DataFusion reads it: the data files of its current snapshot.
#[derive(Debug)]
pub struct IcebergTable {
    table: iceberg::table::Table,
    schema: SchemaRef,
    /// The snapshot read: the current one unless the query travels in time.
    snapshot: Option<i64>,
}

/// A condition on one partition field, from a comparison of its source column with a constant:
/// a file whose partition value fails it holds no row the comparison admits.
struct PartitionCondition {
    field: usize,
    /// `=`, `>=` or `<=` (strict comparisons relax to these, as transforms merge values).
    op: std::cmp::Ordering,
    equal: bool,
    value: Literal,
}

impl PartitionCondition {
    fn admits(&self, partition: Option<&Literal>) -> bool {
        let Some(p) = partition else { return false };
        match compare_literals(p, &self.value) {
            Some(o) => o == self.op || (self.equal && o == std::cmp::Ordering::Equal),
            // Values that do not compare (another type): kept.
            None => true,
        }
    }
}

fn compare_literals(a: &Literal, b: &Literal) -> Option<std::cmp::Ordering> {
    use Literal::*;
    match (a, b) {
        (Int(x), Int(y)) | (Date(x), Date(y)) => x.partial_cmp(y),
        (Long(x), Long(y)) | (Timestamp(x), Timestamp(y)) | (TimestampTz(x), TimestampTz(y)) | (Time(x), Time(y)) => x.partial_cmp(y),
        (Decimal(x), Decimal(y)) => x.partial_cmp(y),
        (String(x), String(y)) => x.partial_cmp(y),
        (Boolean(x), Boolean(y)) => x.partial_cmp(y),
        (Binary(x), Binary(y)) => x.partial_cmp(y),
        _ => None,
    }
}

/// A constant as the literal of a column's type, where that is exact.
fn constant(v: &ScalarValue, t: &iceberg::schema::Primitive) -> Option<Literal> {
    use iceberg::schema::Primitive as P;
    let micros = |v: &ScalarValue| -> Option<i64> {
        Some(match v {
            ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1_000_000)?,
            ScalarValue::TimestampMillisecond(Some(x), _) => x.checked_mul(1000)?,
            ScalarValue::TimestampMicrosecond(Some(x), _) => *x,
            ScalarValue::TimestampNanosecond(Some(x), _) => x.div_euclid(1000),
            ScalarValue::Date32(Some(d)) => i64::from(*d) * 86_400_000_000,
            _ => return None,
        })
    };
    Some(match (t, v) {
        (P::Int, ScalarValue::Int32(Some(x))) => Literal::Int(*x),
        (P::Int, ScalarValue::Int64(Some(x))) => Literal::Int(i32::try_from(*x).ok()?),
        (P::Long, ScalarValue::Int32(Some(x))) => Literal::Long(i64::from(*x)),
        (P::Long, ScalarValue::Int64(Some(x))) => Literal::Long(*x),
        (P::String, ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s))) => Literal::String(s.clone()),
        (P::Date, ScalarValue::Date32(Some(d))) => Literal::Date(*d),
        (P::Timestamp, v) => Literal::Timestamp(micros(v)?),
        (P::Timestamptz, v) => Literal::TimestampTz(micros(v)?),
        (P::Boolean, ScalarValue::Boolean(Some(b))) => Literal::Boolean(*b),
        (P::Decimal { scale, .. }, ScalarValue::Decimal128(Some(x), _, s)) if *s as u8 == *scale => Literal::Decimal(*x),
        _ => return None,
    })
}

impl IcebergTable {
    /// Conditions on partition fields from the query's comparisons of a source column (or a cast
    /// of it) with a constant, through the field's transform: `c = x` is `field = t(x)`; for
    /// transforms that keep order (all but bucket and void), `c >= x` is `field >= t(x)` and
    /// `c <= x` is `field <= t(x)`.
    fn transform_conditions(&self, filters: &[Expr]) -> Vec<PartitionCondition> {
        use datafusion::logical_expr::{BinaryExpr, Operator};
        use std::cmp::Ordering;
        let m = &self.table.metadata;
        let (Ok(spec), Ok(schema)) = (m.default_spec(), m.current_schema()) else { return Vec::new() };
        let mut out = Vec::new();
        let mut pending: Vec<&Expr> = filters.iter().collect();
        while let Some(e) = pending.pop() {
            let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else { continue };
            if *op == Operator::And {
                pending.push(left);
                pending.push(right);
                continue;
            }
            let column_of = |e: &Expr| -> Option<String> {
                match e {
                    Expr::Column(c) => Some(c.name.clone()),
                    // Only casts that keep every value (a timestamp's unit, a wider integer):
                    // a truncating one (to a date) would not compare as the column does.
                    Expr::Cast(c)
                        if matches!(
                            c.field.data_type(),
                            datafusion::arrow::datatypes::DataType::Timestamp(..) | datafusion::arrow::datatypes::DataType::Int64
                        ) =>
                    {
                        match c.expr.as_ref() {
                            Expr::Column(col) => Some(col.name.clone()),
                            _ => None,
                        }
                    }
                    _ => None,
                }
            };
            let (name, value, op) = match (left.as_ref(), right.as_ref()) {
                (c, Expr::Literal(v, _)) => (column_of(c), v, *op),
                (Expr::Literal(v, _), c) => (column_of(c), v, op.swap().unwrap_or(*op)),
                _ => continue,
            };
            let Some(name) = name else { continue };
            let (ordering, equal) = match op {
                Operator::Eq => (Ordering::Equal, true),
                Operator::Gt | Operator::GtEq => (Ordering::Greater, true),
                Operator::Lt | Operator::LtEq => (Ordering::Less, true),
                _ => continue,
            };
            for (i, f) in spec.fields.iter().enumerate() {
                let Some(source) = schema.field(f.source_id) else { continue };
                let iceberg::schema::Type::Primitive(p) = &source.field_type else { continue };
                if !source.name.eq_ignore_ascii_case(&name) {
                    continue;
                }
                let keeps_order = !matches!(f.transform, iceberg::partition::Transform::Bucket(_) | iceberg::partition::Transform::Void);
                if ordering != Ordering::Equal && !keeps_order || f.transform == iceberg::partition::Transform::Void {
                    continue;
                }
                let Some(lit) = constant(value, p) else { continue };
                if let Ok(Some(t)) = f.transform.apply(Some(&lit)) {
                    out.push(PartitionCondition { field: i, op: ordering, equal, value: t });
                }
            }
        }
        out
    }

    /// Which data files the query's filters on identity partition columns leave: each file's
    /// partition values as a row of those columns, every filter that reads only them evaluated
    /// over the rows. Files of another partition spec are kept.
    fn prune(&self, state: &dyn Session, files: &[iceberg::table::ScanFile], filters: &[Expr]) -> DfResult<Vec<bool>> {
        use datafusion::arrow::array::{Array, BooleanArray};
        let m = &self.table.metadata;
        let (Ok(spec), Ok(schema)) = (m.default_spec(), m.current_schema()) else { return Ok(vec![true; files.len()]) };
        // (position in the tuple, the source column's Arrow field, the value's type)
        let mut columns = Vec::new();
        for (i, f) in spec.fields.iter().enumerate() {
            if f.transform != iceberg::partition::Transform::Identity {
                continue;
            }
            if let Some(source) = schema.field(f.source_id)
                && let iceberg::schema::Type::Primitive(p) = &source.field_type
            {
                columns.push((i, datafusion::arrow::datatypes::Field::new(&source.name, source.field_type.to_arrow(), true), p.clone()));
            }
        }
        let names: std::collections::HashSet<&str> = columns.iter().map(|(_, f, _)| f.name().as_str()).collect();
        let usable: Vec<&Expr> = filters
            .iter()
            .filter(|e| {
                let mut used = std::collections::HashSet::new();
                datafusion::logical_expr::utils::expr_to_columns(e, &mut used).is_ok()
                    && !used.is_empty()
                    && used.iter().all(|c| names.contains(c.name.as_str()))
            })
            .collect();
        if usable.is_empty() || files.is_empty() {
            return Ok(vec![true; files.len()]);
        }
        let mut arrays = Vec::new();
        for (i, field, p) in &columns {
            let values = files.iter().map(|f| crate::iceberg_meta::scalar(f.file.partition.get(*i).and_then(Option::as_ref), p));
            let array = ScalarValue::iter_to_array(values)?;
            arrays.push(datafusion::arrow::compute::cast(&array, field.data_type())?);
        }
        let arrow = Arc::new(datafusion::arrow::datatypes::Schema::new(columns.iter().map(|(_, f, _)| f.clone()).collect::<Vec<_>>()));
        let batch = datafusion::arrow::array::RecordBatch::try_new(arrow.clone(), arrays)?;
        let df_schema = datafusion::common::DFSchema::try_from(arrow.as_ref().clone())?;
        let mut keep = vec![true; files.len()];
        for filter in usable {
            let result = state.create_physical_expr(filter.clone(), &df_schema)?.evaluate(&batch)?.into_array(files.len())?;
            if let Some(result) = result.as_any().downcast_ref::<BooleanArray>() {
                for (k, i) in keep.iter_mut().zip(0..files.len()) {
                    *k &= result.is_valid(i) && result.value(i);
                }
            }
        }
        // Files of another spec than the default were not described by these rows: kept.
        for (k, f) in keep.iter_mut().zip(files) {
            if f.spec_id != spec.spec_id {
                *k = true;
            }
        }
        Ok(keep)
    }

    /// The table a Glue table names, at its current metadata file.
    pub async fn load(store: &Store, glue: &Table) -> Result<IcebergTable> {
        let table = iceberg::table::Table::load(engine_io(store), metadata_location(glue)?).await?;
        names_are_ids(&table.metadata)?;
        let schema = Arc::new(table.metadata.current_schema()?.to_arrow());
        let snapshot = table.metadata.current_snapshot().map(|s| s.snapshot_id);
        Ok(IcebergTable { table, schema, snapshot })
    }

    /// Reads a snapshot, with the schema it was written with.
    fn at(&mut self, snapshot_id: i64) -> Result<()> {
        let m = &self.table.metadata;
        let snapshot = m
            .snapshot(snapshot_id)
            .ok_or_else(|| iceberg_error("INVALID_ARGUMENTS", format!("Iceberg snapshot ID does not exists: {snapshot_id}")))?;
        let schema = match snapshot.schema_id {
            Some(id) => m.schema(id)?,
            None => m.current_schema()?,
        };
        self.schema = Arc::new(schema.to_arrow());
        self.snapshot = Some(snapshot_id);
        Ok(())
    }
}

#[async_trait]
impl TableProvider for IcebergTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<datafusion::logical_expr::TableProviderFilterPushDown>> {
        // Filters on identity partition columns prune files; DataFusion applies every filter to
        // the rows all the same.
        Ok(filters.iter().map(|_| datafusion::logical_expr::TableProviderFilterPushDown::Inexact).collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Manifests and data files are read as the caller reads them.
        let table = iceberg::table::Table { io: session_io(state.runtime_env().clone()), ..self.table.clone() };
        let files = table.files(self.snapshot.and_then(|id| table.metadata.snapshot(id))).await.map_err(df_err)?;
        let deleted = read_position_deletes(&table.io, &files).await.map_err(df_err)?;
        let mut keep = self.prune(state, &files.data, filters)?;
        // Comparisons of a column with a constant prune by any monotonic transform of it too.
        let conditions = self.transform_conditions(filters);
        if !conditions.is_empty() {
            let default_spec = self.table.metadata.default_spec().map(|s| s.spec_id).unwrap_or(0);
            for (k, f) in keep.iter_mut().zip(&files.data) {
                if f.spec_id == default_spec {
                    *k &= conditions.iter().all(|c| c.admits(f.file.partition.get(c.field).and_then(Option::as_ref)));
                }
            }
        }
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let mut by_store: BTreeMap<String, Vec<PartitionedFile>> = BTreeMap::new();
        for (f, _) in files.data.into_iter().zip(keep).filter(|(_, k)| *k) {
            if !f.file.file_format.eq_ignore_ascii_case("parquet") {
                return Err(df_err(Error::InvalidInput(format!("Iceberg data files in {} are not supported", f.file.file_format))));
            }
            let (bucket, key) = iceberg::io::split_url(&f.file.file_path).map_err(df_err)?;
            // The key as written, not encoded again (a partition folder may hold `%`).
            let location = object_store::path::Path::parse(key).unwrap_or_else(|_| object_store::path::Path::from(key));
            let mut file = PartitionedFile::new(String::new(), f.file.file_size_in_bytes as u64);
            file.object_meta.location = location;
            // Rows deleted by position are skipped as the file is read.
            if let Some(positions) = deleted.get(&f.file.file_path) {
                file = file.with_extension(ParquetRowSelection::new(skipping(positions, f.file.record_count as u64)));
            }
            by_store.entry(format!("s3://{bucket}")).or_default().push(file);
        }
        let scan = FileScan { format: Arc::new(ParquetFormat::default()), file_schema: self.schema.clone(), partition_fields: Vec::new(), projected };
        scan.plan(state, by_store, projection, limit).await
    }
}

/// A table name's suffix after `$`: time travel (`version=…`, `asof_ms=…`, see
/// `rewrite::time_travel`) or a metadata table (`history`, `snapshots`, `refs`, `manifests`,
/// `files`, `partitions`), as Athena names them.
pub async fn special(store: &Store, glue: &Table, suffix: &str) -> Result<Arc<dyn TableProvider>> {
    let mut table = IcebergTable::load(store, glue).await?;
    let name = format!("{}.{}", glue.database_name, glue.name);
    if let Some(v) = suffix.strip_prefix("version=") {
        let m = &table.table.metadata;
        let id = match v.parse::<i64>() {
            Ok(id) => m.snapshot(id).map(|s| s.snapshot_id),
            Err(_) => m.refs.get(v).map(|r| r.snapshot_id),
        }
        .ok_or_else(|| iceberg_error("INVALID_ARGUMENTS", format!("Iceberg snapshot ID does not exists: {v}")))?;
        table.at(id)?;
        return Ok(Arc::new(table));
    }
    if let Some(ms) = suffix.strip_prefix("asof_ms=") {
        let ms: i64 = ms.parse().map_err(|_| Error::Internal(format!("bad time travel suffix {suffix}")))?;
        let id = table.table.metadata.snapshot_as_of(ms).map(|s| s.snapshot_id).ok_or_else(|| {
            iceberg_error("INVALID_ARGUMENTS", format!("No version history table {name} at or before {}", crate::iceberg_meta::millis_text(ms)))
        })?;
        table.at(id)?;
        return Ok(Arc::new(table));
    }
    crate::iceberg_meta::metadata_table(&table.table, suffix, &name).await
}

/// Positions deleted from each data file (by its path), from a snapshot's position delete files.
pub(crate) type Deleted = std::collections::HashMap<String, std::collections::BTreeSet<u64>>;

/// Reads a snapshot's position delete files: each row a data file's path and a position in it.
/// A delete applies to data files committed before it, or with it (the data sequence number of
/// the data file at most the delete file's). Equality deletes are not read yet: refused.
pub(crate) async fn read_position_deletes(io: &Io, files: &ScanFiles) -> Result<Deleted> {
    let mut out = Deleted::new();
    if files.deletes.is_empty() {
        return Ok(out);
    }
    let sequence: std::collections::HashMap<&str, i64> = files.data.iter().map(|f| (f.file.file_path.as_str(), f.sequence_number)).collect();
    for d in &files.deletes {
        if d.file.content == Content::EqualityDeletes {
            return Err(Error::InvalidInput("reading Iceberg tables with equality delete files is not supported yet".into()));
        }
        // Delete files are small: read whole.
        let bytes = io.read(&d.file.file_path).await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).and_then(|b| b.build()).map_err(|e| Error::DataFusion(e.into()))?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::DataFusion(e.into()))?;
            let paths = batch
                .column_by_name("file_path")
                .ok_or_else(|| iceberg_error("ICEBERG_BAD_DATA", format!("{} has no file_path", d.file.file_path)))?;
            let positions =
                batch.column_by_name("pos").ok_or_else(|| iceberg_error("ICEBERG_BAD_DATA", format!("{} has no pos", d.file.file_path)))?;
            let paths =
                datafusion::arrow::compute::cast(paths, &datafusion::arrow::datatypes::DataType::Utf8).map_err(|e| Error::DataFusion(e.into()))?;
            let positions = datafusion::arrow::compute::cast(positions, &datafusion::arrow::datatypes::DataType::Int64)
                .map_err(|e| Error::DataFusion(e.into()))?;
            let paths = paths.as_any().downcast_ref::<datafusion::arrow::array::StringArray>().expect("cast to Utf8");
            let positions = positions.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().expect("cast to Int64");
            for i in 0..batch.num_rows() {
                let path = paths.value(i);
                if sequence.get(path).is_some_and(|seq| *seq <= d.sequence_number) {
                    out.entry(path.to_string()).or_default().insert(positions.value(i) as u64);
                }
            }
        }
    }
    Ok(out)
}

/// A file-level selection of `rows` rows that skips the given positions.
fn skipping(positions: &std::collections::BTreeSet<u64>, rows: u64) -> RowSelection {
    let mut selectors = Vec::new();
    let mut at = 0u64;
    for &p in positions.iter().filter(|p| **p < rows) {
        if p > at {
            selectors.push(RowSelector::select((p - at) as usize));
        }
        selectors.push(RowSelector::skip(1));
        at = p + 1;
    }
    if rows > at {
        selectors.push(RowSelector::select((rows - at) as usize));
    }
    RowSelection::from(selectors)
}

/// Files are read by column name. That is the field id's column only while no schema of the
/// table gave a name to another field or a field another name (a rename, or a column dropped and
/// added again): such tables are refused rather than read wrong.
pub(crate) fn names_are_ids(m: &iceberg::metadata::TableMetadata) -> Result<()> {
    let mut by_name: std::collections::HashMap<String, i32> = std::collections::HashMap::new();
    let mut by_id: std::collections::HashMap<i32, String> = std::collections::HashMap::new();
    for schema in &m.schemas {
        for f in &schema.fields {
            let name = f.name.to_lowercase();
            let same_id = by_name.insert(name.clone(), f.id).is_none_or(|id| id == f.id);
            let same_name = by_id.insert(f.id, name.clone()).is_none_or(|n| n == name);
            if !same_id || !same_name {
                return Err(Error::InvalidInput(format!(
                    "Iceberg tables whose columns were renamed (or dropped and added again under the name) are not supported yet: {name}"
                )));
            }
        }
    }
    Ok(())
}
