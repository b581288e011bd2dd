//! Schema inference from file contents, the way Glue's built-in classifiers do it: Parquet from
//! its footer, JSON lines, and CSV-like text with delimiter and header detection, each possibly
//! gzip- or bzip2-compressed. Text is sampled (the first megabyte); what a sample cannot decide
//! stays the widest type.

use std::io::Read;

use serde::{Deserialize, Serialize};

/// A type the crawler infers, rendered as a Hive type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ty {
    /// Only NULLs or empty values seen: rendered as `string`.
    Unknown,
    Boolean,
    BigInt,
    Double,
    Date,
    Timestamp,
    String,
    Array(Box<Ty>),
    Struct(Vec<(String, Ty)>),
    /// A type read from a file's own schema (Parquet), kept as written.
    Hive(String),
}

impl Ty {
    /// The narrowest type that holds both.
    pub fn merge(self, other: Ty) -> Ty {
        use Ty::*;
        match (self, other) {
            (Unknown, t) | (t, Unknown) => t,
            (a, b) if a == b => a,
            (BigInt, Double) | (Double, BigInt) => Double,
            (Array(a), Array(b)) => Array(Box::new(a.merge(*b))),
            (Struct(a), Struct(b)) => {
                let mut fields = a;
                for (name, t) in b {
                    match fields.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, existing)) => *existing = std::mem::replace(existing, Unknown).merge(t),
                        None => fields.push((name, t)),
                    }
                }
                Struct(fields)
            }
            (Hive(a), Hive(b)) => Hive(widen_hive(&a, &b)),
            _ => String,
        }
    }

    pub fn hive(&self) -> std::string::String {
        match self {
            Ty::Unknown | Ty::String => "string".into(),
            Ty::Boolean => "boolean".into(),
            Ty::BigInt => "bigint".into(),
            Ty::Double => "double".into(),
            Ty::Date => "date".into(),
            Ty::Timestamp => "timestamp".into(),
            Ty::Array(t) => format!("array<{}>", t.hive()),
            Ty::Struct(fields) => format!("struct<{}>", fields.iter().map(|(n, t)| format!("{n}:{}", t.hive())).collect::<Vec<_>>().join(",")),
            Ty::Hive(h) => h.clone(),
        }
    }
}

/// Two file-declared types: the same, a wider integer or float, else string.
fn widen_hive(a: &str, b: &str) -> std::string::String {
    const INTS: [&str; 4] = ["tinyint", "smallint", "int", "bigint"];
    let rank = |t: &str| INTS.iter().position(|i| *i == t);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => INTS[x.max(y)].into(),
        _ if matches!((a, b), ("float", "double") | ("double", "float")) => "double".into(),
        _ if (rank(a).is_some() || a == "float" || a == "double") && (rank(b).is_some() || b == "float" || b == "double") => "double".into(),
        _ => "string".into(),
    }
}

/// The type of one text value (a CSV field, a JSON string), as Glue's classifiers read them.
pub fn scalar(value: &str) -> Ty {
    let v = value.trim();
    if v.is_empty() {
        return Ty::Unknown;
    }
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
        return Ty::Boolean;
    }
    let digits = v.strip_prefix('-').unwrap_or(v);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return if v.parse::<i64>().is_ok() { Ty::BigInt } else { Ty::Double };
    }
    let numeric = v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if numeric && v.bytes().any(|b| b.is_ascii_digit()) && v.parse::<f64>().is_ok_and(f64::is_finite) {
        return Ty::Double;
    }
    if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() {
        return Ty::Date;
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if chrono::NaiveDateTime::parse_from_str(v, f).is_ok() {
            return Ty::Timestamp;
        }
    }
    if chrono::DateTime::parse_from_rfc3339(v).is_ok() {
        return Ty::Timestamp;
    }
    Ty::String
}

/// How a file is compressed, from its first bytes (or its name, when those say nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
}

impl Compression {
    pub fn detect(head: &[u8], name: &str) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) || (head.is_empty() && name.ends_with(".gz")) {
            Compression::Gzip
        } else if head.starts_with(b"BZh") || (head.is_empty() && name.ends_with(".bz2")) {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    /// Glue's `compressionType` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
        }
    }

    /// Decompresses what it can of a sample. A sample cut off mid-stream yields the text up to
    /// the cut; `complete` says whether the whole stream was decoded.
    pub fn decode(self, bytes: &[u8], limit: usize) -> Result<(Vec<u8>, bool), std::string::String> {
        let mut reader: Box<dyn Read> = match self {
            Compression::None => return Ok((bytes.to_vec(), true)),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(bytes)),
        };
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok((out, true)),
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.len() >= limit {
                        return Ok((out, false));
                    }
                }
                // The sample ends mid-stream: keep what was decoded.
                Err(_) if !out.is_empty() => return Ok((out, false)),
                Err(e) => return Err(format!("cannot decompress ({}): {e}", self.name())),
            }
        }
    }
}

