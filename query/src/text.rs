//! Delimited text read the way Hive's LazySimpleSerDe reads it: every field is text first, then
//! converted to the column's type; a field that does not convert is NULL rather than an error,
//! `\N` (or `serialization.null.format`) is NULL, and arrays, maps and structs are split on the
//! collection (`\x02`) and map-key (`\x03`) delimiters. With an escape character
//! (`ESCAPED BY`), an escaped delimiter is text, and the escape is removed from values.
//!
//! [`TextTable`] wraps a table whose file columns are all read as strings (by
//! [`crate::delimited`], which keeps escapes in the text) and converts them above the scan; filters
//! on columns that need no conversion (strings, partition keys) still reach the inner table, so
//! partitions are still pruned. An empty field converts to '' in a string column, to an empty
//! array or map in a collection column and to NULL in any other.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, MapArray, StringArray, StructArray, new_null_array};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{Result, exec_err};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TableProviderFilterPushDown, Volatility,
};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;

/// How a text table writes NULL and separates nested values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextOptions {
    pub null: Option<String>,
    pub collection: String,
    pub map_key: String,
    /// `escape.delim`: the character that makes the next one plain text.
    pub escape: Option<char>,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions { null: Some("\\N".into()), collection: "\u{2}".into(), map_key: "\u{3}".into(), escape: None }
    }
}

/// Splits on a separator, except where the escape character protects it. The pieces keep their
/// escapes (a nested value is split again).
fn split_escaped<'a>(s: &'a str, sep: &str, escape: Option<char>) -> Vec<&'a str> {
    let Some(escape) = escape else { return s.split(sep).collect() };
    if sep.is_empty() {
        return vec![s];
    }
    let mut out = Vec::new();
    let (mut start, mut chars) = (0, s.char_indices());
    while let Some((i, c)) = chars.next() {
        if c == escape {
            chars.next();
        } else if s[i..].starts_with(sep) {
            out.push(&s[start..i]);
            start = i + sep.len();
            // Skip the rest of a separator longer than one character.
            for _ in 1..sep.chars().count() {
                chars.next();
            }
        }
    }
    out.push(&s[start..]);
    out
}

/// Removes escapes as LazySimpleSerDe does: `\n` and `\r` are the line breaks, any other escaped
/// character is itself.
fn unescape(s: &str, escape: Option<char>) -> String {
    let Some(escape) = escape.filter(|e| s.contains(*e)) else { return s.to_string() };
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != escape {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push(c),
        }
    }
    out
}

/// `values` with every field that is exactly `marker` made NULL. The strings' buffers are shared,
/// not copied: only a validity mask is built, and only when a marker is there.
fn null_marked(values: &StringArray, marker: &str) -> StringArray {
    let (offsets, data, m) = (values.value_offsets(), values.value_data(), marker.as_bytes());
    let is_marker = |i: usize| {
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        end - start == m.len() && &data[start..end] == m
    };
    if !(0..values.len()).any(is_marker) {
        return values.clone();
    }
    let kept = NullBuffer::new(datafusion::arrow::buffer::BooleanBuffer::collect_bool(values.len(), |i| !is_marker(i)));
    StringArray::new(values.offsets().clone(), values.values().clone(), NullBuffer::union(values.nulls(), Some(&kept)))
}

