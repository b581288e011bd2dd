//! The reader of delimited text tables (CSV, TSV, any one-byte delimiter, quotes honoured): every
//! field a record has is read as Hive's SerDes read it into the column's type ([`crate::text`]:
//! an empty field of a string column is '', a NULL marker such as `\N` is NULL, a field that does
//! not convert is NULL), and a field the record does not have is NULL.
//!
//! DataFusion's CSV reader cannot do this. arrow-csv reads an empty field as NULL unless a null
//! regex says otherwise, and DataFusion 55 uses `CsvOptions::null_regex` only to infer schemas,
//! never when it reads (apache/datafusion#25213); even with a regex, a field missing from a short
//! record reads exactly as an empty one, and a field that does not parse fails the query. Nor does
//! it know LazySimpleSerDe's escape character outside quotes, which awswrangler sets on every CSV
//! table it creates. So [`Fields`] parses the text here, keeping the wanted fields' bytes back to
//! back, and each batch's columns are made straight from those bytes. Fields past the table's
//! columns are ignored, as Hive ignores them.
//!
//! Quoted fields may hold line breaks, so a byte offset alone cannot say where a record starts,
//! and a file is never split into byte ranges as DataFusion splits CSV. A file larger than a
//! block ([`BLOCK_SIZE`]) is cut as it is read instead: a [`Splitter`] runs ahead of the parsers,
//! following the same [`Machine`] as [`Fields`] but keeping nothing, and cuts the input at the
//! last record end of every block. Both read text 64 bytes at a time where they can, from masks
//! of where the delimiters, line ends and quotes stand (SSE2 compares on x86_64), rather than
//! searching for each field's end. The blocks are parsed in parallel (as many at a time as the
//! session has target partitions, at least two), each by its own [`Fields`] from a record's start
//! (the byte order mark and the header only in the first), and their batches come out in file
//! order. A smaller file is parsed as it streams in, in the scan's own task.
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Buf, Bytes};
use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, GetExt, Result, Statistics, exec_err, not_impl_err};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::projection::ProjectionExprs;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan, apply_expression_roots};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::{GetOptions, ObjectMeta, ObjectStore};

use crate::text::{FieldText, Span, TextOptions, from_fields};

mod machine;

use machine::{Machine, Sink, Splitter, State};

/// Rows a batch holds when DataFusion has not said.
const DEFAULT_BATCH_SIZE: usize = 8192;

/// The least text a block of a large file holds before it is cut at a record's end and parsed on
/// its own: big enough that starting a task is nothing beside parsing it, small enough that a few
/// in flight are little memory.
const BLOCK_SIZE: usize = 4 << 20;

/// How a file divides into records and fields. Records end at `\n`, `\r\n` or `\r`, as
/// Hadoop's line reader ends lines, except inside quotes; blank lines hold no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    /// Opens a quoted field at the start of a field; doubled inside quotes, it is a quote.
    pub quote: u8,
    /// LazySimpleSerDe's `escape.delim` (see [`Fields`]).
    pub escape: Option<u8>,
    /// The first record of each file is a header, not data.
    pub has_header: bool,
}

/// The file format of a delimited text table (see the module documentation).
#[derive(Debug)]
pub struct DelimitedFormat {
    dialect: Dialect,
    options: TextOptions,
    compression: FileCompressionType,
}

impl DelimitedFormat {
    pub fn new(dialect: Dialect, options: TextOptions, compression: FileCompressionType) -> Self {
        DelimitedFormat { dialect, options, compression }
    }
}

#[async_trait]
impl FileFormat for DelimitedFormat {
    fn get_ext(&self) -> String {
        // Tables list every object under their location, whatever its name.
        String::new()
    }

    fn get_ext_with_compression(&self, compression: &FileCompressionType) -> Result<String> {
        Ok(compression.get_ext())
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        Some(self.compression)
    }

    async fn infer_schema(&self, _: &dyn Session, _: &Arc<dyn ObjectStore>, _: &[ObjectMeta]) -> Result<SchemaRef> {
        not_impl_err!("the columns of a text table come from the catalog, not from its files")
    }

    async fn infer_stats(&self, _: &dyn Session, _: &Arc<dyn ObjectStore>, table_schema: SchemaRef, _: &ObjectMeta) -> Result<Statistics> {
        Ok(Statistics::new_unknown(&table_schema))
    }

