//! Rewrites that make Trino SQL mean in DataFusion what it means on Athena.
//!
//! Before parsing, on tokens: quoted identifiers fold to lower case; the type of every `CAST` and
//! `TRY_CAST` becomes one quoted name (`"__trino_type:array(integer)"`) that Minerva's type planner
//! reads, because Trino's type syntax (`array(integer)`, `row(a bigint)`, `map(varchar, integer)`)
//! is not SQL sqlparser knows; `VALUES 1, 2` (rows of one value, unparenthesized) gets its
//! parentheses.
//!
//! After parsing, on the syntax tree: literals take Trino's types (`1` is an `integer`, `1.5` a
//! `decimal(2,1)`, `1e0` a `double`) except where a number is a position (`ORDER BY 1`) or a
//! count (`LIMIT 10`); and calls that are not plain functions become what DataFusion plans:
//! `if`, `try`, `count_if`, `max_by`/`min_by`, `approx_percentile`, `listagg`, `zip_with`, JSON casts;
//! quantified comparisons (`x > ALL (subquery)`, `x < ANY (…)`) become aggregates of the
//! subquery with Trino's three-valued answer; `e AT TIME ZONE z` reads a timestamp without a zone
//! as UTC, as Trino does; `TIMESTAMP '2012-10-31 01:00 UTC'` literals (seconds optional, a zone
//! making one with a time zone); a row's field by name (`CAST(… AS ROW(x …)).x`); and
//! `TABLESAMPLE BERNOULLI (p)` / `SYSTEM (p)` as a sample of p percent of the rows.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType as SqlType, Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments,
    GroupByExpr, Ident, LimitClause, NamedWindowExpr, ObjectName, ObjectNamePart, OrderByKind, Query, Select, SetExpr, SetOperator, SetQuantifier,
    Statement, TableFactor, TableSampleKind, Value, VisitMut, VisitorMut, WindowFrame, WindowFrameBound, WindowType, visit_expressions_mut,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Word};

use crate::dialect::AthenaDialect;
use crate::error::{Error, Result};

/// The prefix of the quoted type names the token pass writes.
pub const TYPE_PREFIX: &str = "__trino_type:";

/// Replaces the type of each `CAST(… AS type)` and `TRY_CAST(… AS type)` with one quoted name.
pub fn quote_cast_types(tokens: &mut Vec<Token>) {
    let mut i = 0;
    while i < tokens.len() {
        let is_cast = matches!(&tokens[i], Token::Word(w) if w.quote_style.is_none() && matches!(w.keyword, Keyword::CAST | Keyword::TRY_CAST));
        if !is_cast {
            i += 1;
            continue;
        }
        // The opening parenthesis, skipping white space.
        let mut j = i + 1;
        while matches!(tokens.get(j), Some(Token::Whitespace(_))) {
            j += 1;
        }
        if !matches!(tokens.get(j), Some(Token::LParen)) {
            i += 1;
            continue;
        }
        // Find `AS` at depth 1, then the closing parenthesis.
        let mut depth = 0;
        let mut as_at = None;
        let mut close = None;
        for (k, t) in tokens.iter().enumerate().skip(j) {
            match t {
                Token::LParen | Token::LBracket => depth += 1,
                Token::RParen | Token::RBracket => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(k);
                        break;
                    }
                }
                Token::Word(w) if depth == 1 && w.quote_style.is_none() && w.keyword == Keyword::AS => as_at = Some(k),
                _ => {}
            }
        }
        let (Some(as_at), Some(close)) = (as_at, close) else {
            i += 1;
            continue;
        };
        let text: String = tokens[as_at + 1..close].iter().map(|t| t.to_string()).collect::<String>().trim().to_lowercase();
        let replacement = Token::Word(Word { value: format!("{TYPE_PREFIX}{text}"), quote_style: Some('"'), keyword: Keyword::NoKeyword });
        tokens.splice(as_at + 1..close, [Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space), replacement]);
        i += 1;
    }
}

