//! The Athena dialect layer for statements: what kind of statement a query is, and the parsing
//! of everything that is not a query — Hive DDL, CTAS, INSERT, UNLOAD, views, SHOW, DESCRIBE,
//! MSCK — into a [`Plan`]. Queries themselves are parsed by DataFusion's parser (see
//! [`crate::rewrite`] for what changes on the way).
//!
//! Identifiers fold to lower case even when quoted, as in Athena; backquotes are quotes.

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

/// A table name as written: `[catalog.][database.]table`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Name {
    pub database: Option<String>,
    pub name: String,
}

/// A column in a DDL statement: name, Hive type and comment.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub r#type: String,
    pub comment: Option<String>,
}

/// How a Hive table stores its rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableFormat {
    /// `ROW FORMAT SERDE 'class'` (or DELIMITED: LazySimpleSerDe).
    pub serde: Option<String>,
    pub serde_properties: BTreeMap<String, String>,
    /// `STORED AS name`.
    pub stored_as: Option<String>,
    pub input_format: Option<String>,
    pub output_format: Option<String>,
}

/// `CREATE EXTERNAL TABLE`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreateTable {
    pub name: Name,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnDef>,
    pub comment: Option<String>,
    pub partitioned_by: Vec<ColumnDef>,
    pub bucketed_by: Vec<String>,
    pub buckets: i64,
    pub format: TableFormat,
    pub location: Option<String>,
    pub properties: BTreeMap<String, String>,
    /// An Iceberg table's `PARTITIONED BY` terms (`col`, `bucket(16, col)`, `day(ts)`), as
    /// written: it has no partition columns of its own.
    pub partition_transforms: Vec<String>,
}

impl CreateTable {
    /// `TBLPROPERTIES ('table_type'='ICEBERG')`.
    pub fn is_iceberg(&self) -> bool {
        self.properties.get("table_type").is_some_and(|v| v.eq_ignore_ascii_case("iceberg"))
    }
}

/// One partition in ALTER TABLE: its key values and an optional location.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    pub values: Vec<(String, String)>,
    pub location: Option<String>,
}

/// A statement, classified and parsed: each kind has its own type, and each handler takes only
/// the kind it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// A query returning rows (SELECT, WITH, VALUES).
    Query(Query),
    /// `EXPLAIN [ANALYZE] query`.
    Explain(Explain),
    /// A statement that writes rows to the lake.
    Write(Write),
    /// DDL, and the utility statements that read the catalog (SHOW, DESCRIBE).
    Ddl(Ddl),
    /// A statement Minerva does not run.
    Unsupported(Unsupported),
    /// PREPARE or DEALLOCATE PREPARE (EXECUTE is planned as the statement it runs).
    Prepared(Prepared),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Explain {
    pub analyze: bool,
    pub query: String,
}

/// A statement that writes rows: CTAS, INSERT INTO, UNLOAD.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    CreateTableAs(CreateTableAs),
    Insert(Insert),
    Unload(Unload),
    /// DELETE, UPDATE or MERGE INTO: the statement whole, and the table it changes.
    RowChange(RowChange),
    /// OPTIMIZE or VACUUM of an Iceberg table.
    Maintenance(Maintenance),
}

/// `OPTIMIZE t REWRITE DATA USING BIN_PACK [WHERE filter]` or `VACUUM t`.
#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    pub target: Name,
    /// `OPTIMIZE` or `VACUUM`.
    pub kind: String,
    pub filter: Option<String>,
}

/// A row-level change of a table, kept as its (normalized) text for sqlparser to parse.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    pub target: Name,
    pub sql: String,
    /// `DELETE`, `UPDATE` or `MERGE`.
    pub kind: String,
}

/// `CREATE TABLE name [WITH (props)] AS query [WITH [NO] DATA]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTableAs {
    pub name: Name,
    pub properties: BTreeMap<String, String>,
    pub query: String,
    pub if_not_exists: bool,
    pub with_data: bool,
}

/// `INSERT INTO name [(columns)] query`.
#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    pub name: Name,
    pub columns: Vec<String>,
    pub query: String,
}

/// `UNLOAD (query) TO 'location' WITH (props)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unload {
    pub query: String,
    pub location: String,
    pub properties: BTreeMap<String, String>,
}

/// A statement Minerva does not run; the reason says which.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    pub statement_type: StatementType,
    pub reason: String,
    /// The table it would change, which must exist for the statement to get as far as the
    /// reason (UPDATE, DELETE and MERGE on a Hive table).
    pub target: Option<Name>,
}

/// DDL against the Glue catalog, and SHOW and DESCRIBE.
#[derive(Debug, Clone, PartialEq)]
pub enum Ddl {
    CreateDatabase {
        name: String,
        if_not_exists: bool,
        comment: Option<String>,
        location: Option<String>,
        properties: BTreeMap<String, String>,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    CreateTable(Box<CreateTable>),
    DropTable {
        name: Name,
        if_exists: bool,
    },
    AddPartitions {
        name: Name,
        if_not_exists: bool,
        partitions: Vec<PartitionSpec>,
    },
    DropPartitions {
        name: Name,
        if_exists: bool,
        partitions: Vec<PartitionSpec>,
    },
    SetLocation {
        name: Name,
        location: String,
    },
    SetProperties {
        name: Name,
        properties: BTreeMap<String, String>,
    },
    /// `ALTER TABLE name RENAME TO other` (Iceberg tables).
    RenameTable {
        name: Name,
        to: Name,
    },
    /// `ALTER TABLE name DROP COLUMN c` (Iceberg tables).
    DropColumn {
        name: Name,
        column: String,
    },
    /// `ALTER TABLE name CHANGE [COLUMN] old new type [COMMENT …]` (Iceberg tables).
    ChangeColumn {
        name: Name,
        old: String,
        column: ColumnDef,
    },
    AddColumns {
        name: Name,
        columns: Vec<ColumnDef>,
        replace: bool,
    },
    Repair {
        name: Name,
    },
    CreateView {
        name: Name,
        or_replace: bool,
        query: String,
    },
    DropView {
        name: Name,
        if_exists: bool,
    },
    ShowDatabases {
        pattern: Option<String>,
    },
    ShowTables {
        database: Option<String>,
        pattern: Option<String>,
    },
    ShowViews {
        database: Option<String>,
        pattern: Option<String>,
    },
    ShowPartitions {
        name: Name,
    },
    ShowColumns {
        name: Name,
    },
    ShowCreateTable {
        name: Name,
    },
    ShowCreateView {
        name: Name,
    },
    ShowProperties {
        name: Name,
        property: Option<String>,
    },
    Describe {
        name: Name,
        extended: bool,
        formatted: bool,
    },
}

impl Plan {
    pub fn statement_type(&self) -> StatementType {
        match self {
            Plan::Query(_) | Plan::Write(Write::Insert(_) | Write::Unload(_) | Write::RowChange(_) | Write::Maintenance(_)) => StatementType::Dml,
            Plan::Explain(_) => StatementType::Utility,
            Plan::Write(Write::CreateTableAs(_)) => StatementType::Ddl,
            Plan::Ddl(d) if d.is_utility() => StatementType::Utility,
            Plan::Ddl(_) => StatementType::Ddl,
            Plan::Unsupported(u) => u.statement_type,
            Plan::Prepared(_) => StatementType::Utility,
        }
    }

