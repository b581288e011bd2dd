//! Arrays and maps with Trino's semantics: 1-based `element_at` that also reads maps, `slice`,
//! `sequence` over numbers, dates and timestamps, and the lambda functions `transform`, `filter`
//! and `reduce`.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, Int64Builder, ListArray, ListBuilder, MapArray, PrimitiveBuilder, Scalar, UInt32Array,
    new_null_array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::{interleave, take};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, FieldRef, Int64Type, IntervalMonthDayNanoType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDF, HigherOrderUDFImpl,
    LambdaParametersProgress, ScalarUDF, ValueOrLambda, Volatility,
};
use datafusion::prelude::SessionContext;

use super::{Ret, arg, func, map_rows};

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        func("element_at", &[2], Ret::Types(element_at_type), element_at),
        func("slice", &[3], Ret::Types(same_list_type), slice),
        func("sequence", &[2, 3], Ret::Types(sequence_type), sequence),
        func("__ordinals", &[1, 2, 3, 4, 5, 6], Ret::Fixed(|| DataType::new_list(DataType::Int64, true)), ordinals),
        func("__unnest_part", &[2], Ret::Args(unnest_part_type), unnest_part),
        func("array_position", &[2], Ret::Fixed(|| DataType::Int64), array_position),
    ]
}

/// Lambda functions: DataFusion's `array_transform` and `array_filter` under Trino's names, and
/// `reduce`.
pub fn higher_order(ctx: &SessionContext) -> Result<Vec<Arc<HigherOrderUDF>>> {
    let state = ctx.state();
    let mut out = Vec::new();
    for (name, alias) in [("array_transform", "transform"), ("array_filter", "filter")] {
        let f = state.higher_order_function(name)?;
        out.push(Arc::new(f.as_ref().clone().with_aliases([alias])));
    }
    out.push(Arc::new(HigherOrderUDF::new_from_impl(Reduce::new())));
    Ok(out)
}

fn list_field(t: &DataType) -> Option<&FieldRef> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f),
        _ => None,
    }
}

fn element_at_type(args: &[DataType]) -> Result<DataType> {
    match &args[0] {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) => Ok(kv[1].data_type().clone()),
            _ => plan_err!("element_at: malformed map type"),
        },
        t => match list_field(t) {
            Some(f) => Ok(f.data_type().clone()),
            None if t.is_null() => Ok(DataType::Null),
            None => plan_err!("element_at: expected an array or a map, got {t}"),
        },
    }
}

fn as_list(name: &str, a: &ArrayRef) -> Result<ListArray> {
    match a.data_type() {
        DataType::List(_) => Ok(a.as_list::<i32>().clone()),
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Ok(arg(name, a, &DataType::List(f.clone()))?.as_list::<i32>().clone()),
        t => exec_err!("{name}: expected an array, got {t}"),
    }
}

fn element_at(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let name = "element_at";
    if let DataType::Map(_, _) = a[0].data_type() {
        return map_lookup(a[0].as_map(), &a[1], t);
    }
    if a[0].data_type().is_null() {
        return Ok(new_null_array(t, a[0].len()));
    }
    let list = as_list(name, &a[0])?;
    let index = arg(name, &a[1], &DataType::Int64)?;
    let index = index.as_primitive::<Int64Type>();
    let offsets = list.value_offsets();
    let mut picks: Vec<Option<u32>> = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        if list.is_null(i) || index.is_null(i) {
            picks.push(None);
            continue;
        }
        let (start, len) = (offsets[i] as i64, (offsets[i + 1] - offsets[i]) as i64);
        let k = index.value(i);
        let at = match k {
            0 => return exec_err!("SQL array indices start at 1"),
            k if k > 0 && k <= len => Some(start + k - 1),
            k if k < 0 && -k <= len => Some(start + len + k),
            _ => None,
        };
        picks.push(at.map(|x| x as u32));
    }
    Ok(take(list.values().as_ref(), &UInt32Array::from(picks), None)?)
}

fn map_lookup(map: &MapArray, keys: &ArrayRef, t: &DataType) -> Result<ArrayRef> {
    let key_type = map.keys().data_type().clone();
    let keys = arg("element_at", keys, &key_type)?;
    let offsets = map.value_offsets();
    let mut picks: Vec<Option<u32>> = Vec::with_capacity(map.len());
    for i in 0..map.len() {
        if map.is_null(i) || keys.is_null(i) {
            picks.push(None);
            continue;
        }
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        let row_keys = map.keys().slice(start, end - start);
        let hits: BooleanArray = eq(&row_keys, &Scalar::new(keys.slice(i, 1)))?;
        picks.push(hits.iter().position(|h| h == Some(true)).map(|p| (start + p) as u32));
    }
    let out = take(map.values().as_ref(), &UInt32Array::from(picks), None)?;
    arg("element_at", &out, t)
}

