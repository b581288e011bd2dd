//! What Athena reports of a failed query: its error name and message in Trino's words
//! (`TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.shop.nope' does not exist`), and the
//! `AthenaError` category and type numbers of Athena's error catalog.
//!
//! Most errors are typed where they arise ([`Error`]'s variants, Arrow's and DataFusion's own
//! enums). DataFusion says a few things only in words (a missing schema, table or function, a
//! coercion that failed, a full spill directory): [`classify`] is the one place that reads its
//! messages, and its tests make DataFusion produce each message it relies on, so that a change
//! of wording fails them. No DataFusion or Arrow wording reaches the user: messages are
//! rewritten, or stripped of DataFusion's prefixes, and Arrow's type names become Athena's.

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::error::{Error, INVALID_ARGUMENT};

/// A failed query as `GetQueryExecution` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `Status.StateChangeReason` and `AthenaError.ErrorMessage`.
    pub reason: String,
    /// `AthenaError.ErrorCategory`: 1 system, 2 user.
    pub category: u8,
    /// `AthenaError.ErrorType`, from Athena's error type reference.
    pub error_type: u16,
    /// `AthenaError.Retryable`: whether running it again might succeed.
    pub retryable: bool,
}

/// Athena's error names. Each has its place in Athena's error catalog ([`Code::numbers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    SyntaxError,
    SchemaNotFound,
    TableNotFound,
    ColumnNotFound,
    FunctionNotFound,
    TypeMismatch,
    SemanticError,
    NotSupported,
    /// What a statement names (a prepared statement) does not exist.
    NotFound,
    /// A query breaks a rule of a table it reads.
    ConstraintViolation,
    /// A catalog entry a statement would create exists.
    AlreadyExists,
    TableAlreadyExists,
    HivePathAlreadyExists,
    DivisionByZero,
    InvalidCastArgument,
    NumericValueOutOfRange,
    InvalidFunctionArgument,
    GenericUserError,
    /// A read or write of an S3 path the caller may not touch (Athena words it without a name).
    PermissionDenied,
    /// A Hive DDL statement failed (Athena reports Hive's own message, without a name).
    DdlFailed,
    /// An Iceberg DDL statement asks for what Athena refuses (its words, without a name), with
    /// Athena's ErrorType.
    IcebergDdl(u16),
    ExceededLocalMemoryLimit,
    ExceededSpillLimit,
    ExceededTimeLimit,
    GenericInternalError,
    /// An Iceberg table's own errors, by their Athena names.
    Iceberg(&'static str),
}

