//! Strings, regular expressions, binary conversions and URLs, with Trino's semantics.
//!
//! Trino's regular expressions are Java's; Rust's `regex` accepts the same syntax for everything
//! but look-around and back-references, which fail with a clear error. Replacement strings use
//! Java's `$1` / `${name}` group references.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Int32Array, Int64Array, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ScalarUDF;
use regex::Regex;

use datafusion::common::utils::datafusion_strsim::levenshtein_with_buffer;

use super::{Ret, arg, func, func_aliased, map_rows};

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        func("split", &[2, 3], Ret::Fixed(|| list_of(DataType::Utf8)), split),
        func("regexp_extract", &[2, 3], Ret::Fixed(|| DataType::Utf8), regexp_extract),
        func("regexp_extract_all", &[2, 3], Ret::Fixed(|| list_of(DataType::Utf8)), regexp_extract_all),
        func("regexp_replace", &[2, 3], Ret::Fixed(|| DataType::Utf8), regexp_replace),
        func("regexp_split", &[2], Ret::Fixed(|| list_of(DataType::Utf8)), regexp_split),
        func("regexp_count", &[2], Ret::Fixed(|| DataType::Int64), regexp_count),
        func("regexp_position", &[2, 3, 4], Ret::Fixed(|| DataType::Int64), regexp_position),
        func("levenshtein_distance", &[2], Ret::Fixed(|| DataType::Int64), levenshtein_distance),
        func("hamming_distance", &[2], Ret::Fixed(|| DataType::Int64), hamming_distance),
        func("to_utf8", &[1], Ret::Fixed(|| DataType::Binary), to_utf8),
        func("to_hex", &[1], Ret::Fixed(|| DataType::Utf8), to_hex),
        func("from_hex", &[1], Ret::Fixed(|| DataType::Binary), from_hex),
        func("codepoint", &[1], Ret::Fixed(|| DataType::Int32), codepoint),
        func("concat", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], Ret::Types(concat_type), concat),
        func("from_utf8", &[1, 2], Ret::Fixed(|| DataType::Utf8), from_utf8),
        func_aliased("strpos", &["position_of"], &[2, 3], Ret::Fixed(|| DataType::Int64), strpos),
        func("url_extract_protocol", &[1], Ret::Fixed(|| DataType::Utf8), |a, _| url_part(a, UrlPart::Protocol)),
        func("url_extract_host", &[1], Ret::Fixed(|| DataType::Utf8), |a, _| url_part(a, UrlPart::Host)),
        func("url_extract_port", &[1], Ret::Fixed(|| DataType::Int64), url_extract_port),
        func("url_extract_path", &[1], Ret::Fixed(|| DataType::Utf8), |a, _| url_part(a, UrlPart::Path)),
        func("url_extract_query", &[1], Ret::Fixed(|| DataType::Utf8), |a, _| url_part(a, UrlPart::Query)),
        func("url_extract_fragment", &[1], Ret::Fixed(|| DataType::Utf8), |a, _| url_part(a, UrlPart::Fragment)),
        func("url_extract_parameter", &[2], Ret::Fixed(|| DataType::Utf8), url_extract_parameter),
        func("url_encode", &[1], Ret::Fixed(|| DataType::Utf8), url_encode),
        func("url_decode", &[1], Ret::Fixed(|| DataType::Utf8), url_decode),
    ]
}

/// Compiled patterns of one batch, by pattern text (the pattern is nearly always a constant).
#[derive(Default)]
struct Patterns(HashMap<String, Regex>);

impl Patterns {
    fn get(&mut self, name: &str, pattern: &str) -> Result<&Regex> {
        if !self.0.contains_key(pattern) {
            let re = Regex::new(pattern)
                .map_err(|e| datafusion::error::DataFusionError::Execution(format!("{name}: invalid regular expression {pattern:?}: {e}")))?;
            self.0.insert(pattern.to_string(), re);
        }
        Ok(&self.0[pattern])
    }
}

fn strings<'a>(name: &str, a: &'a ArrayRef, store: &'a mut Option<ArrayRef>) -> Result<&'a datafusion::arrow::array::StringArray> {
    *store = Some(arg(name, a, &DataType::Utf8)?);
    Ok(store.as_ref().map(|a| a.as_string::<i32>()).expect("just set"))
}