/// Converts one string field to a type, Hive's way.
fn convert(values: &StringArray, to: &DataType, options: &TextOptions, level: usize) -> Result<ArrayRef> {
    // NULL markers first.
    let values: StringArray = match &options.null {
        Some(marker) => null_marked(values, marker),
        None => values.clone(),
    };
    let safe = CastOptions { safe: true, ..Default::default() };
    // Plain values lose their escapes; nested ones are split first and keep them until then.
    let plain = |values: &StringArray| -> StringArray {
        match options.escape {
            Some(e) => values.iter().map(|v| v.map(|s| unescape(s, Some(e)))).collect(),
            None => values.clone(),
        }
    };
    match to {
        DataType::Utf8 => Ok(Arc::new(plain(&values))),
        DataType::Boolean => {
            let b: datafusion::arrow::array::BooleanArray = plain(&values)
                .iter()
                .map(|v| {
                    v.and_then(|s| match s.trim().to_ascii_lowercase().as_str() {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    })
                })
                .collect();
            Ok(Arc::new(b))
        }
        DataType::List(item) => {
            let sep = nested_separator(options, level);
            let (mut offsets, mut parts, mut valid) = (vec![0usize], Vec::new(), Vec::with_capacity(values.len()));
            for v in values.iter() {
                match v {
                    Some(s) => {
                        if !s.is_empty() {
                            parts.extend(split_escaped(s, &sep, options.escape).into_iter().map(str::to_string));
                        }
                        valid.push(true);
                    }
                    None => valid.push(false),
                }
                offsets.push(parts.len());
            }
            let items = convert(&StringArray::from(parts), item.data_type(), options, level + 1)?;
            Ok(Arc::new(ListArray::try_new(
                item.clone(),
                OffsetBuffer::from_lengths(offsets.windows(2).map(|w| w[1] - w[0])),
                items,
                Some(NullBuffer::from(valid)),
            )?))
        }
        DataType::Map(entries, sorted) => {
            let DataType::Struct(kv) = entries.data_type() else { return exec_err!("malformed map type") };
            let sep = nested_separator(options, level);
            let key_sep = nested_separator(options, level + 1);
            let (mut lengths, mut keys, mut vals, mut valid) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for v in values.iter() {
                let mut n = 0;
                if let Some(s) = v {
                    for entry in split_escaped(s, &sep, options.escape).into_iter().filter(|e| !e.is_empty()) {
                        // The key ends at the first key separator; the value is the rest.
                        let mut kv = split_escaped(entry, &key_sep, options.escape).into_iter();
                        let k = kv.next().unwrap_or_default();
                        let x = entry.get(k.len() + key_sep.len()..).unwrap_or_default();
                        keys.push(k.to_string());
                        vals.push(x.to_string());
                        n += 1;
                    }
                }
                lengths.push(n);
                valid.push(v.is_some());
            }
            let keys = convert(&StringArray::from(keys), kv[0].data_type(), options, level + 2)?;
            let vals = convert(&StringArray::from(vals), kv[1].data_type(), options, level + 2)?;
            // Keys that do not convert would be NULL keys, which a map cannot hold.
            if keys.null_count() > 0 {
                return exec_err!("a map key does not convert to {}", kv[0].data_type());
            }
            let st = StructArray::try_new(kv.clone(), vec![keys, vals], None)?;
            Ok(Arc::new(MapArray::try_new(entries.clone(), OffsetBuffer::from_lengths(lengths), st, Some(NullBuffer::from(valid)), *sorted)?))
        }
        DataType::Struct(fields) => {
            let sep = nested_separator(options, level);
            let mut columns: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(values.len()); fields.len()];
            let mut valid = Vec::with_capacity(values.len());
            for v in values.iter() {
                let mut parts = v
                    .map(|s| split_escaped(s, &sep, options.escape).into_iter().map(str::to_string).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter();
                for c in columns.iter_mut() {
                    c.push(if v.is_some() { parts.next() } else { None });
                }
                valid.push(v.is_some());
            }
            let arrays: Vec<ArrayRef> = fields
                .iter()
                .zip(columns)
                .map(|(f, c)| convert(&c.into_iter().collect::<StringArray>(), f.data_type(), options, level + 1))
                .collect::<Result<_>>()?;
            Ok(Arc::new(StructArray::try_new(fields.clone(), arrays, Some(NullBuffer::from(valid)))?))
        }
        DataType::Binary => {
            use base64::Engine as _;
            let b: datafusion::arrow::array::BinaryArray =
                values.iter().map(|v| v.and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())).collect();
            Ok(Arc::new(b))
        }
        t => {
            let array: ArrayRef = Arc::new(plain(&values));
            Ok(cast_with_options(&array, t, &safe)?)
        }
    }
}

/// Hive's separators by nesting level: the collection delimiter, the map-key delimiter, then
/// \x04, \x05, …
fn nested_separator(options: &TextOptions, level: usize) -> String {
    match level {
        0 => options.collection.clone(),
        1 => options.map_key.clone(),
        n => char::from_u32(2 + n as u32).map(|c| c.to_string()).unwrap_or_default(),
    }
}

/// The conversion of one column, as a function over its text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FromText {
    to: DataType,
    options: TextOptions,
    signature: Signature,
}

impl ScalarUDFImpl for FromText {
    fn name(&self) -> &str {
        "__from_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.to.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        if array.data_type().is_null() {
            return Ok(ColumnarValue::Array(new_null_array(&self.to, array.len())));
        }
        let text = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
        Ok(ColumnarValue::Array(convert(text.as_string::<i32>(), &self.to, &self.options, 0)?))
    }
}

/// A text table: `inner` reads the file columns as strings; this converts them to `schema`.
#[derive(Debug)]
pub struct TextTable {
    pub inner: Arc<dyn TableProvider>,
    pub schema: SchemaRef,
    /// The file columns, which come first and are read as text.
    pub text_columns: usize,
    pub options: TextOptions,
}

impl TextTable {
    /// The schema the inner table reads with: the given columns as text, the rest unchanged.
    pub fn text_schema(schema: &Schema, text_columns: usize) -> Schema {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| if i < text_columns { Field::new(f.name(), DataType::Utf8, true) } else { f.as_ref().clone() })
            .collect();
        Schema::new(fields)
    }

    /// Whether a column reads as it is stored: the partition keys, after the file columns.
    fn passes_through(&self, name: &str) -> bool {
        self.schema.index_of(name).is_ok_and(|i| i >= self.text_columns)
    }

    fn pushable(&self, e: &Expr) -> bool {
        e.column_refs().iter().all(|c| self.passes_through(&c.name))
    }
}