impl Code {
    /// The name Athena puts before the message, if it puts one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Code::SyntaxError => "SYNTAX_ERROR",
            Code::SchemaNotFound => "SCHEMA_NOT_FOUND",
            Code::TableNotFound => "TABLE_NOT_FOUND",
            Code::ColumnNotFound => "COLUMN_NOT_FOUND",
            Code::FunctionNotFound => "FUNCTION_NOT_FOUND",
            Code::TypeMismatch => "TYPE_MISMATCH",
            Code::SemanticError => "SEMANTIC_ERROR",
            Code::NotSupported => "NOT_SUPPORTED",
            Code::NotFound => "NOT_FOUND",
            Code::ConstraintViolation => "CONSTRAINT_VIOLATION",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::TableAlreadyExists => "TABLE_ALREADY_EXISTS",
            Code::HivePathAlreadyExists => "HIVE_PATH_ALREADY_EXISTS",
            Code::DivisionByZero => "DIVISION_BY_ZERO",
            Code::InvalidCastArgument => "INVALID_CAST_ARGUMENT",
            Code::NumericValueOutOfRange => "NUMERIC_VALUE_OUT_OF_RANGE",
            Code::InvalidFunctionArgument => "INVALID_FUNCTION_ARGUMENT",
            Code::GenericUserError => "GENERIC_USER_ERROR",
            Code::ExceededLocalMemoryLimit => "EXCEEDED_LOCAL_MEMORY_LIMIT",
            Code::ExceededSpillLimit => "EXCEEDED_SPILL_LIMIT",
            Code::ExceededTimeLimit => "EXCEEDED_TIME_LIMIT",
            Code::GenericInternalError => "GENERIC_INTERNAL_ERROR",
            Code::Iceberg(name) => name,
            Code::PermissionDenied | Code::DdlFailed | Code::IcebergDdl(_) => return None,
        })
    }

    /// `(ErrorCategory, ErrorType)`: errors found while analysing the statement are Athena's
    /// 1006 (syntax error), errors in the data while it runs 1001 (data error), failed DDL
    /// 1003, other user errors 1000; exhausted resources 0, time limits 206, internal errors 200.
    pub fn numbers(self) -> (u8, u16) {
        match self {
            Code::DivisionByZero | Code::InvalidCastArgument | Code::NumericValueOutOfRange | Code::InvalidFunctionArgument => (2, 1001),
            Code::DdlFailed => (2, 1003),
            Code::IcebergDdl(error_type) => (2, error_type),
            Code::GenericUserError | Code::PermissionDenied | Code::HivePathAlreadyExists => (2, 1000),
            Code::ExceededLocalMemoryLimit | Code::ExceededSpillLimit => (2, 0),
            Code::ExceededTimeLimit => (1, 206),
            Code::GenericInternalError => (1, 200),
            // Analysis errors, and what the statement asks for that cannot be.
            _ => (2, 1006),
        }
    }

    /// Whether the error is found while analysing the statement, where it has a place in it.
    fn is_analysis(self) -> bool {
        matches!(
            self,
            Code::SyntaxError
                | Code::SchemaNotFound
                | Code::TableNotFound
                | Code::ColumnNotFound
                | Code::FunctionNotFound
                | Code::TypeMismatch
                | Code::SemanticError
        )
    }

    fn failure(self, message: impl Into<String>) -> Failure {
        let message = message.into();
        let (category, error_type) = self.numbers();
        Failure {
            reason: match self.name() {
                Some(name) => format!("{name}: {message}"),
                None => message,
            },
            category,
            error_type,
            // Only what the machine lacked may pass on another try.
            retryable: matches!(self, Code::GenericInternalError | Code::ExceededTimeLimit | Code::Iceberg("ICEBERG_COMMIT_ERROR")),
        }
    }
}

/// The failure Athena would report for an error.
pub fn failure(e: &Error) -> Failure {
    match e {
        Error::Syntax(m) => Code::SyntaxError.failure(m.clone()),
        // `Engine::start` returns it before there is an execution; mapped all the same, in its
        // words, should it arise while one runs.
        Error::Malformed(m) => Code::DdlFailed.failure(m.clone()),
        Error::IcebergDdl { message, error_type } => Code::IcebergDdl(*error_type).failure(message.clone()),
        Error::SchemaNotFound(_) => Code::SchemaNotFound.failure(e.to_string()),
        Error::TableNotFound { .. } => Code::TableNotFound.failure(e.to_string()),
        Error::PreparedNotFound(_) => Code::NotFound.failure(e.to_string()),
        Error::ConstraintViolation(m) => Code::ConstraintViolation.failure(m.clone()),
        // Athena cancels such a query; its reason has no name.
        Error::ScanLimitExceeded => Failure { reason: e.to_string(), ..Code::GenericUserError.failure("") },
        Error::InvalidInput(m) => Code::NotSupported.failure(m.clone()),
        Error::Timeout(m) => Code::ExceededTimeLimit.failure(m.clone()),
        Error::Hive { message, .. } => Code::DdlFailed.failure(message.clone()),
        Error::Iceberg { code, message } => Code::Iceberg(code).failure(message.clone()),
        Error::Storage(e @ storage::Error::AccessDenied { .. }) => Code::PermissionDenied.failure(e.to_string()),
        Error::TableAlreadyExists { .. } => Code::TableAlreadyExists.failure(e.to_string()),
        Error::PathExists(m) => Code::HivePathAlreadyExists.failure(m.clone()),
        Error::Catalog(e) => match e.kind() {
            catalog::ErrorKind::NotFound | catalog::ErrorKind::InvalidInput | catalog::ErrorKind::Conflict => {
                Code::SemanticError.failure(e.to_string())
            }
            catalog::ErrorKind::AlreadyExists => Code::AlreadyExists.failure(e.to_string()),
            _ => Code::GenericInternalError.failure(e.to_string()),
        },
        Error::DataFusion(e) => {
            let (code, message) = classify(e);
            let failure = code.failure(message);
            match code {
                // Where in the statement an analysis error is, when DataFusion knows.
                _ if code.is_analysis() && !failure.reason.contains(": line ") => match e.diagnostic().and_then(|d| d.span) {
                    Some(span) => {
                        let name = code.name().expect("analysis errors are named");
                        let rest = &failure.reason[name.len() + 2..];
                        Failure { reason: format!("{name}: line {}:{}: {rest}", span.start.line, span.start.column), ..failure }
                    }
                    None => failure,
                },
                _ => failure,
            }
        }
        Error::NotFound(m) | Error::Internal(m) => Code::GenericInternalError.failure(m.clone()),
        Error::Storage(e) => match e.kind() {
            storage::ErrorKind::Internal => Code::GenericInternalError.failure(e.to_string()),
            _ => Code::GenericUserError.failure(e.to_string()),
        },
    }
}

