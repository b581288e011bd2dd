//! Partition projection, as Athena does it: a table whose properties say `projection.enabled`
//! is read from partitions computed from its properties, not from the catalog's. Each partition
//! key has a `projection.<key>.type`: `enum` (`values`), `integer` (`range`, `interval`,
//! `digits`), `date` (`range` with `NOW±n<unit>` ends, `format` in Java's letters, `interval`,
//! `interval.unit`) or `injected` (values only from the query's equality filters). Each key's
//! values are narrowed by the query's filters on that key alone before they are combined, so a
//! filter on a date key reads the days it names, not every day of the range. A partition's
//! files are at `storage.location.template` with `${key}` replaced, or under the table's
//! location in Hive's layout.

use std::sync::Arc;

use catalog::Table;
use chrono::{Datelike, Duration, Months, NaiveDateTime, Timelike};
use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{and, cast};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::Session;
use datafusion::common::{Column, DFSchema, DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::utils::expr_to_columns;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use crate::error::Error;
use crate::functions::{joda_format, joda_parse};

/// The most partitions one query may project, as Athena limits it.
const MAX_PARTITIONS: usize = 1_000_000;

/// How a partition key's values are made.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Enum(Vec<String>),
    Integer { start: i64, end: i64, interval: i64, digits: usize },
    Date { start: NaiveDateTime, end: NaiveDateTime, format: String, interval: i64, unit: Unit },
    Injected,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Years,
    Months,
    Weeks,
    Days,
    Hours,
    Minutes,
    Seconds,
}

impl Unit {
    fn parse(text: &str) -> Option<Unit> {
        Some(match text.to_ascii_uppercase().trim_end_matches('S') {
            "YEAR" => Unit::Years,
            "MONTH" => Unit::Months,
            "WEEK" => Unit::Weeks,
            "DAY" => Unit::Days,
            "HOUR" => Unit::Hours,
            "MINUTE" => Unit::Minutes,
            "SECOND" => Unit::Seconds,
            _ => return None,
        })
    }

    /// The finest unit a Java date format writes: the default step of a date key.
    fn of_format(format: &str) -> Unit {
        let letters: String = strip_quoted(format);
        if letters.contains('s') {
            Unit::Seconds
        } else if letters.contains('m') {
            Unit::Minutes
        } else if letters.contains(['H', 'h', 'k', 'K']) {
            Unit::Hours
        } else if letters.contains('d') {
            Unit::Days
        } else if letters.contains('M') {
            Unit::Months
        } else {
            Unit::Years
        }
    }

    /// `t` moved by `n` units; None where it leaves chrono's range (the properties are the
    /// client's: nothing here may overflow or panic).
    fn add(self, t: NaiveDateTime, n: i64) -> Option<NaiveDateTime> {
        let months = |m: i64| {
            let by = Months::new(u32::try_from(m.checked_abs()?).ok()?);
            if m >= 0 { t.checked_add_months(by) } else { t.checked_sub_months(by) }
        };
        match self {
            Unit::Years => months(n.checked_mul(12)?),
            Unit::Months => months(n),
            Unit::Weeks => t.checked_add_signed(Duration::try_weeks(n)?),
            Unit::Days => t.checked_add_signed(Duration::try_days(n)?),
            Unit::Hours => t.checked_add_signed(Duration::try_hours(n)?),
            Unit::Minutes => t.checked_add_signed(Duration::try_minutes(n)?),
            Unit::Seconds => t.checked_add_signed(Duration::try_seconds(n)?),
        }
    }
}

/// A format's letters outside quotes.
fn strip_quoted(format: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in format.chars() {
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// A table's projection: each partition key's kind, and where partitions are.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    keys: Vec<(String, Kind)>,
    template: Option<String>,
}

fn bad(table: &Table, message: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!(
        "HIVE_INVALID_METADATA: the partition projection of table {}.{} is not valid: {message}",
        table.database_name, table.name
    ))
}

