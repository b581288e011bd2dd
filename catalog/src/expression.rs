//! Glue's partition filter language: the `Expression` of GetPartitions, a SQL `WHERE`-clause
//! subset over the partition keys (`=`, `<>`/`!=`, `<`, `<=`, `>`, `>=`, `BETWEEN`, `IN`,
//! `LIKE`, `IS [NOT] NULL`, `AND`, `OR`, `NOT`, parentheses).
//!
//! Values compare as the partition key's type: numerically for the integer and decimal types,
//! as text otherwise (dates and timestamps in their ISO form compare correctly as text).

use std::cmp::Ordering;
use std::collections::HashMap;

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value, ValueWithSpan};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::{Column, Error, Result};

/// A parsed partition filter, checked against the table's partition keys.
#[derive(Debug, Clone)]
pub struct PartitionFilter {
    expr: Expr,
    /// Partition key name → (position in the values, compares as a number).
    keys: HashMap<String, (usize, bool)>,
}

fn numeric(hive_type: &str) -> bool {
    let t = hive_type.trim().to_ascii_lowercase();
    ["int", "integer", "bigint", "long", "tinyint", "smallint", "double", "float"].contains(&t.as_str()) || t.starts_with("decimal")
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("Invalid partition expression: {msg}"))
}

/// A value of the expression: text, a number or NULL.
#[derive(Debug, Clone, PartialEq)]
enum Datum {
    Text(String),
    Number(f64),
    Null,
}