/// Athena's name and Trino's wording for a DataFusion error: the one reading of DataFusion's
/// and Arrow's messages.
fn classify(e: &DataFusionError) -> (Code, String) {
    if let Some(path) = denied_path(e) {
        return (Code::PermissionDenied, format!("Permission denied on S3 path: {path}"));
    }
    // One of ours, raised inside DataFusion's planning (the catalog's missing schema).
    if let DataFusionError::External(inner) = e.find_root()
        && let Some(ours) = inner.downcast_ref::<Error>()
    {
        let Failure { reason, .. } = failure(ours);
        let code = match ours {
            Error::SchemaNotFound(_) => Code::SchemaNotFound,
            Error::TableNotFound { .. } => Code::TableNotFound,
            Error::ConstraintViolation(_) => Code::ConstraintViolation,
            Error::Iceberg { code, .. } => Code::Iceberg(code),
            Error::InvalidInput(_) => Code::NotSupported,
            _ => Code::GenericUserError,
        };
        let message = match code.name() {
            Some(name) => reason.strip_prefix(name).and_then(|r| r.strip_prefix(": ")).unwrap_or(&reason).to_string(),
            None => reason,
        };
        return (code, message);
    }
    let root = e.find_root();
    // Spill files reached the room the data directory has left (`Sessions::session`): said in
    // words only, by whichever operator was spilling.
    if root.to_string().contains("exceeded the allowable limit") {
        return (
            Code::ExceededSpillLimit,
            "Query exceeded the space it may spill to: the data directory is full, but for the room kept free for its index".into(),
        );
    }
    match root {
        // A function that names Trino's error already says it as Athena would.
        DataFusionError::Execution(m) if m.starts_with(INVALID_ARGUMENT) => (Code::InvalidFunctionArgument, m[INVALID_ARGUMENT.len()..].to_string()),
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            ArrowError::DivideByZero => (Code::DivisionByZero, "Division by zero".into()),
            ArrowError::CastError(m) => cast_error(m),
            ArrowError::ArithmeticOverflow(m) => (Code::NumericValueOutOfRange, overflow(m)),
            other => (Code::GenericUserError, arrow_message(other)),
        },
        DataFusionError::SchemaError(schema, _) => match schema.as_ref() {
            SchemaError::FieldNotFound { field, .. } => (
                Code::ColumnNotFound,
                format!("Column '{}' cannot be resolved or requester is not authorized to access requested resources", field.name),
            ),
            other => (Code::SemanticError, athena_types(&other.to_string())),
        },
        DataFusionError::SQL(parser, _) => (Code::SyntaxError, parser_error(None, parser)),
        // The pool's own message first, then which operators held the memory.
        DataFusionError::ResourcesExhausted(detail) => (
            Code::ExceededLocalMemoryLimit,
            match detail.split_once("\nError: ") {
                Some((consumers, cause)) => {
                    let consumers = consumers.replace("Additional allocation failed for ", "").replace('\n', " ");
                    format!("{}. Failed allocating for {}", cause.trim_end_matches('.'), consumers.trim())
                }
                None => detail.clone(),
            },
        ),
        DataFusionError::Plan(m) => plan_error(m),
        DataFusionError::NotImplemented(m) => (Code::NotSupported, athena_types(m)),
        DataFusionError::Internal(m) => (Code::GenericInternalError, m.clone()),
        DataFusionError::Execution(m) => (Code::GenericUserError, athena_types(m)),
        other => (Code::GenericUserError, athena_types(&other.message())),
    }
}

