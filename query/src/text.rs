//! Delimited text read the way Hive's LazySimpleSerDe reads it: a field is converted to its
//! column's type, a field that does not convert is NULL rather than an error, `\N` (or
//! `serialization.null.format`) is NULL, and arrays, maps and structs are split on the collection
//! (`\x02`) and map-key (`\x03`) delimiters. With an escape character (`ESCAPED BY`), an escaped
//! delimiter is text, and the escape is removed from values. An empty field converts to '' in a
//! string column, to an empty array or map in a collection column and to NULL in any other; a
//! field the record lacks is NULL.
//!
//! [`from_fields`] converts a batch's fields of one column, given as the bytes of their text
//! (escapes kept): strings, numbers, decimals, dates and booleans straight from those bytes into
//! the column's array, with the rules Arrow's casts from text follow (so a value reads the same
//! whichever way it reaches a column); other types through a string array and [`convert`].

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, ListArray, MapArray, PrimitiveArray, StringArray, StringBuilder, StringViewBuilder,
    StructArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::kernels::cast_utils::Parser;
use datafusion::arrow::compute::{CastOptions, cast_with_options, parse_string_to_decimal_native};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, DecimalType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::common::{Result, exec_err};

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

/// Where a field's text lies in a batch's text: `None` for a field the record lacks.
pub(crate) type Span = Option<(usize, usize)>;

/// The text of a batch's fields, back to back, checked for UTF-8 once.
pub(crate) struct FieldText<'a> {
    data: &'a [u8],
    utf8: Option<&'a str>,
}

impl<'a> FieldText<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        FieldText { data, utf8: std::str::from_utf8(data).ok() }
    }

    /// A field's text as it is stored; bytes that are not UTF-8 read as U+FFFD.
    fn raw(&self, (start, end): (usize, usize)) -> Cow<'a, str> {
        match self.utf8.and_then(|t| t.get(start..end)) {
            Some(s) => Cow::Borrowed(s),
            None => String::from_utf8_lossy(&self.data[start..end]),
        }
    }

    /// A field's value: NULL when the record lacks it or it is the NULL marker, else its text
    /// without escapes.
    fn value(&self, span: &Span, options: &TextOptions) -> Option<Cow<'a, str>> {
        let (start, end) = (*span)?;
        if options.null.as_deref().is_some_and(|m| m.as_bytes() == &self.data[start..end]) {
            return None;
        }
        let raw = self.raw((start, end));
        Some(match options.escape {
            Some(e) if raw.contains(e) => Cow::Owned(unescape(&raw, Some(e))),
            _ => raw,
        })
    }
}

/// A batch's fields of one column, converted to `to`: the same values [`convert`] makes of their
/// text, without making the text a string array first where the type allows.
pub(crate) fn from_fields(text: &FieldText<'_>, spans: &[Span], to: &DataType, options: &TextOptions) -> Result<ArrayRef> {
    fn parsed<P: ArrowPrimitiveType + Parser>(text: &FieldText<'_>, spans: &[Span], options: &TextOptions) -> ArrayRef {
        Arc::new(spans.iter().map(|s| text.value(s, options).and_then(|v| P::parse(&v))).collect::<PrimitiveArray<P>>())
    }
    Ok(match to {
        DataType::Utf8 => {
            let mut b = StringBuilder::with_capacity(spans.len(), spans.iter().flatten().map(|(s, e)| e - s).sum());
            spans.iter().for_each(|s| b.append_option(text.value(s, options)));
            Arc::new(b.finish())
        }
        DataType::Utf8View => {
            let mut b = StringViewBuilder::with_capacity(spans.len());
            spans.iter().for_each(|s| b.append_option(text.value(s, options)));
            Arc::new(b.finish())
        }
        DataType::Int8 => parsed::<Int8Type>(text, spans, options),
        DataType::Int16 => parsed::<Int16Type>(text, spans, options),
        DataType::Int32 => parsed::<Int32Type>(text, spans, options),
        DataType::Int64 => parsed::<Int64Type>(text, spans, options),
        DataType::UInt8 => parsed::<UInt8Type>(text, spans, options),
        DataType::UInt16 => parsed::<UInt16Type>(text, spans, options),
        DataType::UInt32 => parsed::<UInt32Type>(text, spans, options),
        DataType::UInt64 => parsed::<UInt64Type>(text, spans, options),
        DataType::Float32 => parsed::<Float32Type>(text, spans, options),
        DataType::Float64 => parsed::<Float64Type>(text, spans, options),
        DataType::Date32 => parsed::<Date32Type>(text, spans, options),
        DataType::Decimal128(precision, scale) if *scale >= 0 => {
            let values: PrimitiveArray<Decimal128Type> = spans
                .iter()
                .map(|s| {
                    text.value(s, options)
                        .and_then(|v| decimal(&v, *scale as usize))
                        .filter(|v| Decimal128Type::is_valid_decimal_precision(*v, *precision))
                })
                .collect();
            Arc::new(values.with_precision_and_scale(*precision, *scale)?)
        }
        DataType::Boolean => Arc::new(spans.iter().map(|s| text.value(s, options).and_then(|v| boolean(&v))).collect::<BooleanArray>()),
        _ => {
            let raw: StringArray = spans.iter().map(|s| s.map(|s| text.raw(s))).collect();
            convert(&raw, to, options, 0)?
        }
    })
}

