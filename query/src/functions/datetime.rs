//! Date and time functions with Trino's semantics: MySQL-style `date_format`/`date_parse`,
//! Joda-style `format_datetime`/`parse_datetime`, ISO 8601, calendar arithmetic that clamps to
//! the end of a month, fields of the week the ISO way, and time zones.
//!
//! Values are handled as wall-clock times (`NaiveDateTime`) in the zone of their type: a
//! `timestamp` has none, a `timestamp with time zone` carries its zone in the Arrow type.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::format::{Parsed, StrftimeItems, parse};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc, Weekday};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, Int64Builder, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ReturnFieldArgs, ScalarUDF};

use super::{Ret, arg, constant_string, field, func, func_aliased, invalid_argument};
use crate::types::zone_display;

/// The type of Athena's `timestamp`: milliseconds, no zone.
pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

fn timestamp_tz(zone: &str) -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(zone.into()))
}

pub fn functions() -> Vec<ScalarUDF> {
    let int = || DataType::Int64;
    vec![
        func("year", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.year() as i64)),
        func("quarter", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.month0() as i64 / 3 + 1)),
        func("month", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.month() as i64)),
        func("week", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.iso_week().week() as i64)),
        func("week_of_year", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.iso_week().week() as i64)),
        func("year_of_week", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.iso_week().year() as i64)),
        func("yow", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.iso_week().year() as i64)),
        func("day", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.day() as i64)),
        func("day_of_month", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.day() as i64)),
        func("day_of_week", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.weekday().number_from_monday() as i64)),
        func("dow", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.weekday().number_from_monday() as i64)),
        func("day_of_year", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.ordinal() as i64)),
        func("doy", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.ordinal() as i64)),
        func("hour", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.hour() as i64)),
        func("minute", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.minute() as i64)),
        func("second", &[1], Ret::Fixed(int), |a, _| fields(a, |t| t.second() as i64)),
        func("millisecond", &[1], Ret::Fixed(int), |a, _| fields(a, |t| (t.nanosecond() / 1_000_000) as i64)),
        func("last_day_of_month", &[1], Ret::Fixed(|| DataType::Date32), last_day_of_month),
        func("date", &[1], Ret::Fixed(|| DataType::Date32), to_date),
        func("date_add", &[3], Ret::Types(date_add_type), date_add),
        func("date_diff", &[3], Ret::Fixed(int), date_diff),
        func("date_trunc", &[2], Ret::Types(date_trunc_type), date_trunc),
        func("date_format", &[2], Ret::Fixed(|| DataType::Utf8), date_format),
        func("date_parse", &[2], Ret::Fixed(timestamp), date_parse),
        func("format_datetime", &[2], Ret::Fixed(|| DataType::Utf8), format_datetime),
        func("parse_datetime", &[2], Ret::Fixed(|| timestamp_tz("UTC")), parse_datetime),
        func("from_iso8601_timestamp", &[1], Ret::Args(iso_timestamp_type), from_iso8601_timestamp),
        func("from_iso8601_date", &[1], Ret::Fixed(|| DataType::Date32), from_iso8601_date),
        func("to_iso8601", &[1], Ret::Fixed(|| DataType::Utf8), to_iso8601),
        func("with_timezone", &[2], Ret::Args(zone_type), with_timezone),
        func("at_timezone", &[2], Ret::Args(zone_type), at_timezone),
        func_aliased("from_unixtime", &[], &[1, 2], Ret::Args(from_unixtime_type), from_unixtime),
        func("to_unixtime", &[1], Ret::Fixed(|| DataType::Float64), to_unixtime),
        func("current_timezone", &[0], Ret::Fixed(|| DataType::Utf8), |_, _| Ok(Arc::new(datafusion::arrow::array::StringArray::from(vec!["UTC"])))),
    ]
}

/// Wall-clock times of a date, timestamp or string argument, with the zone they are in.
struct WallTimes {
    values: Vec<Option<NaiveDateTime>>,
    zone: Option<Tz>,
}

