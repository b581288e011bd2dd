//! The Athena dialect layer: what kind of statement a query is, identifier rules, CTAS, and the
//! `_colN` names Athena gives to unnamed columns.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::{Expr, Ident, SelectItem, SetExpr, Statement};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};

use crate::dialect::AthenaDialect;
use crate::error::{Error, Result};

/// Athena's statement types, as `GetQueryExecution` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StatementType {
    #[serde(rename = "DML")]
    Dml,
    #[serde(rename = "DDL")]
    Ddl,
    #[serde(rename = "UTILITY")]
    Utility,
}

impl StatementType {
    pub fn as_str(self) -> &'static str {
        match self {
            StatementType::Dml => "DML",
            StatementType::Ddl => "DDL",
            StatementType::Utility => "UTILITY",
        }
    }
}

/// A statement, classified and normalised.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// A query returning rows (SELECT, WITH, VALUES).
    Query { sql: String },
    /// `CREATE TABLE name [WITH (props)] AS query`.
    CreateTableAs { database: Option<String>, table: String, properties: BTreeMap<String, String>, query: String, if_not_exists: bool },
    /// A statement Minerva does not run yet; the reason says which.
    Unsupported { statement_type: StatementType, reason: String },
}

impl Plan {
    pub fn statement_type(&self) -> StatementType {
        match self {
            Plan::Query { .. } => StatementType::Dml,
            Plan::CreateTableAs { .. } => StatementType::Ddl,
            Plan::Unsupported { statement_type, .. } => *statement_type,
        }
    }
}

/// Tokenises and rewrites identifiers the Athena way: quoted identifiers are case-insensitive
/// (lowercased) and backquotes become double quotes. String literals are left alone.
fn normalize(sql: &str) -> Result<Vec<Token>> {
    let mut tokens = Tokenizer::new(&AthenaDialect, sql).with_unescape(false).tokenize().map_err(|e| Error::InvalidInput(format!("line {e}")))?;
    for t in &mut tokens {
        if let Token::Word(w) = t
            && w.quote_style.is_some()
        {
            *w = Word { value: w.value.to_lowercase(), quote_style: Some('"'), keyword: Keyword::NoKeyword };
        }
    }
    crate::rewrite::quote_cast_types(&mut tokens);
    // Trailing semicolons and whitespace carry nothing.
    while matches!(tokens.last(), Some(Token::SemiColon | Token::Whitespace(_))) {
        tokens.pop();
    }
    while matches!(tokens.first(), Some(Token::Whitespace(_))) {
        tokens.remove(0);
    }
    Ok(tokens)
}

fn render(tokens: &[Token]) -> String {
    tokens.iter().map(|t| t.to_string()).collect()
}

/// Words and punctuation without whitespace, with their index in the full token list.
fn significant(tokens: &[Token]) -> Vec<(usize, &Token)> {
    tokens.iter().enumerate().filter(|(_, t)| !matches!(t, Token::Whitespace(_))).collect()
}

fn word(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn ident(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) => Some(w.value.to_lowercase()),
        _ => None,
    }
}

fn literal(t: &Token) -> Option<String> {
    match t {
        Token::SingleQuotedString(s) => Some(s.replace("''", "'")),
        Token::Number(n, _) => Some(n.clone()),
        Token::Word(w) => Some(w.value.clone()),
        _ => None,
    }
}

