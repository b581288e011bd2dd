//! Views as Athena stores them in Glue: a table of type `VIRTUAL_VIEW` whose `ViewOriginalText`
//! is `/* Presto View: <base64 of a JSON document> */`, the document holding the SQL, the
//! database it was defined in and its columns' Trino types.

use base64::Engine as _;
use catalog::Table;

use crate::types::ColumnInfo;

/// The Glue table type of views, and the marker Athena writes around a view's definition.
pub const VIEW_TYPE: &str = "VIRTUAL_VIEW";
const VIEW_PREFIX: &str = "/* Presto View: ";
const VIEW_SUFFIX: &str = " */";

/// Encodes a view's definition the way Athena stores it in `ViewOriginalText`.
pub fn view_original_text(sql: &str, database: &str, columns: &[ColumnInfo], trino_types: &[String]) -> String {
    let cols: Vec<serde_json::Value> = columns.iter().zip(trino_types).map(|(c, t)| serde_json::json!({ "name": c.name, "type": t })).collect();
    let doc = serde_json::json!({
        "originalSql": sql,
        "catalog": "awsdatacatalog",
        "schema": database,
        "columns": cols,
        "owner": "minerva",
        "runAsInvoker": false,
        "properties": {},
    });
    format!("{VIEW_PREFIX}{}{VIEW_SUFFIX}", base64::engine::general_purpose::STANDARD.encode(doc.to_string()))
}

/// The JSON document of a view's `ViewOriginalText`.
fn decode(table: &Table) -> Option<serde_json::Value> {
    let text = table.extra.get("ViewOriginalText")?.as_str()?;
    let encoded = text.trim().strip_prefix(VIEW_PREFIX)?.strip_suffix(VIEW_SUFFIX)?;
    serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()
}

/// A view's SQL and the database it was defined in, from its Glue record.
pub fn view_definition(table: &Table) -> Option<(String, String)> {
    let doc = decode(table)?;
    let sql = doc.get("originalSql")?.as_str()?.to_string();
    let schema = doc.get("schema").and_then(|s| s.as_str()).unwrap_or(&table.database_name).to_string();
    Some((sql, schema))
}

/// A view's columns with their Trino types, from its Glue record; `None` when the definition
/// cannot be read.
pub fn view_columns(table: &Table) -> Option<Vec<(String, String)>> {
    let doc = decode(table)?;
    let columns = doc.get("columns")?.as_array()?;
    columns.iter().map(|c| Some((c.get("name")?.as_str()?.to_string(), c.get("type")?.as_str()?.to_string()))).collect()
}

pub fn is_view(table: &Table) -> bool {
    table.table_type.as_deref() == Some(VIEW_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varchar(name: &str) -> ColumnInfo {
        ColumnInfo { name: name.into(), r#type: "varchar".into(), precision: 2147483647, scale: 0, nullable: true }
    }

    #[test]
    fn view_text_round_trips() {
        let t = Table {
            extra: [(
                "ViewOriginalText".to_string(),
                serde_json::Value::String(view_original_text("SELECT 1", "db", &[varchar("x")], &["integer".into()])),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        assert_eq!(view_definition(&t), Some(("SELECT 1".to_string(), "db".to_string())));
    }
}