fn wall_times(name: &str, a: &ArrayRef) -> Result<WallTimes> {
    match a.data_type() {
        DataType::Date32 | DataType::Date64 => {
            let days = arg(name, a, &DataType::Date32)?;
            let days = days.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            let values =
                (0..days.len()).map(|i| days.is_valid(i).then(|| (epoch + Duration::days(days.value(i) as i64)).and_time(NaiveTime::MIN))).collect();
            Ok(WallTimes { values, zone: None })
        }
        DataType::Timestamp(_, tz) => {
            let micros = arg(name, a, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?;
            let micros = micros.as_primitive::<TimestampMicrosecondType>();
            let zone: Option<Tz> = match tz {
                Some(z) => Some(z.parse().map_err(|e| datafusion::error::DataFusionError::Execution(format!("{name}: time zone {z}: {e}")))?),
                None => None,
            };
            let values = (0..micros.len())
                .map(|i| {
                    micros.is_valid(i).then(|| {
                        let utc = DateTime::<Utc>::from_timestamp_micros(micros.value(i)).unwrap_or_default();
                        match &zone {
                            Some(z) => utc.with_timezone(z).naive_local(),
                            None => utc.naive_utc(),
                        }
                    })
                })
                .collect();
            Ok(WallTimes { values, zone })
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            let ts = arg(name, a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            wall_times(name, &ts)
        }
        other => exec_err!("{name}: unexpected argument type {other}, expected a date or timestamp"),
    }
}

/// Builds a date or timestamp array of type `t` from wall-clock times in `t`'s zone.
fn build(name: &str, values: &[Option<NaiveDateTime>], t: &DataType) -> Result<ArrayRef> {
    match t {
        DataType::Date32 => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            Ok(Arc::new(values.iter().map(|v| v.map(|v| (v.date() - epoch).num_days() as i32)).collect::<Date32Array>()))
        }
        DataType::Timestamp(_, tz) => {
            let zone: Option<Tz> =
                tz.as_ref().map(|z| z.parse()).transpose().map_err(|e| datafusion::error::DataFusionError::Execution(format!("{name}: {e}")))?;
            let micros: TimestampMicrosecondArray = values
                .iter()
                .map(|v| {
                    v.map(|v| match &zone {
                        Some(z) => {
                            z.from_local_datetime(&v).earliest().map(|d| d.timestamp_micros()).unwrap_or_else(|| v.and_utc().timestamp_micros())
                        }
                        None => v.and_utc().timestamp_micros(),
                    })
                })
                .collect();
            let micros = micros.with_timezone_opt(tz.clone());
            arg(name, &(Arc::new(micros) as ArrayRef), t)
        }
        other => exec_err!("{name}: cannot produce {other}"),
    }
}

fn fields(a: &[ArrayRef], f: fn(&NaiveDateTime) -> i64) -> Result<ArrayRef> {
    let w = wall_times("extract", &a[0])?;
    Ok(Arc::new(w.values.iter().map(|v| v.as_ref().map(f)).collect::<Int64Array>()))
}

fn last_day_of_month(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let w = wall_times("last_day_of_month", &a[0])?;
    let out: Vec<Option<NaiveDateTime>> = w
        .values
        .iter()
        .map(|v| {
            v.and_then(|v| {
                let first = NaiveDate::from_ymd_opt(v.year(), v.month(), 1)?;
                let next = first.checked_add_months(chrono::Months::new(1))?;
                Some(next.pred_opt()?.and_time(NaiveTime::MIN))
            })
        })
        .collect();
    build("last_day_of_month", &out, &DataType::Date32)
}

fn to_date(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let w = wall_times("date", &a[0])?;
    build("date", &w.values, &DataType::Date32)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    /// A unit of a date (`date`: day and longer only) or of a timestamp, failing with Trino's
    /// message for a field the type does not have.
    fn parse(unit: &str, date: bool) -> Result<Unit> {
        let lower = unit.to_lowercase();
        let parsed = match lower.as_str() {
            "millisecond" => Some(Unit::Millisecond),
            "second" => Some(Unit::Second),
            "minute" => Some(Unit::Minute),
            "hour" => Some(Unit::Hour),
            "day" => Some(Unit::Day),
            "week" => Some(Unit::Week),
            "month" => Some(Unit::Month),
            "quarter" => Some(Unit::Quarter),
            "year" => Some(Unit::Year),
            _ => None,
        };
        match parsed {
            Some(u) if !date || u.is_date_field() => Ok(u),
            _ if date => invalid_argument(format!("'{lower}' is not a valid DATE field")),
            _ => invalid_argument(format!("'{lower}' is not a valid Timestamp field")),
        }
    }

    fn is_date_field(self) -> bool {
        !matches!(self, Unit::Millisecond | Unit::Second | Unit::Minute | Unit::Hour)
    }

    fn fixed(self) -> Option<Duration> {
        Some(match self {
            Unit::Millisecond => Duration::milliseconds(1),
            Unit::Second => Duration::seconds(1),
            Unit::Minute => Duration::minutes(1),
            Unit::Hour => Duration::hours(1),
            Unit::Day => Duration::days(1),
            Unit::Week => Duration::weeks(1),
            _ => return None,
        })
    }

    fn months(self) -> i64 {
        match self {
            Unit::Quarter => 3,
            Unit::Year => 12,
            _ => 1,
        }
    }
}

/// The units of a call, for a date (`date`) or a timestamp.
fn units(name: &str, a: &ArrayRef, date: bool) -> Result<Vec<Option<Unit>>> {
    let s = arg(name, a, &DataType::Utf8)?;
    let s = s.as_string::<i32>();
    (0..s.len()).map(|i| if s.is_null(i) { Ok(None) } else { Unit::parse(s.value(i), date).map(Some) }).collect()
}

fn is_date(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64)
}