fn ints(name: &str, a: &ArrayRef) -> Result<datafusion::arrow::array::Int64Array> {
    Ok(arg(name, a, &DataType::Int64)?.as_primitive::<Int64Type>().clone())
}

/// The group a function reads: the whole match (0) or a numbered group, which must exist.
fn group_index(re: &Regex, group: i64) -> Result<usize> {
    if group < 0 || group as usize >= re.captures_len() {
        return super::invalid_argument(format!("Pattern has {} groups. Cannot access group {group}", re.captures_len() - 1));
    }
    Ok(group as usize)
}

/// `split(string, delimiter[, limit])`: the pieces, empty ones kept; with a limit, the last
/// piece holds the rest of the string.
fn split(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "split";
    let (mut s1, mut s2) = (None, None);
    let (text, delimiter) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    let limits = a.get(2).map(|l| ints(name, l)).transpose()?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..text.len() {
        if text.is_null(i) || delimiter.is_null(i) || limits.as_ref().is_some_and(|l| l.is_null(i)) {
            out.append_null();
            continue;
        }
        let (s, d) = (text.value(i), delimiter.value(i));
        if d.is_empty() {
            return exec_err!("{name}: the delimiter is empty");
        }
        match limits.as_ref().map(|l| l.value(i)) {
            Some(limit) if limit <= 0 => return exec_err!("{name}: Limit must be positive"),
            Some(limit) => s.splitn(limit as usize, d).for_each(|p| out.values().append_value(p)),
            None => s.split(d).for_each(|p| out.values().append_value(p)),
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn regexp_extract(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "regexp_extract";
    let (mut s1, mut s2) = (None, None);
    let (text, pattern) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    let groups = a.get(2).map(|g| ints(name, g)).transpose()?;
    let mut cache = Patterns::default();
    let mut args: Vec<&dyn Array> = vec![text, pattern];
    args.extend(groups.iter().map(|g| g as &dyn Array));
    map_rows::<StringArray, _>(&args, |i| {
        let re = cache.get(name, pattern.value(i))?;
        let group = group_index(re, groups.as_ref().map(|g| g.value(i)).unwrap_or(0))?;
        Ok(re.captures(text.value(i)).and_then(|c| c.get(group)).map(|m| m.as_str().to_string()))
    })
}

fn regexp_extract_all(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "regexp_extract_all";
    let (mut s1, mut s2) = (None, None);
    let (text, pattern) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    let groups = a.get(2).map(|g| ints(name, g)).transpose()?;
    let mut cache = Patterns::default();
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..text.len() {
        if text.is_null(i) || pattern.is_null(i) || groups.as_ref().is_some_and(|g| g.is_null(i)) {
            out.append_null();
            continue;
        }
        let re = cache.get(name, pattern.value(i))?;
        let group = group_index(re, groups.as_ref().map(|g| g.value(i)).unwrap_or(0))?;
        for c in re.captures_iter(text.value(i)) {
            match c.get(group) {
                Some(m) => out.values().append_value(m.as_str()),
                None => out.values().append_null(),
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

/// Java's replacement syntax in Rust's: `$1` and `${name}` refer to groups, `\$` is a dollar.
/// Rust would read `$1a` as a group named `1a`; Java reads group 1 then `a`.
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len() + 8);
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '$' => match chars.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str("${");
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        out.push(d);
                        chars.next();
                    }
                    out.push('}');
                }
                Some('{') => out.push('$'),
                _ => out.push_str("$$"),
            },
            c => out.push(c),
        }
    }
    out
}

fn regexp_replace(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "regexp_replace";
    let (mut s1, mut s2, mut s3) = (None, None, None);
    let (text, pattern) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    let replacement = a.get(2).map(|r| strings(name, r, &mut s3)).transpose()?;
    let mut cache = Patterns::default();
    let mut args: Vec<&dyn Array> = vec![text, pattern];
    args.extend(replacement.map(|r| r as &dyn Array));
    map_rows::<StringArray, _>(&args, |i| {
        let re = cache.get(name, pattern.value(i))?;
        let with = replacement.map(|r| java_replacement(r.value(i))).unwrap_or_default();
        Ok(Some(re.replace_all(text.value(i), with.as_str()).into_owned()))
    })
}