/// Gives `VALUES 1, 2, 3` (Trino's rows of one value each) the parentheses sqlparser needs:
/// `VALUES (1), (2), (3)`. A list that starts with `(` is left as it is.
pub fn parenthesize_values(tokens: &mut Vec<Token>) {
    let significant = |tokens: &[Token], from: usize| (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    if !tokens.iter().any(|t| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::VALUES)) {
        return;
    }
    // One pass: tokens are copied to `out`, a bare list's items wrapped on the way.
    let ends = [Keyword::ORDER, Keyword::LIMIT, Keyword::OFFSET, Keyword::FETCH, Keyword::UNION, Keyword::EXCEPT, Keyword::INTERSECT];
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let is_values = matches!(&tokens[i], Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::VALUES);
        out.push(tokens[i].clone());
        i += 1;
        // (Each space is a token: look ahead only from a VALUES.)
        let Some(first) = is_values.then(|| significant(tokens, i)).flatten() else { continue };
        if tokens[first] == Token::LParen {
            continue;
        }
        // The items run to a `)` that closes an outer parenthesis, a clause that follows the
        // list, or the end; each is wrapped at the commas outside brackets.
        out.extend(tokens[i..first].iter().cloned());
        let (mut depth, mut j) = (0i32, first);
        out.push(Token::LParen);
        while j < tokens.len() {
            match &tokens[j] {
                Token::LParen | Token::LBracket => depth += 1,
                Token::RParen | Token::RBracket if depth == 0 => break,
                Token::RParen | Token::RBracket => depth -= 1,
                Token::Comma if depth == 0 => {
                    out.extend([Token::RParen, Token::Comma, Token::LParen]);
                    j += 1;
                    continue;
                }
                Token::SemiColon if depth == 0 => break,
                Token::Word(w) if depth == 0 && w.quote_style.is_none() && ends.contains(&w.keyword) => break,
                _ => {}
            }
            out.push(tokens[j].clone());
            j += 1;
        }
        out.push(Token::RParen);
        i = j;
    }
    *tokens = out;
}

/// Trino's time travel, `t FOR VERSION AS OF v` and `t FOR TIMESTAMP AS OF e`, as a table name
/// the catalog reads: `"t$version=v"`, `"t$asof=<e in hex>"` (the expression evaluated by
/// `session::plan_query` before the statement is planned; see `tables`). Glue's names cannot hold
/// `$`, so these never meet a real table.
pub fn time_travel(tokens: &mut Vec<Token>) -> Result<()> {
    let sig: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i], Token::Whitespace(_))).collect();
    let word = |i: usize| match tokens.get(i) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    // Where each clause starts: its table name's last part, FOR, and the first token after OF.
    let mut found = Vec::new();
    for k in 1..sig.len().saturating_sub(4) {
        let kind = word(sig[k + 1]);
        if word(sig[k]).as_deref() == Some("FOR")
            && matches!(kind.as_deref(), Some("TIMESTAMP" | "VERSION"))
            && word(sig[k + 2]).as_deref() == Some("AS")
            && word(sig[k + 3]).as_deref() == Some("OF")
            && matches!(tokens[sig[k - 1]], Token::Word(_))
        {
            found.push((sig[k - 1], sig[k], kind == Some("VERSION".into()), sig[k + 4]));
        }
    }
    for (name, for_at, version, from) in found.into_iter().rev() {
        let Token::Word(table) = &tokens[name] else { continue };
        // The expression runs as far as sqlparser reads one.
        let rest: Vec<Token> = tokens[from..].to_vec();
        let mut parser = Parser::new(&AthenaDialect).with_tokens(rest);
        let expr = parser.parse_expr().map_err(|e| Error::Syntax(format!("line 1:1: FOR ... AS OF needs a value: {e}")))?;
        let end = from + parser.index().min(tokens.len() - from);
        let text = if version {
            match &expr {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n.clone(),
                    Value::SingleQuotedString(s) => s.clone(),
                    _ => return Err(Error::Syntax(format!("line 1:1: FOR VERSION AS OF takes a snapshot id or a branch or tag name, not {expr}"))),
                },
                _ => return Err(Error::Syntax(format!("line 1:1: FOR VERSION AS OF takes a snapshot id or a branch or tag name, not {expr}"))),
            }
        } else {
            expr.to_string()
        };
        // The expression travels in the name as hex: it may hold quotes of any kind.
        let text = if version { text } else { text.bytes().map(|b| format!("{b:02x}")).collect() };
        let suffix = if version { "version" } else { "asof" };
        let renamed = Token::Word(Word {
            value: format!("{}${suffix}={text}", table.value.to_lowercase()),
            quote_style: Some('"'),
            keyword: Keyword::NoKeyword,
        });
        let mut out: Vec<Token> = tokens[..name].to_vec();
        out.push(renamed);
        out.extend(tokens[name + 1..for_at].iter().filter(|t| matches!(t, Token::Whitespace(_))).cloned());
        out.push(Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space));
        out.extend(tokens[end..].iter().cloned());
        *tokens = out;
    }
    Ok(())
}

/// The Trino type text a quoted cast type carries, if the type is one.
pub fn cast_type_text(t: &SqlType) -> Option<String> {
    match t {
        SqlType::Custom(name, modifiers) if modifiers.is_empty() && name.0.len() == 1 => {
            let ObjectNamePart::Identifier(id) = &name.0[0] else { return None };
            id.value.strip_prefix(TYPE_PREFIX).map(str::to_string)
        }
        _ => None,
    }
}