fn date_add_type(args: &[DataType]) -> Result<DataType> {
    match args.get(2) {
        Some(DataType::Date32 | DataType::Date64) => Ok(DataType::Date32),
        Some(DataType::Timestamp(_, tz)) => Ok(DataType::Timestamp(TimeUnit::Millisecond, tz.clone())),
        Some(t) if super::is_string(t) || t.is_null() => Ok(timestamp()),
        Some(t) => plan_err!("date_add: unexpected argument type {t}, expected a date or timestamp"),
        None => plan_err!("date_add takes three arguments"),
    }
}

fn add_months(v: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let m = chrono::Months::new(months.unsigned_abs().min(u32::MAX as u64) as u32);
    let date = if months >= 0 { v.date().checked_add_months(m)? } else { v.date().checked_sub_months(m)? };
    Some(date.and_time(v.time()))
}

fn date_add(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let name = "date_add";
    let units = units(name, &a[0], is_date(t))?;
    let n = arg(name, &a[1], &DataType::Int64)?;
    let n = n.as_primitive::<Int64Type>();
    let w = wall_times(name, &a[2])?;
    let mut out = Vec::with_capacity(w.values.len());
    for (i, v) in w.values.iter().enumerate() {
        let (Some(unit), Some(v)) = (units[i], v) else {
            out.push(None);
            continue;
        };
        if n.is_null(i) {
            out.push(None);
            continue;
        }
        let k = n.value(i);
        let r = match unit.fixed() {
            Some(d) => d.num_milliseconds().checked_mul(k).and_then(Duration::try_milliseconds).and_then(|d| v.checked_add_signed(d)),
            None => add_months(*v, k * unit.months()),
        };
        match r {
            Some(r) => out.push(Some(r)),
            None => return exec_err!("{name}: the result is out of range"),
        }
    }
    build(name, &out, t)
}

fn date_diff(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "date_diff";
    // Two dates differ in days and longer units only (Trino's `date_diff(varchar, date, date)`).
    let units = units(name, &a[0], is_date(a[1].data_type()) && is_date(a[2].data_type()))?;
    let (x, y) = (wall_times(name, &a[1])?, wall_times(name, &a[2])?);
    let mut out = Int64Builder::new();
    for (i, unit) in units.iter().enumerate() {
        let (Some(unit), Some(start), Some(end)) = (*unit, x.values[i], y.values[i]) else {
            out.append_null();
            continue;
        };
        let value = match unit.fixed() {
            Some(d) => {
                let span = end - start;
                span.num_milliseconds() / d.num_milliseconds()
            }
            None => {
                // Whole months as Joda counts them: adding the count to the start (clamping to
                // a month's end) must not pass the end.
                let mut months = (end.year() as i64 - start.year() as i64) * 12 + (end.month() as i64 - start.month() as i64);
                if months > 0 && add_months(start, months).is_some_and(|s| s > end) {
                    months -= 1;
                } else if months < 0 && add_months(start, months).is_some_and(|s| s < end) {
                    months += 1;
                }
                months / unit.months()
            }
        };
        out.append_value(value);
    }
    Ok(Arc::new(out.finish()))
}

fn date_trunc_type(args: &[DataType]) -> Result<DataType> {
    match args.get(1) {
        Some(DataType::Date32 | DataType::Date64) => Ok(DataType::Date32),
        Some(DataType::Timestamp(_, tz)) => Ok(DataType::Timestamp(TimeUnit::Millisecond, tz.clone())),
        Some(t) if super::is_string(t) || t.is_null() => Ok(timestamp()),
        Some(t) => plan_err!("date_trunc: unexpected argument type {t}, expected a date or timestamp"),
        None => plan_err!("date_trunc takes two arguments"),
    }
}

fn date_trunc(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let name = "date_trunc";
    let units = units(name, &a[0], is_date(t))?;
    let w = wall_times(name, &a[1])?;
    let out: Vec<Option<NaiveDateTime>> = w
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (unit, v) = (units[i]?, (*v)?);
            let d = v.date();
            Some(match unit {
                Unit::Millisecond => v.with_nanosecond(v.nanosecond() / 1_000_000 * 1_000_000)?,
                Unit::Second => v.with_nanosecond(0)?,
                Unit::Minute => v.with_nanosecond(0)?.with_second(0)?,
                Unit::Hour => d.and_hms_opt(v.hour(), 0, 0)?,
                Unit::Day => d.and_time(NaiveTime::MIN),
                Unit::Week => (d - Duration::days(d.weekday().num_days_from_monday() as i64)).and_time(NaiveTime::MIN),
                Unit::Month => NaiveDate::from_ymd_opt(d.year(), d.month(), 1)?.and_time(NaiveTime::MIN),
                Unit::Quarter => NaiveDate::from_ymd_opt(d.year(), d.month0() / 3 * 3 + 1, 1)?.and_time(NaiveTime::MIN),
                Unit::Year => NaiveDate::from_ymd_opt(d.year(), 1, 1)?.and_time(NaiveTime::MIN),
            })
        })
        .collect();
    build(name, &out, t)
}

const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

fn weekday_name(d: Weekday) -> &'static str {
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"][d.num_days_from_monday() as usize]
}

fn hour12(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        h => h,
    }
}