#[async_trait]
impl TableProvider for TextTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| if self.pushable(f) { TableProviderFilterPushDown::Inexact } else { TableProviderFilterPushDown::Unsupported })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let pushed: Vec<Expr> = filters.iter().filter(|f| self.pushable(f)).cloned().collect();
        let limit = if pushed.len() == filters.len() { limit } else { None };
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        // The inner table returns each wanted column once, in table order.
        let mut inner_projection: Vec<usize> = indices.clone();
        inner_projection.sort_unstable();
        inner_projection.dedup();
        let input = self.inner.scan(state, Some(&inner_projection), &pushed, limit).await?;
        let input_schema = input.schema();
        let config = Arc::new(state.config_options().clone());
        let mut exprs = Vec::with_capacity(indices.len());
        for i in &indices {
            let field = self.schema.field(*i);
            let position = inner_projection
                .binary_search(i)
                .map_err(|_| datafusion::error::DataFusionError::Internal(format!("text table: column {} is not in the scan", field.name())))?;
            let column: Arc<dyn datafusion::physical_plan::PhysicalExpr> = Arc::new(Column::new(input_schema.field(position).name(), position));
            let stored = input_schema.field(position).data_type();
            let converted: Arc<dyn datafusion::physical_plan::PhysicalExpr> = if *i < self.text_columns && stored == &DataType::Utf8 {
                let udf = Arc::new(ScalarUDF::new_from_impl(FromText {
                    to: field.data_type().clone(),
                    options: self.options.clone(),
                    signature: Signature::any(1, Volatility::Immutable),
                }));
                Arc::new(ScalarFunctionExpr::try_new(udf, vec![column], &input_schema, config.clone())?)
            } else {
                column
            };
            exprs.push((converted, field.name().clone()));
        }
        Ok(Arc::new(ProjectionExec::try_new(exprs, input)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(values: &[&str], t: &DataType) -> ArrayRef {
        convert(&StringArray::from(values.to_vec()), t, &TextOptions::default(), 0).unwrap()
    }

    #[test]
    fn fields_convert_like_lazy_simple_serde() {
        let ints = conv(&["1", "x", "\\N", ""], &DataType::Int32);
        assert_eq!(ints.null_count(), 3);
        let strings = conv(&["a", "\\N", ""], &DataType::Utf8);
        assert_eq!(strings.as_string::<i32>().iter().collect::<Vec<_>>(), [Some("a"), None, Some("")]);
        let list = conv(&["1\u{2}2", ""], &DataType::new_list(DataType::Int64, true));
        assert_eq!(list.as_list::<i32>().value(0).len(), 2);
        assert_eq!(list.as_list::<i32>().value(1).len(), 0);
        let bools = conv(&["TRUE", "no"], &DataType::Boolean);
        assert_eq!(bools.null_count(), 1);
    }

    #[test]
    fn null_markers_share_the_buffers_and_keep_other_nulls() {
        let values = StringArray::from(vec![Some("a"), Some("\\N"), None, Some("\\Nx"), Some("")]);
        let marked = null_marked(&values, "\\N");
        assert_eq!(marked.iter().collect::<Vec<_>>(), [Some("a"), None, None, Some("\\Nx"), Some("")]);
        assert_eq!(marked.values().as_ptr(), values.values().as_ptr());
        assert_eq!(null_marked(&values, "").iter().collect::<Vec<_>>(), [Some("a"), Some("\\N"), None, Some("\\Nx"), None]);
        assert_eq!(null_marked(&values, "zz").null_count(), 1);
    }

    #[test]
    fn escapes_protect_separators_and_leave_values() {
        assert_eq!(split_escaped("a\\,b,c\\\\,d", ",", Some('\\')), ["a\\,b", "c\\\\", "d"]);
        assert_eq!(split_escaped("a::b::c", "::", None), ["a", "b", "c"]);
        assert_eq!(split_escaped("a::b\\::c::", "::", Some('\\')), ["a", "b\\::c", ""]);
        assert_eq!(unescape("a\\,b\\\\c\\nd", Some('\\')), "a,b\\c\nd");
        let options = TextOptions { escape: Some('\\'), collection: "|".into(), map_key: ":".into(), ..Default::default() };
        let t = DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(vec![Field::new("key", DataType::Utf8, false), Field::new("value", DataType::Utf8, true)].into()),
                false,
            )),
            false,
        );
        let m = convert(&StringArray::from(vec!["a\\:b:c\\|d|e:f:g"]), &t, &options, 0).unwrap();
        let m = m.as_map();
        assert_eq!(m.keys().as_string::<i32>().iter().flatten().collect::<Vec<_>>(), ["a:b", "e"]);
        assert_eq!(m.values().as_string::<i32>().iter().flatten().collect::<Vec<_>>(), ["c|d", "f:g"]);
    }
}
