//! A snapshot's delete files as reads apply them. Position deletes (what Athena and Minerva
//! write) name a data file's rows by position: the scan skips them as it reads the file.
//! Equality deletes (what Flink and Spark's upserts write) name rows by the values of some
//! columns: the rows of the data files they apply to are filtered by a predicate that looks the
//! row's values up in the deleted set.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::ColumnarValue;
use datafusion::parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
use datafusion::physical_expr::PhysicalExpr;
use iceberg::io::Io;
use iceberg::manifest::Content;
use iceberg::table::{ScanFile, ScanFiles};

use crate::error::{Error, Result};

/// An Iceberg error in Athena's words (code and message).
fn iceberg_error(code: &'static str, message: impl Into<String>) -> Error {
    Error::Iceberg { code, message: message.into() }
}

/// Positions deleted from each data file (by its path), from a snapshot's position delete files.
pub(crate) type Deleted = HashMap<String, BTreeSet<u64>>;

fn arrow_err(e: impl Into<datafusion::error::DataFusionError>) -> Error {
    Error::DataFusion(e.into())
}

/// Reads the position delete files of a snapshot (`deletes`) that name rows of the data files to
/// be read (`data`): each row a data file's path and a position in it. A delete applies to data
/// files committed before it, or with it (the data sequence number of the data file at most the
/// delete file's). A delete file whose `file_path` bounds leave out every such data file (those
/// of a partition a query's filter pruned, say) is not read.
pub(crate) async fn read_position_deletes(io: &Io, data: &[&ScanFile], deletes: &[ScanFile]) -> Result<Deleted> {
    let mut out = Deleted::new();
    if deletes.is_empty() {
        return Ok(out);
    }
    let sequence: HashMap<&str, i64> = data.iter().map(|f| (f.file.file_path.as_str(), f.sequence_number)).collect();
    for d in deletes.iter().filter(|d| d.file.content == Content::PositionDeletes) {
        if !data.iter().any(|f| f.sequence_number <= d.sequence_number && d.file.may_reference(&f.file.file_path)) {
            continue;
        }
        // Delete files are small: read whole.
        let bytes = io.read(&d.file.file_path).await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).and_then(|b| b.build()).map_err(arrow_err)?;
        for batch in reader {
            let batch = batch.map_err(arrow_err)?;
            let paths = batch
                .column_by_name("file_path")
                .ok_or_else(|| iceberg_error("ICEBERG_BAD_DATA", format!("{} has no file_path", d.file.file_path)))?;
            let positions =
                batch.column_by_name("pos").ok_or_else(|| iceberg_error("ICEBERG_BAD_DATA", format!("{} has no pos", d.file.file_path)))?;
            let paths = datafusion::arrow::compute::cast(paths, &DataType::Utf8).map_err(arrow_err)?;
            let positions = datafusion::arrow::compute::cast(positions, &DataType::Int64).map_err(arrow_err)?;
            let paths = paths.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
            let positions = positions.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
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
pub(crate) fn skipping(positions: &BTreeSet<u64>, rows: u64) -> RowSelection {
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

/// The rows one equality delete file deletes: the values of its columns (the table's, by field
/// id), in the row format, and which data files it applies to.
#[derive(Debug)]
pub(crate) struct EqualityDeletes {
    /// The table's columns compared (names in the table's current schema) and their types.
    pub columns: Vec<(String, DataType)>,
    /// The compared columns' field ids, by name.
    pub ids: HashMap<String, i32>,
    rows: HashSet<Box<[u8]>>,
    sequence_number: i64,
    spec_id: i32,
    partition: Vec<Option<iceberg::values::Literal>>,
    /// Whether the file's spec is unpartitioned: it then applies to every partition.
    global: bool,
    /// The file's path, which tells sets apart.
    path: String,
}

impl EqualityDeletes {
    /// Whether the deletes apply to a data file: one committed before them (a smaller data
    /// sequence number), in their partition unless they are global.
    pub fn applies_to(&self, data: &ScanFile) -> bool {
        data.sequence_number < self.sequence_number && (self.global || (data.spec_id == self.spec_id && data.file.partition == self.partition))
    }

    fn converter(&self) -> DfResult<RowConverter> {
        Ok(RowConverter::new(self.columns.iter().map(|(_, t)| SortField::new(t.clone())).collect())?)
    }

    /// Which rows (the values of the set's columns, in its order) the set does not delete.
    pub fn keeps(&self, arrays: &[ArrayRef]) -> DfResult<BooleanArray> {
        let arrays =
            arrays.iter().zip(&self.columns).map(|(a, (_, t))| datafusion::arrow::compute::cast(a, t)).collect::<std::result::Result<Vec<_>, _>>()?;
        let rows = self.converter()?.convert_columns(&arrays)?;
        Ok(rows.iter().map(|r| Some(!self.rows.contains(r.as_ref()))).collect())
    }
}

/// Reads a snapshot's equality delete files, their columns found by field id in the table's
/// current schema (`schema`) and typed as the table types them.
pub(crate) async fn read_equality_deletes(
    io: &Io,
    files: &ScanFiles,
    metadata: &iceberg::metadata::TableMetadata,
) -> Result<Vec<Arc<EqualityDeletes>>> {
    let schema = metadata.current_schema()?;
    let mut out = Vec::new();
    for d in files.deletes.iter().filter(|d| d.file.content == Content::EqualityDeletes) {
        let ids = d.file.equality_ids.clone().unwrap_or_default();
        if ids.is_empty() {
            return Err(iceberg_error("ICEBERG_BAD_DATA", format!("equality delete file {} names no equality_ids", d.file.file_path)));
        }
        let mut columns = Vec::new();
        for id in &ids {
            let field = schema.field(*id).ok_or_else(|| {
                Error::InvalidInput(format!("equality delete file {} compares field {id}, which the table no longer has", d.file.file_path))
            })?;
            columns.push((field.name.clone(), field.field_type.to_arrow()));
        }
        let global = metadata.spec(d.spec_id).map(|s| s.fields.is_empty()).unwrap_or(false);
        let mut set = EqualityDeletes {
            ids: columns.iter().zip(&ids).map(|((n, _), id)| (n.clone(), *id)).collect(),
            columns,
            rows: HashSet::new(),
            sequence_number: d.sequence_number,
            spec_id: d.spec_id,
            partition: d.file.partition.clone(),
            global,
            path: d.file.file_path.clone(),
        };
        let converter = set.converter().map_err(Error::DataFusion)?;
        let bytes = io.read(&d.file.file_path).await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).and_then(|b| b.build()).map_err(arrow_err)?;
        for batch in reader {
            let batch = batch.map_err(arrow_err)?;
            let mut arrays: Vec<ArrayRef> = Vec::new();
            for (id, (name, t)) in ids.iter().zip(&set.columns) {
                // The file's column of the field id, or of the field's name.
                let fields = batch.schema_ref().fields().clone();
                let by_id = fields.iter().position(|f| f.metadata().get(iceberg::schema::FIELD_ID_KEY).is_some_and(|v| *v == id.to_string()));
                let at = by_id.or_else(|| fields.iter().position(|f| f.name().eq_ignore_ascii_case(name))).ok_or_else(|| {
                    iceberg_error("ICEBERG_BAD_DATA", format!("equality delete file {} has no column for field {id}", d.file.file_path))
                })?;
                arrays.push(datafusion::arrow::compute::cast(batch.column(at), t).map_err(arrow_err)?);
            }
            let rows = converter.convert_columns(&arrays).map_err(arrow_err)?;
            set.rows.extend(rows.iter().map(|r| Box::<[u8]>::from(r.as_ref())));
        }
        out.push(Arc::new(set));
    }
    Ok(out)
}

/// `true` for the rows an equality delete set does not delete: its columns' values (the
/// expressions, in the set's order) looked up in the set. NULL equals NULL, as the
/// specification compares.
#[derive(Debug)]
pub(crate) struct NotDeleted {
    columns: Vec<Arc<dyn PhysicalExpr>>,
    deletes: Arc<EqualityDeletes>,
}

impl NotDeleted {
    pub fn new(columns: Vec<Arc<dyn PhysicalExpr>>, deletes: Arc<EqualityDeletes>) -> NotDeleted {
        NotDeleted { columns, deletes }
    }
}

impl PartialEq for NotDeleted {
    fn eq(&self, other: &Self) -> bool {
        self.deletes.path == other.deletes.path && self.columns == other.columns
    }
}

impl Eq for NotDeleted {}

impl Hash for NotDeleted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.deletes.path.hash(state);
        self.columns.hash(state);
    }
}

impl fmt::Display for NotDeleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
        write!(f, "not_deleted({}; {} rows of {})", names.join(", "), self.deletes.rows.len(), self.deletes.path)
    }
}

impl PhysicalExpr for NotDeleted {
    fn data_type(&self, _input_schema: &Schema) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _input_schema: &Schema) -> DfResult<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> DfResult<ColumnarValue> {
        let arrays = self.columns.iter().map(|c| c.evaluate(batch)?.into_array(batch.num_rows())).collect::<DfResult<Vec<_>>>()?;
        Ok(ColumnarValue::Array(Arc::new(self.deletes.keeps(&arrays)?) as ArrayRef))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.columns.iter().collect()
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn PhysicalExpr>>) -> DfResult<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(NotDeleted { columns: children, deletes: self.deletes.clone() }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_selects_around_deleted_positions() {
        let positions: BTreeSet<u64> = [0, 3, 4, 9, 12].into_iter().collect();
        let selection = skipping(&positions, 10);
        let selectors: Vec<RowSelector> = selection.into();
        assert_eq!(selectors, vec![RowSelector::skip(1), RowSelector::select(2), RowSelector::skip(2), RowSelector::select(4), RowSelector::skip(1)]);
    }
}