    async fn create_physical_plan(&self, state: &dyn Session, conf: FileScanConfig) -> Result<Arc<dyn ExecutionPlan>> {
        // The scan learns here how many cores the session means to use.
        let source = conf
            .file_source
            .downcast_ref::<DelimitedSource>()
            .map(|s| DelimitedSource { target_partitions: state.config().target_partitions(), ..s.clone() });
        let mut conf = FileScanConfigBuilder::from(conf).with_file_compression_type(self.compression);
        if let Some(source) = source {
            conf = conf.with_source(Arc::new(source));
        }
        Ok(DataSourceExec::from_data_source(conf.build()))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(DelimitedSource {
            dialect: self.dialect,
            options: self.options.clone(),
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            batch_size: None,
            target_partitions: 1,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// The scan of a text table's files; projections reach the parser as the fields to keep.
#[derive(Debug, Clone)]
struct DelimitedSource {
    dialect: Dialect,
    options: TextOptions,
    table_schema: TableSchema,
    projection: SplitProjection,
    batch_size: Option<usize>,
    /// The session's target partitions: how many blocks of a large file are parsed at a time,
    /// shared among the scan's partitions.
    target_partitions: usize,
    metrics: ExecutionPlanMetricsSet,
}

impl FileSource for DelimitedSource {
    fn create_file_opener(&self, store: Arc<dyn ObjectStore>, config: &FileScanConfig, _partition: usize) -> Result<Arc<dyn FileOpener>> {
        let file_schema = self.table_schema.file_schema();
        let columns = self.projection.file_indices.clone();
        let opener = Arc::new(DelimitedOpener {
            dialect: self.dialect,
            options: self.options.clone(),
            width: file_schema.fields().len(),
            schema: Arc::new(file_schema.project(&columns)?),
            columns,
            batch_size: self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            compression: config.file_compression_type,
            // Partitions that each read a file at once share the cores; even alone on a core,
            // a scan parses one block while it cuts the next.
            parallelism: self.target_partitions.div_ceil(config.file_groups.len().max(1)).max(2),
            store,
        });
        // Partition columns and anything more than a choice of columns are applied above.
        ProjectionOpener::try_new(self.projection.clone(), opener, file_schema)
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(DelimitedSource { batch_size: Some(batch_size), ..self.clone() })
    }

    fn try_pushdown_projection(&self, projection: &ProjectionExprs) -> Result<Option<Arc<dyn FileSource>>> {
        let merged = self.projection.source.try_merge(projection)?;
        let projection = SplitProjection::new(self.table_schema.file_schema(), &merged);
        Ok(Some(Arc::new(DelimitedSource { projection, ..self.clone() })))
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "csv"
    }

    fn supports_repartitioning(&self) -> bool {
        // A byte offset cannot tell whether it is inside quotes: large files are cut where their
        // records end as they are read (see `parallel_batches`).
        false
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => write!(f, ", has_header={}", self.dialect.has_header),
            DisplayFormatType::TreeRender => Ok(()),
        }
    }

    fn apply_expressions(&self, f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        apply_expression_roots(self.projection.source.iter(), f)
    }
}

/// Opens one file: its bytes, decompressed, through [`Fields`] decoders.
struct DelimitedOpener {
    dialect: Dialect,
    options: TextOptions,
    /// The number of the table's file columns.
    width: usize,
    /// The file columns to return, in order, and their schema.
    columns: Vec<usize>,
    schema: SchemaRef,
    batch_size: usize,
    compression: FileCompressionType,
    /// How many blocks of a large file are parsed at a time.
    parallelism: usize,
    store: Arc<dyn ObjectStore>,
}

impl FileOpener for DelimitedOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        if file.range.is_some() {
            return exec_err!("a text file is read whole, not in byte ranges");
        }
        let fields = Fields::new(self.dialect, self.options.clone(), self.width, &self.columns, self.schema.clone(), self.batch_size);
        let (store, compression, parallelism) = (self.store.clone(), self.compression, self.parallelism);
        // Only the size of an uncompressed file tells how much text it holds.
        let small = !compression.is_compressed() && file.object_meta.size <= BLOCK_SIZE as u64;
        Ok(async move {
            let body = store.get_opts(&file.object_meta.location, GetOptions::default()).await?;
            let bytes = body.into_stream().map_err(DataFusionError::from).boxed();
            let input = compression.convert_stream(bytes)?;
            Ok(if small { batches(input, fields) } else { parallel_batches(input, fields, parallelism, BLOCK_SIZE) })
        }
        .boxed())
    }
}

/// The batches of a byte stream, parsed in one pass as it arrives.
fn batches(input: BoxStream<'static, Result<Bytes>>, fields: Fields) -> BoxStream<'static, Result<RecordBatch>> {
    struct State {
        input: BoxStream<'static, Result<Bytes>>,
        pending: Bytes,
        fields: Fields,
        done: bool,
    }
    let state = State { input, pending: Bytes::new(), fields, done: false };
    futures::stream::try_unfold(state, |mut s| async move {
        loop {
            if s.done {
                return Ok(None);
            }
            while !s.pending.is_empty() {
                let used = s.fields.decode(&s.pending);
                s.pending.advance(used);
                if s.fields.is_full()
                    && let Some(batch) = s.fields.flush()?
                {
                    return Ok(Some((batch, s)));
                }
            }
            match s.input.next().await {
                Some(chunk) => s.pending = chunk?,
                None => {
                    // The end of input ends the last record, if the file does not.
                    s.fields.decode(&[]);
                    s.done = true;
                    if let Some(batch) = s.fields.flush()? {
                        return Ok(Some((batch, s)));
                    }
                }
            }
        }
    })
    .boxed()
}

/// The batches of a byte stream too large for one block: a [`Splitter`] cuts it into blocks that
/// end where records end, and each block is parsed in a task of its own, at most `parallelism`
/// at a time; the batches come out in the order of the blocks.
fn parallel_batches(
    input: BoxStream<'static, Result<Bytes>>,
    fields: Fields,
    parallelism: usize,
    block_size: usize,
) -> BoxStream<'static, Result<RecordBatch>> {
    let splitter = Splitter::new(fields.machine.dialect);
    let blocks = futures::stream::try_unfold((input, Some(splitter)), move |(mut input, splitter)| async move {
        let Some(mut splitter) = splitter else { return Ok(None) };
        loop {
            if let Some(block) = splitter.cut(block_size) {
                return Ok(Some((block, (input, Some(splitter)))));
            }
            match input.next().await {
                Some(chunk) => splitter.push(chunk?),
                // What is left ends the last record, wherever the scan stands.
                None => return Ok(Some(splitter.chunks).filter(|rest| !rest.is_empty()).map(|rest| (rest, (input, None)))),
            }
        }
    });
    let blocks: BoxStream<'static, Result<Vec<Bytes>>> = blocks.boxed();
    blocks
        .enumerate()
        .map(move |(n, block)| {
            let fields = if n == 0 { fields.clone() } else { fields.resumed() };
            // The task starts as soon as the block is taken, so that `parallelism` parse at once;
            // dropping the scan aborts those not yet begun.
            // A failed read fails in its turn, after the blocks before it.
            let task = SpawnedTask::spawn(async move { fields.parse(&block?) });
            task.map(|joined| joined.map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))?)
        })
        .buffered(parallelism.max(1))
        .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}

