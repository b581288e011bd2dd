//! Aggregates: Trino names for DataFusion's (`arbitrary`, `every`, `variance`, …) and the map
//! aggregates `histogram` and `map_agg`. `count_if`, `max_by`, `min_by`, `approx_percentile` and
//! `listagg` are rewritten in the syntax tree (see [`crate::rewrite`]).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, MapArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;

pub fn functions(ctx: &SessionContext) -> Result<Vec<AggregateUDF>> {
    let state = ctx.state();
    let mut out = vec![AggregateUDF::new_from_impl(MapAgg::new(Kind::Histogram)), AggregateUDF::new_from_impl(MapAgg::new(Kind::MapAgg))];
    for (name, aliases) in
        [("any_value", &["arbitrary"][..]), ("bool_and", &["every"][..]), ("var", &["variance", "var_samp"][..]), ("stddev", &["stddev_samp"][..])]
    {
        let f = state.udaf(name)?;
        out.push(f.as_ref().clone().with_aliases(aliases.iter().copied()));
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `histogram(x)`: each distinct value and how often it occurs.
    Histogram,
    /// `map_agg(key, value)`: a map of the pairs (the first value of a repeated key).
    MapAgg,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MapAgg {
    kind: Kind,
    signature: Signature,
}

impl MapAgg {
    fn new(kind: Kind) -> Self {
        let arity = if kind == Kind::Histogram { 1 } else { 2 };
        MapAgg { kind, signature: Signature::any(arity, Volatility::Immutable) }
    }

    fn value_type(&self, args: &[DataType]) -> DataType {
        match self.kind {
            Kind::Histogram => DataType::Int64,
            Kind::MapAgg => args[1].clone(),
        }
    }
}

fn map_type(key: &DataType, value: &DataType) -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![Field::new("key", key.clone(), false), Field::new("value", value.clone(), true)])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

impl AggregateUDFImpl for MapAgg {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Histogram => "histogram",
            Kind::MapAgg => "map_agg",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(map_type(&args[0], &self.value_type(args)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let types: Vec<DataType> = args.input_fields.iter().map(|f| f.data_type().clone()).collect();
        Ok(vec![
            Arc::new(Field::new("keys", DataType::new_list(types[0].clone(), true), true)),
            Arc::new(Field::new("values", DataType::new_list(self.value_type(&types), true), true)),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let types: Vec<DataType> = args.expr_fields.iter().map(|f| f.data_type().clone()).collect();
        Ok(Box::new(MapAccumulator {
            kind: self.kind,
            key_type: types[0].clone(),
            value_type: self.value_type(&types),
            entries: HashMap::new(),
            bytes: 0,
        }))
    }
}

#[derive(Debug)]
struct MapAccumulator {
    kind: Kind,
    key_type: DataType,
    value_type: DataType,
    entries: HashMap<ScalarValue, ScalarValue>,
    bytes: usize,
}

impl MapAccumulator {
    fn add(&mut self, key: ScalarValue, value: ScalarValue) -> Result<()> {
        if key.is_null() {
            return Ok(());
        }
        match self.kind {
            Kind::Histogram => {
                let n = match &value {
                    ScalarValue::Int64(Some(n)) => *n,
                    _ => 1,
                };
                match self.entries.get_mut(&key) {
                    Some(ScalarValue::Int64(Some(c))) => *c += n,
                    _ => {
                        self.bytes += key.size() + 16;
                        self.entries.insert(key, ScalarValue::Int64(Some(n)));
                    }
                }
            }
            Kind::MapAgg => {
                if !self.entries.contains_key(&key) {
                    self.bytes += key.size() + value.size();
                    self.entries.insert(key, value);
                }
            }
        }
        Ok(())
    }

    /// Entries in key order, so that results are deterministic.
    fn sorted(&self) -> Vec<(ScalarValue, ScalarValue)> {
        let mut all: Vec<(ScalarValue, ScalarValue)> = self.entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        all
    }
}

impl Accumulator for MapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for i in 0..values[0].len() {
            let key = ScalarValue::try_from_array(&values[0], i)?;
            let value = match self.kind {
                Kind::Histogram => ScalarValue::Int64(Some(1)),
                Kind::MapAgg => ScalarValue::try_from_array(&values[1], i)?,
            };
            self.add(key, value)?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (keys, values) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let (k, v) = (keys.value(row), values.value(row));
            for j in 0..k.len() {
                self.add(ScalarValue::try_from_array(&k, j)?, ScalarValue::try_from_array(&v, j)?)?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let entries = self.sorted();
        let keys: Vec<ScalarValue> = entries.iter().map(|e| e.0.clone()).collect();
        let values: Vec<ScalarValue> = entries.iter().map(|e| e.1.clone()).collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list(&keys, &self.key_type, true)),
            ScalarValue::List(ScalarValue::new_list(&values, &self.value_type, true)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let entries = self.sorted();
        let keys = if entries.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.key_type)
        } else {
            ScalarValue::iter_to_array(entries.iter().map(|e| e.0.clone()))?
        };
        let values = if entries.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.value_type)
        } else {
            ScalarValue::iter_to_array(entries.iter().map(|e| e.1.clone()))?
        };
        let DataType::Map(field, _) = map_type(&self.key_type, &self.value_type) else {
            return exec_err!("map type expected");
        };
        let DataType::Struct(fields) = field.data_type() else {
            return exec_err!("map entries must be a struct");
        };
        let struct_array = StructArray::try_new(fields.clone(), vec![keys, values], None)?;
        let map = MapArray::try_new(field.clone(), OffsetBuffer::from_lengths([entries.len()]), struct_array, None, false)?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.bytes + self.entries.capacity() * 2 * size_of::<ScalarValue>()
    }
}
