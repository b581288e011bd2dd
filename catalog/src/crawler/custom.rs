//! Custom classifiers as a crawler applies them, before the built-in ones and in the crawler's
//! order: CSV (delimiter, quote, header, names, types), JSON records at a JSON path, and lines
//! a grok pattern matches. A classifier that does not recognise a file passes it on; XML
//! classifiers are kept in the catalog but recognise nothing here.

use serde_json::{Map, Value};

use super::infer::{
    Compression, CsvInference, CsvLayout, CustomLayout, FileSchema, SAMPLE_RECORDS, Ty, column_name, column_types, estimate, infer_text, json_type,
    scalar,
};
use crate::grok::Grok;

/// A custom CSV classifier (Glue's `CsvClassifier`), which a crawler tries before its built-in
/// ones: its delimiter and quote, whether the first row is a header (`None`: Glue's rule decides),
/// the column names it gives, whether one column is a table, and the types it may infer.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvClassifier {
    pub delimiter: u8,
    pub quote: u8,
    pub header: Option<bool>,
    pub names: Vec<String>,
    pub single_column: bool,
    /// With `CustomDatatypeConfigured`: the Glue types it may infer; any other is `string`.
    pub types: Option<Vec<String>>,
}

impl CsvClassifier {
    /// The classifier a stored `CsvClassifier` describes.
    pub fn from_glue(body: &Map<String, Value>) -> CsvClassifier {
        let text = |k: &str| body.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let byte = |k: &str, default: u8| text(k).and_then(|s| s.bytes().next()).unwrap_or(default);
        let list = |k: &str| -> Vec<String> {
            body.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
        };
        CsvClassifier {
            delimiter: byte("Delimiter", b','),
            quote: byte("QuoteSymbol", b'"'),
            header: match text("ContainsHeader") {
                Some("PRESENT") => Some(true),
                Some("ABSENT") => Some(false),
                _ => None,
            },
            names: list("Header").iter().map(|n| n.to_lowercase()).collect(),
            single_column: body.get("AllowSingleColumn").and_then(Value::as_bool).unwrap_or(false),
            types: body
                .get("CustomDatatypeConfigured")
                .and_then(Value::as_bool)
                .filter(|on| *on)
                .map(|_| list("CustomDatatypes").iter().map(|t| t.to_uppercase()).collect()),
        }
    }

    /// Reads a sample as this classifier does, if the sample is its kind of file: every row as
    /// wide as the others (and as its names, if it gives them).
    pub fn infer(&self, text: &[u8], complete: bool) -> Option<CsvInference> {
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new().delimiter(self.delimiter).quote(self.quote).has_headers(false).flexible(true).from_reader(text);
        let mut rows: Vec<Vec<String>> = Vec::new();
        for record in reader.records() {
            match record {
                Ok(r) => rows.push(r.iter().map(str::to_string).collect()),
                Err(_) => break,
            }
        }
        if !complete && rows.len() > 1 {
            rows.pop();
        }
        let width = rows.first()?.len();
        let sample: Vec<&Vec<String>> = rows.iter().take(SAMPLE_RECORDS).collect();
        let agree = sample.iter().filter(|r| r.len() == width).count();
        if agree * 100 < sample.len() * 99 || (width < 2 && !self.single_column) || (!self.names.is_empty() && self.names.len() != width) {
            return None;
        }
        let types_of = |rows: &[&Vec<String>]| column_types(rows, width);
        let rest = types_of(&sample[1..]);
        let header = self.header.unwrap_or_else(|| {
            sample[0].iter().all(|c| matches!(scalar(c), Ty::String | Ty::Unknown)) && rest.iter().any(|t| !matches!(t, Ty::String | Ty::Unknown))
        });
        let types = if header { rest } else { types_of(&sample) };
        let names: Vec<String> = if !self.names.is_empty() {
            self.names.clone()
        } else if header {
            sample[0].iter().enumerate().map(|(i, c)| column_name(c, i)).collect()
        } else {
            (0..width).map(|i| format!("col{}", i + 1)).collect()
        };
        let allowed = |t: Ty| -> Ty {
            let Some(types) = &self.types else { return t };
            let glue = match &t {
                Ty::BigInt => ["LONG", "INT", "SHORT"].as_slice(),
                Ty::Double => &["DOUBLE", "FLOAT", "DECIMAL"],
                Ty::Boolean => &["BOOLEAN"],
                Ty::Date => &["DATE"],
                Ty::Timestamp => &["TIMESTAMP"],
                _ => return t,
            };
            if glue.iter().any(|g| types.iter().any(|t| t == g)) { t } else { Ty::String }
        };
        let quoted = text.contains(&self.quote);
        let records = rows.len() as u64 - u64::from(header);
        let layout = CsvLayout { delimiter: self.delimiter as char, header, quoted };
        Some((names.into_iter().zip(types.into_iter().map(allowed)).collect(), layout, records))
    }
}

