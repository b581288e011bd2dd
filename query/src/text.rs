//! Delimited text read the way Hive's LazySimpleSerDe reads it: every field is text first, then
//! converted to the column's type; a field that does not convert is NULL rather than an error,
//! `\N` (or `serialization.null.format`) is NULL, and arrays, maps and structs are split on the
//! collection (`\x02`) and map-key (`\x03`) delimiters.
//!
//! [`TextTable`] wraps a table whose file columns are all read as strings and converts them
//! above the scan; filters on columns that need no conversion (strings, partition keys) still
//! reach the inner table, so partitions are still pruned.

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
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions { null: Some("\\N".into()), collection: "\u{2}".into(), map_key: "\u{3}".into() }
    }
}

/// Converts one string field to a type, Hive's way.
fn convert(values: &StringArray, to: &DataType, options: &TextOptions, level: usize) -> Result<ArrayRef> {
    // NULL markers first.
    let values: StringArray = match &options.null {
        Some(marker) => values.iter().map(|v| v.filter(|s| s != marker)).collect(),
        None => values.clone(),
    };
    let safe = CastOptions { safe: true, ..Default::default() };
    match to {
        DataType::Utf8 => Ok(Arc::new(values)),
        DataType::Boolean => {
            let b: datafusion::arrow::array::BooleanArray = values
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
                            parts.extend(s.split(sep.as_str()).map(str::to_string));
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
            let key_sep = if level == 0 { options.map_key.clone() } else { nested_separator(options, level + 1) };
            let (mut lengths, mut keys, mut vals, mut valid) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for v in values.iter() {
                let mut n = 0;
                if let Some(s) = v {
                    for entry in s.split(sep.as_str()).filter(|e| !e.is_empty()) {
                        let (k, x) = entry.split_once(key_sep.as_str()).unwrap_or((entry, ""));
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
                let mut parts = v.map(|s| s.split(sep.as_str()).map(str::to_string).collect::<Vec<_>>()).unwrap_or_default().into_iter();
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
            let array: ArrayRef = Arc::new(values);
            Ok(cast_with_options(&array, t, &safe)?)
        }
    }
}

/// Hive's separators by nesting level: the collection delimiter, then \x03, \x04, …
fn nested_separator(options: &TextOptions, level: usize) -> String {
    match level {
        0 => options.collection.clone(),
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
        let input = self.inner.scan(state, projection, &pushed, limit).await?;
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let input_schema = input.schema();
        let config = Arc::new(state.config_options().clone());
        let mut exprs = Vec::with_capacity(indices.len());
        for (position, i) in indices.iter().enumerate() {
            let field = self.schema.field(*i);
            let column: Arc<dyn datafusion::physical_plan::PhysicalExpr> = Arc::new(Column::new(field.name(), position));
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
}