    /// Athena's `SubstatementType`.
    pub fn substatement_type(&self) -> &'static str {
        match self {
            Plan::Query(_) => "SELECT",
            Plan::Explain(_) => "EXPLAIN",
            Plan::Write(Write::CreateTableAs(_)) => "CREATE_TABLE_AS_SELECT",
            Plan::Write(Write::Insert(_)) => "INSERT",
            Plan::Write(Write::Unload(_)) => "UNLOAD",
            Plan::Write(Write::Maintenance(m)) => match m.kind.as_str() {
                "OPTIMIZE" => "OPTIMIZE",
                _ => "VACUUM",
            },
            Plan::Write(Write::RowChange(r)) => match r.kind.as_str() {
                "DELETE" => "DELETE",
                "UPDATE" => "UPDATE",
                _ => "MERGE",
            },
            Plan::Ddl(d) => d.substatement_type(),
            Plan::Unsupported(_) => "UNKNOWN",
            Plan::Prepared(Prepared::Prepare { .. }) => "PREPARE",
            Plan::Prepared(Prepared::Execute { .. }) => "EXECUTE",
            Plan::Prepared(Prepared::Deallocate { .. }) => "DEALLOCATE",
        }
    }
}

impl Ddl {
    /// SHOW and DESCRIBE: they read the catalog and print.
    fn is_utility(&self) -> bool {
        matches!(
            self,
            Ddl::ShowDatabases { .. }
                | Ddl::ShowTables { .. }
                | Ddl::ShowViews { .. }
                | Ddl::ShowPartitions { .. }
                | Ddl::ShowColumns { .. }
                | Ddl::ShowCreateTable { .. }
                | Ddl::ShowCreateView { .. }
                | Ddl::ShowProperties { .. }
                | Ddl::Describe { .. }
        )
    }

    fn substatement_type(&self) -> &'static str {
        match self {
            Ddl::CreateDatabase { .. } => "CREATE_DATABASE",
            Ddl::DropDatabase { .. } => "DROP_DATABASE",
            Ddl::CreateTable(_) => "CREATE_TABLE",
            Ddl::DropTable { .. } => "DROP_TABLE",
            Ddl::AddPartitions { .. } => "ALTER_TABLE_ADD_PARTITION",
            Ddl::DropPartitions { .. } => "ALTER_TABLE_DROP_PARTITION",
            Ddl::SetLocation { .. } => "ALTER_TABLE_SET_LOCATION",
            Ddl::SetProperties { .. } => "ALTER_TABLE_SET_TBLPROPERTIES",
            Ddl::RenameTable { .. } => "RENAME_TABLE",
            Ddl::DropColumn { .. } => "ALTER_TABLE_DROP_COLUMN",
            Ddl::ChangeColumn { .. } => "ALTER_TABLE_CHANGE_COLUMN",
            Ddl::AddColumns { replace: false, .. } => "ALTER_TABLE_ADD_COLUMNS",
            Ddl::AddColumns { replace: true, .. } => "ALTER_TABLE_REPLACE_COLUMNS",
            Ddl::Repair { .. } => "MSCK_REPAIR_TABLE",
            Ddl::CreateView { .. } => "CREATE_VIEW",
            Ddl::DropView { .. } => "DROP_VIEW",
            Ddl::ShowDatabases { .. } => "SHOW_DATABASES",
            Ddl::ShowTables { .. } => "SHOW_TABLES",
            Ddl::ShowViews { .. } => "SHOW_VIEWS",
            Ddl::ShowPartitions { .. } => "SHOW_PARTITIONS",
            Ddl::ShowColumns { .. } => "SHOW_COLUMNS",
            Ddl::ShowCreateTable { .. } => "SHOW_CREATE_TABLE",
            Ddl::ShowCreateView { .. } => "SHOW_CREATE_VIEW",
            Ddl::ShowProperties { .. } => "SHOW_TBLPROPERTIES",
            Ddl::Describe { .. } => "DESCRIBE_TABLE",
        }
    }
}

/// `PREPARE name FROM statement`, `EXECUTE name [USING value, …]` and `DEALLOCATE PREPARE name`:
/// read before a statement is planned, since a prepared body keeps its `?` placeholders and
/// EXECUTE runs the statement it names.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    Prepare {
        name: String,
        statement: String,
    },
    /// `using` holds each value's SQL text, in order.
    Execute {
        name: String,
        using: Vec<String>,
    },
    Deallocate {
        name: String,
    },
}

/// The prepared-statement statement `sql` is, if it is one.
pub fn prepared(sql: &str) -> Result<Option<Prepared>> {
    let tokens = Tokenizer::new(&AthenaDialect, sql).with_unescape(false).tokenize().map_err(|e| Error::Syntax(format!("line {e}")))?;
    let mut tokens: Vec<Token> = tokens;
    while matches!(tokens.last(), Some(Token::SemiColon | Token::Whitespace(_))) {
        tokens.pop();
    }
    let mut c = Cursor::new(&tokens);
    let statement = match c.peek_word().as_deref() {
        Some("PREPARE") => {
            c.next();
            let name = c.ident()?;
            c.expect_word("FROM")?;
            let statement = c.rest();
            if statement.is_empty() {
                return Err(c.unexpected("a statement"));
            }
            Prepared::Prepare { name, statement }
        }
        Some("EXECUTE") => {
            c.next();
            let name = c.ident()?;
            let mut using = Vec::new();
            if c.eat_word("USING") {
                // Values are split at the commas outside parentheses and brackets.
                let (mut depth, mut value) = (0i32, Vec::new());
                let start = c.sig.get(c.at).copied().unwrap_or(tokens.len());
                for t in &tokens[start..] {
                    match t {
                        Token::LParen | Token::LBracket => depth += 1,
                        Token::RParen | Token::RBracket => depth -= 1,
                        Token::Comma if depth == 0 => {
                            using.push(render(&value).trim().to_string());
                            value.clear();
                            continue;
                        }
                        _ => {}
                    }
                    value.push(t.clone());
                }
                using.push(render(&value).trim().to_string());
                if using.iter().any(String::is_empty) {
                    return Err(syntax("mismatched input 'USING'. Expecting: <expression>"));
                }
            } else {
                c.done()?;
            }
            Prepared::Execute { name, using }
        }
        Some("DEALLOCATE") => {
            c.next();
            c.expect_word("PREPARE")?;
            let name = c.ident()?;
            c.done()?;
            Prepared::Deallocate { name }
        }
        _ => return Ok(None),
    };
    Ok(Some(statement))
}

