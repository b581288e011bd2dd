//! Types across the worlds: Hive type strings in the catalog, Trino's type names (casts, `typeof`,
//! views), Arrow types in DataFusion, and the column types Athena puts on the wire. How values
//! of these types are written in result files is `render`'s.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, IntervalUnit, TimeUnit};

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
        return Ok(json_field("json"));
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

/// The Arrow extension name of JSON text.
pub const JSON_EXTENSION: &str = "arrow.json";

pub fn json_field(name: &str) -> FieldRef {
    let metadata = [("ARROW:extension:name".to_string(), JSON_EXTENSION.to_string())].into_iter().collect();
    Arc::new(Field::new(name, DataType::Utf8, true).with_metadata(metadata))
}

/// Whether a field holds JSON text.
pub fn is_json(field: &Field) -> bool {
    field.metadata().get("ARROW:extension:name").is_some_and(|n| n == JSON_EXTENSION)
}

/// A type as Trino writes it: `integer`, `varchar(3)`, `array(bigint)`, `row(a integer)`, …
pub fn trino_type(field: &Field, literal_len: Option<usize>) -> String {
    if is_json(field) {
        return "json".into();
    }
    type_name(field.data_type(), literal_len)
}

/// A type's name as Trino writes it, `literal_len` the length of a constant string's `varchar(n)`.
pub fn type_name(t: &DataType, literal_len: Option<usize>) -> String {
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
            // A row made without names (`ROW(1, 2.5e0)`) has DataFusion's `c0`, `c1`, …: Trino
            // writes its fields' types alone.
            let anonymous = fields.iter().enumerate().all(|(i, f)| f.name() == &format!("c{i}"));
            let inner: Vec<String> =
                fields.iter().map(|f| if anonymous { trino_type(f, None) } else { format!("{} {}", f.name(), trino_type(f, None)) }).collect();
            format!("row({})", inner.join(", "))
        }
        DataType::Dictionary(_, v) => type_name(v, literal_len),
        other => other.to_string().to_lowercase(),
    }
}

/// How Trino names a zone in output: `UTC` for a zero offset, else the zone as given.
pub fn zone_display(name: &str, offset_seconds: i32) -> String {
    match name {
        "+00:00" | "Z" | "UTC" | "utc" | "+0000" | "00:00" | "Etc/UTC" | "GMT" => "UTC".into(),
        _ if name.starts_with('+') || name.starts_with('-') => name.to_string(),
        _ if offset_seconds == 0 && name.is_empty() => "UTC".into(),
        _ => name.to_string(),
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
}