fn same_list_type(args: &[DataType]) -> Result<DataType> {
    match list_field(&args[0]) {
        Some(f) => Ok(DataType::List(f.clone())),
        None => plan_err!("expected an array, got {}", args[0]),
    }
}

/// Builds a list array from the values picked for each row (`None` for a NULL row).
fn pick_lists(name: &str, list: &ListArray, rows: &[Option<Vec<u32>>]) -> Result<ArrayRef> {
    let mut indices = Vec::new();
    let mut lengths = Vec::with_capacity(rows.len());
    let mut valid = Vec::with_capacity(rows.len());
    for r in rows {
        match r {
            Some(ix) => {
                indices.extend_from_slice(ix);
                lengths.push(ix.len());
                valid.push(true);
            }
            None => {
                lengths.push(0);
                valid.push(false);
            }
        }
    }
    let values = take(list.values().as_ref(), &UInt32Array::from(indices), None)?;
    let field = match list.data_type() {
        DataType::List(f) => f.clone(),
        t => return exec_err!("{name}: unexpected {t}"),
    };
    Ok(Arc::new(ListArray::try_new(field, OffsetBuffer::from_lengths(lengths), values, Some(valid.into()))?))
}

fn slice(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "slice";
    let list = as_list(name, &a[0])?;
    let (start, length) = (arg(name, &a[1], &DataType::Int64)?, arg(name, &a[2], &DataType::Int64)?);
    let (start, length) = (start.as_primitive::<Int64Type>(), length.as_primitive::<Int64Type>());
    let offsets = list.value_offsets();
    let mut rows = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        if list.is_null(i) || start.is_null(i) || length.is_null(i) {
            rows.push(None);
            continue;
        }
        let (base, len) = (offsets[i] as i64, (offsets[i + 1] - offsets[i]) as i64);
        let (s, n) = (start.value(i), length.value(i));
        if s == 0 {
            return exec_err!("SQL array indices start at 1");
        }
        if n < 0 {
            return exec_err!("length must be greater than or equal to 0");
        }
        let first = if s > 0 { s - 1 } else { len + s };
        if first < 0 || first >= len {
            rows.push(Some(Vec::new()));
            continue;
        }
        let last = (first + n).min(len);
        rows.push(Some(((base + first) as u32..(base + last) as u32).collect()));
    }
    pick_lists(name, &list, &rows)
}

fn array_position(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "array_position";
    let list = as_list(name, &a[0])?;
    let item_type = list.values().data_type().clone();
    let needle = arg(name, &a[1], &item_type)?;
    let offsets = list.value_offsets();
    map_rows::<Int64Array, _>(&[&list, &needle], |i| {
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        let hits: BooleanArray = eq(&list.values().slice(start, end - start), &Scalar::new(needle.slice(i, 1)))?;
        Ok(Some(hits.iter().position(|h| h == Some(true)).map(|p| p as i64 + 1).unwrap_or(0)))
    })
}