/// One of a crawler's custom classifiers, ready to apply.
#[derive(Debug, Clone)]
pub enum Custom {
    Csv(CsvClassifier),
    Json(JsonPathClassifier),
    Grok(GrokClassifier),
}

impl Custom {
    /// The classifier a stored Glue classifier describes; `None` for kinds the crawler does not
    /// apply (XML) or a grok pattern that no longer compiles.
    pub fn from_glue(record: &Map<String, Value>) -> Option<Custom> {
        if let Some(Value::Object(body)) = record.get("CsvClassifier") {
            return Some(Custom::Csv(CsvClassifier::from_glue(body)));
        }
        if let Some(Value::Object(body)) = record.get("JsonClassifier") {
            return JsonPathClassifier::parse(body.get("JsonPath")?.as_str()?).ok().map(Custom::Json);
        }
        if let Some(Value::Object(body)) = record.get("GrokClassifier") {
            let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            return GrokClassifier::new(text("Classification"), text("GrokPattern"), text("CustomPatterns")).ok().map(Custom::Grok);
        }
        None
    }
}

/// A JSON classifier: the records of a file are the objects its JSON path selects (`$[*]`: the
/// elements of a top-level array; `$.data[*]`, `$.a.b`, `$['k']`, `$.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPathClassifier {
    pub path: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
}