/// A push parser of records into typed columns: feed it bytes with [`Fields::decode`], an empty
/// slice at the end of the input, and take batches with [`Fields::flush`].
#[derive(Clone)]
struct Fields {
    machine: Machine,
    columns: Columns,
}

/// The parser's sink: the kept fields of the records read since the last batch.
#[derive(Clone)]
struct Columns {
    /// For each field position of a record, the output column it goes to, if any.
    slots: Vec<Option<usize>>,
    /// The fields of a record from this position on are not wanted.
    wanted_until: usize,
    schema: SchemaRef,
    /// How the text of a field converts to its column's type.
    options: TextOptions,
    batch_size: usize,
    escape: Option<u8>,
    skip_header: bool,
    /// The text of the kept fields, back to back.
    data: Vec<u8>,
    /// For each output column, where in `data` the text of each record's field lies.
    spans: Vec<Vec<Span>>,
    rows: usize,
    /// The position in its record of the field being read, and where its text starts.
    field: usize,
    field_start: usize,
    record_start: usize,
}

impl Fields {
    /// A parser for a file, from its start.
    fn new(dialect: Dialect, options: TextOptions, width: usize, columns: &[usize], schema: SchemaRef, batch_size: usize) -> Self {
        let mut slots = vec![None; width];
        for (j, c) in columns.iter().enumerate() {
            if let Some(slot) = slots.get_mut(*c) {
                *slot = Some(j);
            }
        }
        let wanted_until = slots.iter().rposition(Option::is_some).map_or(0, |p| p + 1);
        let columns = Columns {
            slots,
            wanted_until,
            schema,
            options,
            batch_size: batch_size.max(1),
            escape: dialect.escape,
            skip_header: dialect.has_header,
            data: Vec::with_capacity(64 * 1024),
            spans: vec![Vec::new(); columns.len()],
            rows: 0,
            field: 0,
            field_start: 0,
            record_start: 0,
        };
        Fields { machine: Machine::new(dialect), columns }
    }

    /// A parser like this new one for a block that starts at a record's start past the start of
    /// its file: no byte order mark, no header.
    fn resumed(&self) -> Self {
        let mut fields = self.clone();
        fields.machine = Machine::resumed(self.machine.dialect);
        fields.columns.skip_header = false;
        fields
    }

    fn is_full(&self) -> bool {
        self.columns.is_full()
    }

    /// Parses `input` until it is used up or a batch is full; returns the bytes used. An empty
    /// `input` means the end of the input, which ends a record left open.
    fn decode(&mut self, input: &[u8]) -> usize {
        if input.is_empty() {
            self.machine.finish(&mut self.columns);
            return 0;
        }
        self.machine.run(input, &mut self.columns)
    }

    /// Parses the whole of a block, the last of its records ending where the block ends.
    fn parse(mut self, block: &[Bytes]) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        for chunk in block {
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                rest = &rest[self.decode(rest)..];
                if self.is_full() {
                    batches.extend(self.flush()?);
                }
            }
        }
        self.decode(&[]);
        batches.extend(self.flush()?);
        Ok(batches)
    }

    /// The records parsed since the last flush, as a batch. Called between records.
    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.machine.state != State::RecordStart {
            return exec_err!("a text batch was taken in the middle of a record");
        }
        self.columns.flush()
    }
}

impl Sink for Columns {
    const RECORDS_ONLY: bool = false;

    fn is_full(&self) -> bool {
        self.rows >= self.batch_size
    }

    fn text(&mut self, text: &[u8]) {
        if self.wanted() {
            self.data.extend_from_slice(text);
        }
    }

    /// Quoted text is kept escaped, so that it reads back as it was quoted.
    fn quoted(&mut self, text: &[u8]) {
        match self.escape {
            _ if !self.wanted() => {}
            Some(e) if text.contains(&e) => {
                for &b in text {
                    if b == e {
                        self.data.push(e);
                    }
                    self.data.push(b);
                }
            }
            _ => self.data.extend_from_slice(text),
        }
    }

    fn end_field(&mut self) {
        // A column nobody asked for, or a field past the table's columns, kept nothing.
        if let Some(&Some(j)) = self.slots.get(self.field) {
            self.spans[j].push(Some((self.field_start, self.data.len())));
        }
        self.field += 1;
        self.field_start = self.data.len();
    }

