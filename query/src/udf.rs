//! Trino functions Athena users call that DataFusion spells differently.
//!
//! `split(string, delimiter[, limit])` returns `array(varchar)` and keeps empty pieces, as Trino
//! does. `cardinality` comes from DataFusion; its unsigned result is cast to `bigint` with every
//! other unsigned output column (see `engine`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};

#[derive(Debug, PartialEq, Eq, Hash)]
struct Split {
    signature: Signature,
}

pub fn split() -> ScalarUDF {
    ScalarUDF::new_from_impl(Split {
        signature: Signature::one_of(
            vec![
                TypeSignature::Coercible(vec![
                    datafusion::logical_expr::Coercion::new_exact(datafusion::logical_expr::TypeSignatureClass::Native(
                        datafusion::common::types::logical_string(),
                    )),
                    datafusion::logical_expr::Coercion::new_exact(datafusion::logical_expr::TypeSignatureClass::Native(
                        datafusion::common::types::logical_string(),
                    )),
                ]),
                TypeSignature::Any(3),
            ],
            Volatility::Immutable,
        ),
    })
}

impl ScalarUDFImpl for Split {
    fn name(&self) -> &str {
        "split"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
        let strings = cast(&arrays[0], &DataType::Utf8)?;
        let delimiters = cast(&arrays[1], &DataType::Utf8)?;
        let (strings, delimiters) = (strings.as_string::<i32>(), delimiters.as_string::<i32>());
        let limits = match arrays.get(2) {
            Some(a) => Some(cast(a, &DataType::Int64)?),
            None => None,
        };
        let limits = limits.as_ref().map(|a| a.as_primitive::<datafusion::arrow::datatypes::Int64Type>().clone());
        let mut out = ListBuilder::new(StringBuilder::new());
        for i in 0..rows {
            if strings.is_null(i) || delimiters.is_null(i) || limits.as_ref().is_some_and(|l: &Int64Array| l.is_null(i)) {
                out.append_null();
                continue;
            }
            let (s, d) = (strings.value(i), delimiters.value(i));
            if d.is_empty() {
                return exec_err!("split: the delimiter is empty");
            }
            match limits.as_ref().map(|l| l.value(i)) {
                Some(limit) if limit <= 0 => return exec_err!("split: limit must be positive"),
                Some(limit) => s.splitn(limit as usize, d).for_each(|p| out.values().append_value(p)),
                None => s.split(d).for_each(|p| out.values().append_value(p)),
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