/// MySQL's specifiers that Trino's `date_format` and `date_parse` refuse.
const UNSUPPORTED_SPECIFIERS: &str = "DUuVwX";

fn unsupported_specifier<T>(spec: char) -> Result<T> {
    invalid_argument(format!("%{spec} not supported in date format string"))
}

/// Formats a wall-clock time with MySQL's specifiers, as Trino's `date_format` does.
pub fn mysql_format(t: &NaiveDateTime, format: &str) -> Result<String> {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else { break };
        let _ = match spec {
            'a' => write!(out, "{}", &weekday_name(t.weekday())[..3]),
            'b' => write!(out, "{}", &MONTHS[t.month0() as usize][..3]),
            'c' => write!(out, "{}", t.month()),
            'd' => write!(out, "{:02}", t.day()),
            'e' => write!(out, "{}", t.day()),
            'f' => write!(out, "{:06}", t.nanosecond() / 1_000_000 * 1000),
            'H' => write!(out, "{:02}", t.hour()),
            'h' | 'I' => write!(out, "{:02}", hour12(t.hour())),
            'i' => write!(out, "{:02}", t.minute()),
            'j' => write!(out, "{:03}", t.ordinal()),
            'k' => write!(out, "{}", t.hour()),
            'l' => write!(out, "{}", hour12(t.hour())),
            'M' => write!(out, "{}", MONTHS[t.month0() as usize]),
            'm' => write!(out, "{:02}", t.month()),
            'p' => write!(out, "{}", if t.hour() < 12 { "AM" } else { "PM" }),
            'r' => write!(out, "{:02}:{:02}:{:02} {}", hour12(t.hour()), t.minute(), t.second(), if t.hour() < 12 { "AM" } else { "PM" }),
            'S' | 's' => write!(out, "{:02}", t.second()),
            'T' => write!(out, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()),
            'v' => write!(out, "{:02}", t.iso_week().week()),
            'W' => write!(out, "{}", weekday_name(t.weekday())),
            'x' => write!(out, "{:04}", t.iso_week().year()),
            'Y' => write!(out, "{:04}", t.year()),
            'y' => write!(out, "{:02}", t.year().rem_euclid(100)),
            s if UNSUPPORTED_SPECIFIERS.contains(s) => return unsupported_specifier(s),
            // `%x` for any other x is x itself.
            other => write!(out, "{other}"),
        };
    }
    Ok(out)
}

/// MySQL's specifiers as chrono's, for parsing.
fn mysql_to_strftime(format: &str) -> Result<String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            if c == '.' && chars.clone().take(2).collect::<String>() == "%f" {
                chars.next();
                chars.next();
                out.push_str("%.f");
                continue;
            }
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else { break };
        out.push_str(match spec {
            'a' => "%a",
            'b' => "%b",
            'c' | 'm' => "%m",
            'd' | 'e' => "%d",
            'f' => "%6f",
            'H' | 'k' => "%H",
            'h' | 'I' | 'l' => "%I",
            'i' => "%M",
            'j' => "%j",
            'M' => "%B",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'W' => "%A",
            'v' => "%V",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            s if UNSUPPORTED_SPECIFIERS.contains(s) => return unsupported_specifier(s),
            // `%x` for any other x is the literal x.
            other => {
                out.push(other);
                continue;
            }
        });
    }
    Ok(out)
}

/// Parses with chrono's items, filling what the pattern leaves out as Trino does (1970-01-01
/// 00:00:00). Returns the wall-clock time and the offset, if the text named one.
fn parse_with(text: &str, strftime: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let mut p = Parsed::new();
    parse(&mut p, text, StrftimeItems::new(strftime)).ok()?;
    // Two-digit years are 1970 to 2069, as Trino reads them (chrono's century turns at 1969).
    if p.year().is_none()
        && p.year_div_100().is_none()
        && let Some(y) = p.year_mod_100()
    {
        p.set_year_div_100(if y < 70 { 20 } else { 19 }).ok()?;
    }
    if p.isoyear().is_some() || p.isoweek().is_some() {
        // A week date: what the text leaves out comes from 1970-01-01, a Thursday of week 1,
        // as Joda fills it.
        if p.isoyear().is_none() {
            p.set_isoyear(1970).ok()?;
        }
        if p.isoweek().is_none() {
            p.set_isoweek(1).ok()?;
        }
        if p.weekday().is_none() {
            p.set_weekday(Weekday::Thu).ok()?;
        }
    } else {
        if p.year().is_none() && p.year_div_100().is_none() && p.year_mod_100().is_none() {
            p.set_year(1970).ok()?;
        }
        if p.month().is_none() && p.ordinal().is_none() {
            p.set_month(1).ok()?;
        }
        if p.day().is_none() && p.ordinal().is_none() {
            p.set_day(1).ok()?;
        }
    }
    if p.hour_div_12().is_none() {
        p.set_ampm(false).ok()?;
    }
    if p.hour_mod_12().is_none() {
        p.set_hour12(12).ok()?;
    }
    if p.minute().is_none() {
        p.set_minute(0).ok()?;
    }
    let date = p.to_naive_date().ok()?;
    let time = p.to_naive_time().ok()?;
    Some((date.and_time(time), p.offset()))
}