    #[inline]
    fn field(&mut self, text: &[u8]) {
        // Nothing is kept of a field not wanted, so `field_start` stays where it is.
        if let Some(&Some(j)) = self.slots.get(self.field) {
            self.data.extend_from_slice(text);
            self.spans[j].push(Some((self.field_start, self.data.len())));
            self.field_start = self.data.len();
        }
        self.field += 1;
    }

    #[inline]
    fn rest_unwanted(&self) -> bool {
        self.field >= self.wanted_until
    }

    fn end_record(&mut self, _: usize) {
        if self.skip_header {
            self.skip_header = false;
            self.spans.iter_mut().for_each(|s| s.truncate(self.rows));
            self.data.truncate(self.record_start);
        } else {
            // A record with fewer fields than columns has NULL for the rest.
            for s in self.spans.iter_mut().filter(|s| s.len() == self.rows) {
                s.push(None);
            }
            self.rows += 1;
        }
        self.field = 0;
        self.field_start = self.data.len();
        self.record_start = self.data.len();
    }
}

impl Columns {
    /// Whether the field being read goes to a column: the text of the others is not kept.
    fn wanted(&self) -> bool {
        matches!(self.slots.get(self.field), Some(Some(_)))
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.rows == 0 {
            return Ok(None);
        }
        let text = FieldText::new(&self.data);
        let columns: Vec<ArrayRef> = self
            .spans
            .iter()
            .zip(self.schema.fields())
            .map(|(spans, f)| from_fields(&text, spans, f.data_type(), &self.options))
            .collect::<Result<_>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?;
        self.spans.iter_mut().for_each(Vec::clear);
        self.data.clear();
        self.rows = 0;
        self.field_start = 0;
        self.record_start = 0;
        Ok(Some(batch))
    }
}