fn regexp_split(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "regexp_split";
    let (mut s1, mut s2) = (None, None);
    let (text, pattern) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    let mut cache = Patterns::default();
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..text.len() {
        if text.is_null(i) || pattern.is_null(i) {
            out.append_null();
            continue;
        }
        let re = cache.get(name, pattern.value(i))?;
        for piece in re.split(text.value(i)) {
            out.values().append_value(piece);
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn regexp_count(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "regexp_count";
    let (mut s1, mut s2) = (None, None);
    let (text, pattern) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    let mut cache = Patterns::default();
    map_rows::<Int64Array, _>(&[text, pattern], |i| Ok(Some(cache.get(name, pattern.value(i))?.find_iter(text.value(i)).count() as i64)))
}

/// `regexp_position(string, pattern[, start[, occurrence]])`: the 1-based character position of
/// the match, or -1.
fn regexp_position(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "regexp_position";
    let (mut s1, mut s2) = (None, None);
    let (text, pattern) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    let start = a.get(2).map(|x| ints(name, x)).transpose()?;
    let occurrence = a.get(3).map(|x| ints(name, x)).transpose()?;
    let mut cache = Patterns::default();
    let mut args: Vec<&dyn Array> = vec![text, pattern];
    args.extend(start.iter().chain(&occurrence).map(|x| x as &dyn Array));
    map_rows::<Int64Array, _>(&args, |i| {
        let s = text.value(i);
        let from = start.as_ref().map(|x| x.value(i)).unwrap_or(1);
        let nth = occurrence.as_ref().map(|x| x.value(i)).unwrap_or(1);
        if from < 1 {
            return exec_err!("{name}: start position must be positive, got {from}");
        }
        if nth < 1 {
            return exec_err!("{name}: occurrence must be positive, got {nth}");
        }
        let offset = s.char_indices().nth(from as usize - 1).map(|(b, _)| b);
        let found = offset
            .and_then(|o| cache.get(name, pattern.value(i)).ok().and_then(|re| re.find_iter(&s[o..]).nth(nth as usize - 1).map(|m| o + m.start())));
        Ok(Some(match found {
            Some(byte) => s[..byte].chars().count() as i64 + 1,
            None => -1,
        }))
    })
}

fn levenshtein_distance(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "levenshtein_distance";
    let (mut s1, mut s2) = (None, None);
    let (x, y) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    // DataFusion's own strsim, in characters, with one buffer for the batch.
    let mut buffer = Vec::new();
    map_rows::<Int64Array, _>(&[x, y], |i| Ok(Some(levenshtein_with_buffer(x.value(i), y.value(i), &mut buffer) as i64)))
}

fn hamming_distance(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "hamming_distance";
    let (mut s1, mut s2) = (None, None);
    let (x, y) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    map_rows::<Int64Array, _>(&[x, y], |i| {
        let (p, q): (Vec<char>, Vec<char>) = (x.value(i).chars().collect(), y.value(i).chars().collect());
        if p.len() != q.len() {
            return exec_err!("{name}: the input strings to hamming_distance function must have the same length");
        }
        Ok(Some(p.iter().zip(&q).filter(|(a, b)| a != b).count() as i64))
    })
}

fn to_utf8(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut s = None;
    let text = strings("to_utf8", &a[0], &mut s)?;
    map_rows::<BinaryArray, _>(&[text], |i| Ok(Some(text.value(i).as_bytes())))
}

/// `to_hex(varbinary)`: upper-case hexadecimal. Integers are written in hexadecimal too.
fn to_hex(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    if a[0].data_type().is_integer() {
        let n = ints("to_hex", &a[0])?;
        return map_rows::<StringArray, _>(&[&n], |i| Ok(Some(format!("{:X}", n.value(i)))));
    }
    let bytes = arg("to_hex", &a[0], &DataType::Binary)?;
    let bytes = bytes.as_binary::<i32>();
    map_rows::<StringArray, _>(&[bytes], |i| Ok(Some(bytes.value(i).iter().map(|b| format!("{b:02X}")).collect::<String>())))
}

fn from_hex(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut s = None;
    let text = strings("from_hex", &a[0], &mut s)?;
    map_rows::<BinaryArray, _>(&[text], |i| {
        let t = text.value(i);
        if t.len() % 2 != 0 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return exec_err!("from_hex: invalid hexadecimal {t:?}");
        }
        Ok(Some((0..t.len()).step_by(2).map(|j| u8::from_str_radix(&t[j..j + 2], 16).unwrap_or(0)).collect::<Vec<u8>>()))
    })
}

fn codepoint(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut s = None;
    let text = strings("codepoint", &a[0], &mut s)?;
    map_rows::<Int32Array, _>(&[text], |i| {
        let mut chars = text.value(i).chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Some(c as i32)),
            _ => exec_err!("codepoint: Input string must be a single character string"),
        }
    })
}