/// How many `?` placeholders a statement has.
pub fn placeholders(sql: &str) -> Result<usize> {
    let tokens = Tokenizer::new(&AthenaDialect, sql).with_unescape(false).tokenize().map_err(|e| Error::Syntax(format!("line {e}")))?;
    Ok(tokens.iter().filter(|t| matches!(t, Token::Placeholder(p) if p == "?")).count())
}

/// Tokenises and rewrites identifiers the Athena way: quoted identifiers are case-insensitive
/// (lowercased) and backquotes become double quotes. String literals are left alone.
fn normalize(sql: &str, parameters: &[String]) -> Result<Vec<Token>> {
    let mut tokens = Tokenizer::new(&AthenaDialect, sql).with_unescape(false).tokenize().map_err(|e| Error::Syntax(format!("line {e}")))?;
    // `?` placeholders take the execution parameters, SQL literals, in order.
    let placeholders = tokens.iter().filter(|t| matches!(t, Token::Placeholder(p) if p == "?")).count();
    if placeholders != parameters.len() {
        if placeholders > 0 || !parameters.is_empty() {
            return Err(Error::Syntax(format!("line 1:1: Incorrect number of parameters: expected {placeholders} but found {}", parameters.len())));
        }
    } else if placeholders > 0 {
        let mut values = parameters.iter();
        let mut out = Vec::with_capacity(tokens.len());
        for t in tokens {
            match t {
                Token::Placeholder(p) if p == "?" => {
                    let value = values.next().expect("counted above");
                    let parsed = Tokenizer::new(&AthenaDialect, value)
                        .with_unescape(false)
                        .tokenize()
                        .map_err(|e| Error::InvalidInput(format!("execution parameter {value:?}: {e}")))?;
                    out.push(Token::LParen);
                    out.extend(parsed);
                    out.push(Token::RParen);
                }
                other => out.push(other),
            }
        }
        tokens = out;
    }
    for t in &mut tokens {
        if let Token::Word(w) = t
            && w.quote_style.is_some()
        {
            *w = Word { value: w.value.to_lowercase(), quote_style: Some('"'), keyword: Keyword::NoKeyword };
        }
    }
    crate::rewrite::quote_cast_types(&mut tokens);
    crate::rewrite::parenthesize_values(&mut tokens);
    crate::rewrite::time_travel(&mut tokens)?;
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

fn syntax(msg: impl std::fmt::Display) -> Error {
    Error::Syntax(format!("line 1:1: {msg}"))
}

/// A cursor over the significant tokens of a statement.
struct Cursor<'a> {
    all: &'a [Token],
    sig: Vec<usize>,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(all: &'a [Token]) -> Self {
        let sig = all.iter().enumerate().filter(|(_, t)| !matches!(t, Token::Whitespace(_))).map(|(i, _)| i).collect();
        Cursor { all, sig, at: 0 }
    }

    fn peek(&self) -> Option<&'a Token> {
        self.sig.get(self.at).map(|i| &self.all[*i])
    }

    fn peek_at(&self, n: usize) -> Option<&'a Token> {
        self.sig.get(self.at + n).map(|i| &self.all[*i])
    }

    fn next(&mut self) -> Option<&'a Token> {
        let t = self.peek();
        if t.is_some() {
            self.at += 1;
        }
        t
    }

    fn at_end(&self) -> bool {
        self.at >= self.sig.len()
    }

    /// An unquoted word, upper case.
    fn word_of(t: Option<&Token>) -> Option<String> {
        match t {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn peek_word(&self) -> Option<String> {
        Self::word_of(self.peek())
    }

    fn is_word(&self, w: &str) -> bool {
        self.peek_word().as_deref() == Some(w)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Eats the words in sequence, or none of them.
    fn eat_words(&mut self, words: &[&str]) -> bool {
        let start = self.at;
        for w in words {
            if !self.eat_word(w) {
                self.at = start;
                return false;
            }
        }
        true
    }

    fn expect_word(&mut self, w: &str) -> Result<()> {
        if self.eat_word(w) { Ok(()) } else { Err(self.unexpected(&format!("'{w}'"))) }
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Token) -> Result<()> {
        if self.eat(t) { Ok(()) } else { Err(self.unexpected(&format!("'{t}'"))) }
    }

    fn unexpected(&self, expecting: &str) -> Error {
        let found = self.peek().map(|t| t.to_string()).unwrap_or_else(|| "<EOF>".into());
        syntax(format!("mismatched input '{found}'. Expecting: {expecting}"))
    }

    /// An identifier: any word, lower case.
    fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                self.at += 1;
                Ok(w.value.to_lowercase())
            }
            _ => Err(self.unexpected("an identifier")),
        }
    }

    /// `[catalog.][database.]name`; a quoted `db.name` (as SHOW CREATE TABLE writes it) too.
    fn name(&mut self) -> Result<Name> {
        let mut parts = vec![self.ident()?];
        while self.peek() == Some(&Token::Period) {
            self.at += 1;
            parts.push(self.ident()?);
        }
        if parts.len() == 1
            && let Some((db, table)) = parts[0].split_once('.')
        {
            return Ok(Name { database: Some(db.to_string()), name: table.to_string() });
        }
        if parts.len() > 3 {
            return Err(syntax(format!("too many dots in the name {}", parts.join("."))));
        }
        let name = parts.pop().unwrap_or_default();
        Ok(Name { database: parts.pop(), name })
    }

    /// A string literal, with Hive's escapes (`\t`, `\001`, `\u0001`) read.
    fn string(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                self.at += 1;
                Ok(unescape(&s.replace("''", "'")))
            }
            _ => Err(self.unexpected("a string")),
        }
    }

    fn number(&mut self) -> Result<i64> {
        match self.peek() {
            Some(Token::Number(n, _)) => {
                self.at += 1;
                n.parse().map_err(|_| syntax(format!("invalid number {n}")))
            }
            _ => Err(self.unexpected("a number")),
        }
    }

    /// The text of the tokens from the current one to the end.
    fn rest(&self) -> String {
        match self.sig.get(self.at) {
            Some(i) => render(&self.all[*i..]).trim().to_string(),
            None => String::new(),
        }
    }

    /// Checks that a query starts here, as Trino's grammar expects one after `AS` or a target.
    fn query_start(&self) -> Result<()> {
        match self.peek() {
            Some(Token::LParen) => Ok(()),
            Some(Token::Word(w))
                if w.quote_style.is_none() && matches!(w.value.to_ascii_uppercase().as_str(), "SELECT" | "WITH" | "VALUES" | "TABLE") =>
            {
                Ok(())
            }
            _ => Err(self.unexpected("'(', 'SELECT', 'TABLE', 'VALUES', 'WITH'")),
        }
    }

    /// The text up to the token that closes the parenthesis just eaten, which it eats.
    fn parenthesized(&mut self) -> Result<String> {
        let start = self.sig.get(self.at).copied().unwrap_or(self.all.len());
        let mut depth = 1;
        while let Some(t) = self.next() {
            match t {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        let end = self.sig[self.at - 1];
                        return Ok(render(&self.all[start..end]).trim().to_string());
                    }
                }
                _ => {}
            }
        }
        Err(syntax("missing ')'"))
    }

    /// `('k' = 'v', …)`
    fn properties(&mut self) -> Result<BTreeMap<String, String>> {
        self.expect(&Token::LParen)?;
        let mut out = BTreeMap::new();
        if self.eat(&Token::RParen) {
            return Ok(out);
        }
        loop {
            let k = self.string()?;
            self.expect(&Token::Eq)?;
            let v = self.string()?;
            out.insert(k, v);
            if self.eat(&Token::RParen) {
                return Ok(out);
            }
            self.expect(&Token::Comma)?;
        }
    }

    /// A column type: the tokens up to a `,` or `)` outside brackets, or `COMMENT`.
    fn column_type(&mut self) -> Result<String> {
        let start = self.at;
        let (mut parens, mut angles) = (0i32, 0i32);
        while let Some(t) = self.peek() {
            match t {
                Token::LParen => parens += 1,
                Token::RParen if parens == 0 => break,
                Token::RParen => parens -= 1,
                Token::Lt => angles += 1,
                Token::Gt => angles -= 1,
                Token::ShiftRight => angles -= 2,
                Token::Comma if parens == 0 && angles <= 0 => break,
                Token::Word(w)
                    if parens == 0 && angles <= 0 && w.quote_style.is_none() && w.value.eq_ignore_ascii_case("comment") && self.at > start =>
                {
                    break;
                }
                _ => {}
            }
            self.at += 1;
        }
        if self.at == start {
            return Err(self.unexpected("a type"));
        }
        let text: String = self.sig[start..self.at].iter().map(|i| self.all[*i].to_string()).collect::<Vec<_>>().join("");
        let text = text.to_lowercase();
        crate::types::parse_type(&text).map_err(|e| syntax(format!("{e} in column type {text}")))?;
        Ok(text)
    }

    /// `(name type [COMMENT 'c'], …)`
    fn column_defs(&mut self) -> Result<Vec<ColumnDef>> {
        self.expect(&Token::LParen)?;
        let mut out = Vec::new();
        loop {
            let name = self.ident()?;
            let r#type = self.column_type()?;
            let comment = if self.eat_word("COMMENT") { Some(self.string()?) } else { None };
            out.push(ColumnDef { name, r#type, comment });
            if self.eat(&Token::RParen) {
                return Ok(out);
            }
            self.expect(&Token::Comma)?;
        }
    }

    /// `(name, …)`
    fn ident_list(&mut self) -> Result<Vec<String>> {
        self.expect(&Token::LParen)?;
        let mut out = Vec::new();
        loop {
            out.push(self.ident()?);
            if self.eat(&Token::RParen) {
                return Ok(out);
            }
            self.expect(&Token::Comma)?;
        }
    }

    /// `PARTITION (k = 'v', …) [LOCATION 's3://…']`
    fn partition_spec(&mut self, with_location: bool) -> Result<PartitionSpec> {
        self.expect_word("PARTITION")?;
        self.expect(&Token::LParen)?;
        let mut values = Vec::new();
        loop {
            let k = self.ident()?;
            self.expect(&Token::Eq)?;
            let v = match self.peek() {
                Some(Token::Number(n, _)) => {
                    let n = n.clone();
                    self.at += 1;
                    n
                }
                _ => self.string()?,
            };
            values.push((k, v));
            if self.eat(&Token::RParen) {
                break;
            }
            self.expect(&Token::Comma)?;
        }
        let location = if with_location && self.eat_word("LOCATION") { Some(self.string()?) } else { None };
        Ok(PartitionSpec { values, location })
    }

    fn done(&self) -> Result<()> {
        if self.at_end() { Ok(()) } else { Err(self.unexpected("<EOF>")) }
    }
}

/// Hive's escapes in DDL strings: `\t`, `\n`, `\\`, octal `\001` and `\u0001`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' || i + 1 == chars.len() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars[i + 1] {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'u' if i + 6 <= chars.len() && chars[i + 2..i + 6].iter().all(char::is_ascii_hexdigit) => {
                let code: String = chars[i + 2..i + 6].iter().collect();
                out.push(char::from_u32(u32::from_str_radix(&code, 16).unwrap_or(0)).unwrap_or('\u{FFFD}'));
                i += 6;
                continue;
            }
            d if d.is_digit(8) => {
                let digits: String = chars[i + 1..].iter().take(3).take_while(|c| c.is_digit(8)).collect();
                out.push(char::from_u32(u32::from_str_radix(&digits, 8).unwrap_or(0)).unwrap_or('\u{FFFD}'));
                i += 1 + digits.len();
                continue;
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        i += 2;
    }
    out
}