impl fmt::Debug for DelimitedOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelimitedOpener").field("dialect", &self.dialect).field("columns", &self.columns).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::machine::{BOM, RecordEnds};
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use proptest::prelude::*;

    /// Options that leave a string field's text as it is stored (no NULL marker, escapes kept),
    /// to see what the parser keeps.
    fn raw() -> TextOptions {
        TextOptions { null: None, escape: None, ..Default::default() }
    }

    /// The rows of batches, NULL as `None`.
    type Rows = Vec<Vec<Option<String>>>;

    fn schema(columns: &[usize]) -> SchemaRef {
        Arc::new(Schema::new(columns.iter().map(|c| Field::new(format!("c{c}"), DataType::Utf8, true)).collect::<Vec<_>>()))
    }

    fn rows_of(batches: &[RecordBatch], batch_size: usize) -> Rows {
        let mut rows = Vec::new();
        for b in batches {
            assert!(b.num_rows() <= batch_size);
            for r in 0..b.num_rows() {
                rows.push(b.columns().iter().map(|c| c.as_string::<i32>().is_valid(r).then(|| c.as_string::<i32>().value(r).to_string())).collect());
            }
        }
        rows
    }

    /// Decodes `input` fed `chunk` bytes at a time, keeping `columns` of a `width`-column table.
    fn decode(input: &[u8], dialect: Dialect, width: usize, columns: &[usize], chunk: usize, batch_size: usize) -> Rows {
        let mut fields = Fields::new(dialect, raw(), width, columns, schema(columns), batch_size);
        let mut batches = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let used = fields.decode(rest);
                rest = &rest[used..];
                if fields.is_full() {
                    batches.extend(fields.flush().unwrap());
                }
            }
        }
        fields.decode(&[]);
        batches.extend(fields.flush().unwrap());
        rows_of(&batches, batch_size)
    }

    /// The blocks a splitter cuts `input` into, fed `chunk` bytes at a time, as the scan feeds it:
    /// at most one cut after each chunk, and what is left at the end.
    fn split(input: &[u8], dialect: Dialect, chunk: usize, block_size: usize) -> Vec<Vec<Bytes>> {
        let mut splitter = Splitter::new(dialect);
        let mut blocks = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            splitter.push(Bytes::copy_from_slice(piece));
            blocks.extend(splitter.cut(block_size));
        }
        blocks.push(splitter.chunks);
        blocks
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    const CSV: Dialect = Dialect { delimiter: b',', quote: b'"', escape: None, has_header: false };
    const ESCAPED: Dialect = Dialect { escape: Some(b'\\'), ..CSV };
    /// Dialects whose bytes meet in every way the machine tells apart.
    const MANY_DIALECTS: [Dialect; 8] = [
        CSV,
        ESCAPED,
        Dialect { delimiter: b'\t', quote: b'\'', ..ESCAPED },
        Dialect { delimiter: b'|', quote: b'\'', ..CSV },
        Dialect { escape: Some(b'"'), ..CSV },
        Dialect { delimiter: b'\n', ..ESCAPED },
        Dialect { delimiter: b'"', ..CSV },
        Dialect { quote: b'\n', ..CSV },
    ];

    #[test]
    fn empty_fields_are_text_and_missing_fields_null() {
        let cases: &[(&str, Dialect, usize, &[usize], Rows)] = &[
            ("a,,c\n", CSV, 3, &[0, 1, 2], vec![row(&[Some("a"), Some(""), Some("c")])]),
            ("a,\"\",c", CSV, 3, &[0, 1, 2], vec![row(&[Some("a"), Some(""), Some("c")])]),
            ("a\n,b\n", CSV, 3, &[0, 1, 2], vec![row(&[Some("a"), None, None]), row(&[Some(""), Some("b"), None])]),
            ("a,b,c,d,e\n", CSV, 2, &[0, 1], vec![row(&[Some("a"), Some("b")])]),
            ("\\N,1\r\n\n\nx,2\r\n", CSV, 2, &[0, 1], vec![row(&[Some("\\N"), Some("1")]), row(&[Some("x"), Some("2")])]),
            ("\"x, \"\"y\"\"\nz\",1\n", CSV, 2, &[1, 0], vec![row(&[Some("1"), Some("x, \"y\"\nz")])]),
            ("id,name\n1,\n2,b", Dialect { has_header: true, ..CSV }, 2, &[1], vec![row(&[Some("")]), row(&[Some("b")])]),
            ("a\tb\tc\n", Dialect { delimiter: b'\t', ..CSV }, 3, &[2], vec![row(&[Some("c")])]),
            ("'a|b'|c\n", Dialect { delimiter: b'|', quote: b'\'', ..CSV }, 2, &[0, 1], vec![row(&[Some("a|b"), Some("c")])]),
            ("\u{feff}a,b\n", CSV, 2, &[0, 1], vec![row(&[Some("a"), Some("b")])]),
            ("\"a\"b,\"c\n", CSV, 2, &[0, 1], vec![row(&[Some("ab"), Some("c\n")])]),
            // Outside quotes the escape stays for `crate::text`, and protects delimiters, not lines.
            (
                "a\\,b,c\\\\,d\\\nx\\",
                ESCAPED,
                3,
                &[0, 1, 2],
                vec![row(&[Some("a\\,b"), Some("c\\\\"), Some("d\\")]), row(&[Some("x\\"), None, None])],
            ),
            // Inside quotes it protects a quote or itself; quoted text comes back escaped.
            ("\"a\\\"b\\\\c\\ d\"\"\",\\N\n", ESCAPED, 2, &[0, 1], vec![row(&[Some("a\"b\\\\c\\\\ d\""), Some("\\N")])]),
            ("\"a,\\", ESCAPED, 2, &[0, 1], vec![row(&[Some("a,\\\\"), None])]),
            ("\"a\\\"b\",c\n", CSV, 2, &[0, 1], vec![row(&[Some("a\\b\""), Some("c")])]),
        ];
        for (input, dialect, width, columns, want) in cases {
            for chunk in [1, 2, 3, 1000] {
                for batch_size in [1, 2, 100] {
                    assert_eq!(
                        &decode(input.as_bytes(), *dialect, *width, columns, chunk, batch_size),
                        want,
                        "{input:?} in chunks of {chunk}, batches of {batch_size}"
                    );
                }
            }
        }
    }

    #[test]
    fn rows_are_counted_without_columns_and_bad_utf8_is_replaced() {
        let schema = Arc::new(Schema::empty());
        let mut fields = Fields::new(CSV, raw(), 2, &[], schema, 100);
        fields.decode(b"1,a\n2,b\n3");
        fields.decode(&[]);
        assert_eq!(fields.flush().unwrap().map(|b| b.num_rows()), Some(3));
        let got = decode("caf\u{e9},x\n".as_bytes(), CSV, 2, &[0], 1000, 10);
        assert_eq!(got, vec![row(&[Some("caf\u{e9}")])]);
        let schema = Arc::new(Schema::new(vec![Field::new("c0", DataType::Utf8, true)]));
        let mut fields = Fields::new(CSV, raw(), 1, &[0], schema, 10);
        fields.decode(b"ok\n\xff\xfeab\n");
        fields.decode(&[]);
        let batch = fields.flush().unwrap().unwrap();
        let values: Vec<_> = batch.column(0).as_string::<i32>().iter().flatten().collect();
        assert_eq!(values, ["ok", "\u{fffd}\u{fffd}ab"]);
    }

    /// Blocks end after the last line end that ends a record, never inside quotes or after an
    /// escaped delimiter; a record longer than a block is one block.
    #[test]
    fn the_splitter_cuts_where_records_end() {
        let cases: &[(&str, Dialect, usize, &[&str])] = &[
            ("a,b\nc,d\ne\n", CSV, 1, &["a,b\n", "c,d\n", "e\n", ""]),
            ("a,b\nc,d\ne\n", CSV, 6, &["a,b\n", "c,d\ne\n", ""]),
            // Blank lines end no record, so the first block holds the first record, the header.
            ("\n\r\n\"h\"\n\n\n1\n", CSV, 1, &["\n\r\n\"h\"\n", "\n\n1\n", ""]),
            ("a,\"x\ny\"\nb\n", CSV, 1, &["a,\"x\ny\"\n", "b\n", ""]),
            ("\"x\"\"\ny\"\r\nz", CSV, 1, &["\"x\"\"\ny\"\r", "\nz"]),
            ("a\"\nb\"\n", CSV, 1, &["a\"\n", "b\"\n", ""]),
            ("a\\\nb\\,\nc", ESCAPED, 1, &["a\\\n", "b\\,\n", "c"]),
            ("a\\,\"b,\"c\nd\"\n", ESCAPED, 1, &["a\\,\"b,\"c\nd\"\n", ""]),
            ("\"a\\\"\nb\"\nc", ESCAPED, 1, &["\"a\\\"\nb\"\n", "c"]),
            ("\u{feff}\"h\"\n1\n", CSV, 1, &["\u{feff}\"h\"\n", "1\n", ""]),
            ("\"never closed\nx\ny", CSV, 1, &["\"never closed\nx\ny"]),
        ];
        for (input, dialect, block_size, want) in cases {
            let blocks: Vec<String> =
                split(input.as_bytes(), *dialect, 1, *block_size).iter().map(|b| String::from_utf8(b.concat()).unwrap()).collect();
            assert_eq!(&blocks, want, "{input:?} in blocks of {block_size}");
        }
    }

    fn dialect() -> impl Strategy<Value = Dialect> {
        let delimiter = proptest::sample::select(vec![b',', b',', b'\t', b'|', b'\n']);
        let quote = proptest::sample::select(vec![b'"', b'"', b'\'']);
        let escape = proptest::sample::select(vec![None, Some(b'\\'), Some(b'"')]);
        (delimiter, quote, escape, any::<bool>()).prop_map(|(delimiter, quote, escape, has_header)| Dialect { delimiter, quote, escape, has_header })
    }

    /// A dialect and text made mostly of the bytes that mean something in it.
    fn dialect_and_text() -> impl Strategy<Value = (Dialect, Vec<u8>)> {
        const TEXT: &[&[u8]] = &[
            b"\\",
            b"\\\\",
            b"\"",
            b"'",
            b",",
            b"\t",
            b"\n\n",
            b"bc",
            b"\\N",
            " é".as_bytes(),
            "日本".as_bytes(),
            "\u{feff}".as_bytes(),
            b"\xEF\xBB",
            b"\xff",
        ];
        let piece = prop_oneof![4 => 0..8usize, 1 => 8..8 + TEXT.len()];
        (dialect(), any::<bool>(), proptest::collection::vec(piece, 0..80)).prop_map(|(d, bom, pieces)| {
            let mut text = if bom { BOM.to_vec() } else { Vec::new() };
            for p in pieces {
                match p {
                    0 => text.push(d.delimiter),
                    1 => text.push(d.quote),
                    2 => text.extend([d.quote, d.quote]),
                    3 => text.push(d.escape.unwrap_or(b'a')),
                    4 => text.push(b'\n'),
                    5 => text.extend(b"\r\n"),
                    6 => text.push(b'\r'),
                    7 => text.push(b'a'),
                    _ => text.extend_from_slice(TEXT[p - 8]),
                }
            }
            (d, text)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        /// Parsing the blocks the splitter cuts, each from a record's start, reads exactly the
        /// rows one pass over the whole text reads, and the blocks hold the text, all of it.
        #[test]
        fn blocks_read_as_the_whole((dialect, input) in dialect_and_text(), width in 1usize..5, chunk in 1usize..200, block_size in 1usize..64, batch_size in 1usize..5) {
            let columns: Vec<usize> = (0..width).collect();
            let whole = decode(&input, dialect, width, &columns, input.len(), usize::MAX);
            let blocks = split(&input, dialect, chunk, block_size);
            prop_assert_eq!(blocks.concat().concat(), input.clone());
            let first = Fields::new(dialect, raw(), width, &columns, schema(&columns), batch_size);
            let mut batches = Vec::new();
            for (n, block) in blocks.iter().enumerate() {
                let fields = if n == 0 { first.clone() } else { first.resumed() };
                batches.extend(fields.parse(block).unwrap());
            }
            prop_assert_eq!(rows_of(&batches, batch_size), whole);
        }
    }

    /// Every text of up to `longest` bytes made of the bytes that mean something in the
    /// dialect (and one that does not).
    fn short_texts(dialect: Dialect, longest: usize) -> Vec<Vec<u8>> {
        let mut alphabet = vec![dialect.delimiter, dialect.quote, b'\n', b'\r', b'a'];
        alphabet.extend(dialect.escape);
        alphabet.sort_unstable();
        alphabet.dedup();
        let (mut texts, mut last) = (vec![Vec::new()], vec![Vec::new()]);
        for _ in 0..longest {
            last = last.iter().flat_map(|t| alphabet.iter().map(move |&c| [&t[..], &[c]].concat())).collect();
            texts.extend(last.iter().cloned());
        }
        texts
    }

    /// Fields after the last wanted one are passed over, not read: on every short text, the
    /// wanted columns come out as they do when every field is read.
    #[test]
    fn passing_over_unwanted_fields_changes_no_value() {
        let dialects = [CSV, ESCAPED, Dialect { escape: Some(b'"'), ..CSV }, Dialect { has_header: true, ..ESCAPED }];
        for dialect in dialects {
            let all: Vec<usize> = (0..8).collect();
            for text in &short_texts(dialect, 5) {
                // Eight columns: no record here has more fields, so none is passed over.
                let every = decode(text, dialect, 8, &all, text.len(), 64);
                for columns in [&[][..], &[0], &[1], &[0, 2]] {
                    let want: Rows = every.iter().map(|r| columns.iter().map(|&c| r[c].clone()).collect()).collect();
                    for chunk in [1, text.len()] {
                        let got = decode(text, dialect, 8, columns, chunk, 64);
                        assert_eq!(got, want, "{:?} columns {columns:?} chunk {chunk}, {dialect:?}", String::from_utf8_lossy(text));
                    }
                }
            }
        }
    }

    /// The same against the 64-byte windows: each short text set at several places after text
    /// that leaves it in different states, the wanted fields before it, among its fields or
    /// after them.
    #[test]
    fn passing_over_unwanted_fields_in_windows_changes_no_value() {
        let dialects = [CSV, ESCAPED, Dialect { escape: Some(b'"'), ..CSV }];
        let filler = |n: usize| -> Vec<u8> { b"ab,".iter().copied().cycle().take(n).collect() };
        let all: Vec<usize> = (0..64).collect();
        for dialect in dialects {
            for text in &short_texts(dialect, 3) {
                for offset in [0, 1, 2, 61, 62, 63, 64, 65] {
                    let mut input = filler(offset);
                    input.extend(text);
                    input.extend(filler(70));
                    input.push(b'\n');
                    let every = decode(&input, dialect, 64, &all, input.len(), 64);
                    for columns in [&[][..], &[0], &[1, 2], &[20], &[21, 22], &[40]] {
                        let want: Rows = every.iter().map(|r| columns.iter().map(|&c| r[c].clone()).collect()).collect();
                        for chunk in [input.len(), offset + 1] {
                            let got = decode(&input, dialect, 64, columns, chunk, 64);
                            assert_eq!(got, want, "{:?} columns {columns:?} chunk {chunk}, {dialect:?}", String::from_utf8_lossy(&input));
                        }
                    }
                }
            }
        }
    }

    /// What the machine reports, field by field: a quoted byte as itself plus 256.
    #[derive(Default, Debug, PartialEq)]
    struct Events {
        records: Vec<Vec<Vec<u16>>>,
        fields: Vec<Vec<u16>>,
        field: Vec<u16>,
        /// Where each record ended, as an offset past its line end in the whole input.
        ends: Vec<usize>,
        /// Where in the whole input the text being run starts.
        base: usize,
    }

    impl Sink for Events {
        const RECORDS_ONLY: bool = false;
        fn is_full(&self) -> bool {
            false
        }
        fn text(&mut self, text: &[u8]) {
            self.field.extend(text.iter().map(|&b| u16::from(b)));
        }
        fn quoted(&mut self, text: &[u8]) {
            self.field.extend(text.iter().map(|&b| u16::from(b) + 256));
        }
        fn end_field(&mut self) {
            self.fields.push(std::mem::take(&mut self.field));
        }
        fn end_record(&mut self, next: usize) {
            self.records.push(std::mem::take(&mut self.fields));
            self.ends.push(self.base + next);
        }
    }

    /// The machine's rules read one byte at a time, with no search and no window: what its
    /// faster paths must agree with. Returns the events and the state at the end of the text.
    fn one_byte_at_a_time(text: &[u8], d: Dialect) -> (Events, State) {
        let mut out = Events::default();
        let bom = text.iter().zip(BOM).take_while(|(a, b)| a == b).count();
        let mut state = State::RecordStart;
        let line_end = |c: u8| c == b'\n' || c == b'\r';
        let escape = d.escape.unwrap_or_default();
        let is_escape = |c: u8| d.escape == Some(c);
        let mut i = bom;
        while i < text.len() {
            let (b, next) = (text[i], i + 1);
            out.base = 0;
            match state {
                State::RecordStart if line_end(b) => {}
                State::RecordStart | State::FieldStart if b == d.quote => state = State::Quoted,
                State::RecordStart | State::FieldStart | State::Unquoted => {
                    if b == d.delimiter {
                        out.end_field();
                        state = State::FieldStart;
                    } else if line_end(b) {
                        out.end_field();
                        out.end_record(next);
                        state = State::RecordStart;
                    } else {
                        out.text(&[b]);
                        state = if is_escape(b) { State::UnquotedEscape } else { State::Unquoted };
                    }
                }
                State::UnquotedEscape if line_end(b) => {
                    out.end_field();
                    out.end_record(next);
                    state = State::RecordStart;
                }
                State::UnquotedEscape => {
                    out.text(&[b]);
                    state = State::Unquoted;
                }
                State::Quoted if b == d.quote => state = State::QuotedQuote,
                State::Quoted if is_escape(b) => state = State::QuotedEscape,
                State::Quoted => out.quoted(&[b]),
                State::QuotedEscape if b == d.quote || b == escape => {
                    out.quoted(&[b]);
                    state = State::Quoted;
                }
                State::QuotedEscape => {
                    out.quoted(&[escape]);
                    state = State::Quoted;
                    continue;
                }
                State::QuotedQuote if b == d.quote => {
                    out.quoted(&[b]);
                    state = State::Quoted;
                }
                State::QuotedQuote => {
                    state = State::Unquoted;
                    continue;
                }
            }
            i += 1;
        }
        (out, state)
    }

    /// Each short text, set at many places against the 64-byte windows of the machine's fast
    /// paths after text that leaves it in different states, and followed by more: the parser
    /// reads the same fields and records as one byte at a time does, whole or in two pieces cut
    /// anywhere near it, and the splitter's scan finds the same last record end and state.
    #[test]
    fn the_windows_agree_with_one_byte_at_a_time() {
        let dialects = MANY_DIALECTS;
        let filler = |n: usize| -> Vec<u8> { b"ab,".iter().copied().cycle().take(n).collect() };
        let offsets: Vec<usize> = (0..4).chain(59..67).chain(123..131).collect();
        // Before it, nothing, or a field longer than a window, or a quoted one that closes two
        // windows on.
        let long_fields = |d: Dialect| -> [Vec<u8>; 3] {
            let quoted = [&[d.delimiter, d.quote][..], &[b'x'; 150], &[d.quote, b'y', d.delimiter]].concat();
            [Vec::new(), vec![b'a'; 200], quoted]
        };
        for dialect in dialects {
            let long = long_fields(dialect);
            for text in &short_texts(dialect, 4) {
                let places = offsets.iter().flat_map(|o| long.iter().map(move |l| (o, l)));
                for (&offset, before) in places.filter(|(o, l)| l.is_empty() || [0, 1, 63, 64].contains(*o)) {
                    let mut input = before.clone();
                    input.extend(filler(offset));
                    input.extend(text);
                    input.extend(filler(offset % 7 + 64));
                    input.push(b'\n');
                    let offset = offset + before.len();
                    let (want, state) = one_byte_at_a_time(&input, dialect);
                    for cut in [input.len(), offset, offset + text.len(), offset + text.len() / 2] {
                        let mut machine = Machine::new(dialect);
                        let mut got = Events::default();
                        for (from, to) in [(0, cut), (cut, input.len())] {
                            got.base = from;
                            assert_eq!(machine.run(&input[from..to], &mut got), to - from);
                        }
                        got.base = 0;
                        assert_eq!(got, want, "{:?} cut at {cut}, {dialect:?}", String::from_utf8_lossy(&input));
                        assert_eq!(machine.state, state);
                        let mut scan = Machine::new(dialect);
                        for (from, to) in [(0, cut), (cut, input.len())] {
                            let mut last = RecordEnds::default();
                            scan.run(&input[from..to], &mut last);
                            let expected = want.ends.iter().copied().filter(|&e| e > from && e <= to).max();
                            assert_eq!(last.last.map(|e| from + e), expected, "{:?} cut at {cut}, {dialect:?}", String::from_utf8_lossy(&input));
                        }
                        assert_eq!(scan.state, state, "{:?}, {dialect:?}", String::from_utf8_lossy(&input));
                    }
                }
            }
        }
    }

    /// Over every text of up to six bytes that mean something in the dialect, read in two
    /// pieces cut anywhere, the splitter's scan stands in the parser's state after each piece
    /// and reports the last record end the parser finds in it.
    #[test]
    fn the_scan_agrees_with_the_parser_on_every_short_text() {
        let dialects = MANY_DIALECTS;
        for dialect in dialects {
            for text in &short_texts(dialect, 6) {
                let mut ends = Events::default();
                Machine::new(dialect).run(text, &mut ends);
                let mut states = vec![State::RecordStart];
                let mut parser = Machine::new(dialect);
                for byte in text.chunks(1) {
                    parser.run(byte, &mut Events::default());
                    states.push(parser.state);
                }
                for cut in 0..=text.len() {
                    let mut scan = Machine::new(dialect);
                    for (from, to) in [(0, cut), (cut, text.len())] {
                        let mut last = RecordEnds::default();
                        scan.run(&text[from..to], &mut last);
                        let want = ends.ends.iter().copied().filter(|&e| e > from && e <= to).max();
                        assert_eq!(last.last.map(|e| from + e), want, "{:?} cut at {cut}, {dialect:?}", String::from_utf8_lossy(text));
                        assert_eq!(scan.state, states[to], "{:?} cut at {cut}, {dialect:?}", String::from_utf8_lossy(text));
                    }
                }
            }
        }
    }

    /// The parallel reader puts out the rows of the file in the file's order, the header and
    /// the byte order mark read only at its start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_batches_come_in_file_order() {
        let mut input = format!("{}id,text,rest\n", "\u{feff}");
        let mut want = Vec::new();
        for i in 0..2000 {
            let (text, line) = match i % 4 {
                0 => (format!("a \"quoted\"\nline {i}"), format!("{i},\"a \"\"quoted\"\"\nline {i}\",x\r\n")),
                1 => (String::new(), format!("{i},,x\n\n")),
                2 => (format!("id,{i}"), format!("{i},\"id,{i}\"\n")),
                _ => (format!("é{i}"), format!("{i},é{i}\n")),
            };
            want.push(row(&[Some(&i.to_string()), Some(&text), if line.contains(",x") { Some("x") } else { None }]));
            input.push_str(&line);
        }
        let dialect = Dialect { has_header: true, ..CSV };
        let columns = [0, 1, 2];
        for (chunk, block_size, parallelism) in [(7, 100, 2), (4096, 1000, 3), (1 << 20, 1 << 20, 2)] {
            let chunks: Vec<Result<Bytes>> = input.as_bytes().chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let fields = Fields::new(dialect, raw(), 3, &columns, schema(&columns), 64);
            let batches: Vec<RecordBatch> =
                parallel_batches(futures::stream::iter(chunks).boxed(), fields, parallelism, block_size).try_collect().await.unwrap();
            assert_eq!(rows_of(&batches, 64), want, "chunks of {chunk}, blocks of {block_size}");
        }
        let failing = futures::stream::iter([Ok(Bytes::from("a\nb\n")), exec_err!("the disk went away")]).boxed();
        let fields = Fields::new(CSV, raw(), 1, &[0], schema(&[0]), 64);
        let got: Result<Vec<RecordBatch>> = parallel_batches(failing, fields, 2, 1).try_collect().await;
        assert!(got.unwrap_err().to_string().contains("the disk went away"));
    }
}