impl Projection {
    /// The projection a table's properties describe, if `projection.enabled` is true.
    pub fn of(table: &Table) -> Result<Option<Projection>, Error> {
        let p = &table.parameters;
        if !p.get("projection.enabled").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let get = |key: &str, what: &str| p.get(&format!("projection.{key}.{what}")).map(|v| v.trim().to_string());
        let mut keys = Vec::new();
        for column in &table.partition_keys {
            let key = column.name.to_lowercase();
            let kind = match get(&key, "type").map(|t| t.to_ascii_lowercase()).as_deref() {
                Some("enum") => {
                    let values = get(&key, "values").ok_or_else(|| bad(table, format!("projection.{key}.values is missing")))?;
                    Kind::Enum(values.split(',').map(|v| v.trim().to_string()).collect())
                }
                Some("integer") => {
                    let range = get(&key, "range").ok_or_else(|| bad(table, format!("projection.{key}.range is missing")))?;
                    let (start, end) =
                        range.split_once(',').ok_or_else(|| bad(table, format!("projection.{key}.range {range} is not two numbers")))?;
                    let number =
                        |s: &str| s.trim().parse::<i64>().map_err(|_| bad(table, format!("projection.{key}.range {range} is not two numbers")));
                    let interval = get(&key, "interval").map(|i| i.parse::<i64>()).transpose().map_err(|_| bad(table, "interval is not a number"))?;
                    let digits = get(&key, "digits").map(|d| d.parse::<usize>()).transpose().map_err(|_| bad(table, "digits is not a number"))?;
                    if digits.is_some_and(|d| d > 20) {
                        return Err(bad(table, format!("projection.{key}.digits must be at most 20")));
                    }
                    Kind::Integer { start: number(start)?, end: number(end)?, interval: interval.unwrap_or(1).max(1), digits: digits.unwrap_or(0) }
                }
                Some("date") => {
                    let format = get(&key, "format").ok_or_else(|| bad(table, format!("projection.{key}.format is missing")))?;
                    let range = get(&key, "range").ok_or_else(|| bad(table, format!("projection.{key}.range is missing")))?;
                    let (start, end) = range.split_once(',').ok_or_else(|| bad(table, format!("projection.{key}.range {range} is not two dates")))?;
                    let now = chrono::Utc::now().naive_utc();
                    let end_of =
                        |s: &str| date_end(s.trim(), &format, now).ok_or_else(|| bad(table, format!("{s:?} is not a date in format {format}")));
                    let unit = match get(&key, "interval.unit") {
                        Some(u) => Unit::parse(&u).ok_or_else(|| bad(table, format!("{u} is not a unit of time")))?,
                        None => Unit::of_format(&format),
                    };
                    let interval = get(&key, "interval").map(|i| i.parse::<i64>()).transpose().map_err(|_| bad(table, "interval is not a number"))?;
                    Kind::Date { start: end_of(start)?, end: end_of(end)?, format, interval: interval.unwrap_or(1).max(1), unit }
                }
                Some("injected") => Kind::Injected,
                Some(other) => return Err(bad(table, format!("{other} is not a projection type (enum, integer, date, injected)"))),
                None => return Err(bad(table, format!("projection.{key}.type is missing"))),
            };
            keys.push((column.name.clone(), kind));
        }
        Ok(Some(Projection { keys, template: p.get("storage.location.template").cloned() }))
    }

    /// The partitions (their values, and their locations if the table has a template) that the
    /// query's filters do not rule out.
    pub fn partitions(&self, state: &dyn Session, fields: &[Field], filters: &[Expr]) -> DfResult<Vec<(Vec<String>, Option<String>)>> {
        let mut per_key: Vec<Vec<String>> = Vec::new();
        for ((name, kind), field) in self.keys.iter().zip(fields) {
            let own: Vec<&Expr> = filters.iter().filter(|f| only_column(f, field.name())).collect();
            let values = match kind {
                Kind::Injected => injected(name, filters)?,
                other => candidates(other)?,
            };
            per_key.push(keep(state, field, values, &own)?);
        }
        let total = per_key.iter().try_fold(1usize, |n, v| n.checked_mul(v.len()));
        if total.is_none_or(|n| n > MAX_PARTITIONS) {
            return Err(DataFusionError::External(Box::new(Error::InvalidInput(format!(
                "HIVE_EXCEEDED_PARTITION_LIMIT: the query would read more than {MAX_PARTITIONS} projected partitions: filter on the partition keys"
            )))));
        }
        let mut combos: Vec<Vec<String>> = vec![Vec::new()];
        for values in &per_key {
            combos = combos.into_iter().flat_map(|c| values.iter().map(move |v| [c.clone(), vec![v.clone()]].concat())).collect();
        }
        Ok(combos
            .into_iter()
            .map(|values| {
                let location = self
                    .template
                    .as_ref()
                    .map(|t| self.keys.iter().zip(&values).fold(t.clone(), |acc, ((name, _), v)| acc.replace(&format!("${{{name}}}"), v)));
                (values, location)
            })
            .collect())
    }
}