/// What inference found in one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSchema {
    /// Glue's `classification`: `csv`, `json` or `parquet`.
    pub classification: std::string::String,
    pub compression: Compression,
    pub columns: Vec<(std::string::String, Ty)>,
    /// CSV only: the delimiter, whether the first row is a header, whether fields are quoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvLayout>,
    /// Read by a custom grok or JSON-path classifier: what the table's SerDe needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomLayout>,
    /// Records in the file: exact for Parquet and for text read whole, else estimated.
    pub records: u64,
    pub size: u64,
}

/// What a custom classifier found that a table must keep to be read as it was classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomLayout {
    /// Lines matched by a grok pattern (with the classifier's custom patterns).
    Grok { pattern: std::string::String, custom_patterns: std::string::String },
    /// JSON records found at a JSON path.
    JsonPath(std::string::String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvLayout {
    pub delimiter: char,
    pub header: bool,
    pub quoted: bool,
}

/// The delimiters Glue's CSV classifier tries, in its order.
const DELIMITERS: [u8; 5] = [b',', b'|', b'\t', b';', 0x01];
/// Records of a sample used for CSV decisions.
pub(super) const SAMPLE_RECORDS: usize = 1000;
/// Header cells longer than this (except the last) make Glue decide there is no header.
const HEADER_CELL_MAX: usize = 150;

pub(super) fn estimate(records_in_sample: u64, sample_len: usize, complete: bool, size: u64, compressed_sample: usize) -> u64 {
    if complete || sample_len == 0 {
        return records_in_sample;
    }
    // Scale by the share of the (compressed) file the sample covers.
    let share = compressed_sample as f64 / size.max(1) as f64;
    ((records_in_sample as f64) / share.max(f64::MIN_POSITIVE)).round() as u64
}

fn parse_records(text: &[u8], delimiter: u8, complete: bool) -> Vec<Vec<std::string::String>> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).double_quote(true).from_reader(text);
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => rows.push(r.iter().map(str::to_string).collect::<Vec<_>>()),
            Err(_) => break,
        }
    }
    // The last record of a cut sample may itself be cut.
    if !complete && rows.len() > 1 {
        rows.pop();
    }
    rows
}

/// Column names must be printable single-line text; Glue lowercases them.
pub(super) fn column_name(cell: &str, index: usize) -> std::string::String {
    let name = cell.trim().to_lowercase();
    if name.is_empty() || name.chars().any(|c| c.is_control()) { format!("col{}", index + 1) } else { name }
}

/// The narrowest type of each of the first `width` columns that holds every row's value.
pub(super) fn column_types(rows: &[&Vec<std::string::String>], width: usize) -> Vec<Ty> {
    let mut types = vec![Ty::Unknown; width];
    for r in rows {
        for (i, cell) in r.iter().enumerate().take(width) {
            types[i] = std::mem::replace(&mut types[i], Ty::Unknown).merge(scalar(cell));
        }
    }
    types
}

/// CSV (and TSV, pipe, semicolon, Ctrl-A separated) text.
/// What a CSV sample shows: the columns and their types, the layout, and the records read.
pub type CsvInference = (Vec<(std::string::String, Ty)>, CsvLayout, u64);