/// Hive's booleans: `true` or `false` in any case, blanks around allowed.
fn boolean(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A decimal's unscaled value at `scale`, as Arrow's cast from text makes it
/// (`parse_string_to_decimal_native`: blanks trimmed, a sign, digits with at most one point,
/// digits past the scale rounded half away from zero), in one pass without allocating; text with
/// other than ASCII at its ends, or too long for that to be plainly right, goes to Arrow's.
fn decimal(s: &str, scale: usize) -> Option<i128> {
    if let Some(v) = plain_decimal(s.as_bytes(), scale) {
        return Some(v);
    }
    // What `str::trim` trims, within ASCII.
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let b = s.as_bytes();
    if b.len() > 70 || !b.first().is_some_and(u8::is_ascii) || !b.last().is_some_and(u8::is_ascii) {
        return parse_string_to_decimal_native::<Decimal128Type>(s, scale).ok();
    }
    let start = b.iter().position(|c| !blank(c))?;
    let end = b.iter().rposition(|c| !blank(c)).map_or(start, |e| e + 1);
    let t = &b[start..end];
    let (negative, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mut v, mut int_digits, mut dec_digits, mut point, mut round_up) = (0i128, 0usize, 0usize, false, false);
    // Digits taken into `v` from its first that is not 0: up to 38 cannot overflow it, so the
    // arithmetic needs no check (a checked multiplication of i128 is a call).
    let mut significant = 0;
    for &c in digits {
        match c {
            b'0'..=b'9' if !point || dec_digits < scale => {
                if v != 0 || c != b'0' {
                    significant += 1;
                    if significant > 38 {
                        return parse_string_to_decimal_native::<Decimal128Type>(s, scale).ok();
                    }
                }
                v = v * 10 + i128::from(c - b'0');
                if point {
                    dec_digits += 1;
                } else {
                    int_digits += 1;
                }
            }
            b'0'..=b'9' => {
                // The first digit past the scale decides the rounding.
                if dec_digits == scale {
                    round_up = c >= b'5';
                }
                dec_digits += 1;
            }
            b'.' if !point => point = true,
            _ => return None,
        }
    }
    if int_digits == 0 && dec_digits == 0 {
        return None;
    }
    for _ in dec_digits.min(scale)..scale {
        v = v.checked_mul(10)?;
    }
    if round_up {
        v = v.checked_add(1)?;
    }
    Some(if negative { -v } else { v })
}

/// The common case of [`decimal`], in 64 bits: an optional sign, then at most 19 digits with at
/// most one point and at most `scale` digits after it (nothing to round). `None` for anything
/// else, which [`decimal`] reads its general way.
fn plain_decimal(b: &[u8], scale: usize) -> Option<i128> {
    let (negative, b) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let (mut v, mut point) = (0u64, None);
    for (k, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => v = v * 10 + u64::from(c - b'0'),
            b'.' if point.is_none() => point = Some(k),
            _ => return None,
        }
    }
    let decimals = point.map_or(0, |p| b.len() - p - 1);
    if b.len() == point.is_some() as usize || decimals > scale {
        return None;
    }
    let v = i128::from(v).checked_mul(10i128.checked_pow((scale - decimals) as u32)?)?;
    Some(if negative { -v } else { v })
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

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Field;

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

    /// Every type read straight from the fields gives what the string array's conversion gives.
    #[test]
    fn fields_read_straight_as_the_strings_convert() {
        let samples = [
            "1",
            "-1",
            "+1",
            " 1",
            "1 ",
            "007",
            "1.0",
            "1.",
            ".5",
            "-.5",
            "+.5",
            "-",
            "+",
            ".",
            "",
            "x",
            "1e3",
            "1E-2",
            "1_0",
            "1.2.3",
            "1+2",
            "12a",
            "0.005",
            "0.015",
            "-0.005",
            "2.675",
            "123456789.123456789",
            "99999999999999999999999999999999999999",
            "0000000000000000000000000000000000000000000001.5",
            "-9999999999999999999",
            "123456789012345678.9",
            "18446744073709551615",
            "18446744073709551616.25",
            "9999999999999999999999999999999999999.95",
            "-99999999999999999999999999999999999999.4",
            "170141183460469231731687303715884105727",
            "-170141183460469231731687303715884105728",
            "127",
            "128",
            "-129",
            "255",
            "256",
            "65536",
            "4294967296",
            "9223372036854775808",
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "1.7976931348623157e309",
            "3.4e39",
            "2024-02-29",
            "2023-02-29",
            "2024-1-5",
            "2024-01-05T10:00:00",
            " 2024-01-05",
            "+002024-01-05",
            "1970-01-01",
            "-0001-01-01",
            "TRUE",
            "false",
            " True ",
            "t",
            "yes",
            "0",
            "\\N",
            "\\Nx",
            "a\\,b",
            "1\\.5",
            "caf\u{e9}",
            "\u{a0}1\u{a0}",
            "\u{b}2.5",
            "2.5\u{85}",
            "\t-0.125\n",
            "   ",
            "1.99999",
            "9.995",
            "-9.995",
            "0.5",
            "-0.5",
            "1.",
            "00.00",
        ];
        let mut data = Vec::new();
        let mut spans: Vec<Span> = samples
            .iter()
            .map(|v| {
                data.extend_from_slice(v.as_bytes());
                Some((data.len() - v.len(), data.len()))
            })
            .collect();
        spans.push(None);
        let text = FieldText::new(&data);
        let types = [
            DataType::Utf8,
            DataType::Utf8View,
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::UInt8,
            DataType::UInt64,
            DataType::Float32,
            DataType::Float64,
            DataType::Date32,
            DataType::Decimal128(38, 0),
            DataType::Decimal128(38, 2),
            DataType::Decimal128(15, 2),
            DataType::Decimal128(5, 3),
            DataType::Decimal128(10, 10),
            DataType::Boolean,
        ];
        let strings: StringArray = spans.iter().map(|s| s.map(|s| text.raw(s))).collect();
        for escape in [None, Some('\\')] {
            let options = TextOptions { escape, ..Default::default() };
            for t in &types {
                let straight = from_fields(&text, &spans, t, &options).unwrap();
                let converted = convert(&strings, t, &options, 0).unwrap();
                assert_eq!(straight.data_type(), converted.data_type());
                for i in 0..spans.len() {
                    let show = |a: &ArrayRef| datafusion::arrow::util::display::array_value_to_string(a, i).unwrap();
                    assert_eq!(
                        (straight.is_null(i), show(&straight)),
                        (converted.is_null(i), show(&converted)),
                        "{t} from {:?} (escape {escape:?})",
                        samples.get(i)
                    );
                }
            }
        }
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