/// A date range's end: `NOW`, `NOW±<n><unit>`, or a date in the key's format.
fn date_end(text: &str, format: &str, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let upper = text.to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("NOW") {
        if rest.is_empty() {
            return Some(now);
        }
        let (sign, rest) = match rest.chars().next()? {
            '+' => (1, &rest[1..]),
            '-' => (-1, &rest[1..]),
            _ => return None,
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let n: i64 = digits.parse().ok()?;
        return Unit::parse(&rest[digits.len()..])?.add(now, sign * n);
    }
    joda_parse(text, format)
}

/// Every value of an enum, integer or date key.
fn candidates(kind: &Kind) -> DfResult<Vec<String>> {
    let too_many = || {
        DataFusionError::External(Box::new(Error::InvalidInput(format!(
            "HIVE_EXCEEDED_PARTITION_LIMIT: a projected key has more than {MAX_PARTITIONS} values"
        ))))
    };
    Ok(match kind {
        Kind::Enum(values) => values.clone(),
        Kind::Integer { start, end, interval, digits } => {
            // In i128: no range of i64 ends overflows.
            let (start, end, interval) = (i128::from(*start), i128::from(*end), i128::from(*interval));
            if end < start {
                return Ok(Vec::new());
            }
            if (end - start) / interval >= MAX_PARTITIONS as i128 {
                return Err(too_many());
            }
            (0..).map(|i| start + i * interval).take_while(|v| *v <= end).map(|v| format!("{v:0digits$}")).collect()
        }
        Kind::Date { start, end, format, interval, unit } => {
            let mut out = Vec::new();
            let mut t = truncate(*start, *unit);
            while t <= *end {
                if out.len() > MAX_PARTITIONS {
                    return Err(too_many());
                }
                out.push(joda_format(&t, None, format)?);
                t = match unit.add(t, *interval) {
                    Some(next) => next,
                    None => break,
                };
            }
            out
        }
        Kind::Injected => Vec::new(),
    })
}

/// A time cut down to its unit (the start of its day, hour, …), as the format writes it.
fn truncate(t: NaiveDateTime, unit: Unit) -> NaiveDateTime {
    let date = t.date();
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or(t);
    match unit {
        Unit::Years => date.with_day(1).and_then(|d| d.with_month(1)).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or(t),
        Unit::Months => date.with_day(1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or(t),
        Unit::Weeks | Unit::Days => midnight,
        Unit::Hours => date.and_hms_opt(t.hour(), 0, 0).unwrap_or(t),
        Unit::Minutes => date.and_hms_opt(t.hour(), t.minute(), 0).unwrap_or(t),
        Unit::Seconds => t,
    }
}

/// The values an injected key takes from the query: its filters that are equalities to
/// literals (`k = 'a'`, `k IN ('a', 'b')`, or those joined by OR, as the optimizer writes IN).
fn injected(name: &str, filters: &[Expr]) -> DfResult<Vec<String>> {
    let mut values: Vec<String> = filters.iter().filter_map(|f| equalities(f, name)).flatten().collect();
    if values.is_empty() {
        return Err(DataFusionError::External(Box::new(Error::ConstraintViolation(format!(
            "For the injected projected partition column {name}, the WHERE clause must contain only static equality conditions, and at least one such condition must be present."
        )))));
    }
    values.sort();
    values.dedup();
    Ok(values)
}

/// The literals a filter made only of equalities on the key sets it to, if it is one.
fn equalities(expr: &Expr, name: &str) -> Option<Vec<String>> {
    let is_key = |e: &Expr| matches!(e, Expr::Column(c) if c.name.eq_ignore_ascii_case(name));
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => match (left.as_ref(), right.as_ref()) {
            (k, Expr::Literal(v, _)) | (Expr::Literal(v, _), k) if is_key(k) => Some(text(v).into_iter().collect()),
            _ => None,
        },
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let mut both = equalities(left, name)?;
            both.extend(equalities(right, name)?);
            Some(both)
        }
        Expr::InList(list) if !list.negated && is_key(&list.expr) => list
            .list
            .iter()
            .map(|item| match item {
                Expr::Literal(v, _) => Some(text(v)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect()),
        _ => None,
    }
}

/// A literal as a partition value's text.
fn text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        v if v.is_null() => None,
        v => Some(v.to_string()),
    }
}