/// A planning error, by what DataFusion's message says.
fn plan_error(m: &str) -> (Code, String) {
    if let Some(schema) = m.strip_prefix("failed to resolve schema: ") {
        return (Code::SchemaNotFound, format!("Schema '{schema}' does not exist"));
    }
    if let Some(table) = between(m, "table '", "' not found") {
        return (Code::TableNotFound, format!("Table '{table}' does not exist"));
    }
    if let Some(function) = between(m, "Invalid function '", "'") {
        return (Code::FunctionNotFound, format!("Function '{function}' not registered"));
    }
    // `Cannot coerce arithmetic expression Int64 + Utf8 to valid types`
    if let Some(operation) = between(m, "Cannot coerce arithmetic expression ", " to valid types") {
        let parts: Vec<&str> = operation.split(' ').collect();
        if let [left, op, right] = parts.as_slice() {
            return (Code::TypeMismatch, format!("Cannot apply operator: {} {op} {}", athena_type(left), athena_type(right)));
        }
    }
    // `Cannot infer common argument type for comparison operation Int64 = Boolean`, …
    if m.contains("Cannot infer common") || m.contains("Cannot coerce") || m.contains("type coercion") || m.contains("non-boolean predicate") {
        return (Code::TypeMismatch, athena_types(m));
    }
    (Code::SemanticError, athena_types(m))
}

/// Arrow's cast errors in Trino's words: `Cannot cast 'abc' to INT` for text that is no number,
/// `Out of range for integer: 3000000000` for a number that does not fit.
fn cast_error(m: &str) -> (Code, String) {
    // `Cannot cast string 'abc' to value of Int32 type`
    if let Some(rest) = m.strip_prefix("Cannot cast string '")
        && let Some((value, tail)) = rest.rsplit_once("' to value of ")
        && let Some(t) = tail.strip_suffix(" type")
    {
        return (Code::InvalidCastArgument, format!("Cannot cast '{value}' to {}", cast_type_name(t)));
    }
    // `Can't cast value 3000000000 to type Int32`
    if let Some(rest) = m.strip_prefix("Can't cast value ")
        && let Some((value, t)) = rest.split_once(" to type ")
    {
        return (Code::NumericValueOutOfRange, format!("Out of range for {}: {value}", athena_type(t)));
    }
    (Code::InvalidCastArgument, athena_types(m))
}

/// How Trino names a type in a cast error: `INT`, `BIGINT`, `DOUBLE`, …
fn cast_type_name(arrow: &str) -> String {
    match athena_type(arrow).as_str() {
        "integer" => "INT".into(),
        other => other.to_uppercase(),
    }
}

/// `Overflow happened on: 2147483647 + 1` as Trino says it.
fn overflow(m: &str) -> String {
    match m.strip_prefix("Overflow happened on: ") {
        Some(operation) => format!("Arithmetic overflow: {operation}"),
        None => athena_types(m),
    }
}