fn date_format(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "date_format";
    let w = wall_times(name, &a[0])?;
    let f = arg(name, &a[1], &DataType::Utf8)?;
    let f = f.as_string::<i32>();
    let mut out = StringBuilder::new();
    for (i, v) in w.values.iter().enumerate() {
        match v {
            Some(v) if f.is_valid(i) => out.append_value(mysql_format(v, f.value(i))?),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn date_parse(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let name = "date_parse";
    let (s, f) = (arg(name, &a[0], &DataType::Utf8)?, arg(name, &a[1], &DataType::Utf8)?);
    let (s, f) = (s.as_string::<i32>(), f.as_string::<i32>());
    let mut out = Vec::with_capacity(s.len());
    let mut compiled: Option<(String, String)> = None;
    for i in 0..s.len() {
        if s.is_null(i) || f.is_null(i) {
            out.push(None);
            continue;
        }
        if compiled.as_ref().is_none_or(|(src, _)| src != f.value(i)) {
            compiled = Some((f.value(i).to_string(), mysql_to_strftime(f.value(i))?));
        }
        let strftime = &compiled.as_ref().expect("just set").1;
        match parse_with(s.value(i), strftime) {
            Some((v, _)) => out.push(Some(v)),
            None => return invalid_argument(format!("Invalid format: \"{}\"", s.value(i))),
        }
    }
    build(name, &out, t)
}

/// Formats with a Joda pattern, as Trino's `format_datetime` does.
pub fn joda_format(t: &NaiveDateTime, zone: Option<&Tz>, pattern: &str) -> Result<String> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted text; '' is a quote.
            let mut j = i + 1;
            if j < chars.len() && chars[j] == '\'' {
                out.push('\'');
                i += 2;
                continue;
            }
            while j < chars.len() {
                if chars[j] == '\'' {
                    if j + 1 < chars.len() && chars[j + 1] == '\'' {
                        out.push('\'');
                        j += 2;
                        continue;
                    }
                    break;
                }
                out.push(chars[j]);
                j += 1;
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        i += n;
        let num = |out: &mut String, v: i64| {
            let _ = write!(out, "{v:0n$}");
        };
        match c {
            'G' => out.push_str(if t.year() > 0 { "AD" } else { "BC" }),
            'C' => num(&mut out, t.year() as i64 / 100),
            'Y' | 'y' | 'u' => {
                if n == 2 {
                    let _ = write!(out, "{:02}", t.year().rem_euclid(100));
                } else {
                    num(&mut out, t.year() as i64)
                }
            }
            'x' => {
                if n == 2 {
                    let _ = write!(out, "{:02}", t.iso_week().year().rem_euclid(100));
                } else {
                    num(&mut out, t.iso_week().year() as i64)
                }
            }
            'w' => num(&mut out, t.iso_week().week() as i64),
            'e' => num(&mut out, t.weekday().number_from_monday() as i64),
            'E' => out.push_str(if n >= 4 { weekday_name(t.weekday()) } else { &weekday_name(t.weekday())[..3] }),
            'D' => num(&mut out, t.ordinal() as i64),
            'M' => match n {
                1 | 2 => num(&mut out, t.month() as i64),
                3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
                _ => out.push_str(MONTHS[t.month0() as usize]),
            },
            'd' => num(&mut out, t.day() as i64),
            'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
            'K' => num(&mut out, (t.hour() % 12) as i64),
            'h' => num(&mut out, hour12(t.hour()) as i64),
            'H' => num(&mut out, t.hour() as i64),
            'k' => num(&mut out, if t.hour() == 0 { 24 } else { t.hour() as i64 }),
            'm' => num(&mut out, t.minute() as i64),
            's' => num(&mut out, t.second() as i64),
            'S' => {
                let frac = format!("{:09}", t.nanosecond());
                let digits: String = frac.chars().chain(std::iter::repeat('0')).take(n).collect();
                out.push_str(&digits);
            }
            'z' | 'Z' => {
                let offset = zone.map(|z| z.offset_from_local_datetime(t).earliest().map(|o| o.fix().local_minus_utc()).unwrap_or(0)).unwrap_or(0);
                let name = zone.map(|z| format!("{z:?}")).unwrap_or_else(|| "UTC".into());
                if c == 'z' || n >= 3 {
                    out.push_str(&zone_display(&name, offset));
                } else {
                    let sign = if offset < 0 { '-' } else { '+' };
                    let (h, m) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
                    if n == 1 {
                        let _ = write!(out, "{sign}{h:02}{m:02}");
                    } else {
                        let _ = write!(out, "{sign}{h:02}:{m:02}");
                    }
                }
            }
            other => return invalid_argument(format!("Illegal pattern component: {}", other.to_string().repeat(n))),
        }
    }
    Ok(out)
}

/// Parses with a Joda pattern (what the pattern leaves out is 1970-01-01 00:00:00), as
/// partition projection reads its date ranges.
pub fn joda_parse(text: &str, pattern: &str) -> Option<NaiveDateTime> {
    parse_with(text, &joda_to_strftime(pattern).ok()?).map(|(t, _)| t)
}

/// Joda's pattern letters as chrono's, for parsing.
fn joda_to_strftime(pattern: &str) -> Result<String> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                if chars[j] == '%' {
                    out.push_str("%%");
                } else {
                    out.push(chars[j]);
                }
                j += 1;
            }
            if j == i + 1 {
                out.push('\'');
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        i += n;
        out.push_str(match (c, n) {
            ('y' | 'Y' | 'u', 2) => "%y",
            ('y' | 'Y' | 'u', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H' | 'k', _) => "%H",
            ('h' | 'K', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', 1 | 2) => "%z",
            (other, _) => return exec_err!("parse_datetime: pattern letter {other} is not supported for parsing"),
        });
    }
    Ok(out)
}

fn format_datetime(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "format_datetime";
    let w = wall_times(name, &a[0])?;
    let f = arg(name, &a[1], &DataType::Utf8)?;
    let f = f.as_string::<i32>();
    let mut out = StringBuilder::new();
    for (i, v) in w.values.iter().enumerate() {
        match v {
            Some(v) if f.is_valid(i) => out.append_value(joda_format(v, w.zone.as_ref(), f.value(i))?),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn parse_datetime(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let name = "parse_datetime";
    let (s, f) = (arg(name, &a[0], &DataType::Utf8)?, arg(name, &a[1], &DataType::Utf8)?);
    let (s, f) = (s.as_string::<i32>(), f.as_string::<i32>());
    let mut out = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        if s.is_null(i) || f.is_null(i) {
            out.push(None);
            continue;
        }
        let strftime = joda_to_strftime(f.value(i))?;
        match parse_with(s.value(i), &strftime) {
            // The result is in UTC: a parsed offset moves the wall-clock time there.
            Some((v, offset)) => out.push(Some(v - Duration::seconds(offset.unwrap_or(0) as i64))),
            None => return invalid_argument(format!("Invalid format: \"{}\"", s.value(i))),
        }
    }
    build(name, &out, t)
}

/// An ISO 8601 timestamp: date, optional `T`/space and time with fraction, optional zone (`Z`,
/// `+01:00`, `+0100`, `+01`). Returns the wall-clock time and the offset in seconds, if any.
fn parse_iso(s: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let s = s.trim();
    let (date_part, rest) = match s.find(['T', ' ']) {
        Some(p) => (&s[..p], &s[p + 1..]),
        None => (s, ""),
    };
    let date = parse_iso_date(date_part)?;
    if rest.is_empty() {
        return Some((date.and_time(NaiveTime::MIN), None));
    }
    let (time_part, offset) = if let Some(t) = rest.strip_suffix('Z') {
        (t, Some(0))
    } else if let Some(p) = rest.rfind(['+', '-']) {
        let z = &rest[p..];
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
        let (h, m) = match digits.len() {
            2 => (digits.parse::<i32>().ok()?, 0),
            4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
            _ => return None,
        };
        (&rest[..p], Some(sign * (h * 3600 + m * 60)))
    } else {
        (rest, None)
    };
    let time = ["%H:%M:%S%.f", "%H:%M", "%H"].iter().find_map(|f| NaiveTime::parse_from_str(time_part, f).ok())?;
    Some((date.and_time(time), offset))
}

fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if let Some((y, w)) = s.split_once("-W") {
        // 2020-W10 or 2020-W10-3: an ISO week (and day).
        let (w, d) = w.split_once('-').map(|(w, d)| (w, d.parse().ok())).unwrap_or((w, Some(1)));
        let weekday = Weekday::try_from(d? as u8 - 1).ok()?;
        return NaiveDate::from_isoywd_opt(y.parse().ok()?, w.parse().ok()?, weekday);
    }
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y] if y.len() == 4 => NaiveDate::from_ymd_opt(y.parse().ok()?, 1, 1),
        [y, m] if m.len() == 2 => NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1),
        [y, d] if d.len() == 3 => NaiveDate::from_yo_opt(y.parse().ok()?, d.parse().ok()?),
        _ => None,
    }
}

