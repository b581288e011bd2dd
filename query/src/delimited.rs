//! The reader of delimited text tables (CSV, TSV, any one-byte delimiter, quotes honoured): every
//! field a record has comes back as its text, the empty field as the empty string, and only a
//! field the record does not have as NULL.
//!
//! DataFusion's CSV reader cannot do this. arrow-csv reads an empty field as NULL unless a null
//! regex says otherwise, and DataFusion 55 uses `CsvOptions::null_regex` only to infer schemas,
//! never when it reads (apache/datafusion#25213); even with a regex, a field missing from a short
//! record reads exactly as an empty one. Hive's SerDes tell them apart: an empty field of a string
//! column is '', a missing field NULL. Nor does it know LazySimpleSerDe's escape character outside
//! quotes, which awswrangler sets on every CSV table it creates. So [`Fields`] parses the text
//! here and [`crate::text`] converts it to the columns' types, NULL markers such as `\N`
//! included. Fields past the table's columns are ignored, as Hive ignores them. Quoted fields may
//! hold line breaks, so a file is read whole, never split into byte ranges, just as DataFusion
//! reads CSV with `newlines_in_values`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Buf, Bytes};
use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
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

/// Rows a batch holds when DataFusion has not said.
const DEFAULT_BATCH_SIZE: usize = 8192;

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

/// The file format of a text table read as strings (see the module documentation).
#[derive(Debug)]
pub struct DelimitedFormat {
    dialect: Dialect,
    compression: FileCompressionType,
}