/// Parses one expression in Athena's dialect.
pub fn parse_expr(sql: &str) -> Result<Expr> {
    Parser::new(&AthenaDialect).try_with_sql(sql).and_then(|mut p| p.parse_expr()).map_err(|e| Error::Internal(format!("rewriting to {sql:?}: {e}")))
}

/// Applies the syntax-tree rewrites to a statement.
pub fn rewrite(statement: &mut Statement) -> Result<()> {
    let mut r = Rewriter { keep: HashSet::new(), error: None };
    let _ = statement.visit(&mut r);
    match r.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct Rewriter {
    /// Numbers that are positions or counts, by address: they stay as they are.
    keep: HashSet<*const Expr>,
    error: Option<Error>,
}

impl Rewriter {
    fn keep_frame(&mut self, frame: &WindowFrame) {
        for bound in std::iter::once(&frame.start_bound).chain(frame.end_bound.iter()) {
            if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) = bound {
                self.keep_numbers([e.as_ref()]);
            }
        }
    }

    fn keep_numbers<'a>(&mut self, exprs: impl IntoIterator<Item = &'a Expr>) {
        for e in exprs {
            if matches!(e, Expr::Value(v) if matches!(v.value, Value::Number(_, _))) {
                self.keep.insert(e as *const Expr);
            }
        }
    }
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // DataFusion answers EXCEPT ALL and INTERSECT ALL with sets, not Trino's multisets: they
        // are expanded before (`session::plan_query`); any left is refused rather than answered
        // wrongly.
        if let Some(op) = multiset_operation(&query.body) {
            self.error = Some(Error::InvalidInput(format!("{op} ALL is not supported")));
            return ControlFlow::Break(());
        }
        if let Some(order) = &query.order_by
            && let OrderByKind::Expressions(items) = &order.kind
        {
            let exprs: Vec<&Expr> = items.iter().map(|o| &o.expr).collect();
            self.keep_numbers(exprs);
        }
        // `FETCH FIRST n ROWS ONLY` is `LIMIT n`.
        if let Some(fetch) = &query.fetch
            && !fetch.percent
            && !fetch.with_ties
        {
            let quantity = fetch.quantity.clone().unwrap_or_else(|| Expr::Value(Value::Number("1".into(), false).into()));
            query.limit_clause = Some(match query.limit_clause.take() {
                Some(LimitClause::LimitOffset { offset, limit_by, .. }) => LimitClause::LimitOffset { limit: Some(quantity), offset, limit_by },
                _ => LimitClause::LimitOffset { limit: Some(quantity), offset: None, limit_by: Vec::new() },
            });
            query.fetch = None;
        }
        match &query.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => {
                self.keep_numbers(limit.iter());
                self.keep_numbers(offset.iter().map(|o| &o.value));
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => self.keep_numbers([offset, limit]),
            None => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        // Table functions (`generate_series(1, 10)`) take their numbers as literals.
        if let TableFactor::Table { args: Some(args), .. } = factor {
            let mut numbers = Vec::new();
            for a in &args.args {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) | FunctionArg::Named { arg: FunctionArgExpr::Expr(e), .. } = a {
                    numbers.push(e);
                    if let Expr::UnaryOp { expr, .. } = e {
                        numbers.push(expr.as_ref());
                    }
                }
            }
            self.keep_numbers(numbers);
        }
        if let TableFactor::UNNEST { alias, array_exprs, with_ordinality, .. } = factor {
            let columns = alias.as_ref().map(|a| a.columns.len()).unwrap_or(0);
            let wanted = columns.saturating_sub(usize::from(*with_ordinality));
            // `UNNEST(map) AS t(k, v)` and `UNNEST(array_of_rows) AS t(a, b)`: one column per
            // key/value or field.
            if array_exprs.len() == 1 && wanted > 1 {
                let e = array_exprs[0].to_string();
                let mut parts = Vec::with_capacity(wanted);
                for i in 0..wanted {
                    match parse_expr(&format!("__unnest_part({e}, '{i}')")) {
                        Ok(x) => parts.push(x),
                        Err(err) => {
                            self.error = Some(err);
                            return ControlFlow::Break(());
                        }
                    }
                }
                *array_exprs = parts;
            }
            // WITH ORDINALITY: one more array, of the positions.
            if *with_ordinality {
                let all: Vec<String> = array_exprs.iter().map(|e| e.to_string()).collect();
                match parse_expr(&format!("__ordinals({})", all.join(", "))) {
                    Ok(x) => array_exprs.push(x),
                    Err(err) => {
                        self.error = Some(err);
                        return ControlFlow::Break(());
                    }
                }
                *with_ordinality = false;
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
            let exprs: Vec<&Expr> = exprs.iter().collect();
            self.keep_numbers(exprs);
        }
        for w in &select.named_window {
            if let NamedWindowExpr::WindowSpec(spec) = &w.1
                && let Some(frame) = &spec.window_frame
            {
                self.keep_frame(frame);
            }
        }
        // TABLESAMPLE: the table becomes a sample of its rows.
        for t in &mut select.from {
            for factor in std::iter::once(&mut t.relation).chain(t.joins.iter_mut().map(|j| &mut j.relation)) {
                if let Err(e) = sample(factor) {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // A frame's offsets (`1 PRECEDING`) are counts.
        if let Expr::Function(f) = expr
            && let Some(WindowType::WindowSpec(spec)) = &f.over
            && let Some(frame) = &spec.window_frame
        {
            self.keep_frame(frame);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.keep.contains(&(expr as *const Expr)) {
            return ControlFlow::Continue(());
        }
        match rewrite_expr(expr) {
            Ok(Some(new)) => *expr = new,
            Ok(None) => {}
            Err(e) => {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// `TIMESTAMP '…'` as Trino reads it: seconds may be left out (`2012-10-31 01:00`), and a zone
/// after the time (`UTC`, `America/Los_Angeles`, `+01:00`) makes a timestamp with a time zone.
fn timestamp_literal(text: &str) -> Option<Expr> {
    let text = text.trim();
    let (date_time, zone) = match text.split_once(' ') {
        Some((date, rest)) => match rest.trim().split_once(' ') {
            Some((time, zone)) => (format!("{date} {time}"), Some(zone.trim())),
            None if rest.contains(['+', 'Z']) || rest.chars().filter(|c| *c == '-').count() > 0 => {
                let at = rest.find(['+', '-', 'Z'])?;
                (format!("{date} {}", &rest[..at]), Some(&rest[at..]))
            }
            None => (format!("{date} {rest}"), None),
        },
        None => (text.to_string(), None),
    };
    // `HH:MM` has seconds added.
    let with_seconds = match date_time.split_once(' ') {
        Some((date, time)) if time.matches(':').count() == 1 => format!("{date} {time}:00"),
        _ => date_time.clone(),
    };
    if with_seconds == text && zone.is_none() {
        return None;
    }
    let literal = |s: &str| s.replace('\'', "''");
    let sql = match zone {
        // The wall-clock time in the literal's own zone.
        Some(zone) => format!("with_timezone(TIMESTAMP '{}', '{}')", literal(&with_seconds), literal(zone)),
        None => format!("TIMESTAMP '{}'", literal(&with_seconds)),
    };
    parse_expr(&sql).ok()
}

/// `x op ALL (subquery)` and `x op ANY (subquery)` with Trino's answer, from aggregates of the
/// subquery's one column: true, false, or NULL where a NULL decides.
fn quantified(left: &Expr, op: &BinaryOperator, right: &Expr, all: bool) -> Result<Option<Expr>> {
    let query = match right {
        Expr::Subquery(q) => q.to_string(),
        _ => return Ok(None),
    };
    let of = |aggregate: &str| format!("(SELECT {aggregate} FROM ({query}) AS __q(__v))");
    let (x, min, max, rows, values) = (format!("({left})"), of("min(__v)"), of("max(__v)"), of("count(*)"), of("count(__v)"));
    // Whether some value equals x (a count, which DataFusion plans anywhere, where IN it plans
    // only in filters).
    let equal = format!("(SELECT count(*) FROM ({query}) AS __q(__v) WHERE __v = {x}) > 0");
    // For ALL, the condition that some value fails the comparison; for ANY, that one passes it.
    let decided = match (all, op) {
        (true, BinaryOperator::Gt) => format!("{x} <= {max}"),
        (true, BinaryOperator::GtEq) => format!("{x} < {max}"),
        (true, BinaryOperator::Lt) => format!("{x} >= {min}"),
        (true, BinaryOperator::LtEq) => format!("{x} > {min}"),
        (true, BinaryOperator::Eq) | (false, BinaryOperator::NotEq) => format!("({x} <> {min} OR {x} <> {max})"),
        (true, BinaryOperator::NotEq) | (false, BinaryOperator::Eq) => equal,
        (false, BinaryOperator::Gt) => format!("{x} > {min}"),
        (false, BinaryOperator::GtEq) => format!("{x} >= {min}"),
        (false, BinaryOperator::Lt) => format!("{x} < {max}"),
        (false, BinaryOperator::LtEq) => format!("{x} <= {max}"),
        _ => return Err(Error::Syntax(format!("line 1:1: {op} cannot compare with ALL or ANY"))),
    };
    let (empty, found, otherwise) = if all { ("true", "false", "true") } else { ("false", "true", "false") };
    let text = format!(
        "CASE WHEN {rows} = 0 THEN {empty} WHEN {x} IS NULL THEN NULL WHEN {decided} THEN {found} WHEN {values} < {rows} THEN NULL ELSE {otherwise} END"
    );
    parse_expr(&text).map(Some)
}

/// A query [`find_multiset`] found.
pub(crate) struct Multiset {
    pub place: usize,
    pub with: String,
    pub body: SetExpr,
    /// Inside another query (a subquery or a CTE), not the statement's own.
    pub nested: bool,
}

/// The first query, innermost first, whose own set operations hold EXCEPT ALL or INTERSECT ALL:
/// its place (how many queries the walk finished before it), the WITH clause in its scope (its
/// own CTEs and those of the queries around it, except CTEs that themselves hold such an
/// operation, which are expanded before any query that may read them), and its body. See
/// `session::plan_query`, which expands it and puts it back with [`replace_query_body`].
pub(crate) fn find_multiset(statement: &mut Statement) -> Option<Multiset> {
    struct Find {
        finished: usize,
        scopes: Vec<(bool, Vec<datafusion::sql::sqlparser::ast::Cte>)>,
        found: Option<Multiset>,
    }
    impl VisitorMut for Find {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            self.scopes.push(q.with.as_ref().map(|w| (w.recursive, w.cte_tables.clone())).unwrap_or_default());
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            if multiset_operation(&q.body).is_some() {
                let recursive = self.scopes.iter().any(|(r, _)| *r);
                // CTEs that hold such an operation are left out, and so are those that read one
                // left out (DataFusion plans every CTE of a WITH, read or not).
                let all: Vec<&datafusion::sql::sqlparser::ast::Cte> = self.scopes.iter().flat_map(|(_, c)| c).collect();
                let mut out: HashSet<String> = all.iter().filter(|c| holds_multiset(&c.query)).map(|c| c.alias.name.value.to_lowercase()).collect();
                loop {
                    let more: Vec<String> = all
                        .iter()
                        .filter(|c| !out.contains(&c.alias.name.value.to_lowercase()) && reads_any(&c.query, &out))
                        .map(|c| c.alias.name.value.to_lowercase())
                        .collect();
                    if more.is_empty() {
                        break;
                    }
                    out.extend(more);
                }
                let ctes: Vec<String> = all.iter().filter(|c| !out.contains(&c.alias.name.value.to_lowercase())).map(ToString::to_string).collect();
                let with =
                    if ctes.is_empty() { String::new() } else { format!("WITH {}{} ", if recursive { "RECURSIVE " } else { "" }, ctes.join(", ")) };
                let nested = self.scopes.len() > 1;
                self.found = Some(Multiset { place: self.finished, with, body: (*q.body).clone(), nested });
                return ControlFlow::Break(());
            }
            self.scopes.pop();
            self.finished += 1;
            ControlFlow::Continue(())
        }
    }
    let mut find = Find { finished: 0, scopes: Vec::new(), found: None };
    let _ = statement.visit(&mut find);
    find.found
}

/// Whether a query reads a table (a CTE) of one of these names.
fn reads_any(query: &Query, names: &HashSet<String>) -> bool {
    datafusion::sql::sqlparser::ast::visit_relations(query, |name| {
        let last = name.0.last().map(|p| p.to_string().trim_matches('"').to_lowercase()).unwrap_or_default();
        if names.contains(&last) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })
    .is_break()
}

/// Whether a query or any query inside it has EXCEPT ALL or INTERSECT ALL.
fn holds_multiset(query: &Query) -> bool {
    struct Holds;
    impl datafusion::sql::sqlparser::ast::Visitor for Holds {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if multiset_operation(&q.body).is_some() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }
    }
    datafusion::sql::sqlparser::ast::Visit::visit(query, &mut Holds).is_break()
}

/// Puts a body back into the query [`find_multiset`] found at `place`.
pub(crate) fn replace_query_body(statement: &mut Statement, place: usize, body: SetExpr) {
    struct Replace {
        finished: usize,
        place: usize,
        body: Option<SetExpr>,
    }
    impl VisitorMut for Replace {
        type Break = ();
        fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            if self.finished == self.place {
                if let Some(body) = self.body.take() {
                    *q.body = body;
                }
                return ControlFlow::Break(());
            }
            self.finished += 1;
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Replace { finished: 0, place, body: Some(body) });
}

/// An EXCEPT ALL or INTERSECT ALL in a query's set operations, if there is one.
fn multiset_operation(body: &SetExpr) -> Option<SetOperator> {
    match body {
        SetExpr::SetOperation { op: op @ (SetOperator::Except | SetOperator::Intersect), set_quantifier: SetQuantifier::All, .. } => Some(*op),
        SetExpr::SetOperation { left, right, .. } => multiset_operation(left).or_else(|| multiset_operation(right)),
        _ => None,
    }
}

/// `t TABLESAMPLE BERNOULLI (p)` (or SYSTEM) as `(SELECT * FROM t WHERE random() < p / 100) t`.
fn sample(factor: &mut TableFactor) -> Result<()> {
    let TableFactor::Table { name, alias, sample: sample @ Some(_), .. } = factor else { return Ok(()) };
    let (TableSampleKind::BeforeTableAlias(s) | TableSampleKind::AfterTableAlias(s)) = sample.take().expect("matched Some");
    let Some(quantity) = &s.quantity else { return Err(Error::Syntax("line 1:1: TABLESAMPLE needs a percentage".into())) };
    let name_text = name.to_string();
    let alias_text = match alias {
        Some(a) => a.to_string(),
        None => name.0.last().map(|p| p.to_string()).unwrap_or_default(),
    };
    let sql = format!("SELECT * FROM (SELECT * FROM {name_text} WHERE random() * 100 < CAST({} AS DOUBLE)) AS {alias_text}", quantity.value);
    let statement = Parser::new(&AthenaDialect)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_statement())
        .map_err(|e| Error::Internal(format!("rewriting TABLESAMPLE to {sql:?}: {e}")))?;
    if let Statement::Query(q) = statement
        && let SetExpr::Select(select) = *q.body
        && let Some(from) = select.from.into_iter().next()
    {
        *factor = from.relation;
    }
    Ok(())
}

/// A number literal as Trino types it.
fn typed_number(text: &str) -> Option<Expr> {
    if text.contains(['e', 'E']) {
        return None;
    }
    if let Some((int, frac)) = text.split_once('.') {
        let digits = int.trim_start_matches('0').len() + frac.len();
        let (precision, scale) = (digits.max(1).max(frac.len()), frac.len());
        if precision > 38 {
            return None;
        }
        let value = Value::SingleQuotedString(text.to_string());
        return Some(Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(Expr::Value(value.into())),
            data_type: SqlType::Decimal(datafusion::sql::sqlparser::ast::ExactNumberInfo::PrecisionAndScale(precision as u64, scale as i64)),
            array: false,
            format: None,
        });
    }
    let n: i64 = text.parse().ok()?;
    (i32::try_from(n).is_ok()).then(|| Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::Value(Value::Number(text.to_string(), false).into())),
        data_type: SqlType::Int(None),
        array: false,
        format: None,
    })
}

fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => Some(id.value.to_lowercase()),
        _ => None,
    }
}