fn offset_name(seconds: i32) -> String {
    if seconds == 0 {
        return "UTC".into();
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", seconds.abs() / 3600, seconds.abs() % 3600 / 60)
}

fn iso_timestamp_type(args: &ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
    // A constant's own offset names the zone, as Trino keeps it; otherwise values are in UTC.
    let zone = constant_string(args, 0).and_then(|s| parse_iso(&s)).and_then(|(_, o)| o).map(offset_name).unwrap_or_else(|| "UTC".into());
    Ok(field("from_iso8601_timestamp", timestamp_tz(&zone)))
}

fn from_iso8601_timestamp(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let name = "from_iso8601_timestamp";
    let zone: Option<Tz> = match t {
        DataType::Timestamp(_, Some(z)) => z.parse().ok(),
        _ => None,
    };
    let s = arg(name, &a[0], &DataType::Utf8)?;
    let s = s.as_string::<i32>();
    let mut out = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        if s.is_null(i) {
            out.push(None);
            continue;
        }
        let Some((v, offset)) = parse_iso(s.value(i)) else {
            return invalid_argument(format!("Invalid format: \"{}\"", s.value(i)));
        };
        // To the instant, then to the result's zone.
        let utc = v - Duration::seconds(offset.unwrap_or(0) as i64);
        let local = match &zone {
            Some(z) => z.from_utc_datetime(&utc).naive_local(),
            None => utc,
        };
        out.push(Some(local));
    }
    build(name, &out, t)
}

