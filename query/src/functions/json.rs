//! JSON functions with Trino's semantics. A `json` value is text in an Arrow string column whose
//! field carries the canonical `arrow.json` extension name, so results report the type `json`.
//!
//! `json_parse` and casts to JSON canonicalise (no insignificant white space, object keys sorted),
//! as Trino does; `json_extract` keeps the order of the document it reads.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Builder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::Result;
use datafusion::logical_expr::{ReturnFieldArgs, ScalarUDF};
use serde_json::Value;

use super::{Ret, arg, func, map_rows};
use crate::types::json_field;

fn json_ret(_: &ReturnFieldArgs) -> Result<FieldRef> {
    Ok(json_field("json"))
}

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        func("json_parse", &[1], Ret::Args(json_ret), json_parse),
        func("json_format", &[1], Ret::Fixed(|| DataType::Utf8), json_format),
        func("json_extract", &[2], Ret::Args(json_ret), json_extract),
        func("json_extract_scalar", &[2], Ret::Fixed(|| DataType::Utf8), json_extract_scalar),
        func("json_array_length", &[1], Ret::Fixed(|| DataType::Int64), json_array_length),
        func("json_size", &[2], Ret::Fixed(|| DataType::Int64), json_size),
        func("json_array_get", &[2], Ret::Args(json_ret), json_array_get),
        func("json_array_contains", &[2], Ret::Fixed(|| DataType::Boolean), json_array_contains),
        func("is_json_scalar", &[1], Ret::Fixed(|| DataType::Boolean), is_json_scalar),
        func("__to_json", &[1], Ret::Args(json_ret), to_json),
        func("__cast", &[2], Ret::Args(cast_ret), cast_json),
    ]
}

/// Sorts object keys recursively: Trino's canonical JSON.
pub fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn texts(name: &str, a: &ArrayRef) -> Result<StringArray> {
    Ok(arg(name, a, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn parse(name: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| datafusion::error::DataFusionError::Execution(format!("{name}: Cannot convert value to JSON: '{text}': {e}")))
}

fn json_parse(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let t = texts("json_parse", &a[0])?;
    map_rows::<StringArray, _>(&[&t], |i| Ok(Some(canonical(parse("json_parse", t.value(i))?).to_string())))
}

fn json_format(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    // JSON text is kept canonical already; formatting re-serialises to drop white space.
    let t = texts("json_format", &a[0])?;
    map_rows::<StringArray, _>(&[&t], |i| Ok(Some(parse("json_format", t.value(i))?.to_string())))
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
}

/// Trino's JSONPath for `json_extract`: `$`, `.key`, `["key"]`, `[n]`.
fn parse_path(path: &str) -> Result<Vec<Step>> {
    let bad = || datafusion::error::DataFusionError::Execution(format!("Invalid JSON path: '{path}'"));
    let p = path.trim();
    let mut rest = p.strip_prefix('$').ok_or_else(bad)?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(bad());
            }
            steps.push(Step::Key(key.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(bad)?;
            let inner = r[..close].trim();
            if let Some(q) =
                inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')).or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            {
                steps.push(Step::Key(q.to_string()));
            } else {
                steps.push(Step::Index(inner.parse().map_err(|_| bad())?));
            }
            rest = &r[close + 1..];
        } else {
            return Err(bad());
        }
    }
    Ok(steps)
}