/// Classifies a statement and parses what is not a query.
pub fn plan(sql: &str) -> Result<Plan> {
    plan_with(sql, &[])
}

/// [`plan`], with values for the statement's `?` placeholders.
pub fn plan_with(sql: &str, parameters: &[String]) -> Result<Plan> {
    let tokens = normalize(sql, parameters)?;
    let mut c = Cursor::new(&tokens);
    let first = c.peek_word().unwrap_or_default();
    match first.as_str() {
        "" if c.at_end() => Err(Error::InvalidInput("the query string is empty".into())),
        "SELECT" | "WITH" | "VALUES" | "TABLE" => Ok(Plan::Query(Query { sql: render(&tokens) })),
        _ if c.peek() == Some(&Token::LParen) => Ok(Plan::Query(Query { sql: render(&tokens) })),
        "EXPLAIN" => {
            c.next();
            let analyze = c.eat_word("ANALYZE");
            // `(FORMAT TEXT, TYPE DISTRIBUTED)`: one text format, one plan type.
            if c.peek() == Some(&Token::LParen) && matches!(Cursor::word_of(c.peek_at(1)).as_deref(), Some("FORMAT" | "TYPE")) {
                c.next();
                c.parenthesized()?;
            }
            c.eat_word("VERBOSE");
            Ok(Plan::Explain(Explain { analyze, query: c.rest() }))
        }
        "CREATE" => parse_create(&mut c),
        "DROP" => parse_drop(&mut c),
        "ALTER" => parse_alter(&mut c),
        "MSCK" => {
            c.next();
            c.expect_word("REPAIR")?;
            c.expect_word("TABLE")?;
            let name = c.name()?;
            c.done()?;
            Ok(Plan::Ddl(Ddl::Repair { name }))
        }
        "SHOW" => parse_show(&mut c),
        "DESCRIBE" | "DESC" => {
            c.next();
            let extended = c.eat_word("EXTENDED");
            let formatted = !extended && c.eat_word("FORMATTED");
            let name = c.name()?;
            Ok(Plan::Ddl(Ddl::Describe { name, extended, formatted }))
        }
        "INSERT" => {
            c.next();
            if c.eat_word("OVERWRITE") {
                return Ok(Plan::Unsupported(Unsupported {
                    statement_type: StatementType::Dml,
                    reason: "INSERT OVERWRITE is not supported by Athena".into(),
                    target: None,
                }));
            }
            c.expect_word("INTO")?;
            let name = c.name()?;
            let columns =
                if c.peek() == Some(&Token::LParen) && !matches!(Cursor::word_of(c.peek_at(1)).as_deref(), Some("SELECT" | "WITH" | "VALUES")) {
                    c.ident_list()?
                } else {
                    Vec::new()
                };
            c.query_start()?;
            let query = c.rest();
            if query.is_empty() {
                return Err(c.unexpected("a query"));
            }
            Ok(Plan::Write(Write::Insert(Insert { name, columns, query })))
        }
        "UNLOAD" => {
            c.next();
            c.expect(&Token::LParen)?;
            let query = c.parenthesized()?;
            c.expect_word("TO")?;
            let location = c.string()?;
            let properties = if c.eat_word("WITH") { with_properties(&mut c)? } else { BTreeMap::new() };
            c.done()?;
            Ok(Plan::Write(Write::Unload(Unload { query, location, properties })))
        }
        // Row-level changes work on Iceberg tables only; a Hive table refuses them as Trino's
        // Hive connector does, once the table is known to exist (see `write`).
        "UPDATE" | "DELETE" | "MERGE" => {
            c.next();
            match first.as_str() {
                "DELETE" => c.expect_word("FROM")?,
                "MERGE" => c.expect_word("INTO")?,
                _ => {}
            }
            let target = c.name()?;
            Ok(Plan::Write(Write::RowChange(RowChange { target, sql: render(&tokens), kind: first.clone() })))
        }
        // Iceberg maintenance: `OPTIMIZE t REWRITE DATA USING BIN_PACK [WHERE …]`, `VACUUM t`.
        "OPTIMIZE" | "VACUUM" => {
            c.next();
            let target = c.name()?;
            let mut filter = None;
            if first == "OPTIMIZE" {
                for w in ["REWRITE", "DATA", "USING", "BIN_PACK"] {
                    c.expect_word(w)?;
                }
                if c.eat_word("WHERE") {
                    filter = Some(c.rest());
                }
            } else {
                c.done()?;
            }
            Ok(Plan::Write(Write::Maintenance(Maintenance { target, kind: first.clone(), filter })))
        }
        _ => {
            let found = c.peek().map(|t| t.to_string()).unwrap_or_default();
            Err(Error::Syntax(format!(
                "line 1:1: mismatched input '{found}'. Expecting: 'ALTER', 'CREATE', 'DELETE', 'DESCRIBE', 'DROP', 'EXPLAIN', 'INSERT', 'SELECT', 'SHOW', 'UNLOAD', 'WITH', <query>"
            )))
        }
    }
}

