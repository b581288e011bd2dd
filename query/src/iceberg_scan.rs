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
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, Operator, TableType};
use datafusion::physical_plan::ExecutionPlan;
use iceberg::io::Io;
use iceberg::values::Literal;
use storage::Store;

use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;

use crate::error::{Error, Result};
use crate::iceberg_deletes::{EqualityDeletes, NotDeleted, read_equality_deletes, read_position_deletes, skipping};
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

/// A comparison of a column (or a cast of it that keeps every value) with a constant.
struct Comparison<'a> {
    column: String,
    /// As if the column were on the left.
    op: Operator,
    value: &'a ScalarValue,
}

/// The comparisons of a column with a constant among the filters (and their conjunctions).
fn comparisons(filters: &[Expr]) -> Vec<Comparison<'_>> {
    use datafusion::logical_expr::BinaryExpr;
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
                // Only casts that keep every value (a timestamp's unit, a wider integer): a
                // truncating one (to a date) would not compare as the column does.
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
        let (column, value, op) = match (left.as_ref(), right.as_ref()) {
            (c, Expr::Literal(v, _)) => (column_of(c), v, *op),
            (Expr::Literal(v, _), c) => (column_of(c), v, op.swap().unwrap_or(*op)),
            _ => continue,
        };
        if let Some(column) = column {
            out.push(Comparison { column, op, value });
        }
    }
    out
}

/// A comparison of a column with a constant, as a file's bounds can rule it out.
struct BoundCondition {
    id: i32,
    primitive: iceberg::schema::Primitive,
    op: Operator,
    value: Literal,
}

impl BoundCondition {
    /// Whether a file may hold a row the comparison admits.
    fn admits(&self, file: &iceberg::manifest::DataFile) -> bool {
        use std::cmp::Ordering::{Greater, Less};
        // Only nulls: no comparison holds.
        if let (Some(values), Some(nulls)) = (file.value_counts.get(&self.id), file.null_value_counts.get(&self.id))
            && values == nulls
        {
            return false;
        }
        let bound =
            |b: Option<&Vec<u8>>| b.and_then(|b| Literal::from_bytes(b, &self.primitive).ok()).and_then(|l| compare_literals(&l, &self.value));
        let (lower, upper) = (bound(file.lower_bounds.get(&self.id)), bound(file.upper_bounds.get(&self.id)));
        match self.op {
            Operator::Eq => lower != Some(Greater) && upper != Some(Less),
            Operator::Lt => !matches!(lower, Some(Greater | std::cmp::Ordering::Equal)),
            Operator::LtEq => lower != Some(Greater),
            Operator::Gt => !matches!(upper, Some(Less | std::cmp::Ordering::Equal)),
            Operator::GtEq => upper != Some(Less),
            _ => true,
        }
    }
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

pub(crate) fn compare_literals(a: &Literal, b: &Literal) -> Option<std::cmp::Ordering> {
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
        use std::cmp::Ordering;
        let m = &self.table.metadata;
        let (Ok(spec), Ok(schema)) = (m.default_spec(), m.current_schema()) else { return Vec::new() };
        let mut out = Vec::new();
        for c in comparisons(filters) {
            let (ordering, equal) = match c.op {
                Operator::Eq => (Ordering::Equal, true),
                Operator::Gt | Operator::GtEq => (Ordering::Greater, true),
                Operator::Lt | Operator::LtEq => (Ordering::Less, true),
                _ => continue,
            };
            for (i, f) in spec.fields.iter().enumerate() {
                let Some(source) = schema.field(f.source_id) else { continue };
                let iceberg::schema::Type::Primitive(p) = &source.field_type else { continue };
                if !source.name.eq_ignore_ascii_case(&c.column) {
                    continue;
                }
                let keeps_order = !matches!(f.transform, iceberg::partition::Transform::Bucket(_) | iceberg::partition::Transform::Void);
                if ordering != Ordering::Equal && !keeps_order || f.transform == iceberg::partition::Transform::Void {
                    continue;
                }
                let Some(lit) = constant(c.value, p) else { continue };
                if let Ok(Some(t)) = f.transform.apply(Some(&lit)) {
                    out.push(PartitionCondition { field: i, op: ordering, equal, value: t });
                }
            }
        }
        out
    }

