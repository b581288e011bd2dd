//! The live rows of an Iceberg table's snapshot, each with its data file (`__file`) and its
//! position in it (`__pos`): what DELETE, UPDATE, MERGE and OPTIMIZE read, and name the rows they
//! change by. A table provider that streams the data files (only the columns a query reads, the
//! files spread over the session's partitions), skipping rows deleted by position, so that a
//! change touching a few rows of a large table holds only those in memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions, StringArray, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{DefaultParquetFileReaderFactory, ParquetFileReaderFactory};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::{StreamExt, TryStreamExt};
use iceberg::io::Io;
use iceberg::table::ScanFiles;
use iceberg::values::Literal;

use crate::error::Result;
use crate::iceberg_deletes::{Deleted, EqualityDeletes, read_equality_deletes, read_position_deletes};
use crate::iceberg_scan::file_columns;

/// The column naming a row's data file.
pub(crate) const FILE_COLUMN: &str = "__file";
/// The column naming a row's position in its data file.
pub(crate) const POS_COLUMN: &str = "__pos";

/// A snapshot's data files and the positions deleted from them, as a table of live rows: the
/// columns of `columns`, then `__file` and `__pos`.
#[derive(Debug, Clone)]
pub(crate) struct LiveRows {
    io: Io,
    schema: SchemaRef,
    /// Each data file's URL and size.
    files: Vec<(String, u64)>,
    deleted: Arc<Deleted>,
    /// The equality delete sets that apply to each data file.
    equality: Arc<HashMap<String, Vec<Arc<EqualityDeletes>>>>,
    /// Each data column's field id, by which files' columns are found.
    ids: Arc<Vec<Option<i32>>>,
    /// Each data file's partition tuple, for the delete files that name its rows.
    pub partitions: HashMap<String, Vec<Option<Literal>>>,
}

impl LiveRows {
    /// The live rows of a table's snapshot (`files`, its data and delete files), with the
    /// columns (and types) of `columns`.
    pub async fn of(table: &iceberg::table::Table, files: &ScanFiles, columns: &SchemaRef) -> Result<LiveRows> {
        let deleted = read_position_deletes(&table.io, &files.data.iter().collect::<Vec<_>>(), &files.deletes).await?;
        let sets = read_equality_deletes(&table.io, files, &table.metadata).await?;
        let equality = files
            .data
            .iter()
            .map(|f| (f.file.file_path.clone(), sets.iter().filter(|s| s.applies_to(f)).cloned().collect::<Vec<_>>()))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        let ids = columns.fields().iter().map(|f| f.metadata().get(iceberg::schema::FIELD_ID_KEY).and_then(|v| v.parse().ok())).collect();
        let mut fields: Vec<Field> = columns.fields().iter().map(|f| f.as_ref().clone().with_metadata(Default::default())).collect();
        fields.push(Field::new(FILE_COLUMN, DataType::Utf8, false));
        fields.push(Field::new(POS_COLUMN, DataType::Int64, false));
        Ok(LiveRows {
            io: table.io.clone(),
            schema: Arc::new(Schema::new(fields)),
            files: files.data.iter().map(|f| (f.file.file_path.clone(), f.file.file_size_in_bytes as u64)).collect(),
            deleted: Arc::new(deleted),
            equality: Arc::new(equality),
            ids: Arc::new(ids),
            partitions: files.data.iter().map(|f| (f.file.file_path.clone(), f.file.partition.clone())).collect(),
        })
    }

    /// The same rows, of the given data files only.
    pub fn only(&self, files: &BTreeSet<String>) -> LiveRows {
        LiveRows { files: self.files.iter().filter(|(f, _)| files.contains(f)).cloned().collect(), ..self.clone() }
    }

    /// How many equality delete files apply to a data file.
    pub fn equality_deletes_of(&self, file: &str) -> usize {
        self.equality.get(file).map_or(0, Vec::len)
    }
}

#[async_trait]
impl TableProvider for LiveRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let columns: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let projected = Arc::new(self.schema.project(&columns)?);
        let n = state.config().target_partitions().clamp(1, self.files.len().max(1));
        let mut groups: Vec<Vec<(String, u64)>> = vec![Vec::new(); n];
        for (i, f) in self.files.iter().enumerate() {
            groups[i % n].push(f.clone());
        }
        let partitions = groups
            .into_iter()
            .map(|files| {
                Arc::new(FileRows {
                    io: self.io.clone(),
                    files,
                    deleted: self.deleted.clone(),
                    equality: self.equality.clone(),
                    ids: self.ids.clone(),
                    schema: projected.clone(),
                    data_columns: self.schema.fields().len() - 2,
                    columns: columns.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(projected, partitions, None, Vec::new(), false, limit)?))
    }
}

/// One partition of a scan of live rows: its data files, read one after another.
#[derive(Debug)]
struct FileRows {
    io: Io,
    files: Vec<(String, u64)>,
    deleted: Arc<Deleted>,
    equality: Arc<HashMap<String, Vec<Arc<EqualityDeletes>>>>,
    ids: Arc<Vec<Option<i32>>>,
    /// The scan's output.
    schema: SchemaRef,
    /// How many of the table's columns are data columns (before `__file` and `__pos`).
    data_columns: usize,
    /// The table's columns the output holds, in order.
    columns: Vec<usize>,
}

