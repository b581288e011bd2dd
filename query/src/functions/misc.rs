//! `typeof`, `try` (a lambda in disguise: see [`crate::rewrite`]) and the helpers rewrites use.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, new_null_array};
use datafusion::arrow::compute::{concat, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, IntervalUnit, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDFImpl, LambdaParametersProgress,
    ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, ValueOrLambda, Volatility,
};

use super::json::is_json;

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Opaque { signature: Signature::any(1, Volatility::Volatile) }),
        ScalarUDF::new_from_impl(TypeOf { signature: Signature::any(1, Volatility::Immutable) }),
        ScalarUDF::new_from_impl(CastLike { signature: Signature::any(2, Volatility::Immutable) }),
    ]
}

/// A type as Trino writes it: `integer`, `varchar(3)`, `array(bigint)`, `row(a integer)`, …
pub fn trino_type(field: &Field, literal_len: Option<usize>) -> String {
    if is_json(field) {
        return "json".into();
    }
    type_name(field.data_type(), literal_len)
}

fn type_name(t: &DataType, literal_len: Option<usize>) -> String {
    match t {
        DataType::Null => "unknown".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            format!("decimal({p},{s})")
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => match literal_len {
            Some(n) => format!("varchar({n})"),
            None => "varchar".into(),
        },
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "varbinary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(unit, tz) => {
            let p = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            if tz.is_some() { format!("timestamp({p}) with time zone") } else { format!("timestamp({p})") }
        }
        DataType::Time32(_) | DataType::Time64(_) => "time(3)".into(),
        DataType::Interval(IntervalUnit::YearMonth) => "interval year to month".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval day to second".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => {
            format!("array({})", trino_type(f, None))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!("map({}, {})", trino_type(&kv[0], None), trino_type(&kv[1], None)),
            _ => "map".into(),
        },
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields.iter().map(|f| format!("{} {}", f.name(), trino_type(f, None))).collect();
            format!("row({})", inner.join(", "))
        }
        DataType::Dictionary(_, v) => type_name(v, literal_len),
        other => other.to_string().to_lowercase(),
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

/// `__bucket(c1, …, n)`: the Hive bucket (`0..n`) of a row's bucketing columns, as Athena
/// (Trino's Hive bucketing, version 1) numbers bucket files, so that Athena reads the tables
/// Minerva writes with the right rows in each bucket.
pub fn bucket() -> ScalarUDF {
    super::func("__bucket", &[2, 3, 4, 5, 6, 7, 8], super::Ret::Fixed(|| DataType::Int64), |a, _| {
        let (columns, n) = a.split_at(a.len() - 1);
        let n = datafusion::arrow::compute::cast(&n[0], &DataType::Int64)?;
        let n = datafusion::arrow::array::AsArray::as_primitive::<datafusion::arrow::datatypes::Int64Type>(&n);
        let rows = a[0].len();
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            let mut h: i32 = 0;
            for c in columns {
                h = h.wrapping_mul(31).wrapping_add(hive_hash(c.as_ref(), i)?);
            }
            let buckets = n.value(i).clamp(1, i32::MAX as i64) as i32;
            out.push(((h & i32::MAX) % buckets) as i64);
        }
        Ok(Arc::new(Int64Array::from(out)))
    })
}