/// The plain positional arguments of a call, if that is all it has.
fn plain_args(args: &FunctionArguments) -> Option<Vec<&Expr>> {
    match args {
        FunctionArguments::List(list) if list.duplicate_treatment.is_none() && list.clauses.is_empty() => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        FunctionArguments::None => Some(Vec::new()),
        _ => None,
    }
}

fn rewrite_expr(expr: &Expr) -> Result<Option<Expr>> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(text, _) => Ok(typed_number(text)),
            _ => Ok(None),
        },
        Expr::Cast { kind, expr: inner, data_type, .. } => rewrite_cast(kind, inner, data_type),
        Expr::AnyOp { left, compare_op, right, .. } => quantified(left, compare_op, right, false),
        Expr::AllOp { left, compare_op, right } => quantified(left, compare_op, right, true),
        Expr::AtTimeZone { timestamp, time_zone } => {
            if matches!(timestamp.as_ref(), Expr::Cast { data_type, .. } if cast_type_text(data_type).is_some_and(|t| t.contains("with time zone"))) {
                return Ok(None);
            }
            // Trino reads a timestamp without a zone as UTC; one with a zone keeps its instant.
            // A zone named by a literal keeps the milliseconds (`at_timezone`).
            let zoned = format!("CAST({timestamp} AS \"{TYPE_PREFIX}timestamp(3) with time zone\")");
            let text = match time_zone.as_ref() {
                Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)) => format!("at_timezone({zoned}, {time_zone})"),
                _ => format!("{zoned} AT TIME ZONE {time_zone}"),
            };
            parse_expr(&text).map(Some)
        }
        Expr::TypedString(ts) => {
            let Some(text) = ts.value.clone().into_string() else { return Ok(None) };
            match &ts.data_type {
                SqlType::Timestamp(..) => Ok(timestamp_literal(&text)),
                SqlType::Decimal(_) | SqlType::Numeric(_) | SqlType::Dec(_) => Ok(typed_number(text.trim())),
                _ => Ok(None),
            }
        }
        Expr::CompoundFieldAccess { root, access_chain } => {
            // A row's field by name: `get_field(row, 'x')`, one level at a time.
            let mut text = root.to_string();
            for access in access_chain {
                match access {
                    AccessExpr::Dot(Expr::Identifier(field)) => text = format!("get_field({text}, '{}')", field.value.replace('\'', "''")),
                    _ => return Ok(None),
                }
            }
            parse_expr(&text).map(Some)
        }
        Expr::Function(f) => {
            let Some(name) = function_name(&f.name) else { return Ok(None) };
            let args = plain_args(&f.args);
            let over = f.over.is_some();
            let filter = f.filter.as_ref().map(|e| e.to_string());
            let with_filter = |extra: String| match &filter {
                Some(old) => format!("({old}) AND ({extra})"),
                None => extra,
            };
            let text = match (name.as_str(), args.as_deref()) {
                ("if", Some([c, a])) => format!("CASE WHEN {c} THEN {a} END"),
                ("if", Some([c, a, b])) => format!("CASE WHEN {c} THEN {a} ELSE {b} END"),
                ("try", Some([e])) => {
                    // A cast of a constant that fails would fail the plan before `try` runs.
                    let mut e = (*e).clone();
                    let _ = visit_expressions_mut(&mut e, |x| {
                        if let Expr::Cast { expr: inner, .. } = x
                            && matches!(inner.as_ref(), Expr::Value(_))
                        {
                            let literal = inner.to_string();
                            if let Ok(opaque) = parse_expr(&format!("__opaque({literal})")) {
                                **inner = opaque;
                            }
                        }
                        ControlFlow::<()>::Continue(())
                    });
                    format!("__try(__t -> {e})")
                }
                ("count_if", Some([c])) if !over => {
                    let f = filter.map(|f| format!(" FILTER (WHERE {f})")).unwrap_or_default();
                    format!("count(CASE WHEN {c} THEN 1 END){f}")
                }
                ("max_by" | "min_by", Some([x, y])) if !over => {
                    let dir = if name == "max_by" { "DESC" } else { "ASC" };
                    format!("first_value({x} ORDER BY {y} {dir}) FILTER (WHERE {})", with_filter(format!("{y} IS NOT NULL")))
                }
                ("max_by" | "min_by", Some([x, y, n])) if !over => {
                    let dir = if name == "max_by" { "DESC" } else { "ASC" };
                    format!("array_slice(array_agg({x} ORDER BY {y} {dir}) FILTER (WHERE {}), 1, {n})", with_filter(format!("{y} IS NOT NULL")))
                }
                ("approx_percentile", Some(args)) if !over && (args.len() == 2 || args.len() == 3) => {
                    let f = filter.map(|f| format!(" FILTER (WHERE {f})")).unwrap_or_default();
                    let (x, weight, p) = match args {
                        [x, p] => (x, None, p),
                        [x, w, p] => (x, Some(w), p),
                        _ => unreachable!("checked above"),
                    };
                    let one = |p: &Expr| match weight {
                        None => format!("__cast_like(approx_percentile_cont({x}, {p}){f}, any_value({x}){f})"),
                        Some(w) => format!("__cast_like(approx_percentile_cont_with_weight({x}, {w}, {p}){f}, any_value({x}){f})"),
                    };
                    match p {
                        Expr::Array(list) => format!("ARRAY[{}]", list.elem.iter().map(one).collect::<Vec<_>>().join(", ")),
                        p => one(p),
                    }
                }
                ("listagg", _) => return rewrite_listagg(f),
                ("zip_with", Some([a, b, Expr::Lambda(lambda)])) => return zip_with(a, b, lambda),
                _ => return Ok(None),
            };
            parse_expr(&text).map(Some)
        }
        _ => Ok(None),
    }
}