/// `[1, 2, …, n]` for each row, n the length of its longest array or map: the ordinals of
/// `UNNEST … WITH ORDINALITY`.
fn ordinals(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let rows = a[0].len();
    let mut longest = vec![0i64; rows];
    for x in a {
        match x.data_type() {
            DataType::Map(_, _) => {
                let m = x.as_map();
                for (i, n) in longest.iter_mut().enumerate() {
                    if m.is_valid(i) {
                        *n = (*n).max(m.value_length(i) as i64);
                    }
                }
            }
            _ => {
                let list = as_list("unnest", x)?;
                for (i, n) in longest.iter_mut().enumerate() {
                    if list.is_valid(i) {
                        *n = (*n).max(list.value_length(i) as i64);
                    }
                }
            }
        }
    }
    let mut out = ListBuilder::new(Int64Builder::new());
    for n in longest {
        (1..=n).for_each(|k| out.values().append_value(k));
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn part_index(args: &datafusion::logical_expr::ReturnFieldArgs) -> Result<usize> {
    match super::constant_string(args, 1).and_then(|s| s.parse().ok()) {
        Some(i) => Ok(i),
        None => plan_err!("__unnest_part: the part must be a constant"),
    }
}

/// `UNNEST(m) AS t(k, v)` reads a map's keys and values; `UNNEST(rows) AS t(a, b)` an array
/// of rows' fields. `__unnest_part(x, 'i')` is the i-th of those arrays.
fn unnest_part_type(args: &datafusion::logical_expr::ReturnFieldArgs) -> Result<FieldRef> {
    let i = part_index(args)?;
    let item = match args.arg_fields[0].data_type() {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if i < 2 => kv[i].data_type().clone(),
            _ => return plan_err!("UNNEST of a map has two columns, a key and a value"),
        },
        t => match list_field(t).map(|f| f.data_type()) {
            Some(DataType::Struct(fields)) if i < fields.len() => fields[i].data_type().clone(),
            Some(DataType::Struct(fields)) => return plan_err!("UNNEST of rows with {} fields has {} columns", fields.len(), fields.len()),
            Some(_) => return plan_err!("UNNEST of an array has one column"),
            None => return plan_err!("UNNEST needs an array or a map, got {t}"),
        },
    };
    Ok(Arc::new(Field::new("part", DataType::new_list(item, true), true)))
}

fn unnest_part(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let DataType::List(item) = t else { return exec_err!("__unnest_part: unexpected type {t}") };
    let i = {
        let idx = arg("unnest", &a[1], &DataType::Utf8)?;
        idx.as_string::<i32>().value(0).parse::<usize>().unwrap_or(0)
    };
    let (offsets, values, nulls) = match a[0].data_type() {
        DataType::Map(_, _) => {
            let m = a[0].as_map();
            let values = if i == 0 { m.keys().clone() } else { m.values().clone() };
            (m.offsets().clone(), values, m.nulls().cloned())
        }
        _ => {
            let list = as_list("unnest", &a[0])?;
            let values = list.values().as_struct().column(i).clone();
            (list.offsets().clone(), values, list.nulls().cloned())
        }
    };
    Ok(Arc::new(ListArray::try_new(item.clone(), offsets, values, nulls)?))
}

/// Trino refuses sequences longer than this.
const MAX_SEQUENCE: usize = 10_000;

fn sequence_type(args: &[DataType]) -> Result<DataType> {
    let item = match &args[0] {
        t if t.is_integer() => DataType::Int64,
        DataType::Date32 | DataType::Date64 => DataType::Date32,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
        t if super::is_string(t) => DataType::Date32,
        t => return plan_err!("sequence: unexpected argument type {t}"),
    };
    Ok(DataType::new_list(item, true))
}

fn sequence(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let name = "sequence";
    let too_long = || exec_err!("result of sequence function must not have more than {MAX_SEQUENCE} entries");
    let item = match t {
        DataType::List(f) => f.data_type().clone(),
        _ => return exec_err!("{name}: unexpected result type {t}"),
    };
    if item == DataType::Int64 {
        let (start, stop) = (arg(name, &a[0], &DataType::Int64)?, arg(name, &a[1], &DataType::Int64)?);
        let (start, stop) = (start.as_primitive::<Int64Type>(), stop.as_primitive::<Int64Type>());
        let step = a.get(2).map(|s| arg(name, s, &DataType::Int64)).transpose()?;
        let step = step.as_ref().map(|s| s.as_primitive::<Int64Type>());
        let mut out = ListBuilder::new(Int64Builder::new());
        for i in 0..start.len() {
            if start.is_null(i) || stop.is_null(i) || step.is_some_and(|s| s.is_null(i)) {
                out.append_null();
                continue;
            }
            let (x, y) = (start.value(i), stop.value(i));
            let s = step.map(|s| s.value(i)).unwrap_or(if x <= y { 1 } else { -1 });
            if s == 0 {
                return exec_err!("step must not be zero");
            }
            if (s > 0 && x > y) || (s < 0 && x < y) {
                return exec_err!(
                    "sequence stop value should be greater than or equal to start value if step is greater than zero otherwise stop should be less than or equal to start"
                );
            }
            if (y as i128 - x as i128) / s as i128 >= MAX_SEQUENCE as i128 {
                return too_long();
            }
            let mut v = x;
            while (s > 0 && v <= y) || (s < 0 && v >= y) {
                out.values().append_value(v);
                match v.checked_add(s) {
                    Some(n) => v = n,
                    None => break,
                }
            }
            out.append(true);
        }
        return Ok(Arc::new(out.finish()));
    }
    // Dates and timestamps step by a day by default, or by an interval of days or months.
    let micros_type = DataType::Timestamp(TimeUnit::Microsecond, None);
    let as_micros = |x: &ArrayRef| -> Result<ArrayRef> {
        match x.data_type() {
            DataType::Timestamp(_, Some(_)) => {
                let utc = arg(name, x, &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())))?;
                Ok(Arc::new(utc.as_primitive::<TimestampMicrosecondType>().clone().with_timezone_opt(None::<String>)))
            }
            _ => arg(name, &arg(name, x, if x.data_type().is_temporal() { x.data_type() } else { &DataType::Date32 })?, &micros_type),
        }
    };
    let (start, stop) = (as_micros(&a[0])?, as_micros(&a[1])?);
    let (start, stop) = (start.as_primitive::<TimestampMicrosecondType>(), stop.as_primitive::<TimestampMicrosecondType>());
    let step = match a.get(2) {
        Some(s) => Some(arg(name, s, &DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano))?),
        None if item == DataType::Date32 => None,
        None => return exec_err!("{name}: a timestamp sequence needs a step interval"),
    };
    let step = step.as_ref().map(|s| s.as_primitive::<IntervalMonthDayNanoType>());
    let mut values: Vec<i64> = Vec::new();
    let mut lengths = Vec::with_capacity(start.len());
    let mut valid = Vec::with_capacity(start.len());
    for i in 0..start.len() {
        if start.is_null(i) || stop.is_null(i) || step.is_some_and(|s| s.is_null(i)) {
            lengths.push(0);
            valid.push(false);
            continue;
        }
        let (x, y) = (start.value(i), stop.value(i));
        let (months, days, nanos) = match step.map(|s| s.value(i)) {
            Some(iv) => (iv.months, iv.days, iv.nanoseconds),
            None => (0, if x <= y { 1 } else { -1 }, 0),
        };
        if months != 0 && (days != 0 || nanos != 0) {
            return exec_err!("{name}: the step must be a day-to-second or a year-to-month interval");
        }
        if months == 0 && days == 0 && nanos == 0 {
            return exec_err!("step must not be zero");
        }
        let forward = months > 0 || days > 0 || (days == 0 && nanos > 0);
        if (forward && x > y) || (!forward && x < y) {
            return exec_err!(
                "sequence stop value should be greater than or equal to start value if step is greater than zero otherwise stop should be less than or equal to start"
            );
        }
        let base = chrono::DateTime::from_timestamp_micros(x).unwrap_or_default().naive_utc();
        let mut n = 0usize;
        loop {
            let at = if months != 0 {
                let m = months as i64 * n as i64;
                let d = base.date();
                let shifted =
                    if m >= 0 { d.checked_add_months(chrono::Months::new(m as u32)) } else { d.checked_sub_months(chrono::Months::new((-m) as u32)) };
                shifted.map(|d| d.and_time(base.time()).and_utc().timestamp_micros())
            } else {
                Some(x + (days as i64 * 86_400_000_000 + nanos / 1000) * n as i64)
            };
            let Some(at) = at else { break };
            if (forward && at > y) || (!forward && at < y) {
                break;
            }
            values.push(at);
            n += 1;
            if n > MAX_SEQUENCE {
                return too_long();
            }
        }
        lengths.push(n);
        valid.push(true);
    }
    let items: ArrayRef = match &item {
        DataType::Date32 => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            let mut b = PrimitiveBuilder::<Date32Type>::new();
            for v in &values {
                let day = chrono::DateTime::from_timestamp_micros(*v).unwrap_or_default().date_naive();
                b.append_value((day - epoch).num_days() as i32);
            }
            Arc::new(b.finish())
        }
        _ => {
            let micros = datafusion::arrow::array::TimestampMicrosecondArray::from(values).with_timezone_opt(None::<String>);
            let micros: ArrayRef = Arc::new(micros);
            match &item {
                DataType::Timestamp(_, Some(z)) => {
                    let utc = arg(name, &micros, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
                    let tagged = utc.as_primitive::<TimestampMicrosecondType>().clone().with_timezone(z.clone());
                    arg(name, &(Arc::new(tagged) as ArrayRef), &item)?
                }
                _ => arg(name, &micros, &item)?,
            }
        }
    };
    Ok(Arc::new(ListArray::try_new(Arc::new(Field::new("item", item, true)), OffsetBuffer::from_lengths(lengths), items, Some(valid.into()))?))
}