fn only_column(expr: &Expr, name: &str) -> bool {
    let mut columns: std::collections::HashSet<Column> = std::collections::HashSet::new();
    expr_to_columns(expr, &mut columns).is_ok() && !columns.is_empty() && columns.iter().all(|c| c.name == name)
}

/// The values of one key that its own filters keep, read as the key's declared type (a value
/// that does not cast is NULL, and so matches no comparison).
fn keep(state: &dyn Session, field: &Field, values: Vec<String>, filters: &[&Expr]) -> DfResult<Vec<String>> {
    if filters.is_empty() || values.is_empty() {
        return Ok(values);
    }
    let raw: StringArray = values.iter().map(|v| Some(v.as_str())).collect();
    let column: ArrayRef = cast(&raw, field.data_type())?;
    let schema = Arc::new(Schema::new(vec![field.clone()]));
    let batch = RecordBatch::try_new(schema.clone(), vec![column])?;
    let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
    let mut kept = BooleanArray::from(vec![true; values.len()]);
    for filter in filters {
        let physical = state.create_physical_expr((*filter).clone(), &df_schema)?;
        let result = physical.evaluate(&batch)?.into_array(values.len())?;
        if let Some(result) = result.as_any().downcast_ref::<BooleanArray>() {
            kept = and(&kept, result)?;
        }
    }
    Ok(values.into_iter().zip(kept.iter()).filter(|(_, k)| k.unwrap_or(false)).map(|(v, _)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::Column as GlueColumn;

    fn table(keys: &[&str], properties: &[(&str, &str)]) -> Table {
        Table {
            name: "t".into(),
            database_name: "d".into(),
            partition_keys: keys.iter().map(|k| GlueColumn { name: k.to_string(), r#type: Some("string".into()), ..Default::default() }).collect(),
            parameters: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn kinds_make_their_values() {
        let t = table(
            &["region", "n", "day"],
            &[
                ("projection.enabled", "true"),
                ("projection.region.type", "enum"),
                ("projection.region.values", "eu, us"),
                ("projection.n.type", "integer"),
                ("projection.n.range", "1,10"),
                ("projection.n.interval", "4"),
                ("projection.n.digits", "2"),
                ("projection.day.type", "date"),
                ("projection.day.range", "2024/02/27,2024/03/02"),
                ("projection.day.format", "yyyy/MM/dd"),
            ],
        );
        let p = Projection::of(&t).unwrap().unwrap();
        assert_eq!(candidates(&p.keys[0].1).unwrap(), ["eu", "us"]);
        assert_eq!(candidates(&p.keys[1].1).unwrap(), ["01", "05", "09"]);
        assert_eq!(candidates(&p.keys[2].1).unwrap(), ["2024/02/27", "2024/02/28", "2024/02/29", "2024/03/01", "2024/03/02"]);
        assert!(Projection::of(&table(&["x"], &[])).unwrap().is_none());
        assert!(Projection::of(&table(&["x"], &[("projection.enabled", "true"), ("projection.x.type", "nope")])).is_err());
    }

    #[test]
    fn date_ends_relative_to_now() {
        let now = NaiveDateTime::parse_from_str("2024-03-31 10:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(date_end("NOW", "yyyy-MM-dd", now), Some(now));
        assert_eq!(date_end("NOW-1MONTHS", "yyyy-MM-dd", now).unwrap().to_string(), "2024-02-29 10:00:00");
        assert_eq!(date_end("NOW+2DAYS", "yyyy-MM-dd", now).unwrap().to_string(), "2024-04-02 10:00:00");
        assert_eq!(date_end("2020-01-05", "yyyy-MM-dd", now).unwrap().to_string(), "2020-01-05 00:00:00");
        assert_eq!(Unit::of_format("yyyy-MM-dd-HH"), Unit::Hours);
        assert_eq!(Unit::of_format("yyyy-MM"), Unit::Months);
    }
}