/// A table a statement names, and where.
pub struct Named {
    /// The name's schema part, lower case, when it has one.
    schema: Option<String>,
    span: Option<datafusion::common::Span>,
}

impl Named {
    pub fn of(name: &datafusion::sql::sqlparser::ast::ObjectName) -> Named {
        use datafusion::sql::sqlparser::ast::Spanned;
        let parts: Vec<String> = name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_lowercase()).collect();
        let schema = if parts.len() >= 2 { parts.get(parts.len() - 2).cloned() } else { None };
        Named { schema, span: datafusion::common::Span::try_from_sqlparser_span(name.span()) }
    }
}

/// Places an error about a missing schema at the first table named in it. DataFusion resolves
/// tables before it plans, where its errors carry no position.
pub fn place(e: DataFusionError, named: &[Named]) -> DataFusionError {
    if e.diagnostic().is_some() {
        return e;
    }
    let missing = match e.find_root() {
        DataFusionError::External(inner) => match inner.downcast_ref::<Error>() {
            Some(Error::SchemaNotFound(schema)) => schema.clone(),
            _ => return e,
        },
        _ => return e,
    };
    match named.iter().find(|n| n.schema.as_deref() == Some(missing.as_str())).and_then(|n| n.span) {
        Some(span) => e.with_diagnostic(datafusion::common::Diagnostic::new_error(format!("schema '{missing}' not found"), Some(span))),
        None => e,
    }
}

/// A statement that does not parse, as Athena words it (see [`parser_error`]).
pub fn parse_error(sql: &str, e: DataFusionError) -> Error {
    match e.find_root() {
        DataFusionError::SQL(parser, _) => Error::Syntax(parser_error(Some(sql), parser)),
        _ => Error::DataFusion(e),
    }
}

/// A parser error in Trino's shape, whichever way the statement came:
/// `line 1:1: mismatched input 'SELEC'. Expecting: an SQL statement`. An error at the end of the
/// statement is placed after its last character when the statement is known.
fn parser_error(sql: Option<&str>, e: &ParserError) -> String {
    let m = match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.as_str(),
        ParserError::RecursionLimitExceeded => return "line 1:1: Statement is too deeply nested".into(),
    };
    // `Expected: an SQL statement, found: SELEC at Line: 1, Column: 1`
    let (text, at) = match m.rsplit_once(" at Line: ") {
        Some((text, at)) => (text, at.split_once(", Column: ").map(|(l, c)| (l.to_string(), c.to_string()))),
        None => (m, None),
    };
    let end = sql.map(|sql| {
        let sql = sql.trim_end();
        let line = sql.matches('\n').count() + 1;
        let column = sql.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
        (line.to_string(), column.to_string())
    });
    let expected = text.strip_prefix("Expected: ").and_then(|t| t.rsplit_once(", found: "));
    let at = match (at, expected) {
        (Some(at), _) => Some(at),
        (None, Some((_, "EOF"))) => end,
        (None, _) => None,
    };
    let position = at.map(|(l, c)| format!("line {l}:{c}: ")).unwrap_or_else(|| "line 1:1: ".into());
    match expected {
        Some((expecting, found)) => {
            let found = if found == "EOF" { "<EOF>" } else { found };
            format!("{position}mismatched input '{found}'. Expecting: {expecting}")
        }
        None => format!("{position}{text}"),
    }
}

/// An Arrow error's message without Arrow's prefixes.
fn arrow_message(e: &ArrowError) -> String {
    let text = e.to_string();
    let text = match text.split_once(": ") {
        Some((prefix, rest)) if prefix.ends_with("error") || prefix.ends_with("Error") => rest.to_string(),
        _ => text,
    };
    athena_types(&text)
}

/// Athena's name for a type Arrow wrote (`Int64`, `Utf8`, `Decimal128(10, 2)`), or the text as
/// it is when it is no Arrow type.
fn athena_type(arrow: &str) -> String {
    match arrow.trim().parse::<DataType>() {
        Ok(t) => crate::types::type_name(&t, None),
        Err(_) => arrow.trim().to_string(),
    }
}