fn concat_type(args: &[DataType]) -> Result<DataType> {
    match args.iter().find(|t| !t.is_null()) {
        Some(t @ (DataType::List(_) | DataType::LargeList(_))) => Ok(DataType::List(match t {
            DataType::List(f) | DataType::LargeList(f) => f.clone(),
            _ => unreachable!("matched above"),
        })),
        Some(DataType::Binary | DataType::LargeBinary) => Ok(DataType::Binary),
        _ => Ok(DataType::Utf8),
    }
}

/// `concat(a, b, …)`: NULL if any argument is NULL, as Trino's (and `||`) is; strings, binary
/// strings or arrays.
fn concat(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let rows = a[0].len();
    if let DataType::List(field) = t {
        let lists: Vec<datafusion::arrow::array::ListArray> =
            a.iter().map(|x| Ok(arg("concat", x, t)?.as_list::<i32>().clone())).collect::<Result<_>>()?;
        let values: Vec<&dyn Array> = lists.iter().map(|l| l.values().as_ref()).collect();
        let all = datafusion::arrow::compute::concat(&values)?;
        let mut bases = Vec::with_capacity(lists.len());
        let mut base = 0u32;
        for l in &lists {
            bases.push(base);
            base += l.values().len() as u32;
        }
        let mut indices = Vec::new();
        let mut lengths = Vec::with_capacity(rows);
        let mut valid = Vec::with_capacity(rows);
        for i in 0..rows {
            if lists.iter().any(|l| l.is_null(i)) {
                lengths.push(0);
                valid.push(false);
                continue;
            }
            let mut n = 0;
            for (l, b) in lists.iter().zip(&bases) {
                let offsets = l.value_offsets();
                for j in offsets[i]..offsets[i + 1] {
                    indices.push(b + j as u32);
                    n += 1;
                }
            }
            lengths.push(n);
            valid.push(true);
        }
        let values = datafusion::arrow::compute::take(all.as_ref(), &datafusion::arrow::array::UInt32Array::from(indices), None)?;
        return Ok(Arc::new(datafusion::arrow::array::ListArray::try_new(
            field.clone(),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths(lengths),
            values,
            Some(valid.into()),
        )?));
    }
    if *t == DataType::Binary {
        let parts: Vec<ArrayRef> = a.iter().map(|x| arg("concat", x, &DataType::Binary)).collect::<Result<_>>()?;
        let args: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
        return map_rows::<BinaryArray, _>(&args, |i| {
            Ok(Some(parts.iter().flat_map(|p| p.as_binary::<i32>().value(i).to_vec()).collect::<Vec<u8>>()))
        });
    }
    let parts: Vec<ArrayRef> = a.iter().map(|x| arg("concat", x, &DataType::Utf8)).collect::<Result<_>>()?;
    let args: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
    map_rows::<StringArray, _>(&args, |i| Ok(Some(parts.iter().map(|p| p.as_string::<i32>().value(i)).collect::<String>())))
}

/// `from_utf8(binary[, replace])`: invalid sequences become U+FFFD, or the given replacement (a
/// string of at most one character, or a code point).
fn from_utf8(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "from_utf8";
    let bytes = arg(name, &a[0], &DataType::Binary)?;
    let bytes = bytes.as_binary::<i32>();
    let replacement: Option<ArrayRef> = match a.get(1) {
        None => None,
        Some(r) if r.data_type().is_integer() => {
            let codes = ints(name, r)?;
            Some(map_rows::<StringArray, _>(&[&codes], |i| match char::from_u32(codes.value(i) as u32) {
                Some(c) => Ok(Some(c.to_string())),
                None => exec_err!("{name}: invalid replacement character {}", codes.value(i)),
            })?)
        }
        Some(r) => Some(arg(name, r, &DataType::Utf8)?),
    };
    let replacement = replacement.as_ref().map(|r| r.as_string::<i32>());
    let mut args: Vec<&dyn Array> = vec![bytes];
    args.extend(replacement.map(|r| r as &dyn Array));
    map_rows::<StringArray, _>(&args, |i| {
        let with = replacement.map(|r| r.value(i)).unwrap_or("\u{FFFD}");
        if with.chars().count() > 1 {
            return exec_err!("{name}: replacement character string must empty or a single character");
        }
        let mut text = String::new();
        for chunk in bytes.value(i).utf8_chunks() {
            text.push_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                text.push_str(with);
            }
        }
        Ok(Some(text))
    })
}