/// Classifies a statement and prepares it for the engine.
pub fn plan(sql: &str) -> Result<Plan> {
    let tokens = normalize(sql)?;
    let sig = significant(&tokens);
    let first = sig.first().and_then(|(_, t)| word(t)).unwrap_or_default();
    let second = sig.get(1).and_then(|(_, t)| word(t)).unwrap_or_default();
    match first.as_str() {
        "SELECT" | "WITH" | "VALUES" | "TABLE" => Ok(Plan::Query { sql: render(&tokens) }),
        _ if matches!(sig.first(), Some((_, Token::LParen))) => Ok(Plan::Query { sql: render(&tokens) }),
        "CREATE" if second == "TABLE" => parse_ctas(&tokens, &sig),
        "CREATE" | "DROP" | "ALTER" | "MSCK" | "SHOW" | "DESCRIBE" | "DESC" => {
            Ok(Plan::Unsupported { statement_type: StatementType::Ddl, reason: format!("{first} {second} statements are not supported yet") })
        }
        "EXPLAIN" => Ok(Plan::Unsupported { statement_type: StatementType::Utility, reason: "EXPLAIN is not supported yet".into() }),
        "" => Err(Error::InvalidInput("the query string is empty".into())),
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "UNLOAD" | "PREPARE" | "EXECUTE" | "DEALLOCATE" => {
            Ok(Plan::Unsupported { statement_type: StatementType::Dml, reason: format!("{first} statements are not supported yet") })
        }
        _ => {
            let found = sig.first().map(|(_, t)| t.to_string()).unwrap_or_default();
            Err(Error::InvalidInput(format!(
                "line 1:1: mismatched input '{found}'. Expecting: 'ALTER', 'CREATE', 'DELETE', 'DESCRIBE', 'DROP', 'EXPLAIN', 'INSERT', 'SELECT', 'SHOW', 'WITH', <query>"
            )))
        }
    }
}

fn parse_ctas(tokens: &[Token], sig: &[(usize, &Token)]) -> Result<Plan> {
    let bad = |what: &str| Error::InvalidInput(format!("line 1: malformed CREATE TABLE AS statement: {what}"));
    let mut i = 2;
    let mut if_not_exists = false;
    if sig.get(i).and_then(|(_, t)| word(t)).as_deref() == Some("IF") {
        if_not_exists = true;
        i += 3;
    }
    // A name of one to three parts: [catalog.][database.]table.
    let mut parts = vec![sig.get(i).and_then(|(_, t)| ident(t)).ok_or_else(|| bad("expected a table name"))?];
    i += 1;
    while matches!(sig.get(i), Some((_, Token::Period))) {
        parts.push(sig.get(i + 1).and_then(|(_, t)| ident(t)).ok_or_else(|| bad("expected a name after '.'"))?);
        i += 2;
    }
    let table = parts.pop().unwrap_or_default();
    let database = parts.pop();
    let mut properties = BTreeMap::new();
    if sig.get(i).and_then(|(_, t)| word(t)).as_deref() == Some("WITH") {
        i += 1;
        if !matches!(sig.get(i), Some((_, Token::LParen))) {
            return Err(bad("expected '(' after WITH"));
        }
        i += 1;
        loop {
            let key = sig.get(i).and_then(|(_, t)| ident(t)).ok_or_else(|| bad("expected a property name"))?;
            if !matches!(sig.get(i + 1), Some((_, Token::Eq))) {
                return Err(bad("expected '=' after a property name"));
            }
            i += 2;
            // A value is a literal or an ARRAY['a', 'b'] list, kept as comma-separated text.
            if sig.get(i).and_then(|(_, t)| word(t)).as_deref() == Some("ARRAY") {
                let mut values = Vec::new();
                i += 2;
                while let Some((_, t)) = sig.get(i) {
                    match t {
                        Token::RBracket => break,
                        Token::Comma => {}
                        t => values.push(literal(t).ok_or_else(|| bad("unexpected token in ARRAY"))?),
                    }
                    i += 1;
                }
                properties.insert(key, values.join(","));
            } else {
                let value = sig.get(i).and_then(|(_, t)| literal(t)).ok_or_else(|| bad("expected a property value"))?;
                properties.insert(key, value);
            }
            i += 1;
            match sig.get(i) {
                Some((_, Token::Comma)) => i += 1,
                Some((_, Token::RParen)) => {
                    i += 1;
                    break;
                }
                _ => return Err(bad("expected ',' or ')' in WITH")),
            }
        }
    }
    if sig.get(i).and_then(|(_, t)| word(t)).as_deref() != Some("AS") {
        return Err(bad("expected AS followed by a query"));
    }
    let start = sig.get(i + 1).map(|(idx, _)| *idx).ok_or_else(|| bad("expected a query after AS"))?;
    let mut query: Vec<&Token> = tokens[start..].iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    // Trino allows `… WITH DATA` (the default) and `… WITH NO DATA` after the query.
    let words: Vec<String> = query.iter().rev().take(3).map(|t| word(t).unwrap_or_default()).collect();
    if words.len() == 3 && words[0] == "DATA" && words[1] == "NO" && words[2] == "WITH" {
        return Err(Error::InvalidInput("CREATE TABLE … WITH NO DATA is not supported yet".into()));
    }
    let mut end = tokens.len();
    if words.len() >= 2 && words[0] == "DATA" && words[1] == "WITH" {
        query.truncate(query.len() - 2);
        // Cut the original token list just before that WITH.
        let mut seen = 0;
        while end > start {
            end -= 1;
            if !matches!(tokens[end], Token::Whitespace(_)) {
                seen += 1;
                if seen == 2 {
                    break;
                }
            }
        }
    }
    let mut body = &tokens[start..end];
    while matches!(body.last(), Some(Token::Whitespace(_))) {
        body = &body[..body.len() - 1];
    }
    // `AS (query)`: the parentheses wrap the whole query only if the first one closes last.
    if matches!(body.first(), Some(Token::LParen)) && matches!(body.last(), Some(Token::RParen)) {
        let mut depth = 0;
        let mut closes_at_end = true;
        for (n, t) in body.iter().enumerate() {
            match t {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 && n + 1 != body.len() {
                        closes_at_end = false;
                    }
                }
                _ => {}
            }
        }
        if closes_at_end {
            body = &body[1..body.len() - 1];
        }
    }
    let q = render(body).trim().to_string();
    Ok(Plan::CreateTableAs { database, table, properties, query: q, if_not_exists })
}

