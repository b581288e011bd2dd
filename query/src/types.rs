//! Types across the three worlds: Hive type strings in the catalog, Arrow types in DataFusion, and
//! the type names and value renderings Athena puts on the wire.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};

/// Parses a Hive type (`int`, `decimal(10,2)`, `array<struct<a:int,b:string>>`, …) into Arrow.
pub fn hive_to_arrow(hive: &str) -> Result<DataType> {
    let mut p = Parser { s: hive.trim().to_ascii_lowercase(), pos: 0 };
    let t = p.parse()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(Error::InvalidInput(format!("unsupported column type {hive:?}")));
    }
    Ok(t)
}

struct Parser {
    s: String,
    pos: usize,
}

impl Parser {
    fn skip_ws(&mut self) {
        while self.s[self.pos..].starts_with(' ') {
            self.pos += 1;
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
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
        if self.eat(c) { Ok(()) } else { Err(Error::InvalidInput(format!("malformed column type {:?}: expected {c:?}", self.s))) }
    }

    fn number(&mut self) -> Result<u32> {
        let w = self.word();
        w.parse().map_err(|_| Error::InvalidInput(format!("malformed column type {:?}", self.s)))
    }

    fn parse(&mut self) -> Result<DataType> {
        let name = self.word();
        Ok(match name.as_str() {
            "string" | "varchar" | "char" => {
                if self.eat('(') {
                    self.number()?;
                    self.expect(')')?;
                }
                DataType::Utf8
            }
            "tinyint" => DataType::Int8,
            "smallint" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" => DataType::Int64,
            "float" | "real" => DataType::Float32,
            "double" => DataType::Float64,
            "boolean" => DataType::Boolean,
            "date" => DataType::Date32,
            "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, None),
            "binary" | "varbinary" => DataType::Binary,
            "decimal" => {
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
                self.expect('<')?;
                let item = self.parse()?;
                self.expect('>')?;
                DataType::List(Arc::new(Field::new("item", item, true)))
            }
            "map" => {
                self.expect('<')?;
                let key = self.parse()?;
                self.expect(',')?;
                let value = self.parse()?;
                self.expect('>')?;
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![Field::new("key", key, false), Field::new("value", value, true)])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            "struct" => {
                self.expect('<')?;
                let mut fields = Vec::new();
                loop {
                    let name = self.word();
                    self.expect(':')?;
                    fields.push(Field::new(name, self.parse()?, true));
                    if !self.eat(',') {
                        break;
                    }
                }
                self.expect('>')?;
                DataType::Struct(Fields::from(fields))
            }
            other => return Err(Error::InvalidInput(format!("unsupported column type {other:?}"))),
        })
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
            let parts: Result<Vec<String>> = fields.iter().enumerate().map(|(c, f)| Ok(format!("{}={}", f.name(), one(s.column(c), i)?))).collect();
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