    /// Conditions on files' column bounds (their manifests' metrics) from the query's
    /// comparisons of a column with a constant. Floating-point columns are left out: their bounds
    /// leave NaN out, which compares greater than every number here.
    fn bound_conditions(&self, filters: &[Expr]) -> Vec<BoundCondition> {
        use iceberg::schema::Primitive as P;
        let Ok(schema) = self.table.metadata.current_schema() else { return Vec::new() };
        let mut out = Vec::new();
        for c in comparisons(filters) {
            if !matches!(c.op, Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq) {
                continue;
            }
            let Some(field) = schema.fields.iter().find(|f| f.name.eq_ignore_ascii_case(&c.column)) else { continue };
            let iceberg::schema::Type::Primitive(p) = &field.field_type else { continue };
            if matches!(p, P::Float | P::Double) {
                continue;
            }
            // A constant of finer precision than microseconds was rounded down: strict
            // comparisons relax so that the rounding cannot rule a file out wrongly.
            let op = match (p, c.op) {
                (P::Timestamp | P::Timestamptz, Operator::Lt) => Operator::LtEq,
                (P::Timestamp | P::Timestamptz, Operator::Gt) => Operator::GtEq,
                (_, op) => op,
            };
            if let Some(value) = constant(c.value, p) {
                out.push(BoundCondition { id: field.id, primitive: p.clone(), op, value });
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
        let schema = Arc::new(table.metadata.current_schema()?.to_arrow());
        let snapshot = table.metadata.current_snapshot().map(|s| s.snapshot_id);
        Ok(IcebergTable { table, schema, snapshot })
    }

    /// The scan of some data files (by store) to which the same equality deletes apply: the
    /// columns the sets compare are read too, the rows they delete filtered out, and the
    /// projection's columns kept.
    async fn plan_group(
        &self,
        state: &dyn Session,
        by_store: BTreeMap<String, Vec<PartitionedFile>>,
        columns: &[usize],
        limit: Option<usize>,
        sets: Vec<Arc<EqualityDeletes>>,
        names: Option<Vec<String>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        use datafusion::physical_plan::expressions::Column;
        let format = Arc::new(crate::tuning::parquet_format());
        let names = names.filter(|n| n.iter().zip(self.schema.fields()).any(|(n, f)| n != f.name()));
        if sets.is_empty() && names.is_none() {
            let scan = FileScan {
                format,
                file_schema: self.schema.clone(),
                partition_fields: Vec::new(),
                projected: Arc::new(self.schema.project(columns)?),
            };
            return scan.plan(state, by_store, Some(&columns.to_vec()), limit).await;
        }
        // The files' schema: the table's, each column under the name the files give it.
        let file_schema = match &names {
            Some(names) => Arc::new(datafusion::arrow::datatypes::Schema::new(
                self.schema.fields().iter().zip(names).map(|(f, n)| f.as_ref().clone().with_name(n)).collect::<Vec<_>>(),
            )),
            None => self.schema.clone(),
        };
        let mut read: Vec<usize> = columns.to_vec();
        for set in &sets {
            for (name, _) in &set.columns {
                let i = self.schema.index_of(name)?;
                if !read.contains(&i) {
                    read.push(i);
                }
            }
        }
        let scan =
            FileScan { format, file_schema: file_schema.clone(), partition_fields: Vec::new(), projected: Arc::new(file_schema.project(&read)?) };
        let mut plan = scan.plan(state, by_store, Some(&read), None).await?;
        for set in sets {
            let exprs = set
                .columns
                .iter()
                .map(|(name, _)| {
                    let at = read.iter().position(|i| self.schema.field(*i).name() == name).expect("read above");
                    Arc::new(Column::new(file_schema.field(read[at]).name(), at)) as Arc<dyn datafusion::physical_expr::PhysicalExpr>
                })
                .collect();
            plan = Arc::new(datafusion::physical_plan::filter::FilterExec::try_new(Arc::new(NotDeleted::new(exprs, set)), plan)?);
        }
        let keep: Vec<(Arc<dyn datafusion::physical_expr::PhysicalExpr>, String)> = columns
            .iter()
            .enumerate()
            .map(|(at, i)| {
                let column = Arc::new(Column::new(file_schema.field(*i).name(), at)) as Arc<dyn datafusion::physical_expr::PhysicalExpr>;
                (column, self.schema.field(*i).name().clone())
            })
            .collect();
        let mut plan: Arc<dyn ExecutionPlan> = Arc::new(datafusion::physical_plan::projection::ProjectionExec::try_new(keep, plan)?);
        if let Some(n) = limit {
            plan = Arc::new(datafusion::physical_plan::limit::GlobalLimitExec::new(
                Arc::new(datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec::new(plan)),
                0,
                Some(n),
            ));
        }
        Ok(plan)
    }

    /// The names a data file gives the table's columns (found by field id in its footer);
    /// a column the file lacks gets a name no file column has, so that it reads as nulls.
    async fn names_in_file(&self, state: &dyn Session, store_url: &str, file: &PartitionedFile) -> DfResult<Vec<String>> {
        use datafusion::datasource::physical_plan::parquet::{DefaultParquetFileReaderFactory, ParquetFileReaderFactory};
        let store = state.runtime_env().object_store(ObjectStoreUrl::parse(store_url)?)?;
        let reader: Box<dyn datafusion::parquet::arrow::async_reader::AsyncFileReader> = DefaultParquetFileReaderFactory::new(store).create_reader(
            0,
            file.clone(),
            None,
            &datafusion::physical_plan::metrics::ExecutionPlanMetricsSet::new(),
        )?;
        let builder = datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder::new(reader).await?;
        let wanted: Vec<(Option<i32>, &str)> = self
            .schema
            .fields()
            .iter()
            .map(|f| (f.metadata().get(iceberg::schema::FIELD_ID_KEY).and_then(|v| v.parse().ok()), f.name().as_str()))
            .collect();
        let found = file_columns(builder.schema(), &wanted);
        Ok(found.into_iter().zip(&wanted).map(|(n, (id, _))| n.unwrap_or_else(|| format!("__absent_{}", id.unwrap_or_default()))).collect())
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
        // And by the files' column bounds.
        let bounds = self.bound_conditions(filters);
        if !bounds.is_empty() {
            for (k, f) in keep.iter_mut().zip(&files.data) {
                *k &= bounds.iter().all(|c| c.admits(&f.file));
            }
        }
        // Position deletes of the files left to read.
        let kept: Vec<&iceberg::table::ScanFile> = files.data.iter().zip(&keep).filter(|(_, k)| **k).map(|(f, _)| f).collect();
        let deleted = read_position_deletes(&table.io, &kept, &files.deletes).await.map_err(df_err)?;
        let equality = read_equality_deletes(&table.io, &files, &self.table.metadata).await.map_err(df_err)?;
        // A table whose columns were renamed has files that name them otherwise: each file's
        // columns are found by field id in its footer.
        let renamed = renamed(&self.table.metadata);
        // Files grouped by the equality delete sets that apply to them (most have none), and by
        // their columns' names where the table renamed some.
        let mut groups: BTreeMap<(Vec<usize>, Option<Vec<String>>), BTreeMap<String, Vec<PartitionedFile>>> = BTreeMap::new();
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
            let sets: Vec<usize> = equality.iter().enumerate().filter(|(_, e)| e.applies_to(&f)).map(|(i, _)| i).collect();
            let store_url = format!("s3://{bucket}");
            let names = match renamed {
                true => Some(self.names_in_file(state, &store_url, &file).await?),
                false => None,
            };
            groups.entry((sets, names)).or_default().entry(store_url).or_default().push(file);
        }
        let columns: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let mut plans = Vec::new();
        for ((sets, names), by_store) in groups {
            let sets = sets.iter().map(|i| equality[*i].clone()).collect();
            plans.push(self.plan_group(state, by_store, &columns, limit, sets, names).await?);
        }
        match plans.len() {
            0 => {
                let projected = Arc::new(self.schema.project(&columns)?);
                Ok(Arc::new(datafusion::physical_plan::empty::EmptyExec::new(projected)))
            }
            1 => Ok(plans.remove(0)),
            _ => datafusion::physical_plan::union::UnionExec::try_new(plans),
        }
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

/// Whether some schema of the table gave a name to another field, or a field another name (a
/// rename, or a column dropped and added again): files then name columns otherwise than the
/// current schema, and are read by field id.
pub(crate) fn renamed(m: &iceberg::metadata::TableMetadata) -> bool {
    let mut by_name: std::collections::HashMap<String, i32> = std::collections::HashMap::new();
    let mut by_id: std::collections::HashMap<i32, String> = std::collections::HashMap::new();
    for schema in &m.schemas {
        for f in &schema.fields {
            let name = f.name.to_lowercase();
            let same_id = by_name.insert(name.clone(), f.id).is_none_or(|id| id == f.id);
            let same_name = by_id.insert(f.id, name.clone()).is_none_or(|n| n == name);
            if !same_id || !same_name {
                return true;
            }
        }
    }
    false
}

/// The column of a file (its Arrow schema) that holds each wanted column (field id, and name in
/// the table): the one with the field id, or, in a file without field ids (written before the
/// table was Iceberg's), the one with the name.
pub(crate) fn file_columns(file: &datafusion::arrow::datatypes::Schema, wanted: &[(Option<i32>, &str)]) -> Vec<Option<String>> {
    let ids: Vec<Option<i32>> = file.fields().iter().map(|f| f.metadata().get(iceberg::schema::FIELD_ID_KEY).and_then(|v| v.parse().ok())).collect();
    let has_ids = ids.iter().any(Option::is_some);
    wanted
        .iter()
        .map(|(id, name)| {
            let at = match (has_ids, id) {
                (true, Some(id)) => ids.iter().position(|i| *i == Some(*id)),
                _ => file.fields().iter().position(|f| f.name().eq_ignore_ascii_case(name)),
            };
            at.map(|k| file.field(k).name().clone())
        })
        .collect()
}