impl JsonPathClassifier {
    /// Parses the subset of JsonPath Glue's classifiers take.
    pub fn parse(path: &str) -> Result<JsonPathClassifier, String> {
        let bad = |why: &str| format!("JsonPath {path:?}: {why}");
        let mut rest = path.strip_prefix('$').ok_or_else(|| bad("must start with $"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix(".*") {
                steps.push(Step::All);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(bad("an empty member name"));
                }
                steps.push(Step::Field(r[..end].to_string()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(|| bad("an unclosed ["))?;
                let inner = r[..end].trim();
                steps.push(if inner == "*" {
                    Step::All
                } else if let Some(q) =
                    inner.strip_prefix('\'').and_then(|q| q.strip_suffix('\'')).or_else(|| inner.strip_prefix('"').and_then(|q| q.strip_suffix('"')))
                {
                    Step::Field(q.to_string())
                } else {
                    Step::Index(inner.parse().map_err(|_| bad("a subscript is *, a number or a quoted name"))?)
                });
                rest = &r[end + 1..];
            } else {
                return Err(bad("expected . or ["));
            }
        }
        Ok(JsonPathClassifier { path: path.to_string(), steps })
    }

    fn select<'a>(steps: &[Step], v: &'a Value, out: &mut Vec<&'a Value>) {
        let Some((step, rest)) = steps.split_first() else {
            out.push(v);
            return;
        };
        match (step, v) {
            (Step::Field(f), Value::Object(m)) => {
                if let Some(x) = m.get(f) {
                    Self::select(rest, x, out);
                }
            }
            (Step::Index(i), Value::Array(a)) => {
                if let Some(x) = a.get(*i) {
                    Self::select(rest, x, out);
                }
            }
            (Step::All, Value::Array(a)) => a.iter().for_each(|x| Self::select(rest, x, out)),
            (Step::All, Value::Object(m)) => m.values().for_each(|x| Self::select(rest, x, out)),
            _ => {}
        }
    }

    /// The records of a sample: the objects the path selects in each top-level value. A sample
    /// cut inside a top-level array (`$[*]` over a large file) keeps the elements before the cut.
    pub fn infer(&self, text: &[u8], complete: bool) -> Option<(Vec<(String, Ty)>, u64)> {
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        let array = text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        let tops: Vec<Value> = match (self.steps.first(), complete && array) {
            (Some(Step::All), false) if array => array_elements(text)?,
            _ => {
                let mut values = Vec::new();
                for v in serde_json::Deserializer::from_slice(text).into_iter::<Value>() {
                    match v {
                        Ok(v) => values.push(v),
                        Err(e) if e.is_eof() && !complete && !values.is_empty() => break,
                        Err(_) => return None,
                    }
                }
                values
            }
        };
        let (steps, roots): (&[Step], Vec<&Value>) = match (self.steps.first(), complete) {
            (Some(Step::All), false) if array => (&self.steps[1..], tops.iter().collect()),
            _ => (&self.steps[..], tops.iter().collect()),
        };
        let mut records = Vec::new();
        for root in roots {
            Self::select(steps, root, &mut records);
        }
        if records.is_empty() || !records.iter().all(|r| r.is_object()) {
            return None;
        }
        let merged = records.iter().map(|r| json_type(r)).fold(Ty::Struct(Vec::new()), Ty::merge);
        match merged {
            Ty::Struct(fields) if !fields.is_empty() => Some((fields, records.len() as u64)),
            _ => None,
        }
    }
}

/// The whole elements of a top-level array at the start of a (possibly cut) text.
fn array_elements(text: &[u8]) -> Option<Vec<Value>> {
    let skip = |at: usize| at + text[at.min(text.len())..].iter().take_while(|b| b.is_ascii_whitespace()).count();
    let mut at = skip(0);
    if text.get(at) != Some(&b'[') {
        return None;
    }
    at += 1;
    let mut out = Vec::new();
    loop {
        at = skip(at);
        if matches!(text.get(at), None | Some(b']')) {
            return Some(out);
        }
        let mut stream = serde_json::Deserializer::from_slice(&text[at..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) if e.is_eof() && !out.is_empty() => return Some(out),
            _ => return None,
        }
        at = skip(at + stream.byte_offset());
        match text.get(at) {
            Some(b',') => at += 1,
            Some(b']') | None => return Some(out),
            _ => return None,
        }
    }
}

/// A grok classifier: a file is its kind when every line of the sample matches its pattern.
#[derive(Debug, Clone)]
pub struct GrokClassifier {
    pub classification: String,
    pub pattern: String,
    pub custom_patterns: String,
    grok: Grok,
}

impl GrokClassifier {
    pub fn new(classification: String, pattern: String, custom_patterns: String) -> Result<GrokClassifier, String> {
        let grok = Grok::compile(&pattern, &custom_patterns)?;
        Ok(GrokClassifier { classification, pattern, custom_patterns, grok })
    }