fn from_iso8601_date(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let name = "from_iso8601_date";
    let s = arg(name, &a[0], &DataType::Utf8)?;
    let s = s.as_string::<i32>();
    let mut out = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        if s.is_null(i) {
            out.push(None);
            continue;
        }
        match parse_iso_date(s.value(i).trim()) {
            Some(d) => out.push(Some(d.and_time(NaiveTime::MIN))),
            None => return invalid_argument(format!("Invalid format: \"{}\"", s.value(i))),
        }
    }
    build(name, &out, t)
}

fn to_iso8601(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let name = "to_iso8601";
    let is_date = matches!(a[0].data_type(), DataType::Date32 | DataType::Date64);
    let w = wall_times(name, &a[0])?;
    let mut out = StringBuilder::new();
    for v in &w.values {
        match v {
            None => out.append_null(),
            Some(v) if is_date => out.append_value(v.format("%Y-%m-%d").to_string()),
            Some(v) => {
                let mut s = v.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
                if let Some(z) = &w.zone {
                    let offset = z.offset_from_local_datetime(v).earliest().map(|o| o.fix().local_minus_utc()).unwrap_or(0);
                    if offset == 0 {
                        s.push('Z');
                    } else {
                        s.push_str(&offset_name(offset));
                    }
                }
                out.append_value(s);
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

fn zone_type(args: &ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
    let Some(zone) = constant_string(args, 1) else {
        return plan_err!("the time zone must be a constant string");
    };
    let zone = canonical_zone(&zone)?;
    Ok(field("timestamp", timestamp_tz(&zone)))
}

/// A zone as Arrow names it: an IANA name or a `+hh:mm` offset; `UTC` for UTC.
fn canonical_zone(zone: &str) -> Result<String> {
    let z = zone.trim();
    if z.eq_ignore_ascii_case("utc") || z == "Z" {
        return Ok("UTC".into());
    }
    match z.parse::<Tz>() {
        Ok(_) => Ok(z.to_string()),
        Err(_) => exec_err!("Time zone not supported: {zone}"),
    }
}

fn with_timezone(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    // The wall-clock time stays; it is read as a time in the zone.
    let w = wall_times("with_timezone", &a[0])?;
    build("with_timezone", &w.values, t)
}

fn at_timezone(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    // The instant stays; only the zone changes.
    let DataType::Timestamp(_, zone) = t else { return exec_err!("at_timezone: unexpected result type {t}") };
    match a[0].data_type() {
        DataType::Timestamp(_, _) => {
            let utc = arg("at_timezone", &a[0], &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())))?;
            let ms = utc.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>().clone().with_timezone_opt(zone.clone());
            Ok(Arc::new(ms))
        }
        other => exec_err!("at_timezone: unexpected argument type {other}, expected a timestamp with time zone"),
    }
}

fn from_unixtime_type(args: &ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
    let zone = match args.arg_fields.len() {
        1 => "UTC".to_string(),
        _ => match constant_string(args, 1) {
            Some(z) => canonical_zone(&z)?,
            None => return plan_err!("from_unixtime: the time zone must be a constant string"),
        },
    };
    Ok(field("from_unixtime", timestamp_tz(&zone)))
}

fn from_unixtime(a: &[ArrayRef], t: &DataType) -> Result<ArrayRef> {
    let seconds = arg("from_unixtime", &a[0], &DataType::Float64)?;
    let seconds = seconds.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    let DataType::Timestamp(_, zone) = t else { return exec_err!("from_unixtime: unexpected result type {t}") };
    let ms: datafusion::arrow::array::TimestampMillisecondArray =
        (0..seconds.len()).map(|i| seconds.is_valid(i).then(|| (seconds.value(i) * 1000.0).round() as i64)).collect();
    Ok(Arc::new(ms.with_timezone_opt(zone.clone())))
}

fn to_unixtime(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let tz = match a[0].data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    let micros = match a[0].data_type() {
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => {
            let as_ts = if matches!(a[0].data_type(), DataType::Timestamp(_, _)) {
                a[0].clone()
            } else {
                arg("to_unixtime", &a[0], &DataType::Timestamp(TimeUnit::Microsecond, None))?
            };
            arg("to_unixtime", &as_ts, &DataType::Timestamp(TimeUnit::Microsecond, tz))?
        }
        _ => arg("to_unixtime", &a[0], &DataType::Timestamp(TimeUnit::Microsecond, None))?,
    };
    let micros = micros.as_primitive::<TimestampMicrosecondType>();
    Ok(Arc::new((0..micros.len()).map(|i| micros.is_valid(i).then(|| micros.value(i) as f64 / 1e6)).collect::<Float64Array>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn mysql_formats_like_trino_docs() {
        let t = at("2001-01-09 13:04:05");
        assert_eq!(mysql_format(&t, "%Y-%m-%d %H:%i:%s").unwrap(), "2001-01-09 13:04:05");
        assert_eq!(
            mysql_format(&t, "%a %b %e %M %W %j %p %r %T %y %c %l %k %v %x %Q%%").unwrap(),
            "Tue Jan 9 January Tuesday 009 PM 01:04:05 PM 13:04:05 01 1 1 13 02 2001 Q%"
        );
        for spec in UNSUPPORTED_SPECIFIERS.chars() {
            let e = mysql_format(&t, &format!("%Y %{spec}")).unwrap_err().to_string();
            assert!(e.contains(&format!("INVALID_FUNCTION_ARGUMENT: %{spec} not supported in date format string")), "{e}");
            assert!(mysql_to_strftime(&format!("%{spec}")).is_err());
        }
    }

    #[test]
    fn mysql_parses_like_trino_docs() {
        let f = mysql_to_strftime("%Y-%m-%d %H:%i:%s.%f").unwrap();
        assert_eq!(parse_with("2022-10-20 05:10:00.123", &f).unwrap().0.to_string(), "2022-10-20 05:10:00.123");
        let f = mysql_to_strftime("%Y/%m/%d").unwrap();
        assert_eq!(parse_with("2020/1/2", &f).unwrap().0, at("2020-01-02 00:00:00"));
        assert_eq!(parse_with("2020", &mysql_to_strftime("%Y").unwrap()).unwrap().0, at("2020-01-01 00:00:00"));
        // Two-digit years pivot at 1970; week dates default to the Thursday of the week.
        let f = mysql_to_strftime("%y-%m-%d").unwrap();
        assert_eq!(parse_with("69-01-02", &f).unwrap().0, at("2069-01-02 00:00:00"));
        assert_eq!(parse_with("70-01-02", &f).unwrap().0, at("1970-01-02 00:00:00"));
        assert_eq!(parse_with("2020 10", &mysql_to_strftime("%x %v").unwrap()).unwrap().0, at("2020-03-05 00:00:00"));
        assert_eq!(parse_with("Q2020", &mysql_to_strftime("%Q%Y").unwrap()).unwrap().0, at("2020-01-01 00:00:00"));
    }

    #[test]
    fn joda_formats_and_parses() {
        let t = at("2024-03-07 15:04:05") + Duration::milliseconds(42);
        assert_eq!(joda_format(&t, None, "yyyy-MM-dd HH:mm:ss.SSS").unwrap(), "2024-03-07 15:04:05.042");
        assert_eq!(joda_format(&t, None, "EEE, d MMM yy h:mm a 'at' z").unwrap(), "Thu, 7 Mar 24 3:04 PM at UTC");
        let f = joda_to_strftime("yyyy-MM-dd'T'HH:mm:ss").unwrap();
        assert_eq!(parse_with("2024-03-07T15:04:05", &f).unwrap().0, at("2024-03-07 15:04:05"));
    }

    #[test]
    fn iso8601_forms() {
        assert_eq!(parse_iso("2020-05-11T11:15:05.055+01:00").unwrap(), (at("2020-05-11 11:15:05") + Duration::milliseconds(55), Some(3600)));
        assert_eq!(parse_iso("2020-05-11").unwrap(), (at("2020-05-11 00:00:00"), None));
        assert_eq!(parse_iso("2020-05-11T11:15Z").unwrap(), (at("2020-05-11 11:15:00"), Some(0)));
        assert_eq!(parse_iso_date("2020-W10").unwrap(), NaiveDate::from_ymd_opt(2020, 3, 2).unwrap());
        assert_eq!(parse_iso_date("2020-123").unwrap(), NaiveDate::from_ymd_opt(2020, 5, 2).unwrap());
    }

    #[test]
    fn months_clamp_and_count_like_joda() {
        assert_eq!(add_months(at("2020-01-31 00:00:00"), 1).unwrap(), at("2020-02-29 00:00:00"));
        let diff = |a: &str, b: &str| {
            let arrays: Vec<ArrayRef> = vec![
                Arc::new(datafusion::arrow::array::StringArray::from(vec!["month"])),
                Arc::new(datafusion::arrow::array::StringArray::from(vec![a])),
                Arc::new(datafusion::arrow::array::StringArray::from(vec![b])),
            ];
            date_diff(&arrays, &DataType::Int64).unwrap().as_primitive::<Int64Type>().value(0)
        };
        assert_eq!(diff("2020-01-31", "2020-02-29"), 1);
        assert_eq!(diff("2020-01-15", "2020-02-14"), 0);
        assert_eq!(diff("2020-03-15", "2020-01-16"), -1);
    }
}
