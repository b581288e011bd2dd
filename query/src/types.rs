//! Types across the three worlds: Hive type strings in the catalog, Arrow types in DataFusion, and
//! the type names and value renderings Athena puts on the wire.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};

/// Parses a Hive type (`int`, `decimal(10,2)`, `array<struct<a:int,b:string>>`, …) into Arrow.
pub fn hive_to_arrow(hive: &str) -> Result<DataType> {
    Ok(parse_type(hive)?.data_type().clone())
}

/// Parses a type in Hive's syntax or Trino's (`array(row(a bigint, b varchar))`,
/// `map(varchar, integer)`, `timestamp(3) with time zone`, `json`) into an Arrow field. JSON is
/// text whose field carries the `arrow.json` extension name.
pub fn parse_type(text: &str) -> Result<FieldRef> {
    let mut p = Parser { s: text.trim().to_ascii_lowercase(), pos: 0 };
    if p.s == "json" {
        return Ok(crate::functions::json::json_field("json"));
    }
    let t = p.parse()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(Error::InvalidInput(format!("Unknown type: {text}")));
    }
    Ok(Arc::new(Field::new("type", t, true)))
}

struct Parser {
    s: String,
    pos: usize,
}

impl Parser {
    fn skip_ws(&mut self) {
        while self.s[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
        if self.s[self.pos..].starts_with('"') || self.s[self.pos..].starts_with('`') {
            let q = self.s[self.pos..].chars().next().unwrap_or('"');
            let rest = &self.s[self.pos + 1..];
            let end = rest.find(q).unwrap_or(rest.len());
            let w = rest[..end].to_string();
            self.pos = (self.pos + 1 + end + 1).min(self.s.len());
            return w;
        }
        let start = self.pos;
        while let Some(c) = self.s[self.pos..].chars().next() {
            if c.is_ascii_alphanumeric() || c == '_' {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        self.s[start..self.pos].to_string()
    }

    fn peek_word(&mut self) -> String {
        let at = self.pos;
        let w = self.word();
        self.pos = at;
        w
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.s[self.pos..].starts_with(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<()> {
        if self.eat(c) { Ok(()) } else { Err(Error::InvalidInput(format!("malformed type {:?}: expected {c:?}", self.s))) }
    }

    fn number(&mut self) -> Result<u32> {
        let w = self.word();
        w.parse().map_err(|_| Error::InvalidInput(format!("malformed type {:?}", self.s)))
    }

    /// `(` or `<`, and the bracket that closes it.
    fn open(&mut self) -> Result<char> {
        if self.eat('(') {
            Ok(')')
        } else if self.eat('<') {
            Ok('>')
        } else {
            Err(Error::InvalidInput(format!("malformed type {:?}: expected '(' or '<'", self.s)))
        }
    }

    fn parse(&mut self) -> Result<DataType> {
        let name = self.word();
        Ok(match name.as_str() {
            "string" | "varchar" | "char" | "uuid" | "ipaddress" => {
                if self.eat('(') {
                    self.number()?;
                    self.expect(')')?;
                }
                DataType::Utf8
            }
            "json" => DataType::Utf8,
            "tinyint" => DataType::Int8,
            "smallint" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" => DataType::Int64,
            "float" | "real" => DataType::Float32,
            "double" => {
                if self.peek_word() == "precision" {
                    self.word();
                }
                DataType::Float64
            }
            "boolean" => DataType::Boolean,
            "date" => DataType::Date32,
            "timestamp" => {
                let mut unit = TimeUnit::Millisecond;
                if self.eat('(') {
                    unit = match self.number()? {
                        0 => TimeUnit::Second,
                        1..=3 => TimeUnit::Millisecond,
                        4..=6 => TimeUnit::Microsecond,
                        _ => TimeUnit::Nanosecond,
                    };
                    self.expect(')')?;
                }
                let mut zone = None;
                match self.peek_word().as_str() {
                    "with" => {
                        self.word();
                        let (a, b) = (self.word(), self.word());
                        if a != "time" || b != "zone" {
                            return Err(Error::InvalidInput(format!("malformed type {:?}", self.s)));
                        }
                        zone = Some("UTC".into());
                    }
                    "without" => {
                        self.word();
                        self.word();
                        self.word();
                    }
                    _ => {}
                }
                DataType::Timestamp(unit, zone)
            }
            "time" => DataType::Time64(TimeUnit::Microsecond),
            "binary" | "varbinary" => DataType::Binary,
            "interval" => {
                let (from, _, to) = (self.word(), self.word(), self.word());
                match (from.as_str(), to.as_str()) {
                    ("year", "month") => DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::YearMonth),
                    _ => DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
                }
            }
            "decimal" | "numeric" => {
                let (mut precision, mut scale) = (10, 0);
                if self.eat('(') {
                    precision = self.number()?;
                    if self.eat(',') {
                        scale = self.number()?;
                    }
                    self.expect(')')?;
                }
                if !(1..=38).contains(&precision) || scale > precision {
                    return Err(Error::InvalidInput(format!("invalid decimal({precision},{scale})")));
                }
                DataType::Decimal128(precision as u8, scale as i8)
            }
            "array" => {
                let close = self.open()?;
                let item = self.parse()?;
                self.expect(close)?;
                DataType::List(Arc::new(Field::new("item", item, true)))
            }
            "map" => {
                let close = self.open()?;
                let key = self.parse()?;
                self.expect(',')?;
                let value = self.parse()?;
                self.expect(close)?;
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![Field::new("key", key, false), Field::new("value", value, true)])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            "struct" | "row" => {
                let close = self.open()?;
                let mut fields = Vec::new();
                loop {
                    // Hive writes `name:type`, Trino `name type`; Trino's fields may be unnamed.
                    let at = self.pos;
                    let name = self.word();
                    let typed_next = {
                        self.skip_ws();
                        let rest = &self.s[self.pos..];
                        !(rest.starts_with(',') || rest.starts_with(close) || rest.starts_with('(') || rest.starts_with('<'))
                    };
                    let field_name = if self.eat(':') || typed_next {
                        name
                    } else {
                        self.pos = at;
                        format!("field{}", fields.len())
                    };
                    fields.push(Field::new(field_name, self.parse()?, true));
                    if !self.eat(',') {
                        break;
                    }
                }
                self.expect(close)?;
                DataType::Struct(Fields::from(fields))
            }
            other => return Err(Error::InvalidInput(format!("Unknown type: {other}"))),
        })
    }
}

/// Plans the types of casts: the token pass (see [`crate::rewrite`]) quotes each as one name.
#[derive(Debug)]
pub struct TrinoTypes;

impl datafusion::logical_expr::planner::TypePlanner for TrinoTypes {
    fn plan_type_field(&self, t: &datafusion::sql::sqlparser::ast::DataType) -> datafusion::common::Result<Option<FieldRef>> {
        match crate::rewrite::cast_type_text(t) {
            Some(text) => parse_type(&text).map(Some).map_err(|e| datafusion::error::DataFusionError::Plan(e.to_string())),
            None => Ok(None),
        }
    }
}

/// The Hive type under which a CTAS result column is registered in the catalog.
pub fn arrow_to_hive(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "int".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", arrow_to_hive(f.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", arrow_to_hive(kv[0].data_type()), arrow_to_hive(kv[1].data_type()))
            }
            _ => "string".into(),
        },
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields.iter().map(|f| format!("{}:{}", f.name(), arrow_to_hive(f.data_type()))).collect();
            format!("struct<{}>", inner.join(","))
        }
        DataType::Dictionary(_, v) => arrow_to_hive(v),
        _ => "string".into(),
    }
}