    /// The columns, and the records of the sample, if every (whole) line matches.
    pub fn infer(&self, text: &[u8], complete: bool) -> Option<(Vec<(String, Ty)>, u64)> {
        let text = std::str::from_utf8(text).ok().or_else(|| {
            // A sample may be cut inside a character.
            let valid = std::str::from_utf8(text).err()?.valid_up_to();
            (!complete).then(|| std::str::from_utf8(&text[..valid]).ok()).flatten()
        })?;
        let mut lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
        if !complete && lines.len() > 1 {
            lines.pop();
        }
        let lines: Vec<&str> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() || !lines.iter().take(SAMPLE_RECORDS).all(|l| self.grok.parse(l).is_some()) {
            return None;
        }
        let columns = self.grok.columns.iter().map(|(n, t)| (n.clone(), Ty::Hive(t.clone()))).collect();
        Some((columns, lines.len() as u64))
    }
}

/// Classifies and reads one text file's sample, trying the crawler's own classifiers first.
pub fn infer_text_with(
    name: &str,
    sample: &[u8],
    size: u64,
    sample_is_whole_file: bool,
    text_limit: usize,
    custom: &[Custom],
) -> Result<FileSchema, String> {
    if !custom.is_empty() && size > 0 && !sample.is_empty() {
        let compression = Compression::detect(sample, name);
        let (text, decoded_whole) = compression.decode(sample, text_limit)?;
        let complete = sample_is_whole_file && decoded_whole;
        let schema = |classification: &str, columns, csv, custom, n| {
            let records = estimate(n, text.len(), complete, size, sample.len());
            Ok(FileSchema { classification: classification.into(), compression, columns, csv, custom, records, size })
        };
        for c in custom {
            match c {
                Custom::Csv(c) => {
                    if let Some((columns, layout, n)) = c.infer(&text, complete) {
                        return schema("csv", columns, Some(layout), None, n);
                    }
                }
                Custom::Json(j) => {
                    if let Some((columns, n)) = j.infer(&text, complete) {
                        return schema("json", columns, None, Some(CustomLayout::JsonPath(j.path.clone())), n);
                    }
                }
                Custom::Grok(g) => {
                    if let Some((columns, n)) = g.infer(&text, complete) {
                        let layout = CustomLayout::Grok { pattern: g.pattern.clone(), custom_patterns: g.custom_patterns.clone() };
                        return schema(&g.classification, columns, None, Some(layout), n);
                    }
                }
            }
        }
    }
    infer_text(name, sample, size, sample_is_whole_file, text_limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: &[(String, Ty)]) -> Vec<(String, String)> {
        c.iter().map(|(n, t)| (n.clone(), t.hive())).collect()
    }

    #[test]
    fn json_paths() {
        let top = JsonPathClassifier::parse("$[*]").unwrap();
        let (c, n) = top.infer(b"[{\"id\": 1, \"name\": \"a\"},\n {\"id\": 2, \"extra\": true}]", true).unwrap();
        assert_eq!(names(&c), [("id".into(), "bigint".into()), ("name".into(), "string".into()), ("extra".into(), "boolean".into())]);
        assert_eq!(n, 2);
        // A cut sample keeps the whole elements before the cut.
        let (_, n) = top.infer(b"[{\"id\": 1}, {\"id\": 2}, {\"id\"", false).unwrap();
        assert_eq!(n, 2);
        let nested = JsonPathClassifier::parse("$.data['rows'][*]").unwrap();
        let (c, n) = nested.infer(b"{\"data\": {\"rows\": [{\"x\": 1.5}, {\"x\": 2}]}, \"meta\": 1}", true).unwrap();
        assert_eq!((names(&c), n), (vec![("x".into(), "double".into())], 2));
        // JSON lines, each record's member.
        let member = JsonPathClassifier::parse("$.payload").unwrap();
        let (c, n) = member.infer(b"{\"payload\": {\"a\": 1}}\n{\"payload\": {\"b\": \"x\"}}\n", true).unwrap();
        assert_eq!((c.len(), n), (2, 2));
        assert!(top.infer(b"{\"id\": 1}", true).is_none(), "no array at the root");
        // `$.*` over a cut sample of an object of records: the object's members, streamed.
        let members = JsonPathClassifier::parse("$.*").unwrap();
        let (c, n) = members.infer(b"{\"a\": {\"x\": 1}, \"b\": {\"x\": 2}}\n{\"c\": {\"x\"", false).unwrap();
        assert_eq!((c.len(), n), (1, 2));
        assert!(top.infer(b"[1, 2]", true).is_none(), "elements that are not records");
        for bad in ["data", "$.", "$[", "$[x]"] {
            assert!(JsonPathClassifier::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grok_lines() {
        let g = GrokClassifier::new("app".into(), "%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{GREEDYDATA:msg}".into(), String::new()).unwrap();
        let (c, n) = g.infer(b"2024-01-01T00:00:00Z INFO started\n2024-01-01T00:00:01Z WARN slow\n", true).unwrap();
        assert_eq!(names(&c).iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["ts", "level", "msg"]);
        assert_eq!(n, 2);
        assert!(g.infer(b"2024-01-01T00:00:00Z INFO started\nnot a log line\n", true).is_none());
        let cut = g.infer(b"2024-01-01T00:00:00Z INFO started\n2024-01-01T00:0", false).unwrap();
        assert_eq!(cut.1, 1);
    }
}