/// A message with Arrow's names of the simple types replaced by Athena's.
fn athena_types(text: &str) -> String {
    const NAMES: [(&str, &str); 14] = [
        ("LargeUtf8", "varchar"),
        ("Utf8View", "varchar"),
        ("Utf8", "varchar"),
        ("Int8", "tinyint"),
        ("Int16", "smallint"),
        ("Int32", "integer"),
        ("Int64", "bigint"),
        ("Float32", "real"),
        ("Float64", "double"),
        ("Boolean", "boolean"),
        ("Date32", "date"),
        ("BinaryView", "varbinary"),
        ("LargeBinary", "varbinary"),
        ("Binary", "varbinary"),
    ];
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match NAMES.iter().find(|(arrow, _)| *arrow == word.as_str()) {
            Some((_, athena)) => out.push_str(athena),
            None => out.push_str(word),
        }
        word.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
            out.push(ch);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// The S3 path a refused read or write named, wherever in the error's chain the refusal is (an
/// object store's error arrives wrapped as DataFusion's external error, or as its own variant).
fn denied_path(e: &DataFusionError) -> Option<String> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = at {
        if let Some(object_store::Error::PermissionDenied { path, .. }) = err.downcast_ref::<object_store::Error>() {
            return Some(path.clone());
        }
        if let Some(DataFusionError::ObjectStore(os)) = err.downcast_ref::<DataFusionError>()
            && let object_store::Error::PermissionDenied { path, .. } = os.as_ref()
        {
            return Some(path.clone());
        }
        if let Some(storage::Error::AccessDenied { path }) = err.downcast_ref::<storage::Error>() {
            return Some(path.clone());
        }
        at = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    async fn error_of(ctx: &SessionContext, sql: &str) -> Error {
        let planned = ctx.sql(sql).await;
        let e = match planned {
            Err(e) => e,
            Ok(df) => df.collect().await.err().unwrap_or_else(|| panic!("{sql} ran")),
        };
        Error::DataFusion(e)
    }

    /// DataFusion's and Arrow's own errors for each mistake, named and worded as Athena does.
    #[tokio::test]
    async fn datafusion_errors_in_athenas_words() {
        let mut config = SessionConfig::new();
        config.options_mut().sql_parser.collect_spans = true;
        let ctx = SessionContext::new_with_config(config);
        ctx.sql("CREATE TABLE t (a BIGINT, s VARCHAR)").await.unwrap();
        ctx.sql("INSERT INTO t VALUES (1, 'abc')").await.unwrap().collect().await.unwrap();
        let cases = [
            ("SELECT * FROM nothing", "TABLE_NOT_FOUND: line 1:15: Table 'datafusion.public.nothing' does not exist"),
            (
                "SELECT nothing FROM t",
                "COLUMN_NOT_FOUND: line 1:8: Column 'nothing' cannot be resolved or requester is not authorized to access requested resources",
            ),
            ("SELECT no_such_function(a) FROM t", "FUNCTION_NOT_FOUND: line 1:8: Function 'no_such_function' not registered"),
            ("SELECT a + s FROM t", "TYPE_MISMATCH: line 1:8: Cannot apply operator: bigint + varchar"),
            ("SELECT a / 0 FROM t", "DIVISION_BY_ZERO: Division by zero"),
            ("SELECT CAST(s AS INT) FROM t", "INVALID_CAST_ARGUMENT: Cannot cast 'abc' to INT"),
            ("SELECT CAST(a + 2999999999 AS INT) FROM t", "NUMERIC_VALUE_OUT_OF_RANGE: Out of range for integer: 3000000000"),
            ("SELEC 1", "SYNTAX_ERROR: line 1:1: mismatched input 'SELEC'. Expecting: an SQL statement"),
            ("SELECT * FROM t WHERE", "SYNTAX_ERROR: line 1:1: mismatched input '<EOF>'. Expecting: an expression"),
        ];
        for (sql, want) in cases {
            let e = error_of(&ctx, sql).await;
            let got = failure(&e).reason;
            assert_eq!(got, want, "{sql}: {e:?}");
            for internal in ["Arrow", "DataFusion", "Error during planning", "Int64", "Utf8"] {
                assert!(!got.contains(internal), "{sql}: {got}");
            }
        }
    }

    /// A statement that ends too soon: the error is placed after its last character.
    #[test]
    fn a_parse_error_at_the_end_says_where_the_end_is() {
        let sql = "SELECT *\nFROM t WHERE ";
        let e = datafusion::sql::parser::DFParser::parse_sql(sql).unwrap_err();
        let Error::Syntax(m) = parse_error(sql, e) else { panic!() };
        assert_eq!(m, "line 2:13: mismatched input '<EOF>'. Expecting: an expression");
    }

    /// A missing schema is the catalog's own error, raised inside DataFusion's planning.
    #[test]
    fn our_errors_inside_datafusions() {
        let missing = DataFusionError::External(Box::new(Error::SchemaNotFound("nodb".into())));
        use datafusion::common::{Location, Span};
        let span = Span::new(Location { line: 1, column: 15 }, Location { line: 1, column: 25 });
        let e = missing.with_diagnostic(datafusion::common::Diagnostic::new_error("table 'nodb.raw' not found", Some(span)));
        let f = failure(&Error::DataFusion(e));
        assert_eq!((f.reason.as_str(), f.error_type), ("SCHEMA_NOT_FOUND: line 1:15: Schema 'nodb' does not exist", 1006));
    }

    #[test]
    fn resources_and_typed_errors() {
        let spill =
            DataFusionError::ResourcesExhausted("The used disk space during the spilling process has exceeded the allowable limit of 1.0 MB".into());
        assert!(failure(&Error::DataFusion(spill)).reason.starts_with("EXCEEDED_SPILL_LIMIT: "));
        let wrapped = DataFusionError::Execution("The used disk space during the spilling process has exceeded the allowable limit of 1.0 MB".into());
        assert!(failure(&Error::DataFusion(wrapped)).reason.starts_with("EXCEEDED_SPILL_LIMIT: "));
        let memory = failure(&Error::DataFusion(DataFusionError::ResourcesExhausted("out of memory".into())));
        assert_eq!((memory.reason.as_str(), memory.category, memory.error_type), ("EXCEEDED_LOCAL_MEMORY_LIMIT: out of memory", 2, 0));
        let syntax = failure(&Error::Syntax("line 1:1: x".into()));
        assert_eq!((syntax.reason.as_str(), syntax.category, syntax.error_type), ("SYNTAX_ERROR: line 1:1: x", 2, 1006));
        assert_eq!(failure(&Error::InvalidInput("x".into())).reason, "NOT_SUPPORTED: x");
        assert_eq!(failure(&Error::SchemaNotFound("nodb".into())).reason, "SCHEMA_NOT_FOUND: Schema 'nodb' does not exist");
        let table = failure(&Error::TableNotFound { database: "shop".into(), table: "t".into() });
        assert_eq!(table.reason, "TABLE_NOT_FOUND: Table 'awsdatacatalog.shop.t' does not exist");
        let timeout = failure(&Error::Timeout("Query exceeded the maximum execution time of 1s".into()));
        assert_eq!((timeout.category, timeout.error_type, timeout.retryable), (1, 206, true));
        let internal = failure(&Error::Internal("x".into()));
        assert_eq!((internal.reason.as_str(), internal.category, internal.error_type), ("GENERIC_INTERNAL_ERROR: x", 1, 200));
    }

    #[test]
    fn arrow_type_names_become_athenas() {
        assert_eq!(athena_types("Cannot compare Int64 with Utf8View (Int64)"), "Cannot compare bigint with varchar (bigint)");
        assert_eq!(athena_type("Decimal128(10, 2)"), "decimal(10,2)");
        assert_eq!(athena_type("Timestamp(Millisecond, None)"), "timestamp(3)");
    }
}
