//! `typeof`, `try` (a lambda in disguise: see [`crate::rewrite`]) and the helpers rewrites use.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, new_null_array};
use datafusion::arrow::compute::{concat, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDFImpl, LambdaParametersProgress,
    ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, ValueOrLambda, Volatility,
};

use crate::types::trino_type;

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Opaque { signature: Signature::any(1, Volatility::Volatile) }),
        ScalarUDF::new_from_impl(TypeOf { signature: Signature::any(1, Volatility::Immutable) }),
        ScalarUDF::new_from_impl(CastLike { signature: Signature::any(2, Volatility::Immutable) }),
        super::func("__varchar", &[1], super::Ret::Fixed(|| DataType::Utf8), varchar),
    ]
}

/// `CAST(x AS varchar)`: a timestamp as Trino writes it (`2012-10-31 01:00:00.000`, a zone after
/// it), anything else as Arrow casts it.
fn varchar(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    match a[0].data_type() {
        DataType::Timestamp(..) => {
            let rendered = crate::render::render_column(&a[0]).map_err(|e| DataFusionError::Execution(e.to_string()))?;
            Ok(Arc::new(datafusion::arrow::array::StringArray::from(rendered)))
        }
        _ => Ok(datafusion::arrow::compute::cast(&a[0], t)?),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf {
    signature: Signature,
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        // The name is known at planning; a constant string reports its length, as Trino's
        // `varchar(n)` literals do.
        Ok(Arc::new(Field::new("typeof", DataType::Utf8, false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let literal_len = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => {
                Some(s.chars().count())
            }
            _ => None,
        };
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(trino_type(&args.arg_fields[0], literal_len)))))
    }
}

/// `__opaque(x)` is `x`, hidden from constant folding (it is volatile): `try` wraps the
/// constants it casts in it, so that a failing cast fails when `try` can catch it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Opaque {
    signature: Signature,
}

impl ScalarUDFImpl for Opaque {
    fn name(&self) -> &str {
        "__opaque"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args[0].clone())
    }
}

/// `__cast_like(value, like)`: the value cast to the type of `like`, rounding to integers. Used
/// to give `approx_percentile` the type of its input.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CastLike {
    signature: Signature,
}

impl ScalarUDFImpl for CastLike {
    fn name(&self) -> &str {
        "__cast_like"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[1].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let to = args.return_field.data_type().clone();
        let value = args.args[0].clone();
        let value = if to.is_integer() && args.arg_fields[0].data_type().is_floating() {
            let a = value.to_array(args.number_rows)?;
            let f = datafusion::arrow::compute::cast(&a, &DataType::Float64)?;
            let f = datafusion::arrow::array::AsArray::as_primitive::<datafusion::arrow::datatypes::Float64Type>(&f).clone();
            ColumnarValue::Array(Arc::new(f.iter().map(|v| v.map(|v| v.round() as i64)).collect::<Int64Array>()))
        } else {
            value
        };
        value.cast_to(&to, None)
    }
}

/// `try(expr)`, planned as `__try(__t -> expr)`: the expression's value, or NULL for the rows
/// where evaluating it fails (division by zero, a bad cast, an invalid argument). Errors that are
/// not about the data (memory, cancellation) still fail the query.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Try {
    signature: HigherOrderSignature,
}

impl Try {
    pub fn new() -> Self {
        Try { signature: HigherOrderSignature::exact(vec![ValueOrLambda::Lambda(())], Volatility::Immutable) }
    }
}

impl Default for Try {
    fn default() -> Self {
        Self::new()
    }
}

fn data_error(e: &DataFusionError) -> bool {
    !matches!(e.find_root(), DataFusionError::ResourcesExhausted(_) | DataFusionError::External(_) | DataFusionError::Internal(_))
}

impl HigherOrderUDFImpl for Try {
    fn name(&self) -> &str {
        "__try"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }

    fn lambda_parameters(&self, _step: usize, _fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>]) -> Result<LambdaParametersProgress> {
        Ok(LambdaParametersProgress::Complete(vec![vec![Arc::new(Field::new("__t", DataType::Int64, true))]]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        match args.arg_fields {
            [ValueOrLambda::Lambda(out)] => Ok(Arc::new(out.as_ref().clone().with_nullable(true))),
            _ => plan_err!("try takes one expression"),
        }
    }

    fn short_circuits(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [ValueOrLambda::Lambda(body)] = args.args.as_slice() else {
            return plan_err!("try takes one expression");
        };
        let zeros = |n: usize| -> ArrayRef { Arc::new(Int64Array::from(vec![0; n])) };
        let all = || Ok(zeros(rows));
        match body.evaluate(&[&all], |captured| Ok(captured.to_vec())) {
            Ok(v) => return Ok(v),
            Err(e) if !data_error(&e) => return Err(e),
            Err(_) => {}
        }
        // Some row failed: evaluate row by row, NULL where it fails.
        let out_type = args.return_field.data_type().clone();
        let mut parts: Vec<ArrayRef> = Vec::with_capacity(rows);
        for i in 0..rows {
            let one = || Ok(zeros(1));
            let index = datafusion::arrow::array::UInt32Array::from(vec![i as u32]);
            let value = body.evaluate(&[&one], |captured| captured.iter().map(|c| Ok(take(c.as_ref(), &index, None)?)).collect());
            match value {
                Ok(v) => parts.push(v.into_array(1)?),
                Err(e) if !data_error(&e) => return Err(e),
                Err(_) => parts.push(new_null_array(&out_type, 1)),
            }
        }
        let refs: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
        if refs.is_empty() {
            return Ok(ColumnarValue::Array(new_null_array(&out_type, 0)));
        }
        Ok(ColumnarValue::Array(concat(&refs)?))
    }
}