/// An Athena result column: name, type name as awswrangler and pyathena expect it, precision and
/// scale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    pub r#type: String,
    pub precision: u32,
    pub scale: u32,
    pub nullable: bool,
}

pub fn athena_column(field: &Field) -> ColumnInfo {
    let (r#type, precision, scale) = athena_type(field.data_type());
    ColumnInfo { name: field.name().clone(), r#type, precision, scale, nullable: field.is_nullable() }
}

fn athena_type(t: &DataType) -> (String, u32, u32) {
    let simple = |name: &str, precision: u32| (name.to_string(), precision, 0);
    match t {
        DataType::Boolean => simple("boolean", 0),
        DataType::Int8 => simple("tinyint", 3),
        DataType::Int16 | DataType::UInt8 => simple("smallint", 5),
        DataType::Int32 | DataType::UInt16 => simple("integer", 10),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => simple("bigint", 19),
        DataType::Float16 | DataType::Float32 => simple("float", 17),
        DataType::Float64 => simple("double", 17),
        DataType::Date32 | DataType::Date64 => simple("date", 0),
        DataType::Timestamp(_, None) => simple("timestamp", 3),
        DataType::Timestamp(_, Some(_)) => simple("timestamp with time zone", 3),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => ("decimal".into(), *p as u32, (*s).max(0) as u32),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => simple("varbinary", 0),
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) | DataType::FixedSizeList(_, _) => simple("array", 0),
        DataType::Map(_, _) => simple("map", 0),
        DataType::Struct(_) => simple("row", 0),
        DataType::Dictionary(_, v) => athena_type(v),
        _ => simple("varchar", 2147483647),
    }
}

/// Renders a double as Java's `Double.toString` does, which is what Athena's result files hold.
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let a = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        // Rust writes `1.5e10`; Java writes `1.5E10` and always keeps a fraction digit.
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exp}")
    }
}