/// `WITH (key = value, …)` after CTAS and UNLOAD: values are literals, or `ARRAY['a', 'b']`
/// kept as comma-separated text.
fn with_properties(c: &mut Cursor) -> Result<BTreeMap<String, String>> {
    c.expect(&Token::LParen)?;
    let mut out = BTreeMap::new();
    loop {
        let key = c.ident()?;
        c.expect(&Token::Eq)?;
        let value = if c.eat_word("ARRAY") {
            c.expect(&Token::LBracket)?;
            let mut values = Vec::new();
            if !c.eat(&Token::RBracket) {
                loop {
                    values.push(c.string()?);
                    if c.eat(&Token::RBracket) {
                        break;
                    }
                    c.expect(&Token::Comma)?;
                }
            }
            values.join(",")
        } else {
            match c.next() {
                Some(Token::SingleQuotedString(s)) => unescape(&s.replace("''", "'")),
                Some(Token::Number(n, _)) => n.clone(),
                Some(Token::Word(w)) => w.value.clone(),
                _ => return Err(syntax("expected a property value")),
            }
        };
        out.insert(key, value);
        if c.eat(&Token::RParen) {
            return Ok(out);
        }
        c.expect(&Token::Comma)?;
    }
}

fn parse_create(c: &mut Cursor) -> Result<Plan> {
    c.expect_word("CREATE")?;
    let or_replace = c.eat_words(&["OR", "REPLACE"]);
    if c.eat_word("DATABASE") || c.eat_word("SCHEMA") {
        let if_not_exists = c.eat_words(&["IF", "NOT", "EXISTS"]);
        let name = c.ident()?;
        let (mut comment, mut location, mut properties) = (None, None, BTreeMap::new());
        loop {
            if c.eat_word("COMMENT") {
                comment = Some(c.string()?);
            } else if c.eat_word("LOCATION") {
                location = Some(c.string()?);
            } else if c.eat_words(&["WITH", "DBPROPERTIES"]) {
                properties = c.properties()?;
            } else {
                break;
            }
        }
        c.done()?;
        return Ok(Plan::Ddl(Ddl::CreateDatabase { name, if_not_exists, comment, location, properties }));
    }
    if c.eat_word("VIEW") {
        let name = c.name()?;
        c.expect_word("AS")?;
        c.query_start()?;
        let query = c.rest();
        if query.is_empty() {
            return Err(c.unexpected("a query"));
        }
        return Ok(Plan::Ddl(Ddl::CreateView { name, or_replace, query }));
    }
    let external = c.eat_word("EXTERNAL");
    c.expect_word("TABLE")?;
    let if_not_exists = c.eat_words(&["IF", "NOT", "EXISTS"]);
    let name = c.name()?;
    if !external && (c.is_word("AS") || c.is_word("WITH")) {
        return parse_ctas(c, name, if_not_exists);
    }
    let mut t = CreateTable { name, if_not_exists, ..Default::default() };
    if c.peek() == Some(&Token::LParen) {
        t.columns = c.column_defs()?;
    }
    loop {
        if c.eat_word("COMMENT") {
            t.comment = Some(c.string()?);
        } else if c.eat_words(&["PARTITIONED", "BY"]) {
            // Hive's partition columns (`name type`), or an Iceberg table's terms (`name`,
            // `transform(…)`): a name followed by `,`, `)` or `(` is a term.
            let term = matches!(c.peek_at(1), Some(Token::Word(_))) && matches!(c.peek_at(2), Some(Token::Comma | Token::RParen | Token::LParen));
            if term {
                c.expect(&Token::LParen)?;
                let list = c.parenthesized()?;
                t.partition_transforms = split_terms(&list);
            } else {
                t.partitioned_by = c.column_defs()?;
            }
        } else if c.eat_words(&["CLUSTERED", "BY"]) {
            t.bucketed_by = c.ident_list()?;
            if c.eat_words(&["SORTED", "BY"]) {
                c.expect(&Token::LParen)?;
                c.parenthesized()?;
            }
            c.expect_word("INTO")?;
            t.buckets = c.number()?;
            c.expect_word("BUCKETS")?;
        } else if c.eat_words(&["ROW", "FORMAT"]) {
            if c.eat_word("SERDE") {
                t.format.serde = Some(c.string()?);
                if c.eat_words(&["WITH", "SERDEPROPERTIES"]) {
                    t.format.serde_properties.extend(c.properties()?);
                }
            } else {
                c.expect_word("DELIMITED")?;
                t.format.serde = Some("org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe".into());
                loop {
                    let key = if c.eat_words(&["FIELDS", "TERMINATED", "BY"]) {
                        "field.delim"
                    } else if c.eat_words(&["ESCAPED", "BY"]) {
                        "escape.delim"
                    } else if c.eat_words(&["COLLECTION", "ITEMS", "TERMINATED", "BY"]) {
                        "collection.delim"
                    } else if c.eat_words(&["MAP", "KEYS", "TERMINATED", "BY"]) {
                        "mapkey.delim"
                    } else if c.eat_words(&["LINES", "TERMINATED", "BY"]) {
                        "line.delim"
                    } else if c.eat_words(&["NULL", "DEFINED", "AS"]) {
                        "serialization.null.format"
                    } else {
                        break;
                    };
                    let v = c.string()?;
                    if key == "field.delim" {
                        t.format.serde_properties.insert("serialization.format".into(), v.clone());
                    }
                    t.format.serde_properties.insert(key.into(), v);
                }
            }
        } else if c.eat_words(&["STORED", "AS"]) {
            if c.eat_word("INPUTFORMAT") {
                t.format.input_format = Some(c.string()?);
                c.expect_word("OUTPUTFORMAT")?;
                t.format.output_format = Some(c.string()?);
            } else {
                t.format.stored_as = Some(c.ident()?.to_ascii_uppercase());
            }
        } else if c.eat_word("LOCATION") {
            t.location = Some(c.string()?);
        } else if c.eat_word("TBLPROPERTIES") {
            t.properties = c.properties()?;
        } else {
            break;
        }
    }
    c.done()?;
    match (external, t.is_iceberg()) {
        // Athena's words, at StartQueryExecution: Iceberg tables are made with CREATE TABLE, Hive
        // tables with CREATE EXTERNAL TABLE.
        (true, true) => return Err(Error::Malformed("External keyword not supported for table type ICEBERG".into())),
        (false, false) => return Err(Error::Malformed("External keyword required for table type HIVE".into())),
        (true, false) if !t.partition_transforms.is_empty() => {
            return Err(syntax("Partition columns of a Hive table need their types: PARTITIONED BY (name type, ...)"));
        }
        _ => {}
    }
    Ok(Plan::Ddl(Ddl::CreateTable(Box::new(t))))
}

