//! Values as Athena writes them in result files: Java's doubles, varbinary as spaced hex,
//! timestamps with their zone, nested values as Trino prints them.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};
use crate::types::zone_display;

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
            let name = zone_display(zone, 0);
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