impl PartitionFilter {
    pub fn parse(expression: &str, partition_keys: &[Column]) -> Result<Self> {
        let expr = Parser::new(&GenericDialect {})
            .try_with_sql(expression)
            .and_then(|mut p| {
                let e = p.parse_expr()?;
                p.expect_token(&sqlparser::tokenizer::Token::EOF)?;
                Ok(e)
            })
            .map_err(invalid)?;
        let keys =
            partition_keys.iter().enumerate().map(|(i, c)| (c.name.to_ascii_lowercase(), (i, c.r#type.as_deref().is_some_and(numeric)))).collect();
        let filter = PartitionFilter { expr, keys };
        // Evaluating once over NULLs checks every name and operator before any partition is read.
        filter.eval(&filter.expr, &[])?;
        Ok(filter)
    }

    /// Whether a partition with these values passes the filter.
    pub fn matches(&self, values: &[String]) -> Result<bool> {
        Ok(self.eval(&self.expr, values)? == Some(true))
    }

    fn column(&self, name: &str, values: &[String]) -> Result<Datum> {
        let name = name.trim_matches('`').trim_matches('"').to_ascii_lowercase();
        let (i, is_number) = *self.keys.get(&name).ok_or_else(|| invalid(format!("{name} is not a partition key")))?;
        Ok(match values.get(i) {
            None => Datum::Null,
            Some(v) if is_number => v.trim().parse().map(Datum::Number).unwrap_or_else(|_| Datum::Text(v.clone())),
            Some(v) => Datum::Text(v.clone()),
        })
    }

    fn value(&self, e: &Expr, values: &[String]) -> Result<Datum> {
        match e {
            Expr::Identifier(id) => self.column(&id.value, values),
            Expr::CompoundIdentifier(parts) => self.column(&parts.last().map(|p| p.value.clone()).unwrap_or_default(), values),
            Expr::Nested(inner) => self.value(inner, values),
            Expr::Value(ValueWithSpan { value, .. }) => match value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(Datum::Text(s.clone())),
                Value::Number(n, _) => n.parse().map(Datum::Number).map_err(invalid),
                Value::Null => Ok(Datum::Null),
                other => Err(invalid(format!("unsupported value {other}"))),
            },
            Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match self.value(expr, values)? {
                Datum::Number(n) => Ok(Datum::Number(-n)),
                _ => Err(invalid("a minus sign needs a number")),
            },
            // DATE '2024-01-01', TIMESTAMP '…': compared as their text.
            Expr::TypedString(ts) => match &ts.value.value {
                Value::SingleQuotedString(s) => Ok(Datum::Text(s.clone())),
                other => Err(invalid(format!("unsupported value {other}"))),
            },
            Expr::Cast { expr, .. } => self.value(expr, values),
            other => Err(invalid(format!("unsupported term {other}"))),
        }
    }

    /// Three-valued logic: `None` is SQL's UNKNOWN.
    fn eval(&self, e: &Expr, values: &[String]) -> Result<Option<bool>> {
        Ok(match e {
            Expr::Nested(inner) => self.eval(inner, values)?,
            Expr::BinaryOp { left, op: BinaryOperator::And, right } => match (self.eval(left, values)?, self.eval(right, values)?) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::BinaryOp { left, op: BinaryOperator::Or, right } => match (self.eval(left, values)?, self.eval(right, values)?) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Expr::UnaryOp { op: UnaryOperator::Not, expr } => self.eval(expr, values)?.map(|b| !b),
            Expr::BinaryOp { left, op, right } => {
                let (l, r) = (self.value(left, values)?, self.value(right, values)?);
                let ord = compare(&l, &r);
                match op {
                    BinaryOperator::Eq => ord.map(|o| o == Ordering::Equal),
                    BinaryOperator::NotEq => ord.map(|o| o != Ordering::Equal),
                    BinaryOperator::Lt => ord.map(|o| o == Ordering::Less),
                    BinaryOperator::LtEq => ord.map(|o| o != Ordering::Greater),
                    BinaryOperator::Gt => ord.map(|o| o == Ordering::Greater),
                    BinaryOperator::GtEq => ord.map(|o| o != Ordering::Less),
                    other => return Err(invalid(format!("unsupported operator {other}"))),
                }
            }
            Expr::Between { expr, negated, low, high } => {
                let v = self.value(expr, values)?;
                let (lo, hi) = (self.value(low, values)?, self.value(high, values)?);
                match (compare(&v, &lo), compare(&v, &hi)) {
                    (Some(a), Some(b)) => Some((a != Ordering::Less && b != Ordering::Greater) != *negated),
                    _ => None,
                }
            }
            Expr::InList { expr, list, negated } => {
                let v = self.value(expr, values)?;
                let mut found = Some(false);
                for item in list {
                    match compare(&v, &self.value(item, values)?) {
                        Some(Ordering::Equal) => {
                            found = Some(true);
                            break;
                        }
                        None => found = None,
                        _ => {}
                    }
                }
                found.map(|f| f != *negated)
            }
            Expr::Like { negated, expr, pattern, .. } => {
                let v = self.value(expr, values)?;
                let p = self.value(pattern, values)?;
                match (v, p) {
                    (Datum::Null, _) | (_, Datum::Null) => None,
                    (v, Datum::Text(p)) => Some(like(&p, &text(&v)) != *negated),
                    _ => return Err(invalid("LIKE needs a text pattern")),
                }
            }
            Expr::IsNull(inner) => Some(self.value(inner, values)? == Datum::Null),
            Expr::IsNotNull(inner) => Some(self.value(inner, values)? != Datum::Null),
            other => return Err(invalid(format!("unsupported condition {other}"))),
        })
    }
}

fn text(d: &Datum) -> String {
    match d {
        Datum::Text(s) => s.clone(),
        Datum::Number(n) => n.to_string(),
        Datum::Null => String::new(),
    }
}

fn compare(a: &Datum, b: &Datum) -> Option<Ordering> {
    match (a, b) {
        (Datum::Null, _) | (_, Datum::Null) => None,
        (Datum::Number(x), Datum::Number(y)) => x.partial_cmp(y),
        // A number against text: compare as numbers if the text is one, else as text.
        (Datum::Number(x), Datum::Text(t)) => t.trim().parse::<f64>().ok().and_then(|y| x.partial_cmp(&y)).or_else(|| Some(text(a).cmp(t))),
        (Datum::Text(t), Datum::Number(y)) => t.trim().parse::<f64>().ok().and_then(|x| x.partial_cmp(y)).or_else(|| Some(t.cmp(&text(b)))),
        (Datum::Text(x), Datum::Text(y)) => Some(x.cmp(y)),
    }
}

/// SQL LIKE: `%` any run, `_` one character.
fn like(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<Column> {
        let c = |n: &str, t: &str| Column { name: n.into(), r#type: Some(t.into()), ..Default::default() };
        vec![c("year", "string"), c("month", "int"), c("region", "string")]
    }

    #[test]
    fn filters_evaluate_like_glue() {
        let row = |y: &str, m: &str, r: &str| vec![y.to_string(), m.to_string(), r.to_string()];
        let cases = [
            ("year = '2024'", row("2024", "1", "eu"), true),
            ("year='2024' AND month > 9", row("2024", "10", "eu"), true),
            // month is an int key: 10 > 9 numerically, though "10" < "9" as text.
            ("month > 9", row("2024", "10", "eu"), true),
            ("month > '9'", row("2024", "10", "eu"), true),
            ("year > '2023'", row("2024", "1", "eu"), true),
            ("year BETWEEN '2020' AND '2022'", row("2021", "1", "eu"), true),
            ("year NOT BETWEEN '2020' AND '2022'", row("2021", "1", "eu"), false),
            ("region IN ('eu', 'us')", row("2024", "1", "us"), true),
            ("region NOT IN ('eu', 'us')", row("2024", "1", "us"), false),
            ("region LIKE 'e%'", row("2024", "1", "eu"), true),
            ("region LIKE 'e_x'", row("2024", "1", "eu"), false),
            ("(year = '2023' OR year = '2024') AND NOT region = 'us'", row("2024", "1", "eu"), true),
            ("year <> '2024'", row("2024", "1", "eu"), false),
            ("year != '2023'", row("2024", "1", "eu"), true),
            ("YEAR = '2024'", row("2024", "1", "eu"), true),
            ("region IS NOT NULL", row("2024", "1", "eu"), true),
        ];
        for (expr, values, want) in cases {
            let f = PartitionFilter::parse(expr, &keys()).unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(f.matches(&values).unwrap(), want, "{expr} on {values:?}");
        }
    }

    #[test]
    fn bad_filters_are_invalid_input() {
        for bad in ["nope = '1'", "year = ", "year ~ '1'", "year = '1' extra", "foo(year) = 1"] {
            assert!(matches!(PartitionFilter::parse(bad, &keys()), Err(Error::InvalidInput(_))), "{bad}");
        }
    }
}