/// What Athena's `CREATE TABLE` of an Iceberg table refuses, in its words and in its order (the
/// first that applies): Hive's clauses (ErrorType 1200), then a malformed statement (1006); then
/// a table property it does not know. Checked when the statement runs (`iceberg_tables::create`),
/// so that the execution is a CREATE TABLE that failed, as on Athena.
pub(crate) fn iceberg_create_rules(t: &CreateTable) -> Result<()> {
    let refuse = |message: &str, error_type| Err(Error::IcebergDdl { message: message.into(), error_type });
    if !t.bucketed_by.is_empty() {
        return refuse("Iceberg create table statement does not allow CLUSTERED BY", 1200);
    }
    if t.format.serde.is_some() {
        return refuse("Iceberg create table statement does not allow ROW FORMAT", 1200);
    }
    if t.format.stored_as.is_some() || t.format.input_format.is_some() {
        return refuse("Iceberg create table statement does not allow STORED AS/BY", 1200);
    }
    if !t.partitioned_by.is_empty() {
        return refuse("Invalid PARTITIONED BY clause in Iceberg create table statement", 1006);
    }
    if t.columns.is_empty() {
        return refuse("At least one column is required for Iceberg create table statement", 1006);
    }
    Ok(())
}

/// The comma-separated terms of a list, commas inside parentheses kept.
fn split_terms(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, ch) in list.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(list[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(list[start..].trim().to_string());
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

fn parse_ctas(c: &mut Cursor, name: Name, if_not_exists: bool) -> Result<Plan> {
    let properties = if c.eat_word("WITH") { with_properties(c)? } else { BTreeMap::new() };
    c.expect_word("AS")?;
    c.query_start()?;
    let start = c.at;
    // Trino allows `… WITH DATA` (the default) and `… WITH NO DATA` after the query.
    let n = c.sig.len();
    let word = |k: usize| Cursor::word_of(c.sig.get(k).map(|i| &c.all[*i]));
    let (end, with_data) =
        if n >= start + 3 && word(n - 1).as_deref() == Some("DATA") && word(n - 2).as_deref() == Some("NO") && word(n - 3).as_deref() == Some("WITH")
        {
            (n - 3, false)
        } else if n >= start + 2 && word(n - 1).as_deref() == Some("DATA") && word(n - 2).as_deref() == Some("WITH") {
            (n - 2, true)
        } else {
            (n, true)
        };
    if end <= start {
        return Err(c.unexpected("a query"));
    }
    let (first, last) = (c.sig[start], c.sig[end - 1]);
    let mut body = &c.all[first..=last];
    // `AS (query)`: the parentheses wrap the whole query only if the first one closes last.
    if matches!(body.first(), Some(Token::LParen)) && matches!(body.last(), Some(Token::RParen)) {
        let mut depth = 0;
        let mut closes_at_end = true;
        for (i, t) in body.iter().enumerate() {
            match t {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 && i + 1 != body.len() {
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
    Ok(Plan::Write(Write::CreateTableAs(CreateTableAs { name, properties, query: render(body).trim().to_string(), if_not_exists, with_data })))
}

fn parse_drop(c: &mut Cursor) -> Result<Plan> {
    c.expect_word("DROP")?;
    if c.eat_word("DATABASE") || c.eat_word("SCHEMA") {
        let if_exists = c.eat_words(&["IF", "EXISTS"]);
        let name = c.ident()?;
        let cascade = c.eat_word("CASCADE");
        c.eat_word("RESTRICT");
        c.done()?;
        return Ok(Plan::Ddl(Ddl::DropDatabase { name, if_exists, cascade }));
    }
    if c.eat_word("VIEW") {
        let if_exists = c.eat_words(&["IF", "EXISTS"]);
        let name = c.name()?;
        c.done()?;
        return Ok(Plan::Ddl(Ddl::DropView { name, if_exists }));
    }
    c.expect_word("TABLE")?;
    let if_exists = c.eat_words(&["IF", "EXISTS"]);
    let name = c.name()?;
    c.eat_word("PURGE");
    c.done()?;
    Ok(Plan::Ddl(Ddl::DropTable { name, if_exists }))
}

fn parse_alter(c: &mut Cursor) -> Result<Plan> {
    c.expect_word("ALTER")?;
    c.expect_word("TABLE")?;
    let name = c.name()?;
    if c.eat_word("ADD") {
        if c.eat_word("COLUMNS") {
            let columns = c.column_defs()?;
            c.done()?;
            return Ok(Plan::Ddl(Ddl::AddColumns { name, columns, replace: false }));
        }
        let if_not_exists = c.eat_words(&["IF", "NOT", "EXISTS"]);
        let mut partitions = Vec::new();
        while c.is_word("PARTITION") {
            partitions.push(c.partition_spec(true)?);
        }
        if partitions.is_empty() {
            return Err(c.unexpected("'PARTITION'"));
        }
        c.done()?;
        return Ok(Plan::Ddl(Ddl::AddPartitions { name, if_not_exists, partitions }));
    }
    if c.eat_word("DROP") {
        if c.eat_word("COLUMN") {
            let column = c.ident()?;
            c.done()?;
            return Ok(Plan::Ddl(Ddl::DropColumn { name, column }));
        }
        let if_exists = c.eat_words(&["IF", "EXISTS"]);
        let mut partitions = vec![c.partition_spec(false)?];
        while c.eat(&Token::Comma) {
            partitions.push(c.partition_spec(false)?);
        }
        c.done()?;
        return Ok(Plan::Ddl(Ddl::DropPartitions { name, if_exists, partitions }));
    }
    if c.eat_words(&["REPLACE", "COLUMNS"]) {
        let columns = c.column_defs()?;
        c.done()?;
        return Ok(Plan::Ddl(Ddl::AddColumns { name, columns, replace: true }));
    }
    if c.eat_words(&["SET", "LOCATION"]) {
        let location = c.string()?;
        c.done()?;
        return Ok(Plan::Ddl(Ddl::SetLocation { name, location }));
    }
    if c.eat_words(&["SET", "TBLPROPERTIES"]) {
        let properties = c.properties()?;
        c.done()?;
        return Ok(Plan::Ddl(Ddl::SetProperties { name, properties }));
    }
    if c.eat_word("CHANGE") {
        c.eat_word("COLUMN");
        let old = c.ident()?;
        let new = c.ident()?;
        let r#type = c.column_type()?;
        let comment = if c.eat_word("COMMENT") { Some(c.string()?) } else { None };
        c.done()?;
        return Ok(Plan::Ddl(Ddl::ChangeColumn { name, old, column: ColumnDef { name: new, r#type, comment } }));
    }
    if c.eat_words(&["RENAME", "TO"]) {
        let to = c.name()?;
        c.done()?;
        return Ok(Plan::Ddl(Ddl::RenameTable { name, to }));
    }
    Err(c.unexpected("'ADD', 'CHANGE', 'DROP', 'RENAME', 'REPLACE', 'SET'"))
}

fn parse_show(c: &mut Cursor) -> Result<Plan> {
    c.expect_word("SHOW")?;
    let pattern = |c: &mut Cursor| -> Result<Option<String>> {
        c.eat_word("LIKE");
        match c.peek() {
            Some(Token::SingleQuotedString(_)) => c.string().map(Some),
            _ => Ok(None),
        }
    };
    let in_database =
        |c: &mut Cursor| -> Result<Option<String>> { if c.eat_word("IN") || c.eat_word("FROM") { c.ident().map(Some) } else { Ok(None) } };
    let plan = if c.eat_word("DATABASES") || c.eat_word("SCHEMAS") {
        Plan::Ddl(Ddl::ShowDatabases { pattern: pattern(c)? })
    } else if c.eat_word("TABLES") {
        let database = in_database(c)?;
        Plan::Ddl(Ddl::ShowTables { database, pattern: pattern(c)? })
    } else if c.eat_word("VIEWS") {
        let database = in_database(c)?;
        Plan::Ddl(Ddl::ShowViews { database, pattern: pattern(c)? })
    } else if c.eat_word("PARTITIONS") {
        Plan::Ddl(Ddl::ShowPartitions { name: c.name()? })
    } else if c.eat_word("COLUMNS") {
        if !(c.eat_word("IN") || c.eat_word("FROM")) {
            return Err(c.unexpected("'IN', 'FROM'"));
        }
        let mut name = c.name()?;
        if let Some(db) = in_database(c)? {
            name.database = Some(db);
        }
        Plan::Ddl(Ddl::ShowColumns { name })
    } else if c.eat_words(&["CREATE", "TABLE"]) {
        Plan::Ddl(Ddl::ShowCreateTable { name: c.name()? })
    } else if c.eat_words(&["CREATE", "VIEW"]) {
        Plan::Ddl(Ddl::ShowCreateView { name: c.name()? })
    } else if c.eat_word("TBLPROPERTIES") {
        let name = c.name()?;
        let property = if c.eat(&Token::LParen) {
            let p = c.string()?;
            c.expect(&Token::RParen)?;
            Some(p)
        } else {
            None
        };
        Plan::Ddl(Ddl::ShowProperties { name, property })
    } else {
        return Err(c.unexpected("'COLUMNS', 'CREATE', 'DATABASES', 'PARTITIONS', 'SCHEMAS', 'TABLES', 'TBLPROPERTIES', 'VIEWS'"));
    };
    c.done()?;
    Ok(plan)
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
        assert!(matches!(plan("select 1;").unwrap(), Plan::Query(Query { .. })));
        assert!(matches!(plan("  WITH a AS (SELECT 1) SELECT * FROM a").unwrap(), Plan::Query(Query { .. })));
        assert_eq!(plan("DROP TABLE x").unwrap().statement_type(), StatementType::Ddl);
        assert_eq!(plan("SHOW TABLES").unwrap().statement_type(), StatementType::Utility);
        assert!(plan("   ").is_err());
    }

    #[test]
    fn quoted_identifiers_fold_case_and_literals_do_not() {
        let Plan::Query(Query { sql }) = plan("SELECT \"Star_Rating\", `Cat` FROM \"DB\".\"T\" WHERE x = 'It''s A'").unwrap() else { panic!() };
        assert_eq!(sql, "SELECT \"star_rating\", \"cat\" FROM \"db\".\"t\" WHERE x = 'It''s A'");
    }

    #[test]
    fn parses_the_ctas_awswrangler_sends() {
        let sql = "CREATE TABLE \"Reviews\".\"temp_table_ab12\"\nWITH(\n    external_location = 's3://out/tables/ab12',\n    format = 'PARQUET',\n    bucketed_by = ARRAY['a', 'b'])\nAS SELECT sentiment, COUNT(*) FROM t GROUP BY 1";
        let Plan::Write(Write::CreateTableAs(CreateTableAs { name, properties, query, with_data, .. })) = plan(sql).unwrap() else { panic!() };
        assert_eq!(name.database.as_deref(), Some("reviews"));
        assert_eq!(name.name, "temp_table_ab12");
        assert_eq!(properties["external_location"], "s3://out/tables/ab12");
        assert_eq!(properties["format"], "PARQUET");
        assert_eq!(properties["bucketed_by"], "a,b");
        assert_eq!(query, "SELECT sentiment, COUNT(*) FROM t GROUP BY 1");
        assert!(with_data);
        let Plan::Write(Write::CreateTableAs(CreateTableAs { name, query, with_data, .. })) =
            plan("create table t as (select 1) with no data").unwrap()
        else {
            panic!()
        };
        assert_eq!(name.database, None);
        assert_eq!(query, "select 1");
        assert!(!with_data);
    }

    #[test]
    fn parses_hive_ddl() {
        let sql = "CREATE EXTERNAL TABLE IF NOT EXISTS `Lake`.reviews (
            id bigint COMMENT 'the id',
            tags array<string>,
            attrs map<string,struct<a:int,b:array<double>>>,
            price decimal(10, 2))
          COMMENT 'Reviews'
          PARTITIONED BY (dt string, region string)
          ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'
          STORED AS TEXTFILE
          LOCATION 's3://lake/reviews/'
          TBLPROPERTIES ('skip.header.line.count'='1', 'classification'='csv')";
        let Plan::Ddl(Ddl::CreateTable(t)) = plan(sql).unwrap() else { panic!() };
        assert_eq!(t.name, Name { database: Some("lake".into()), name: "reviews".into() });
        assert!(t.if_not_exists);
        let types: Vec<&str> = t.columns.iter().map(|c| c.r#type.as_str()).collect();
        assert_eq!(types, ["bigint", "array<string>", "map<string,struct<a:int,b:array<double>>>", "decimal(10,2)"]);
        assert_eq!(t.columns[0].comment.as_deref(), Some("the id"));
        assert_eq!(t.partitioned_by.len(), 2);
        assert_eq!(t.format.serde_properties["field.delim"], "\t");
        assert_eq!(t.format.serde_properties["escape.delim"], "\\");
        assert_eq!(t.format.stored_as.as_deref(), Some("TEXTFILE"));
        assert_eq!(t.location.as_deref(), Some("s3://lake/reviews/"));
        assert_eq!(t.properties["skip.header.line.count"], "1");

        let sql = "CREATE EXTERNAL TABLE t (a string) ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' \
                   WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '\"') STORED AS INPUTFORMAT 'x.In' OUTPUTFORMAT 'x.Out' LOCATION 's3://b/t'";
        let Plan::Ddl(Ddl::CreateTable(t)) = plan(sql).unwrap() else { panic!() };
        assert_eq!(t.format.serde.as_deref(), Some("org.apache.hadoop.hive.serde2.OpenCSVSerde"));
        assert_eq!(t.format.serde_properties["quoteChar"], "\"");
        assert_eq!(t.format.input_format.as_deref(), Some("x.In"));
        assert!(plan("CREATE EXTERNAL TABLE t (a nosuchtype) LOCATION 's3://b/t'").is_err());
        assert_eq!(unescape("\\001|\\u0002"), "\u{1}|\u{2}");
    }

    #[test]
    fn parses_partitions_show_and_describe() {
        let Plan::Ddl(Ddl::AddPartitions { partitions, if_not_exists, .. }) =
            plan("ALTER TABLE t ADD IF NOT EXISTS PARTITION (dt='2024-01-01', n=5) LOCATION 's3://b/t/x' PARTITION (dt='2024-01-02', n=6)").unwrap()
        else {
            panic!()
        };
        assert!(if_not_exists);
        assert_eq!(partitions[0].values, [("dt".to_string(), "2024-01-01".to_string()), ("n".to_string(), "5".to_string())]);
        assert_eq!(partitions[0].location.as_deref(), Some("s3://b/t/x"));
        assert_eq!(partitions[1].location, None);
        let Plan::Ddl(Ddl::DropPartitions { partitions, .. }) = plan("ALTER TABLE t DROP PARTITION (dt='a'), PARTITION (dt='b')").unwrap() else {
            panic!()
        };
        assert_eq!(partitions.len(), 2);
        assert_eq!(plan("SHOW TABLES IN db 'ab*'").unwrap(), Plan::Ddl(Ddl::ShowTables { database: Some("db".into()), pattern: Some("ab*".into()) }));
        assert_eq!(
            plan("DESCRIBE `db`.`t`").unwrap(),
            Plan::Ddl(Ddl::Describe { name: Name { database: Some("db".into()), name: "t".into() }, extended: false, formatted: false })
        );
        assert_eq!(
            plan("SHOW CREATE TABLE `db.t`").unwrap(),
            Plan::Ddl(Ddl::ShowCreateTable { name: Name { database: Some("db".into()), name: "t".into() } })
        );
        let Plan::Write(Write::Unload(Unload { query, location, properties })) =
            plan("UNLOAD (SELECT (1) AS a) TO 's3://b/out/' WITH (format = 'PARQUET', partitioned_by = ARRAY['a'])").unwrap()
        else {
            panic!()
        };
        assert_eq!(query, "SELECT (1) AS a");
        assert_eq!(location, "s3://b/out/");
        assert_eq!(properties["partitioned_by"], "a");
        let Plan::Write(Write::Insert(Insert { columns, query, .. })) = plan("INSERT INTO t (a, b) SELECT 1, 2").unwrap() else { panic!() };
        assert_eq!(columns, ["a", "b"]);
        assert_eq!(query, "SELECT 1, 2");
        let Plan::Write(Write::Insert(Insert { columns, .. })) = plan("INSERT INTO t (SELECT 1)").unwrap() else { panic!() };
        assert!(columns.is_empty());
    }
}