/// Renders each value of a column as Athena writes it in a result file; `None` is NULL.
pub fn render_column(array: &ArrayRef) -> Result<Vec<Option<String>>> {
    let mut out = Vec::with_capacity(array.len());
    match array.data_type() {
        DataType::Null => out.resize(array.len(), None),
        DataType::Float64 => {
            let a = array.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            for i in 0..a.len() {
                out.push(a.is_valid(i).then(|| java_double(a.value(i))));
            }
        }
        DataType::Float32 => {
            let a = array.as_primitive::<datafusion::arrow::datatypes::Float32Type>();
            for i in 0..a.len() {
                out.push(a.is_valid(i).then(|| java_double(a.value(i) as f64)));
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            // Athena writes varbinary as lower-case hexadecimal bytes separated by spaces.
            let bytes = datafusion::arrow::compute::cast(array, &DataType::Binary).map_err(|e| Error::Internal(e.to_string()))?;
            let bytes = bytes.as_binary::<i32>();
            for i in 0..bytes.len() {
                out.push(bytes.is_valid(i).then(|| bytes.value(i).iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")));
            }
        }
        DataType::Timestamp(_, Some(zone)) => {
            // Athena writes the zone after the time: `UTC` for UTC, else as it was given.
            let naive = datafusion::arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Microsecond, Some(zone.clone())))
                .map_err(|e| Error::Internal(e.to_string()))?;
            let micros = naive.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
            let tz: Option<datafusion::arrow::array::timezone::Tz> = zone.parse().ok();
            let name = crate::functions::datetime::zone_display(zone, 0);
            for i in 0..micros.len() {
                out.push(micros.is_valid(i).then(|| {
                    let utc = chrono::DateTime::from_timestamp_micros(micros.value(i)).unwrap_or_default();
                    let local = match &tz {
                        Some(tz) => utc.with_timezone(tz).naive_local(),
                        None => utc.naive_utc(),
                    };
                    format!("{} {name}", local.format("%Y-%m-%d %H:%M:%S%.3f"))
                }));
            }
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _) | DataType::Struct(_) => {
            for i in 0..array.len() {
                out.push(array.is_valid(i).then(|| render_nested(array, i)).transpose()?);
            }
        }
        _ => {
            let options = FormatOptions::default()
                .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.3f"))
                .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.3f %Z"))
                .with_date_format(Some("%Y-%m-%d"));
            let f = ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| Error::Internal(e.to_string()))?;
            for i in 0..array.len() {
                out.push(array.is_valid(i).then(|| f.value(i).to_string()));
            }
        }
    }
    Ok(out)
}

/// One nested value as Athena prints it: `[a, b]`, `{k=v}`, `{field=value}`.
fn render_nested(array: &ArrayRef, i: usize) -> Result<String> {
    let one = |a: &ArrayRef, j: usize| -> Result<String> {
        if a.is_null(j) {
            return Ok("null".into());
        }
        let v = render_column(&a.slice(j, 1))?;
        Ok(v.into_iter().next().flatten().unwrap_or_default())
    };
    match array.data_type() {
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            let parts: Result<Vec<String>> = (0..items.len()).map(|j| one(&items, j)).collect();
            Ok(format!("[{}]", parts?.join(", ")))
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(i);
            let parts: Result<Vec<String>> = (0..items.len()).map(|j| one(&items, j)).collect();
            Ok(format!("[{}]", parts?.join(", ")))
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(i);
            let (k, v) = (entries.column(0).clone(), entries.column(1).clone());
            let parts: Result<Vec<String>> = (0..entries.len()).map(|j| Ok(format!("{}={}", one(&k, j)?, one(&v, j)?))).collect();
            Ok(format!("{{{}}}", parts?.join(", ")))
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            // Trino names the fields of an unnamed row `field0`, `field1`, … (DataFusion `c0`, …).
            let name = |f: &Field| match f.name().strip_prefix('c') {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => format!("field{n}"),
                _ => f.name().clone(),
            };
            let parts: Result<Vec<String>> = fields.iter().enumerate().map(|(c, f)| Ok(format!("{}={}", name(f), one(s.column(c), i)?))).collect();
            Ok(format!("{{{}}}", parts?.join(", ")))
        }
        _ => one(array, i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_types_parse() {
        let cases = [
            ("string", DataType::Utf8),
            ("varchar(10)", DataType::Utf8),
            ("INT", DataType::Int32),
            ("bigint", DataType::Int64),
            ("decimal(10,2)", DataType::Decimal128(10, 2)),
            ("timestamp", DataType::Timestamp(TimeUnit::Millisecond, None)),
        ];
        for (hive, want) in cases {
            assert_eq!(hive_to_arrow(hive).unwrap(), want, "{hive}");
        }
        let nested = hive_to_arrow("array<struct<a:int,b:map<string,double>>>").unwrap();
        assert_eq!(arrow_to_hive(&nested), "array<struct<a:int,b:map<string,double>>>");
        assert!(hive_to_arrow("int(").is_err());
        assert!(hive_to_arrow("geometry").is_err());
    }

    #[test]
    fn doubles_render_like_java() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (0.0, "0.0"),
            (1e7, "1.0E7"),
            (1.5e-5, "1.5E-5"),
            (0.001, "0.001"),
            (123456.789, "123456.789"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(java_double(v), want, "{v}");
        }
    }
}