fn walk<'a>(mut v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    for s in steps {
        v = match (s, v) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(i), Value::Array(items)) if *i >= 0 => items.get(*i as usize)?,
            (Step::Key(k), Value::Array(items)) => items.get(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Runs `f` on the value each row's path selects (NULL where the document, path or value is).
fn extract(name: &str, a: &[ArrayRef], mut f: impl FnMut(Option<&Value>) -> Result<()>, mut null: impl FnMut()) -> Result<()> {
    let (docs, paths) = (texts(name, &a[0])?, texts(name, &a[1])?);
    let mut compiled: HashMap<String, Vec<Step>> = HashMap::new();
    for i in 0..docs.len() {
        if docs.is_null(i) || paths.is_null(i) {
            null();
            continue;
        }
        let path = paths.value(i);
        if !compiled.contains_key(path) {
            compiled.insert(path.to_string(), parse_path(path)?);
        }
        // Trino returns NULL for a document that is not valid JSON.
        match serde_json::from_str::<Value>(docs.value(i)) {
            Ok(doc) => f(walk(&doc, &compiled[path]))?,
            Err(_) => null(),
        }
    }
    Ok(())
}

fn json_extract(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let out = std::cell::RefCell::new(StringBuilder::new());
    extract(
        "json_extract",
        a,
        |v| {
            out.borrow_mut().append_option(v.map(|v| v.to_string()));
            Ok(())
        },
        || out.borrow_mut().append_null(),
    )?;
    Ok(Arc::new(out.into_inner().finish()))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_extract_scalar(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let out = std::cell::RefCell::new(StringBuilder::new());
    extract(
        "json_extract_scalar",
        a,
        |v| {
            out.borrow_mut().append_option(v.and_then(scalar_text));
            Ok(())
        },
        || out.borrow_mut().append_null(),
    )?;
    Ok(Arc::new(out.into_inner().finish()))
}

fn json_size(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let out = std::cell::RefCell::new(Int64Builder::new());
    extract(
        "json_size",
        a,
        |v| {
            out.borrow_mut().append_option(v.map(|v| match v {
                Value::Object(m) => m.len() as i64,
                Value::Array(items) => items.len() as i64,
                _ => 0,
            }));
            Ok(())
        },
        || out.borrow_mut().append_null(),
    )?;
    Ok(Arc::new(out.into_inner().finish()))
}

fn json_array_length(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let t = texts("json_array_length", &a[0])?;
    let mut out = Int64Builder::new();
    for i in 0..t.len() {
        let n = (!t.is_null(i)).then(|| serde_json::from_str::<Value>(t.value(i)).ok()).flatten().and_then(|v| v.as_array().map(|a| a.len() as i64));
        out.append_option(n);
    }
    Ok(Arc::new(out.finish()))
}

fn json_array_get(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let t = texts("json_array_get", &a[0])?;
    let idx = arg("json_array_get", &a[1], &DataType::Int64)?;
    let idx = idx.as_primitive::<Int64Type>();
    let mut out = StringBuilder::new();
    for i in 0..t.len() {
        let v = (!t.is_null(i) && idx.is_valid(i)).then(|| serde_json::from_str::<Value>(t.value(i)).ok()).flatten().and_then(|v| {
            let items = v.as_array()?;
            let k = idx.value(i);
            let at = if k < 0 { items.len().checked_sub(k.unsigned_abs() as usize)? } else { k as usize };
            items.get(at).map(|v| v.to_string())
        });
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

fn json_array_contains(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let t = texts("json_array_contains", &a[0])?;
    let needle: Vec<Option<Value>> = match a[1].data_type() {
        DataType::Boolean => {
            let b = a[1].as_boolean();
            (0..b.len()).map(|i| b.is_valid(i).then(|| Value::Bool(b.value(i)))).collect()
        }
        t if t.is_integer() => {
            let n = arg("json_array_contains", &a[1], &DataType::Int64)?;
            let n = n.as_primitive::<Int64Type>();
            (0..n.len()).map(|i| n.is_valid(i).then(|| Value::from(n.value(i)))).collect()
        }
        t if t.is_floating() || matches!(t, DataType::Decimal128(_, _)) => {
            let n = arg("json_array_contains", &a[1], &DataType::Float64)?;
            let n = n.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            (0..n.len()).map(|i| n.is_valid(i).then(|| Value::from(n.value(i)))).collect()
        }
        _ => {
            let s = texts("json_array_contains", &a[1])?;
            (0..s.len()).map(|i| s.is_valid(i).then(|| Value::String(s.value(i).to_string()))).collect()
        }
    };
    let mut out = BooleanBuilder::new();
    for (i, n) in needle.iter().enumerate() {
        let (Some(n), false) = (n, t.is_null(i)) else {
            out.append_null();
            continue;
        };
        let Some(items) = serde_json::from_str::<Value>(t.value(i)).ok().and_then(|v| v.as_array().cloned()) else {
            out.append_null();
            continue;
        };
        let found = items.iter().any(|v| match (v, n) {
            (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
            (x, y) => x == y,
        });
        out.append_value(found);
    }
    Ok(Arc::new(out.finish()))
}

fn is_json_scalar(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let t = texts("is_json_scalar", &a[0])?;
    map_rows::<BooleanArray, _>(&[&t], |i| Ok(Some(!matches!(parse("is_json_scalar", t.value(i))?, Value::Object(_) | Value::Array(_)))))
}

/// The type `__cast(value, 'type')` produces: the type named by its constant second argument.
fn cast_ret(args: &ReturnFieldArgs) -> Result<FieldRef> {
    match super::constant_string(args, 1) {
        Some(t) => crate::types::parse_type(&t).map_err(|e| datafusion::error::DataFusionError::Plan(e.to_string())),
        None => datafusion::common::plan_err!("__cast: the type must be a constant"),
    }
}

/// `CAST(value AS JSON)`: arrays become JSON arrays, maps and rows objects, text a JSON string.
fn to_json(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    if a[0].data_type().is_null() {
        return Ok(datafusion::arrow::array::new_null_array(&DataType::Utf8, a[0].len()));
    }
    map_rows::<StringArray, _>(&[&a[0]], |i| Ok(Some(scalar_to_json(&datafusion::common::ScalarValue::try_from_array(&a[0], i)?)?.to_string())))
}

fn scalar_to_json(s: &datafusion::common::ScalarValue) -> Result<Value> {
    use datafusion::common::ScalarValue as S;
    if s.is_null() {
        return Ok(Value::Null);
    }
    Ok(match s {
        S::Boolean(Some(b)) => Value::Bool(*b),
        S::Int8(Some(v)) => Value::from(*v),
        S::Int16(Some(v)) => Value::from(*v),
        S::Int32(Some(v)) => Value::from(*v),
        S::Int64(Some(v)) => Value::from(*v),
        S::UInt8(Some(v)) => Value::from(*v),
        S::UInt16(Some(v)) => Value::from(*v),
        S::UInt32(Some(v)) => Value::from(*v),
        S::UInt64(Some(v)) => Value::from(*v),
        S::Float32(Some(v)) => serde_json::Number::from_f64(*v as f64).map(Value::Number).unwrap_or(Value::Null),
        S::Float64(Some(v)) => serde_json::Number::from_f64(*v).map(Value::Number).unwrap_or(Value::Null),
        S::Decimal128(Some(_), _, _) => serde_json::from_str(&s.to_string()).unwrap_or(Value::Null),
        S::Utf8(Some(v)) | S::LargeUtf8(Some(v)) | S::Utf8View(Some(v)) => Value::String(v.clone()),
        S::List(list) => {
            let items = list.value(0);
            Value::Array(
                (0..items.len()).map(|j| scalar_to_json(&datafusion::common::ScalarValue::try_from_array(&items, j)?)).collect::<Result<_>>()?,
            )
        }
        S::Map(map) => {
            let entries = map.value(0);
            let mut pairs: Vec<(String, Value)> = Vec::new();
            for j in 0..entries.len() {
                let k = datafusion::common::ScalarValue::try_from_array(entries.column(0), j)?;
                let key = match scalar_to_json(&k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                pairs.push((key, scalar_to_json(&datafusion::common::ScalarValue::try_from_array(entries.column(1), j)?)?));
            }
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(pairs.into_iter().collect())
        }
        S::Struct(st) => {
            let mut obj = serde_json::Map::new();
            for (f, c) in st.fields().iter().zip(st.columns()) {
                obj.insert(f.name().clone(), scalar_to_json(&datafusion::common::ScalarValue::try_from_array(c, 0)?)?);
            }
            Value::Object(obj)
        }
        other => {
            // Dates, timestamps and the rest: as Athena renders them.
            let array = other.to_array()?;
            let rendered = crate::render::render_column(&array).map_err(|e| datafusion::error::DataFusionError::Execution(e.to_string()))?;
            rendered.into_iter().next().flatten().map(Value::String).unwrap_or(Value::Null)
        }
    })
}

/// `CAST(json AS type)`, and casts of text to arrays, maps and rows, which read the text as JSON.
fn cast_json(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let value = &a[0];
    if !super::is_string(value.data_type()) {
        return arg("cast", value, t);
    }
    let texts = texts("cast", value)?;
    let mut scalars = Vec::with_capacity(texts.len());
    for i in 0..texts.len() {
        if texts.is_null(i) {
            scalars.push(datafusion::common::ScalarValue::try_from(t)?);
            continue;
        }
        let v = parse("cast", texts.value(i))?;
        scalars.push(
            json_to_scalar(&v, t)
                .map_err(|e| datafusion::error::DataFusionError::Execution(format!("Cannot cast '{}' to {t}: {e}", texts.value(i))))?,
        );
    }
    if scalars.is_empty() {
        return Ok(datafusion::arrow::array::new_empty_array(t));
    }
    datafusion::common::ScalarValue::iter_to_array(scalars)
}

fn json_to_scalar(v: &Value, t: &DataType) -> Result<datafusion::common::ScalarValue> {
    use datafusion::common::ScalarValue as S;
    let bad = || datafusion::error::DataFusionError::Execution(format!("cannot cast {v} to {t}"));
    if v.is_null() {
        return S::try_from(t);
    }
    Ok(match t {
        DataType::Boolean => S::Boolean(Some(match v {
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => s.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        })),
        DataType::Utf8 => S::Utf8(Some(match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(bad()),
        })),
        t if t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(_, _)) => {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                Value::Bool(b) => u8::from(*b).to_string(),
                _ => return Err(bad()),
            };
            let as_text: ArrayRef = Arc::new(StringArray::from(vec![text]));
            let cast = datafusion::arrow::compute::cast_with_options(
                &as_text,
                t,
                &datafusion::arrow::compute::CastOptions { safe: false, ..Default::default() },
            )?;
            S::try_from_array(&cast, 0)?
        }
        DataType::List(f) => {
            let Value::Array(items) = v else { return Err(bad()) };
            let items: Vec<S> = items.iter().map(|x| json_to_scalar(x, f.data_type())).collect::<Result<_>>()?;
            S::List(S::new_list(&items, f.data_type(), true))
        }
        DataType::Map(entries, _) => {
            let (Value::Object(obj), DataType::Struct(kv)) = (v, entries.data_type()) else { return Err(bad()) };
            let keys: Vec<S> = obj.keys().map(|k| json_to_scalar(&Value::String(k.clone()), kv[0].data_type())).collect::<Result<_>>()?;
            let values: Vec<S> = obj.values().map(|x| json_to_scalar(x, kv[1].data_type())).collect::<Result<_>>()?;
            let keys = if keys.is_empty() { datafusion::arrow::array::new_empty_array(kv[0].data_type()) } else { S::iter_to_array(keys)? };
            let values = if values.is_empty() { datafusion::arrow::array::new_empty_array(kv[1].data_type()) } else { S::iter_to_array(values)? };
            let st = datafusion::arrow::array::StructArray::try_new(kv.clone(), vec![keys, values], None)?;
            let map = datafusion::arrow::array::MapArray::try_new(
                entries.clone(),
                datafusion::arrow::buffer::OffsetBuffer::from_lengths([obj.len()]),
                st,
                None,
                false,
            )?;
            S::Map(Arc::new(map))
        }
        DataType::Struct(fields) => {
            let mut columns = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                let item = match v {
                    Value::Object(obj) => obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(f.name())).map(|(_, x)| x.clone()),
                    Value::Array(items) => items.get(i).cloned(),
                    _ => return Err(bad()),
                };
                columns.push(json_to_scalar(&item.unwrap_or(Value::Null), f.data_type())?.to_array()?);
            }
            S::Struct(Arc::new(datafusion::arrow::array::StructArray::try_new(fields.clone(), columns, None)?))
        }
        other => {
            let Value::String(s) = v else { return Err(bad()) };
            let as_text: ArrayRef = Arc::new(StringArray::from(vec![s.clone()]));
            S::try_from_array(&arg("cast", &as_text, other)?, 0)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_walk() {
        let doc: Value = serde_json::from_str(r#"{"store": {"book": [{"title": "A"}, {"title": "B"}]}, "a b": 1}"#).unwrap();
        let at = |p: &str| walk(&doc, &parse_path(p).unwrap()).cloned();
        assert_eq!(at("$.store.book[1].title"), Some(Value::String("B".into())));
        assert_eq!(at("$[\"a b\"]"), Some(Value::from(1)));
        assert_eq!(at("$.store.missing"), None);
        assert!(parse_path("store").is_err());
    }

    #[test]
    fn canonical_sorts_keys() {
        let v = canonical(serde_json::from_str(r#"{"b": 1, "a": {"d": [2.0, 1], "c": null}}"#).unwrap());
        assert_eq!(v.to_string(), r#"{"a":{"c":null,"d":[2.0,1]},"b":1}"#);
    }
}