/// Hive's hash of one value (`ObjectInspectorUtils.hashCode`, which Trino's bucketing v1
/// mirrors): integers as themselves, a bigint's halves xor-ed, floats by their bits, strings by
/// `31 * h + byte` over their UTF-8 bytes (signed), dates as days, arrays and maps by their
/// elements; NULL is 0. Hive cannot bucket on the other types, and neither can Athena.
fn hive_hash(array: &dyn Array, i: usize) -> Result<i32> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes as t;
    if array.is_null(i) {
        return Ok(0);
    }
    let fold_long = |v: i64| ((v as u64 >> 32) as i64 ^ v) as i32;
    let bytes = |b: &[u8]| b.iter().fold(0i32, |h, &x| h.wrapping_mul(31).wrapping_add(x as i8 as i32));
    Ok(match array.data_type() {
        DataType::Boolean => array.as_boolean().value(i) as i32,
        DataType::Int8 => array.as_primitive::<t::Int8Type>().value(i) as i32,
        DataType::Int16 => array.as_primitive::<t::Int16Type>().value(i) as i32,
        DataType::Int32 => array.as_primitive::<t::Int32Type>().value(i),
        DataType::Int64 => fold_long(array.as_primitive::<t::Int64Type>().value(i)),
        DataType::Float32 => {
            let v = array.as_primitive::<t::Float32Type>().value(i);
            // Java's floatToIntBits: every NaN is the canonical one.
            (if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() }) as i32
        }
        DataType::Float64 => {
            let v = array.as_primitive::<t::Float64Type>().value(i);
            fold_long((if v.is_nan() { 0x7ff8_0000_0000_0000 } else { v.to_bits() }) as i64)
        }
        DataType::Utf8 => bytes(array.as_string::<i32>().value(i).as_bytes()),
        DataType::LargeUtf8 => bytes(array.as_string::<i64>().value(i).as_bytes()),
        DataType::Utf8View => bytes(array.as_string_view().value(i).as_bytes()),
        DataType::Date32 => array.as_primitive::<t::Date32Type>().value(i),
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            let mut h: i32 = 0;
            for j in 0..items.len() {
                h = h.wrapping_mul(31).wrapping_add(hive_hash(items.as_ref(), j)?);
            }
            h
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(i);
            let mut h: i32 = 0;
            for j in 0..entries.len() {
                h = h.wrapping_add(hive_hash(entries.column(0).as_ref(), j)? ^ hive_hash(entries.column(1).as_ref(), j)?);
            }
            h
        }
        other => {
            return datafusion::common::not_impl_err!(
                "Computation of Hive bucket hashCode is not supported for Hive primitive category: {}",
                type_name(other, None).to_uppercase()
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, Date32Array, Float64Array, Int32Array, ListArray, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::Int32Type;

    fn hash(array: ArrayRef) -> Vec<i32> {
        (0..array.len()).map(|i| hive_hash(array.as_ref(), i).unwrap()).collect()
    }

    /// The values Java's Hive computes (`ObjectInspectorUtils.hashCode`), worked by hand.
    #[test]
    fn hive_hashes_values_as_hive_does() {
        assert_eq!(hash(Arc::new(Int32Array::from(vec![Some(7), Some(-3), None]))), [7, -3, 0]);
        // 5,000,000,000 is 0x1_2A05_F200: the halves xor-ed, 0x2A05_F201.
        assert_eq!(hash(Arc::new(Int64Array::from(vec![5_000_000_000, -1]))), [0x2A05_F201, 0]);
        // 'a' is 97; 'é' is the signed bytes -61, -87: -61 * 31 - 87.
        assert_eq!(hash(Arc::new(StringArray::from(vec!["a", "é", "ab", ""]))), [97, -1978, 97 * 31 + 98, 0]);
        assert_eq!(hash(Arc::new(StringViewArray::from(vec!["é"]))), [-1978]);
        assert_eq!(hash(Arc::new(BooleanArray::from(vec![true, false]))), [1, 0]);
        assert_eq!(hash(Arc::new(Float64Array::from(vec![1.0]))), [0x3FF0_0000]);
        assert_eq!(hash(Arc::new(Date32Array::from(vec![19_723]))), [19_723]);
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)]), Some(vec![])]);
        assert_eq!(hash(Arc::new(list)), [33, 0]);
        let err = hive_hash(&datafusion::arrow::array::TimestampMicrosecondArray::from(vec![0]), 0).unwrap_err();
        assert!(err.to_string().contains("Hive bucket hashCode is not supported for Hive primitive category: TIMESTAMP"), "{err}");
    }
}