/// `zip_with(a, b, (x, y) -> f)` is `transform(arrays_zip(a, b), z -> f)` with `x` and `y` the
/// pair's fields (the shorter array padded with NULLs, as Trino pads it).
fn zip_with(a: &Expr, b: &Expr, lambda: &datafusion::sql::sqlparser::ast::LambdaFunction) -> Result<Option<Expr>> {
    let params: Vec<String> = lambda.params.iter().map(|p| p.name.value.to_lowercase()).collect();
    if params.len() != 2 {
        return Err(Error::Syntax("line 1:1: zip_with's function takes two arguments".into()));
    }
    let mut body = (*lambda.body).clone();
    let mut failed = None;
    let _ = visit_expressions_mut(&mut body, |e| {
        if let Expr::Identifier(id) = e
            && let Some(i) = params.iter().position(|p| *p == id.value.to_lowercase())
        {
            match parse_expr(&format!("get_field(__z, '{}')", i + 1)) {
                Ok(field) => *e = field,
                Err(err) => failed = Some(err),
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if let Some(e) = failed {
        return Err(e);
    }
    parse_expr(&format!("transform(arrays_zip({a}, {b}), __z -> {body})")).map(Some)
}

/// `listagg(x, sep) WITHIN GROUP (ORDER BY y)` is `string_agg(x, sep ORDER BY y)`.
fn rewrite_listagg(f: &datafusion::sql::sqlparser::ast::Function) -> Result<Option<Expr>> {
    let mut g = f.clone();
    g.name = ObjectName::from(vec![Ident::new("string_agg")]);
    if let FunctionArguments::List(list) = &mut g.args {
        list.clauses.retain(|c| !matches!(c, FunctionArgumentClause::OnOverflow(_)));
        if list.args.len() == 1 {
            list.args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(Value::SingleQuotedString(String::new()).into()))));
        }
        if !g.within_group.is_empty() {
            list.clauses.push(FunctionArgumentClause::OrderBy(std::mem::take(&mut g.within_group)));
        }
    }
    Ok(Some(Expr::Function(g)))
}

/// JSON casts become calls: `CAST(x AS JSON)` is `__to_json(x)`, and a cast of a JSON value (or
/// to an array, map or row type, which DataFusion cannot cast text to) is `__cast(x, 'type')`.
fn rewrite_cast(kind: &CastKind, inner: &Expr, data_type: &SqlType) -> Result<Option<Expr>> {
    let Some(text) = cast_type_text(data_type) else { return Ok(None) };
    let quoted = text.replace('\'', "''");
    let produces_json = matches!(inner, Expr::Function(f) if function_name(&f.name).is_some_and(|n| matches!(n.as_str(), "json_parse" | "json_extract" | "json_array_get" | "__to_json")));
    let complex = text.starts_with("array") || text.starts_with("map") || text.starts_with("row");
    let call = if text == "json" {
        format!("__to_json({inner})")
    } else if produces_json || complex && !matches!(inner, Expr::Array(_)) {
        format!("__cast({inner}, '{quoted}')")
    } else if text == "varchar" || text.starts_with("varchar(") {
        format!("__varchar({inner})")
    } else {
        return Ok(None);
    };
    // A cast to text cannot fail: TRY_CAST needs no `try` around it.
    let call = match kind {
        CastKind::TryCast | CastKind::SafeCast if !call.starts_with("__varchar(") => format!("__try(__t -> {call})"),
        _ => call,
    };
    parse_expr(&call).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    fn rewritten(sql: &str) -> String {
        let mut tokens = Tokenizer::new(&AthenaDialect, sql).tokenize().unwrap();
        quote_cast_types(&mut tokens);
        let text: String = tokens.iter().map(|t| t.to_string()).collect();
        let mut statements = Parser::new(&AthenaDialect).try_with_sql(&text).unwrap().parse_statements().unwrap();
        rewrite(&mut statements[0]).unwrap();
        statements[0].to_string()
    }

    #[test]
    fn literals_take_trino_types_except_positions_and_counts() {
        assert_eq!(
            rewritten("SELECT 1, 1.50, 1e3, 3000000000 FROM t GROUP BY 1 ORDER BY 2 LIMIT 5"),
            "SELECT CAST(1 AS INT), CAST('1.50' AS DECIMAL(3,2)), 1e3, 3000000000 FROM t GROUP BY 1 ORDER BY 2 LIMIT 5"
        );
    }

    #[test]
    fn cast_types_become_one_name() {
        assert_eq!(rewritten("SELECT CAST(x AS array(integer)), TRY_CAST(y AS varchar)"), "SELECT __cast(x, 'array(integer)'), __varchar(y)");
    }

    #[test]
    fn calls_become_what_datafusion_plans() {
        assert_eq!(rewritten("SELECT if(a > 0, 'p', 'n')"), "SELECT CASE WHEN a > CAST(0 AS INT) THEN 'p' ELSE 'n' END");
        assert_eq!(rewritten("SELECT count_if(a)"), "SELECT count(CASE WHEN a THEN 1 END)");
        assert_eq!(rewritten("SELECT max_by(a, b)"), "SELECT first_value(a ORDER BY b DESC) FILTER (WHERE b IS NOT NULL)");
        assert_eq!(rewritten("SELECT try(a / b)"), "SELECT __try(__t -> a / b)");
        assert_eq!(rewritten("SELECT listagg(a, ',') WITHIN GROUP (ORDER BY a)"), "SELECT string_agg(a, ',' ORDER BY a)");
    }
}