/// `reduce(array, initialState, (state, x) -> state, state -> result)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Reduce {
    signature: HigherOrderSignature,
}

impl Reduce {
    fn new() -> Self {
        Reduce {
            signature: HigherOrderSignature::exact(
                vec![ValueOrLambda::Value(()), ValueOrLambda::Value(()), ValueOrLambda::Lambda(()), ValueOrLambda::Lambda(())],
                Volatility::Immutable,
            ),
        }
    }
}

fn output_of(f: &ValueOrLambda<FieldRef, Option<FieldRef>>) -> Option<FieldRef> {
    match f {
        ValueOrLambda::Value(f) => Some(f.clone()),
        ValueOrLambda::Lambda(f) => f.clone(),
    }
}

impl HigherOrderUDFImpl for Reduce {
    fn name(&self) -> &str {
        "reduce"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let list = match &arg_types[0] {
            DataType::LargeList(f) | DataType::FixedSizeList(f, _) => DataType::List(f.clone()),
            t => t.clone(),
        };
        Ok(vec![list, arg_types[1].clone()])
    }

    fn lambda_parameters(&self, _step: usize, fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>]) -> Result<LambdaParametersProgress> {
        let [ValueOrLambda::Value(list), ValueOrLambda::Value(init), merge, _finish] = fields else {
            return plan_err!("reduce expects an array, an initial state and two lambdas");
        };
        let Some(item) = list_field(list.data_type()) else {
            return plan_err!("reduce: expected an array, got {}", list.data_type());
        };
        let item = Arc::new(Field::new("x", item.data_type().clone(), true));
        match output_of(merge) {
            // The state takes the type the input function returns.
            Some(state) => {
                let state = Arc::new(Field::new("s", state.data_type().clone(), true));
                Ok(LambdaParametersProgress::Complete(vec![vec![state.clone(), item], vec![state]]))
            }
            None => {
                let state = Arc::new(Field::new("s", init.data_type().clone(), true));
                Ok(LambdaParametersProgress::Partial(vec![Some(vec![state, item]), None]))
            }
        }
    }

    fn coerce_values_for_lambdas(&self, fields: &[ValueOrLambda<DataType, DataType>]) -> Result<Option<Vec<DataType>>> {
        match fields {
            [ValueOrLambda::Value(list), ValueOrLambda::Value(_), ValueOrLambda::Lambda(state), _] => Ok(Some(vec![list.clone(), state.clone()])),
            _ => Ok(None),
        }
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        match args.arg_fields {
            [_, _, _, ValueOrLambda::Lambda(out)] => Ok(Arc::new(Field::new("reduce", out.data_type().clone(), true))),
            _ => plan_err!("reduce expects an array, an initial state and two lambdas"),
        }
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [ValueOrLambda::Value(list), ValueOrLambda::Value(init), ValueOrLambda::Lambda(merge), ValueOrLambda::Lambda(finish)] =
            args.args.as_slice()
        else {
            return exec_err!("reduce expects an array, an initial state and two lambdas");
        };
        let list = as_list("reduce", &list.to_array(rows)?)?;
        let mut state = init.to_array(rows)?;
        let offsets = list.value_offsets().to_vec();
        let longest = (0..list.len()).filter(|i| list.is_valid(*i)).map(|i| list.value_length(i) as usize).max().unwrap_or(0);
        for k in 0..longest {
            // The rows whose arrays have a k-th element, and where that element is.
            let active: Vec<u32> = (0..rows).filter(|i| list.is_valid(*i) && list.value_length(*i) as usize > k).map(|i| i as u32).collect();
            let elements = UInt32Array::from(active.iter().map(|i| offsets[*i as usize] as u32 + k as u32).collect::<Vec<_>>());
            let active_rows = UInt32Array::from(active.clone());
            let sub_state = take(state.as_ref(), &active_rows, None)?;
            let sub_items = take(list.values().as_ref(), &elements, None)?;
            let (s, x) = (|| Ok(sub_state.clone()), || Ok(sub_items.clone()));
            let next = merge
                .evaluate(&[&s, &x], |captured| captured.iter().map(|c| Ok(take(c.as_ref(), &active_rows, None)?)).collect())?
                .into_array(active.len())?;
            let next = arg("reduce", &next, state.data_type())?;
            let mut source: Vec<(usize, usize)> = (0..rows).map(|i| (0, i)).collect();
            for (p, r) in active.iter().enumerate() {
                source[*r as usize] = (1, p);
            }
            state = interleave(&[state.as_ref(), next.as_ref()], &source)?;
        }
        let s = || Ok(state.clone());
        let out = finish.evaluate(&[&s], |captured| Ok(captured.to_vec()))?.into_array(rows)?;
        // A NULL array reduces to NULL.
        let keep = BooleanArray::from((0..rows).map(|i| list.is_valid(i)).collect::<Vec<_>>());
        let nulls = new_null_array(out.data_type(), rows);
        Ok(ColumnarValue::Array(datafusion::arrow::compute::kernels::zip::zip(&keep, &out, &nulls)?))
    }
}