fn df_err(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(e.to_string())
}

/// What reading one data file needs.
#[derive(Clone)]
struct FileRead {
    io: Io,
    schema: SchemaRef,
    data_columns: usize,
    columns: Vec<usize>,
    deleted: Arc<Deleted>,
    equality: Arc<HashMap<String, Vec<Arc<EqualityDeletes>>>>,
    ids: Arc<Vec<Option<i32>>>,
}

impl FileRead {
    /// A data file's live rows.
    async fn read(self, url: String, size: u64) -> DfResult<futures::stream::BoxStream<'static, DfResult<RecordBatch>>> {
        let FileRead { io, schema, data_columns, columns, deleted, equality, ids } = self;
        let sets = equality.get(&url).cloned().unwrap_or_default();
        let (store, path) = io.locate(&url).map_err(df_err)?;
        let mut file = PartitionedFile::new(String::new(), size);
        file.object_meta.location = path;
        let reader: Box<dyn datafusion::parquet::arrow::async_reader::AsyncFileReader> =
            DefaultParquetFileReaderFactory::new(store).create_reader(0, file, None, &ExecutionPlanMetricsSet::new())?;
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
        let file_schema = builder.schema().clone();
        // The file's column of each output column (by field id), and of each column equality
        // deletes compare (named as the table names them now).
        let output: Vec<(Option<i32>, &str)> = columns
            .iter()
            .zip(schema.fields())
            .map(|(i, f)| (if *i < data_columns { ids.get(*i).copied().flatten() } else { None }, f.name().as_str()))
            .collect();
        let in_file: Vec<Option<String>> =
            file_columns(&file_schema, &output).into_iter().zip(&columns).map(|(n, i)| n.filter(|_| *i < data_columns)).collect();
        let compared: Vec<Vec<Option<String>>> = sets
            .iter()
            .map(|s| {
                let wanted: Vec<(Option<i32>, &str)> = s.columns.iter().map(|(n, _)| (s.ids.get(n).copied(), n.as_str())).collect();
                file_columns(&file_schema, &wanted)
            })
            .collect();
        let mut roots = BTreeSet::new();
        for name in in_file.iter().chain(compared.iter().flatten()).flatten() {
            if let Ok(k) = file_schema.index_of(name) {
                roots.insert(k);
            }
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let stream = builder.with_projection(mask).build()?;
        let gone = deleted.get(&url).cloned();
        let mut offset = 0u64;
        Ok(stream
            .map(move |batch| -> DfResult<RecordBatch> {
                let batch = batch?;
                let n = batch.num_rows();
                let mut out: Vec<ArrayRef> = Vec::with_capacity(columns.len());
                for ((i, field), name) in columns.iter().zip(schema.fields()).zip(&in_file) {
                    out.push(if *i == data_columns {
                        Arc::new(StringArray::from(vec![url.as_str(); n]))
                    } else if *i == data_columns + 1 {
                        Arc::new(Int64Array::from_iter_values((offset..offset + n as u64).map(|p| p as i64)))
                    } else {
                        match name.as_ref().and_then(|n| batch.schema().index_of(n).ok()) {
                            Some(c) => datafusion::arrow::compute::cast(batch.column(c), field.data_type())?,
                            None => new_null_array(field.data_type(), n),
                        }
                    });
                }
                let rows = RecordBatch::try_new_with_options(schema.clone(), out, &RecordBatchOptions::new().with_row_count(Some(n)))?;
                let mut keep: Option<BooleanArray> =
                    gone.as_ref().map(|gone| BooleanArray::from_iter((0..n).map(|i| Some(!gone.contains(&(offset + i as u64))))));
                for (set, names) in sets.iter().zip(&compared) {
                    let arrays: Vec<ArrayRef> = set
                        .columns
                        .iter()
                        .zip(names)
                        .map(|((_, t), name)| match name.as_ref().and_then(|n| batch.schema().index_of(n).ok()) {
                            Some(c) => batch.column(c).clone(),
                            None => new_null_array(t, n),
                        })
                        .collect();
                    let kept = set.keeps(&arrays)?;
                    keep = Some(match keep {
                        Some(k) => datafusion::arrow::compute::and(&k, &kept)?,
                        None => kept,
                    });
                }
                let rows = match keep {
                    Some(keep) => datafusion::arrow::compute::filter_record_batch(&rows, &keep)?,
                    None => rows,
                };
                offset += n as u64;
                Ok(rows)
            })
            .boxed())
    }
}

impl PartitionStream for FileRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let read = FileRead {
            io: self.io.clone(),
            schema: self.schema.clone(),
            data_columns: self.data_columns,
            columns: self.columns.clone(),
            deleted: self.deleted.clone(),
            equality: self.equality.clone(),
            ids: self.ids.clone(),
        };
        let files = futures::stream::iter(self.files.clone()).then(move |(url, size)| read.clone().read(url, size)).try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), files))
    }
}