/// Names the unnamed columns of the outermost SELECT `_col0`, `_col1`, … as Athena does: every
/// projected expression that is not a plain column reference and has no alias.
pub fn name_unnamed_columns(statement: &mut Statement) {
    let Statement::Query(query) = statement else { return };
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::Select(select) => {
                for (i, item) in select.projection.iter_mut().enumerate() {
                    if let SelectItem::UnnamedExpr(expr) = item
                        && !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                    {
                        let expr = std::mem::replace(expr, Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()));
                        *item = SelectItem::ExprWithAlias { expr, alias: Ident::new(format!("_col{i}")) };
                    }
                }
                return;
            }
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(q) => body = q.body.as_mut(),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statements() {
        assert!(matches!(plan("select 1;").unwrap(), Plan::Query { .. }));
        assert!(matches!(plan("  WITH a AS (SELECT 1) SELECT * FROM a").unwrap(), Plan::Query { .. }));
        assert_eq!(plan("DROP TABLE x").unwrap().statement_type(), StatementType::Ddl);
        assert!(plan("   ").is_err());
    }

    #[test]
    fn quoted_identifiers_fold_case_and_literals_do_not() {
        let Plan::Query { sql } = plan("SELECT \"Star_Rating\", `Cat` FROM \"DB\".\"T\" WHERE x = 'It''s A'").unwrap() else { panic!() };
        assert_eq!(sql, "SELECT \"star_rating\", \"cat\" FROM \"db\".\"t\" WHERE x = 'It''s A'");
    }

    #[test]
    fn parses_the_ctas_awswrangler_sends() {
        let sql = "CREATE TABLE \"Reviews\".\"temp_table_ab12\"\nWITH(\n    external_location = 's3://out/tables/ab12',\n    format = 'PARQUET',\n    bucketed_by = ARRAY['a', 'b'])\nAS SELECT sentiment, COUNT(*) FROM t GROUP BY 1";
        let Plan::CreateTableAs { database, table, properties, query, .. } = plan(sql).unwrap() else { panic!() };
        assert_eq!(database.as_deref(), Some("reviews"));
        assert_eq!(table, "temp_table_ab12");
        assert_eq!(properties["external_location"], "s3://out/tables/ab12");
        assert_eq!(properties["format"], "PARQUET");
        assert_eq!(properties["bucketed_by"], "a,b");
        assert_eq!(query, "SELECT sentiment, COUNT(*) FROM t GROUP BY 1");
        let Plan::CreateTableAs { database, query, .. } = plan("create table t as (select 1) with data").unwrap() else { panic!() };
        assert_eq!(database, None);
        assert_eq!(query, "select 1");
    }
}