impl DelimitedFormat {
    pub fn new(dialect: Dialect, compression: FileCompressionType) -> Self {
        DelimitedFormat { dialect, compression }
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

    async fn create_physical_plan(&self, _: &dyn Session, conf: FileScanConfig) -> Result<Arc<dyn ExecutionPlan>> {
        let conf = FileScanConfigBuilder::from(conf).with_file_compression_type(self.compression).build();
        Ok(DataSourceExec::from_data_source(conf))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(DelimitedSource {
            dialect: self.dialect,
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            batch_size: None,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// The scan of a text table's files; projections reach the parser as the fields to keep.
#[derive(Debug, Clone)]
struct DelimitedSource {
    dialect: Dialect,
    table_schema: TableSchema,
    projection: SplitProjection,
    batch_size: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
}

impl FileSource for DelimitedSource {
    fn create_file_opener(&self, store: Arc<dyn ObjectStore>, config: &FileScanConfig, _partition: usize) -> Result<Arc<dyn FileOpener>> {
        let file_schema = self.table_schema.file_schema();
        let columns = self.projection.file_indices.clone();
        let opener = Arc::new(DelimitedOpener {
            dialect: self.dialect,
            width: file_schema.fields().len(),
            schema: Arc::new(file_schema.project(&columns)?),
            columns,
            batch_size: self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            compression: config.file_compression_type,
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
        // A byte offset cannot tell whether it is inside quotes.
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

/// Opens one file: its bytes, decompressed, through a [`Fields`] decoder.
struct DelimitedOpener {
    dialect: Dialect,
    /// The number of the table's file columns.
    width: usize,
    /// The file columns to return, in order, and their schema.
    columns: Vec<usize>,
    schema: SchemaRef,
    batch_size: usize,
    compression: FileCompressionType,
    store: Arc<dyn ObjectStore>,
}

impl FileOpener for DelimitedOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        if file.range.is_some() {
            return exec_err!("a text file is read whole, not in byte ranges");
        }
        let fields = Fields::new(self.dialect, self.width, &self.columns, self.schema.clone(), self.batch_size);
        let (store, compression) = (self.store.clone(), self.compression);
        Ok(async move {
            let body = store.get_opts(&file.object_meta.location, GetOptions::default()).await?;
            let bytes = body.into_stream().map_err(DataFusionError::from).boxed();
            Ok(batches(compression.convert_stream(bytes)?, fields))
        }
        .boxed())
    }
}

/// The batches of a byte stream.
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
                let used = s.fields.decode(&s.pending)?;
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
                    s.fields.decode(&[])?;
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

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where a field's text lies in [`Fields::data`]; `None` for a field the record lacks.
type Span = Option<(usize, usize)>;

/// Where the parser is in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records: blank lines are skipped here.
    RecordStart,
    /// At the start of a field, where a quote opens a quoted field.
    FieldStart,
    Unquoted,
    /// After the escape character in an unquoted field.
    UnquotedEscape,
    Quoted,
    /// After the escape character inside quotes.
    QuotedEscape,
    /// After a quote inside quotes: the end of the quotes, or the first of two.
    QuotedQuote,
}

/// A push parser of records into string columns: feed it bytes with [`Fields::decode`], an empty
/// slice at the end of the file, and take batches with [`Fields::flush`].
///
/// Outside quotes, the escape character (LazySimpleSerDe's `escape.delim`) makes the next
/// character text, delimiter included, and stays in the field for [`crate::text`] to remove,
/// since it also protects collection and map-key delimiters there; it does not join lines, as
/// Hive splits lines before fields. Inside quotes, as in opencsv, it protects only a quote or
/// itself, and a lone one is text: quoted fields come from CSV writers, which escape nothing
/// else. Quoted text is handed on escaped, so that it reads back as it was quoted.
struct Fields {
    dialect: Dialect,
    state: State,
    /// How much of a UTF-8 byte order mark the file has begun with: the mark is dropped.
    bom: usize,
    /// For each field position of a record, the output column it goes to, if any.
    slots: Vec<Option<usize>>,
    schema: SchemaRef,
    batch_size: usize,
    skip_header: bool,
    /// The text of the kept fields, back to back.
    data: Vec<u8>,
    /// For each output column, one span a record.
    spans: Vec<Vec<Span>>,
    rows: usize,
    /// The position in its record of the field being read, and where its text starts.
    field: usize,
    field_start: usize,
    record_start: usize,
}

impl Fields {
    fn new(dialect: Dialect, width: usize, columns: &[usize], schema: SchemaRef, batch_size: usize) -> Self {
        let mut slots = vec![None; width];
        for (j, c) in columns.iter().enumerate() {
            if let Some(slot) = slots.get_mut(*c) {
                *slot = Some(j);
            }
        }
        Fields {
            dialect,
            state: State::RecordStart,
            bom: 0,
            slots,
            schema,
            batch_size: batch_size.max(1),
            skip_header: dialect.has_header,
            data: Vec::with_capacity(64 * 1024),
            spans: vec![Vec::new(); columns.len()],
            rows: 0,
            field: 0,
            field_start: 0,
            record_start: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.rows >= self.batch_size
    }

    /// Parses `input` until it is used up or a batch is full; returns the bytes used. An empty
    /// `input` means the end of the file, which ends a record left open.
    fn decode(&mut self, input: &[u8]) -> Result<usize> {
        if input.is_empty() {
            if self.state != State::RecordStart {
                if self.state == State::QuotedEscape {
                    self.push_quoted(&[self.escape_byte()]);
                }
                self.end_field();
                self.end_record();
            }
            return Ok(0);
        }
        let mut i = 0;
        while self.bom < BOM.len() && i < input.len() && input[i] == BOM[self.bom] {
            self.bom += 1;
            i += 1;
        }
        if i < input.len() {
            self.bom = BOM.len();
        }
        let Dialect { delimiter, quote, escape, .. } = self.dialect;
        while i < input.len() && !self.is_full() {
            let b = input[i];
            match self.state {
                State::RecordStart if b == b'\n' || b == b'\r' => {}
                State::RecordStart | State::FieldStart if b == quote => self.state = State::Quoted,
                State::RecordStart | State::FieldStart | State::Unquoted => {
                    // Copy up to the next byte that means something here.
                    let run = input[i..].iter().position(|&c| c == delimiter || c == b'\n' || c == b'\r' || Some(c) == escape);
                    let end = run.map_or(input.len(), |r| i + r);
                    self.data.extend_from_slice(&input[i..end]);
                    self.state = State::Unquoted;
                    i = end;
                    let Some(&c) = input.get(end) else { break };
                    if c == delimiter {
                        self.end_field();
                        self.state = State::FieldStart;
                    } else if c == b'\n' || c == b'\r' {
                        self.end_field();
                        self.end_record();
                    } else {
                        self.data.push(c);
                        self.state = State::UnquotedEscape;
                    }
                }
                State::UnquotedEscape if b == b'\n' || b == b'\r' => {
                    self.end_field();
                    self.end_record();
                }
                State::UnquotedEscape => {
                    self.data.push(b);
                    self.state = State::Unquoted;
                }
                State::Quoted => {
                    let run = input[i..].iter().position(|&c| c == quote || Some(c) == escape);
                    let end = run.map_or(input.len(), |r| i + r);
                    self.push_quoted(&input[i..end]);
                    i = end;
                    let Some(&c) = input.get(end) else { break };
                    self.state = if c == quote { State::QuotedQuote } else { State::QuotedEscape };
                }
                State::QuotedEscape => {
                    if b != quote && b != self.escape_byte() {
                        // A lone escape is text; the byte after it is read as any other.
                        self.push_quoted(&[self.escape_byte()]);
                        self.state = State::Quoted;
                        continue;
                    }
                    self.push_quoted(&[b]);
                    self.state = State::Quoted;
                }
                State::QuotedQuote if b == quote => {
                    self.push_quoted(&[quote]);
                    self.state = State::Quoted;
                }
                State::QuotedQuote => {
                    // Past the closing quote the field goes on unquoted, up to its delimiter.
                    self.state = State::Unquoted;
                    continue;
                }
            }
            i += 1;
        }
        Ok(i)
    }

    fn escape_byte(&self) -> u8 {
        self.dialect.escape.unwrap_or_default()
    }

    /// Appends quoted text, escaping the escape character so that it reads back as text.
    fn push_quoted(&mut self, text: &[u8]) {
        match self.dialect.escape {
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
        match self.slots.get(self.field).copied().flatten() {
            Some(j) => self.spans[j].push(Some((self.field_start, self.data.len()))),
            // A column nobody asked for, or a field past the table's columns: dropped.
            None => self.data.truncate(self.field_start),
        }
        self.field += 1;
        self.field_start = self.data.len();
    }

    fn end_record(&mut self) {
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
        self.state = State::RecordStart;
        self.field = 0;
        self.field_start = self.data.len();
        self.record_start = self.data.len();
    }

    /// The records parsed since the last flush, as a batch. Called between records.
    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.state != State::RecordStart {
            return exec_err!("a text batch was taken in the middle of a record");
        }
        if self.rows == 0 {
            return Ok(None);
        }
        let data = &self.data[..];
        // Text that is not UTF-8 is read with U+FFFD in place of the bad bytes.
        let text = std::str::from_utf8(data).ok();
        let field = |span: &Span| -> Option<Cow<'_, str>> {
            let (start, end) = (*span)?;
            Some(match text.and_then(|t| t.get(start..end)) {
                Some(s) => Cow::Borrowed(s),
                None => String::from_utf8_lossy(&data[start..end]),
            })
        };
        let columns: Vec<ArrayRef> = self.spans.iter().map(|spans| Arc::new(spans.iter().map(field).collect::<StringArray>()) as ArrayRef).collect();
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
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    /// Decodes `input` fed `chunk` bytes at a time, keeping `columns` of a `width`-column table;
    /// returns the rows of every batch, NULL as `None`.
    type Rows = Vec<Vec<Option<String>>>;

    fn decode(input: &str, dialect: Dialect, width: usize, columns: &[usize], chunk: usize, batch_size: usize) -> Rows {
        let schema = Arc::new(Schema::new(columns.iter().map(|c| Field::new(format!("c{c}"), DataType::Utf8, true)).collect::<Vec<_>>()));
        let mut fields = Fields::new(dialect, width, columns, schema, batch_size);
        let mut batches = Vec::new();
        for piece in input.as_bytes().chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let used = fields.decode(rest).unwrap();
                rest = &rest[used..];
                if fields.is_full() {
                    batches.extend(fields.flush().unwrap());
                }
            }
        }
        fields.decode(&[]).unwrap();
        batches.extend(fields.flush().unwrap());
        let mut rows = Vec::new();
        for b in batches {
            assert!(b.num_rows() <= batch_size);
            for r in 0..b.num_rows() {
                rows.push(b.columns().iter().map(|c| c.as_string::<i32>().is_valid(r).then(|| c.as_string::<i32>().value(r).to_string())).collect());
            }
        }
        rows
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    const CSV: Dialect = Dialect { delimiter: b',', quote: b'"', escape: None, has_header: false };
    const ESCAPED: Dialect = Dialect { escape: Some(b'\\'), ..CSV };

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
                        &decode(input, *dialect, *width, columns, chunk, batch_size),
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
        let mut fields = Fields::new(CSV, 2, &[], schema, 100);
        fields.decode(b"1,a\n2,b\n3").unwrap();
        fields.decode(&[]).unwrap();
        assert_eq!(fields.flush().unwrap().map(|b| b.num_rows()), Some(3));
        let got = decode("caf\u{e9},x\n", CSV, 2, &[0], 1000, 10);
        assert_eq!(got, vec![row(&[Some("caf\u{e9}")])]);
        let schema = Arc::new(Schema::new(vec![Field::new("c0", DataType::Utf8, true)]));
        let mut fields = Fields::new(CSV, 1, &[0], schema, 10);
        fields.decode(b"ok\n\xff\xfeab\n").unwrap();
        fields.decode(&[]).unwrap();
        let batch = fields.flush().unwrap().unwrap();
        let values: Vec<_> = batch.column(0).as_string::<i32>().iter().flatten().collect();
        assert_eq!(values, ["ok", "\u{fffd}\u{fffd}ab"]);
    }
}