pub fn infer_csv(text: &[u8], complete: bool) -> Result<CsvInference, std::string::String> {
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let mut best: Option<(u8, Vec<Vec<std::string::String>>, usize)> = None;
    for d in DELIMITERS {
        if !text.contains(&d) {
            continue;
        }
        let rows = parse_records(text, d, complete);
        let mut counts = std::collections::HashMap::new();
        for r in rows.iter().take(SAMPLE_RECORDS) {
            *counts.entry(r.len()).or_insert(0usize) += 1;
        }
        let Some((&width, &n)) = counts.iter().max_by_key(|(w, n)| (**n, **w)) else { continue };
        if width < 2 || rows.len() < 2 {
            continue;
        }
        // A delimiter is only the delimiter if (nearly) every row agrees on the width.
        let consistent = n * 100 >= rows.len().min(SAMPLE_RECORDS) * 99;
        if consistent && best.as_ref().is_none_or(|(_, _, w)| width > *w) {
            best = Some((d, rows, width));
        }
    }
    let Some((delimiter, rows, width)) = best else {
        return Err("not CSV: no delimiter splits the rows into the same two or more columns (ragged or not delimited)".into());
    };
    let sample: Vec<&Vec<std::string::String>> = rows.iter().take(SAMPLE_RECORDS).collect();
    let first = sample[0];
    let data_types = |rows: &[&Vec<std::string::String>]| column_types(rows, width);
    let rest_types = data_types(&sample[1..]);
    // Glue's header rule: every header cell is text (not a number, boolean or date), short,
    // and the data below has at least one column that is not text.
    let header = first.len() == width
        && first.iter().all(|c| matches!(scalar(c), Ty::String | Ty::Unknown))
        && first.iter().take(width - 1).all(|c| c.chars().count() < HEADER_CELL_MAX)
        && rest_types.iter().any(|t| !matches!(t, Ty::String | Ty::Unknown));
    let (names, types) = if header {
        let mut seen = std::collections::HashSet::new();
        let names: Vec<std::string::String> = first
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = column_name(c, i);
                if seen.insert(n.clone()) { n } else { format!("{n}_{}", i + 1) }
            })
            .collect();
        (names, rest_types)
    } else {
        ((0..width).map(|i| format!("col{}", i + 1)).collect(), data_types(&sample))
    };
    let quoted = detect_quotes(text, delimiter);
    let records = rows.len() as u64 - u64::from(header);
    Ok((names.into_iter().zip(types).collect(), CsvLayout { delimiter: delimiter as char, header, quoted }, records))
}

/// Whether fields are quoted: a quote that opens a field (at a line start or after a delimiter).
fn detect_quotes(text: &[u8], delimiter: u8) -> bool {
    text.windows(2).take(1 << 20).any(|w| (w[0] == delimiter || w[0] == b'\n') && w[1] == b'"') || text.first() == Some(&b'"')
}

pub(super) fn json_type(v: &serde_json::Value) -> Ty {
    use serde_json::Value;
    match v {
        Value::Null => Ty::Unknown,
        Value::Bool(_) => Ty::Boolean,
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            if n.as_i64().is_some() {
                Ty::BigInt
            } else {
                Ty::Double
            }
        }
        Value::Number(_) => Ty::Double,
        Value::String(s) => match scalar(s) {
            t @ (Ty::Date | Ty::Timestamp) => t,
            _ => Ty::String,
        },
        Value::Array(items) => Ty::Array(Box::new(items.iter().map(json_type).fold(Ty::Unknown, Ty::merge))),
        Value::Object(m) => Ty::Struct(m.iter().map(|(k, v)| (k.to_lowercase(), json_type(v))).collect()),
    }
}

/// JSON: one object a line (or one object per file, pretty-printed).
pub fn infer_json(text: &[u8], complete: bool) -> Result<(Vec<(std::string::String, Ty)>, u64), std::string::String> {
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let mut merged = Ty::Struct(Vec::new());
    let mut records = 0u64;
    let stream = serde_json::Deserializer::from_slice(text).into_iter::<serde_json::Value>();
    for (i, value) in stream.enumerate() {
        match value {
            Ok(v @ serde_json::Value::Object(_)) => {
                merged = merged.merge(json_type(&v));
                records += 1;
            }
            Ok(_) => return Err(format!("not JSON lines: value {} is not an object", i + 1)),
            // A cut sample ends mid-object: what came before stands.
            Err(e) if e.is_eof() && !complete && records > 0 => break,
            Err(e) => return Err(format!("invalid JSON at value {}: {e}", i + 1)),
        }
    }
    match merged {
        Ty::Struct(fields) if records > 0 && !fields.is_empty() => Ok((fields, records)),
        _ => Err("not JSON lines: no objects".into()),
    }
}