/// `strpos(string, substring[, instance])`: 1-based character position of the n-th occurrence
/// (from the end when negative), 0 when absent.
fn strpos(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "strpos";
    let (mut s1, mut s2) = (None, None);
    let (text, needle) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    let instance = a.get(2).map(|x| ints(name, x)).transpose()?;
    let mut args: Vec<&dyn Array> = vec![text, needle];
    args.extend(instance.iter().map(|x| x as &dyn Array));
    map_rows::<Int64Array, _>(&args, |i| {
        let (s, n) = (text.value(i), needle.value(i));
        let k = instance.as_ref().map(|x| x.value(i)).unwrap_or(1);
        if k == 0 {
            return exec_err!("{name}: 'instance' must be a positive or negative number");
        }
        if n.is_empty() {
            return Ok(Some(1));
        }
        let positions: Vec<usize> = s.match_indices(n).map(|(b, _)| b).collect();
        let found = if k > 0 { positions.get(k as usize - 1) } else { positions.len().checked_sub((-k) as usize).and_then(|j| positions.get(j)) };
        Ok(Some(found.map(|b| s[..*b].chars().count() as i64 + 1).unwrap_or(0)))
    })
}

enum UrlPart {
    Protocol,
    Host,
    Path,
    Query,
    Fragment,
}

fn parse_url(s: &str) -> Option<url::Url> {
    url::Url::parse(s).ok()
}

fn url_part(a: &[ArrayRef], part: UrlPart) -> Result<ArrayRef> {
    let mut s = None;
    let text = strings("url_extract", &a[0], &mut s)?;
    map_rows::<StringArray, _>(&[text], |i| {
        Ok(parse_url(text.value(i)).and_then(|u| match part {
            UrlPart::Protocol => Some(u.scheme().to_string()),
            UrlPart::Host => u.host_str().map(str::to_string),
            UrlPart::Path => Some(u.path().to_string()),
            UrlPart::Query => u.query().map(str::to_string),
            UrlPart::Fragment => u.fragment().map(str::to_string),
        }))
    })
}

fn url_extract_port(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut s = None;
    let text = strings("url_extract_port", &a[0], &mut s)?;
    // Trino returns the port written in the URL, not the scheme's default.
    map_rows::<Int64Array, _>(&[text], |i| Ok(parse_url(text.value(i)).and_then(|u| u.port()).map(i64::from)))
}

fn url_extract_parameter(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "url_extract_parameter";
    let (mut s1, mut s2) = (None, None);
    let (text, param) = (strings(name, &a[0], &mut s1)?, strings(name, &a[1], &mut s2)?);
    map_rows::<StringArray, _>(&[text, param], |i| {
        let want = param.value(i);
        Ok(parse_url(text.value(i)).and_then(|u| {
            u.query().and_then(|q| {
                q.split('&').find_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (k == want).then(|| v.to_string())
                })
            })
        }))
    })
}

fn url_encode(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut s = None;
    let text = strings("url_encode", &a[0], &mut s)?;
    map_rows::<StringArray, _>(&[text], |i| {
        // Java's URLEncoder: letters, digits and `.-*_` stay; space becomes `+`.
        let mut enc = String::new();
        for b in text.value(i).bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => enc.push(b as char),
                b' ' => enc.push('+'),
                b => enc.push_str(&format!("%{b:02X}")),
            }
        }
        Ok(Some(enc))
    })
}

fn url_decode(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut s = None;
    let text = strings("url_decode", &a[0], &mut s)?;
    map_rows::<StringArray, _>(&[text], |i| match String::from_utf8(percent_decode(&text.value(i).replace('+', " "))) {
        Ok(v) => Ok(Some(v)),
        Err(_) => exec_err!("url_decode: the input is not valid UTF-8 once decoded"),
    })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_replacements_become_rust_ones() {
        assert_eq!(java_replacement("$1a"), "${1}a");
        assert_eq!(java_replacement("${name}!"), "${name}!");
        assert_eq!(java_replacement("\\$5"), "$$5");
        assert_eq!(java_replacement("a$"), "a$$");
    }
}