/// Classifies and reads one text file's sample.
pub fn infer_text(name: &str, sample: &[u8], size: u64, sample_is_whole_file: bool, text_limit: usize) -> Result<FileSchema, std::string::String> {
    if size == 0 || sample.is_empty() {
        return Err("empty file".into());
    }
    let compression = Compression::detect(sample, name);
    let (text, decoded_whole) = compression.decode(sample, text_limit)?;
    let complete = sample_is_whole_file && decoded_whole;
    let first = text.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first == Some(b'{') {
        let (columns, n) = infer_json(&text, complete)?;
        let records = estimate(n, text.len(), complete, size, sample.len());
        return Ok(FileSchema { classification: "json".into(), compression, columns, csv: None, custom: None, records, size });
    }
    if text.contains(&0) && !text.contains(&1) {
        return Err("binary content that no classifier recognises".into());
    }
    let (columns, layout, n) = infer_csv(&text, complete)?;
    let records = estimate(n, text.len(), complete, size, sample.len());
    Ok(FileSchema { classification: "csv".into(), compression, columns, csv: Some(layout), custom: None, records, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[(std::string::String, Ty)]) -> Vec<(std::string::String, std::string::String)> {
        c.iter().map(|(n, t)| (n.clone(), t.hive())).collect()
    }

    #[test]
    fn scalar_types() {
        let cases = [
            ("42", "bigint"),
            ("-7", "bigint"),
            ("99999999999999999999", "double"),
            ("3.5", "double"),
            ("1e3", "double"),
            ("true", "boolean"),
            ("FALSE", "boolean"),
            ("2024-02-29", "date"),
            ("2024-02-29 10:20:30", "timestamp"),
            ("2024-02-29T10:20:30.5Z", "timestamp"),
            ("hello", "string"),
            ("12abc", "string"),
            ("", "string"),
        ];
        for (v, want) in cases {
            assert_eq!(scalar(v).hive(), want, "{v:?}");
        }
        assert_eq!(Ty::BigInt.merge(Ty::Double), Ty::Double);
        assert_eq!(Ty::Date.merge(Ty::Timestamp), Ty::String);
        assert_eq!(Ty::Unknown.merge(Ty::Boolean), Ty::Boolean);
    }

    #[test]
    fn csv_with_and_without_header() {
        let (c, layout, n) = infer_csv(b"id,name,price\n1,a,2.5\n2,b,3\n", true).unwrap();
        assert_eq!(cols(&c), [("id".into(), "bigint".into()), ("name".into(), "string".into()), ("price".into(), "double".into())]);
        assert!(layout.header && !layout.quoted && layout.delimiter == ',');
        assert_eq!(n, 2);
        let (c, layout, n) = infer_csv(b"1|a|x\n2|b|y\n", true).unwrap();
        assert_eq!(c.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["col1", "col2", "col3"]);
        assert!(!layout.header && layout.delimiter == '|');
        assert_eq!(n, 2);
        // All-text data gives the header nothing to differ from: no header, as on Glue.
        let (_, layout, _) = infer_csv(b"a,b\nx,y\nz,w\n", true).unwrap();
        assert!(!layout.header);
        let (c, layout, n) = infer_csv(b"id,text\n1,\"a, b\"\n2,\"two\nlines\"\n", true).unwrap();
        assert!(layout.quoted && layout.header);
        assert_eq!(n, 2);
        assert_eq!(c[1].1.hive(), "string");
        assert!(infer_csv(b"a,b,c\n1,2\n3,4,5,6\n7\n", true).is_err(), "ragged rows");
        assert!(infer_csv(b"just one column\nno delimiter\n", true).is_err());
    }

    #[test]
    fn json_lines_nested() {
        let (c, n) = infer_json(
            b"{\"id\": 1, \"tags\": [\"a\"], \"m\": {\"x\": 1.5}}\n{\"id\": 2, \"tags\": [], \"m\": {\"y\": true}, \"extra\": null}\n",
            true,
        )
        .unwrap();
        assert_eq!(
            cols(&c),
            [
                ("id".into(), "bigint".into()),
                ("tags".into(), "array<string>".into()),
                ("m".into(), "struct<x:double,y:boolean>".into()),
                ("extra".into(), "string".into())
            ]
        );
        assert_eq!(n, 2);
        assert!(infer_json(b"{\"a\": 1}\n{broken", true).is_err());
        assert!(infer_json(b"{\"a\": 1}\n{\"a\":", false).is_ok(), "a cut sample keeps what came before");
    }

    #[test]
    fn compressed_samples() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"a,b\n1,2\n3,4\n").unwrap();
        let gz = gz.finish().unwrap();
        let f = infer_text("x.csv.gz", &gz, gz.len() as u64, true, 1 << 20).unwrap();
        assert_eq!((f.classification.as_str(), f.compression, f.records), ("csv", Compression::Gzip, 2));
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(b"{\"k\": \"v\"}\n").unwrap();
        let bz = bz.finish().unwrap();
        let f = infer_text("x.json.bz2", &bz, bz.len() as u64, true, 1 << 20).unwrap();
        assert_eq!((f.classification.as_str(), f.compression), ("json", Compression::Bzip2));
        assert!(infer_text("empty.csv", b"", 0, true, 1 << 20).is_err());
        assert!(infer_text("garbage.gz", &[0x1f, 0x8b, 0, 0, 1, 2], 6, true, 1 << 20).is_err());
    }
}
