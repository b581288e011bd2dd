//! DDL and utility statements: Hive DDL against the Glue catalog, views stored as Athena stores
//! them, MSCK REPAIR, SHOW, DESCRIBE and EXPLAIN, with the output shapes Athena prints.

use std::collections::{BTreeMap, BTreeSet};

use catalog::{Column, Database, SerDeInfo, StorageDescriptor, Table};
use datafusion::physical_plan::{collect, displayable};
use storage::{ListQuery, S3Location};

use crate::context::{Context, Outcome, already_exists};
use crate::error::{Error, Result};
use crate::location;
use crate::partitioned::{partition_for, partition_path};
use crate::sql::{ColumnDef, CreateTable, Ddl, Explain, Name, PartitionSpec};
use crate::types::{ColumnInfo, arrow_to_hive};
use crate::views::{VIEW_TYPE, is_view, view_definition, view_original_text};

fn varchar(name: &str) -> ColumnInfo {
    ColumnInfo { name: name.into(), r#type: "varchar".into(), precision: 2147483647, scale: 0, nullable: true }
}

fn text(columns: &[&str], lines: Vec<String>) -> Outcome {
    Outcome { columns: columns.iter().map(|c| varchar(c)).collect(), lines, ..Default::default() }
}

/// Hive's error for a database that is not there, as Athena reports it.
fn no_database(name: &str) -> Error {
    Error::Hive { kind: crate::ErrorKind::NotFound, message: format!("FAILED: SemanticException [Error 10072]: Database does not exist: {name}") }
}

/// The lines of a physical plan, indented by depth, without the operators Minerva adds to stop
/// queries; with metrics after EXPLAIN ANALYZE ran it.
fn render_plan(plan: &std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>, metrics: bool, depth: usize, out: &mut Vec<String>) {
    if plan.name() == crate::cancel::CANCEL_EXEC {
        for child in plan.children() {
            render_plan(child, metrics, depth, out);
        }
        return;
    }
    let line = if metrics {
        datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan.as_ref()).one_line().to_string()
    } else {
        displayable(plan.as_ref()).one_line().to_string()
    };
    out.push(format!("{}{}", "  ".repeat(depth), line.trim_end()));
    for child in plan.children() {
        render_plan(child, metrics, depth + 1, out);
    }
}

/// Hive's `SHOW TABLES` patterns: `*` is any text, `|` separates alternatives; case does not
/// matter.
fn pattern_matches(pattern: &str, name: &str) -> bool {
    pattern.split('|').any(|alt| {
        let re = format!("^{}$", alt.trim().split('*').map(regex::escape).collect::<Vec<_>>().join(".*"));
        regex::RegexBuilder::new(&re).case_insensitive(true).build().is_ok_and(|r| r.is_match(name))
    })
}

/// Input and output formats and SerDe of a Hive table's `STORED AS` and `ROW FORMAT`.
fn storage_of(format: &crate::sql::TableFormat) -> Result<(String, String, SerDeInfo)> {
    const TEXT_IN: &str = "org.apache.hadoop.mapred.TextInputFormat";
    const TEXT_OUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
    const LAZY: &str = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
    let (input, output, default_serde) = match format.stored_as.as_deref() {
        Some("PARQUET") => (
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        ),
        Some("ORC") => (
            "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
            "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
            "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
        ),
        Some("AVRO") => (
            "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat",
            "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat",
            "org.apache.hadoop.hive.serde2.avro.AvroSerDe",
        ),
        Some("JSON" | "JSONFILE") => (TEXT_IN, TEXT_OUT, "org.openx.data.jsonserde.JsonSerDe"),
        Some("TEXTFILE") | None => (TEXT_IN, TEXT_OUT, LAZY),
        Some(other) => return Err(Error::Syntax(format!("line 1:1: STORED AS {other} is not supported"))),
    };
    let input = format.input_format.clone().unwrap_or_else(|| input.to_string());
    let output = format.output_format.clone().unwrap_or_else(|| output.to_string());
    let library = format.serde.clone().unwrap_or_else(|| default_serde.to_string());
    let mut parameters = format.serde_properties.clone();
    if library == LAZY && !parameters.contains_key("serialization.format") {
        parameters.insert("serialization.format".into(), parameters.get("field.delim").cloned().unwrap_or_else(|| "1".into()));
    }
    Ok((input, output, SerDeInfo { serialization_library: Some(library), parameters, ..Default::default() }))
}

fn columns_of(defs: &[ColumnDef]) -> Vec<Column> {
    defs.iter().map(|d| Column { name: d.name.clone(), r#type: Some(d.r#type.clone()), comment: d.comment.clone(), ..Default::default() }).collect()
}

/// Hive's escapes for a string in DDL, the inverse of what the parser reads.
fn quote(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The lines of `DESCRIBE`: Hive's fields padded to 20, then the partition section.
fn describe_lines(table: &Table) -> Vec<String> {
    let line = |name: &str, ty: &str, comment: &str| format!("{name:<20}\t{ty:<20}\t{comment:<20}");
    let mut out: Vec<String> = table
        .columns()
        .iter()
        .chain(&table.partition_keys)
        .map(|c| line(&c.name, c.r#type.as_deref().unwrap_or("string"), c.comment.as_deref().unwrap_or("")))
        .collect();
    if !table.partition_keys.is_empty() {
        out.push("\t \t ".into());
        out.push("# Partition Information\t \t ".into());
        // Hive puts "# " before the header's padded fields: `col_name` is padded, not `# col_name`.
        out.push(format!("# {}", line("col_name", "data_type", "comment")));
        out.push("\t \t ".into());
        for k in &table.partition_keys {
            out.push(line(&k.name, k.r#type.as_deref().unwrap_or("string"), k.comment.as_deref().unwrap_or("")));
        }
    }
    out
}

/// `DESCRIBE` and `SHOW COLUMNS` of a view, which Athena answers alike: `<name>\t<type>` a row,
/// the types in Trino's spelling, nothing padded.
fn view_lines(table: &Table) -> Option<Vec<String>> {
    if !is_view(table) {
        return None;
    }
    let columns = crate::views::view_columns(table)?;
    Some(columns.into_iter().map(|(name, ty)| format!("{name}\t{ty}")).collect())
}

/// `SHOW CREATE TABLE`: the DDL Athena prints, which runs again as it is.
fn create_table_lines(table: &Table) -> Vec<String> {
    let mut out = vec![format!("CREATE EXTERNAL TABLE `{}.{}`(", table.database_name, table.name)];
    let column = |c: &Column| {
        let mut s = format!("  `{}` {}", c.name, c.r#type.as_deref().unwrap_or("string"));
        if let Some(comment) = &c.comment {
            s.push_str(&format!(" COMMENT {}", quote(comment)));
        }
        s
    };
    let columns: Vec<String> = table.columns().iter().map(column).collect();
    let n = columns.len();
    for (i, c) in columns.into_iter().enumerate() {
        out.push(if i + 1 == n { format!("{c})") } else { format!("{c}, ") });
    }
    if n == 0 {
        out[0].push(')');
    }
    if let Some(comment) = &table.description {
        out.push(format!("COMMENT {}", quote(comment)));
    }
    if !table.partition_keys.is_empty() {
        out.push("PARTITIONED BY ( ".into());
        let keys: Vec<String> = table.partition_keys.iter().map(column).collect();
        let n = keys.len();
        for (i, k) in keys.into_iter().enumerate() {
            out.push(if i + 1 == n { format!("{k})") } else { format!("{k}, ") });
        }
    }
    let sd = table.storage_descriptor.clone().unwrap_or_default();
    if !sd.bucket_columns.is_empty() && sd.number_of_buckets > 0 {
        let cols: Vec<String> = sd.bucket_columns.iter().map(|c| format!("`{c}`")).collect();
        out.push(format!("CLUSTERED BY ( \n  {}) ", cols.join(", ")));
        out.push(format!("INTO {} BUCKETS", sd.number_of_buckets));
    }
    if let Some(serde) = &sd.serde_info {
        out.push("ROW FORMAT SERDE ".into());
        out.push(format!("  {} ", quote(serde.serialization_library.as_deref().unwrap_or_default())));
        if !serde.parameters.is_empty() {
            out.push("WITH SERDEPROPERTIES ( ".into());
            let n = serde.parameters.len();
            for (i, (k, v)) in serde.parameters.iter().enumerate() {
                out.push(format!("  {}={}{}", quote(k), quote(v), if i + 1 == n { ") " } else { ", " }));
            }
        }
    }
    out.push("STORED AS INPUTFORMAT ".into());
    out.push(format!("  {} ", quote(sd.input_format.as_deref().unwrap_or_default())));
    out.push("OUTPUTFORMAT ".into());
    out.push(format!("  {}", quote(sd.output_format.as_deref().unwrap_or_default())));
    out.push("LOCATION".into());
    out.push(format!("  {}", quote(sd.location.as_deref().unwrap_or_default())));
    let properties: Vec<(&String, &String)> = table.parameters.iter().filter(|(k, _)| k.as_str() != "EXTERNAL").collect();
    if !properties.is_empty() {
        out.push("TBLPROPERTIES (".into());
        let n = properties.len();
        for (i, (k, v)) in properties.into_iter().enumerate() {
            out.push(format!("  {}={}{}", quote(k), quote(v), if i + 1 == n { ")" } else { ", " }));
        }
    }
    out
}

/// `EXPLAIN [ANALYZE]`: the physical plan, with each operator's metrics once it ran.
pub(crate) async fn explain(cx: &Context, e: Explain) -> Result<Outcome> {
    let df = cx.dataframe(&e.query).await?;
    let physical = df.create_physical_plan().await?;
    if e.analyze {
        collect(physical.clone(), cx.session.task_ctx()).await?;
    }
    let mut lines = Vec::new();
    render_plan(&physical, e.analyze, 0, &mut lines);
    Ok(text(&["Query Plan"], lines))
}

/// Runs a DDL or utility statement.
pub(crate) async fn run(cx: &Context, ddl: Ddl) -> Result<Outcome> {
    let catalog = &cx.catalog;
    match ddl {
        Ddl::CreateDatabase { name, if_not_exists, comment, location, properties } => {
            if catalog.get_database(&name).is_ok() {
                return if if_not_exists { Ok(Outcome::default()) } else { Err(already_exists(format!("Database {name} already exists"))) };
            }
            catalog
                .create_database(Database { name, description: comment, location_uri: location, parameters: properties, ..Default::default() })
                .await?;
            Ok(Outcome::default())
        }
        Ddl::DropDatabase { name, if_exists, cascade } => {
            if catalog.get_database(&name).is_err() {
                return if if_exists { Ok(Outcome::default()) } else { Err(no_database(&name)) };
            }
            if !cascade && !catalog.list_tables(&name, None)?.is_empty() {
                return Err(Error::Hive {
                    kind: crate::ErrorKind::InvalidInput,
                    message: format!(
                        "FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask. \
                         InvalidOperationException(message:Database {name} is not empty. One or more tables exist.)"
                    ),
                });
            }
            catalog.delete_database(&name).await?;
            Ok(Outcome::default())
        }
        Ddl::CreateTable(t) => create_table(cx, *t).await,
        Ddl::DropTable { name, if_exists } => {
            let table = match cx.table(&name) {
                Ok(t) => t,
                Err(_) if if_exists => return Ok(Outcome::default()),
                Err(e) => return Err(e),
            };
            if is_view(&table) {
                return Err(Error::InvalidInput(format!("{}.{} is a view: use DROP VIEW", table.database_name, table.name)));
            }
            // Athena drops an Iceberg table's files with it: those its metadata reaches.
            // What to delete is found before the table goes: a table whose files cannot be
            // listed is not dropped.
            let purge = match crate::iceberg_scan::is_iceberg(&table) {
                true => {
                    let location = crate::iceberg_scan::metadata_location(&table)?;
                    let t = iceberg::table::Table::load(crate::iceberg_scan::session_io(cx.session.runtime_env()), location).await?;
                    let files = t.reachable_files().await?;
                    Some((t, files))
                }
                false => None,
            };
            catalog.delete_table(&table.database_name, &table.name).await?;
            if let Some((t, files)) = purge {
                for f in files {
                    t.io.delete(&f).await?;
                }
            }
            Ok(Outcome::default())
        }
        Ddl::RenameTable { name, to } => {
            let table = cx.table(&name)?;
            if !crate::iceberg_scan::is_iceberg(&table) {
                return Err(Error::InvalidInput(format!(
                    "Renaming {}.{} is not supported: only Iceberg tables can be renamed",
                    table.database_name, table.name
                )));
            }
            let db = cx.database_of(&to);
            catalog.get_database(&db).map_err(|_| Error::SchemaNotFound(db.clone()))?;
            if catalog.get_table(&db, &to.name).is_ok() {
                return Err(Error::TableAlreadyExists { database: db, table: to.name.clone() });
            }
            catalog.rename_table(&table.database_name, &table.name, &db, &to.name).await?;
            Ok(Outcome::default())
        }
        Ddl::AddPartitions { name, if_not_exists, partitions } => add_partitions(cx, &name, if_not_exists, partitions).await,
        Ddl::DropPartitions { name, if_exists, partitions } => {
            let table = cx.table(&name)?;
            let values: Vec<Vec<String>> = partitions.iter().map(|p| partition_values(&table, p)).collect::<Result<_>>()?;
            let errors = catalog.batch_delete_partitions(&table.database_name, &table.name, values).await?;
            if let Some(e) = errors.into_iter().next()
                && !(if_exists && e.error.kind() == catalog::ErrorKind::NotFound)
            {
                return Err(Error::InvalidInput(format!("Partition {} of {}.{}: {}", e.item.join("/"), table.database_name, table.name, e.error)));
            }
            Ok(Outcome::default())
        }
        Ddl::SetLocation { name, location } => {
            let mut table = cx.table(&name)?;
            table.storage_descriptor.get_or_insert_with(Default::default).location = Some(location);
            catalog.update_table(&table.database_name.clone(), table, false, None).await?;
            Ok(Outcome::default())
        }
        Ddl::DropColumn { name, column } => {
            let table = cx.table(&name)?;
            if !crate::iceberg_scan::is_iceberg(&table) {
                return Err(Error::InvalidInput("DROP COLUMN is supported for Iceberg tables only: use REPLACE COLUMNS".into()));
            }
            crate::iceberg_tables::evolve(cx, &table, crate::iceberg_tables::Evolution::Drop(column)).await
        }
        Ddl::ChangeColumn { name, old, column } => {
            let table = cx.table(&name)?;
            if !crate::iceberg_scan::is_iceberg(&table) {
                return Err(Error::InvalidInput("CHANGE COLUMN is supported for Iceberg tables only".into()));
            }
            crate::iceberg_tables::evolve(cx, &table, crate::iceberg_tables::Evolution::Change(old, column)).await
        }
        Ddl::SetProperties { name, properties } if crate::iceberg_scan::is_iceberg(&cx.table(&name)?) => {
            let table = cx.table(&name)?;
            crate::iceberg_tables::evolve(cx, &table, crate::iceberg_tables::Evolution::Properties(properties)).await
        }
        Ddl::AddColumns { name, columns, replace } if crate::iceberg_scan::is_iceberg(&cx.table(&name)?) => {
            if replace {
                return Err(Error::InvalidInput(
                    "REPLACE COLUMNS is not supported for Iceberg tables: use ADD COLUMNS, DROP COLUMN or CHANGE COLUMN".into(),
                ));
            }
            let table = cx.table(&name)?;
            crate::iceberg_tables::evolve(cx, &table, crate::iceberg_tables::Evolution::Add(columns)).await
        }
        Ddl::SetProperties { name, properties } => {
            let mut table = cx.table(&name)?;
            table.parameters.extend(properties);
            catalog.update_table(&table.database_name.clone(), table, false, None).await?;
            Ok(Outcome::default())
        }
        Ddl::AddColumns { name, columns, replace } => {
            let mut table = cx.table(&name)?;
            let sd = table.storage_descriptor.get_or_insert_with(Default::default);
            if replace {
                sd.columns = columns_of(&columns);
            } else {
                for c in columns_of(&columns) {
                    if sd.columns.iter().any(|x| x.name == c.name) || table.partition_keys.iter().any(|x| x.name == c.name) {
                        return Err(Error::InvalidInput(format!("Column {} already exists", c.name)));
                    }
                    sd.columns.push(c);
                }
            }
            catalog.update_table(&table.database_name.clone(), table, false, None).await?;
            Ok(Outcome::default())
        }
        Ddl::Repair { name } => repair(cx, &name).await,
        Ddl::CreateView { name, or_replace, query } => create_view(cx, &name, or_replace, &query).await,
        Ddl::DropView { name, if_exists } => {
            let table = match cx.table(&name) {
                Ok(t) => t,
                Err(_) if if_exists => return Ok(Outcome::default()),
                Err(e) => return Err(e),
            };
            if !is_view(&table) {
                return Err(Error::InvalidInput(format!("{}.{} is not a view", table.database_name, table.name)));
            }
            catalog.delete_table(&table.database_name, &table.name).await?;
            Ok(Outcome::default())
        }
        Ddl::ShowDatabases { pattern } => {
            let mut names: Vec<String> =
                catalog.list_databases()?.into_iter().map(|d| d.name).filter(|n| pattern.as_deref().is_none_or(|p| pattern_matches(p, n))).collect();
            names.sort();
            Ok(text(&["database_name"], names))
        }
        Ddl::ShowTables { database, pattern } => show_tables(cx, database, pattern, false, "tab_name"),
        Ddl::ShowViews { database, pattern } => show_tables(cx, database, pattern, true, "views"),
        Ddl::ShowPartitions { name } => {
            let table = cx.table(&name)?;
            if table.partition_keys.is_empty() {
                return Err(Error::InvalidInput(format!("Table {}.{} is not partitioned", table.database_name, table.name)));
            }
            let mut lines: Vec<String> =
                catalog.get_partitions(&table.database_name, &table.name)?.iter().map(|p| partition_path(&table.partition_keys, &p.values)).collect();
            lines.sort();
            Ok(text(&["partition"], lines))
        }
        Ddl::ShowColumns { name } => {
            let table = cx.table(&name)?;
            if let Some(lines) = view_lines(&table) {
                return Ok(text(&["column", "type"], lines));
            }
            // Athena pads a Hive table's names to 20 characters (as DESCRIBE pads), not an
            // Iceberg table's.
            let iceberg = crate::iceberg_scan::is_iceberg(&table);
            let lines = table
                .current_columns()
                .chain(&table.partition_keys)
                .map(|c| if iceberg { c.name.clone() } else { format!("{:<20}", c.name) })
                .collect();
            Ok(text(&["field"], lines))
        }
        Ddl::ShowCreateTable { name } => {
            let table = cx.table(&name)?;
            if is_view(&table) {
                return Err(Error::InvalidInput(format!("{}.{} is a view: use SHOW CREATE VIEW", table.database_name, table.name)));
            }
            if crate::iceberg_scan::is_iceberg(&table) {
                return Ok(text(&["createtab_stmt"], crate::iceberg_tables::create_table_lines(cx, &table).await?));
            }
            Ok(text(&["createtab_stmt"], create_table_lines(&table)))
        }
        Ddl::ShowCreateView { name } => {
            let table = cx.table(&name)?;
            let (sql, _) =
                view_definition(&table).ok_or_else(|| Error::InvalidInput(format!("{}.{} is not a view", table.database_name, table.name)))?;
            let mut lines = vec![format!("CREATE VIEW \"{}\".\"{}\" AS", table.database_name, table.name)];
            lines.extend(sql.lines().map(str::to_string));
            Ok(text(&["Create View Statement"], lines))
        }
        Ddl::ShowProperties { name, property } => {
            let table = cx.table(&name)?;
            let lines = match property {
                Some(p) => vec![
                    table
                        .parameters
                        .get(&p)
                        .cloned()
                        .ok_or_else(|| Error::InvalidInput(format!("Table {} does not have property: {p}", table.name)))?,
                ],
                None => table.parameters.iter().map(|(k, v)| format!("{k}\t{v}")).collect(),
            };
            Ok(text(&["prpt_name", "prpt_value"], lines))
        }
        Ddl::Describe { name, extended, formatted } => {
            let table = cx.table(&name)?;
            if let Some(lines) = view_lines(&table) {
                return Ok(text(&["column", "type"], lines));
            }
            if crate::iceberg_scan::is_iceberg(&table) {
                if extended {
                    return Err(Error::Hive {
                        kind: crate::ErrorKind::InvalidInput,
                        message: "EXTENDED keyword is not supported for Iceberg tables.".into(),
                    });
                }
                return Ok(text(&["col_name", "data_type", "comment"], crate::iceberg_tables::describe_lines(cx, &table, formatted).await?));
            }
            Ok(text(&["col_name", "data_type", "comment"], describe_lines(&table)))
        }
    }
}

fn show_tables(cx: &Context, database: Option<String>, pattern: Option<String>, views: bool, column: &str) -> Result<Outcome> {
    let db = database.or_else(|| cx.database.clone()).unwrap_or_else(|| "default".into()).to_lowercase();
    cx.catalog.get_database(&db).map_err(|_| no_database(&db))?;
    let mut names: Vec<String> = cx
        .catalog
        .list_tables(&db, None)?
        .into_iter()
        .filter(|t| !views || is_view(t))
        .map(|t| t.name)
        .filter(|n| pattern.as_deref().is_none_or(|p| pattern_matches(p, n)))
        .collect();
    names.sort();
    Ok(text(&[column], names))
}

async fn create_table(cx: &Context, t: CreateTable) -> Result<Outcome> {
    let catalog = &cx.catalog;
    let db = cx.database_of(&t.name);
    catalog.get_database(&db).map_err(|_| Error::SchemaNotFound(db.clone()))?;
    if catalog.get_table(&db, &t.name.name).is_ok() {
        return if t.if_not_exists { Ok(Outcome::default()) } else { Err(already_exists(format!("Table {db}.{} already exists", t.name.name))) };
    }
    if t.is_iceberg() {
        return crate::iceberg_tables::create(cx, &t, &db).await;
    }
    let location = t.location.clone().ok_or_else(|| Error::Syntax("line 1:1: a LOCATION is required for external tables".into()))?;
    if let Some(lines) = t.format.serde_properties.get("line.delim")
        && lines != "\n"
    {
        return Err(Error::Hive {
            kind: crate::ErrorKind::InvalidInput,
            message: format!(
                "FAILED: SemanticException LINES TERMINATED BY only supports newline '\\n' right now. Error encountered near token {}",
                quote(lines)
            ),
        });
    }
    location::parse(&location)?;
    let mut seen = BTreeSet::new();
    for c in t.columns.iter().chain(&t.partitioned_by) {
        if !seen.insert(c.name.clone()) {
            return Err(Error::Syntax(format!("line 1:1: Column {} is defined more than once", c.name)));
        }
    }
    let (input, output, serde) = storage_of(&t.format)?;
    let mut parameters = t.properties.clone();
    parameters.insert("EXTERNAL".into(), "TRUE".into());
    parameters.entry("transient_lastDdlTime".into()).or_insert_with(|| chrono::Utc::now().timestamp().to_string());
    let table = Table {
        name: t.name.name.clone(),
        database_name: db.clone(),
        description: t.comment.clone(),
        table_type: Some("EXTERNAL_TABLE".into()),
        parameters,
        partition_keys: columns_of(&t.partitioned_by),
        storage_descriptor: Some(StorageDescriptor {
            columns: columns_of(&t.columns),
            location: Some(location),
            input_format: Some(input),
            output_format: Some(output),
            serde_info: Some(serde),
            bucket_columns: t.bucketed_by.clone(),
            number_of_buckets: if t.bucketed_by.is_empty() { 0 } else { t.buckets },
            ..Default::default()
        }),
        ..Default::default()
    };
    catalog.create_table(&db, table).await?;
    Ok(Outcome::default())
}

async fn add_partitions(cx: &Context, name: &Name, if_not_exists: bool, specs: Vec<PartitionSpec>) -> Result<Outcome> {
    let table = cx.table(name)?;
    let base = location::directory_url(table.location().unwrap_or_default());
    let mut partitions = Vec::with_capacity(specs.len());
    for spec in &specs {
        let values = partition_values(&table, spec)?;
        let location = spec.location.clone().unwrap_or_else(|| format!("{base}{}/", partition_path(&table.partition_keys, &values)));
        partitions.push(partition_for(&table, values, location));
    }
    let errors = cx.catalog.batch_create_partitions(&table.database_name, &table.name, partitions).await?;
    if let Some(e) = errors.into_iter().find(|e| !(if_not_exists && e.error.kind() == catalog::ErrorKind::AlreadyExists)) {
        return Err(Error::InvalidInput(format!("Partition {} of {}.{}: {}", e.item.join("/"), table.database_name, table.name, e.error)));
    }
    Ok(Outcome::default())
}

/// `MSCK REPAIR TABLE`: adds the partitions whose `key=value` folders exist under the table's
/// location but not in the catalog, and says which, as Hive does.
async fn repair(cx: &Context, name: &Name) -> Result<Outcome> {
    let table = cx.table(name)?;
    if table.partition_keys.is_empty() {
        return Err(Error::InvalidInput(format!("Table {}.{} is not partitioned", table.database_name, table.name)));
    }
    let base = location::directory_url(table.location().unwrap_or_default());
    let S3Location { bucket, key: prefix } = location::parse(&base)?;
    cx.acting.check(storage::Action::ListBucket, &bucket, None)?;
    let known: BTreeSet<Vec<String>> = cx.catalog.get_partitions(&table.database_name, &table.name)?.into_iter().map(|p| p.values).collect();
    let mut found: BTreeMap<Vec<String>, String> = BTreeMap::new();
    let mut after = None;
    loop {
        let page =
            cx.store.list_objects(&bucket, &ListQuery { prefix: prefix.clone(), after: after.clone(), max_keys: 1000, ..Default::default() })?;
        for o in &page.objects {
            let rest = &o.key[prefix.len()..];
            let segments: Vec<&str> = rest.split('/').collect();
            if segments.len() <= table.partition_keys.len() {
                continue;
            }
            let mut values = Vec::with_capacity(table.partition_keys.len());
            for (k, seg) in table.partition_keys.iter().zip(&segments) {
                match seg.split_once('=') {
                    Some((key, v)) if key.eq_ignore_ascii_case(&k.name) => values.push(storage::unescape_partition_value(v)),
                    _ => break,
                }
            }
            if values.len() == table.partition_keys.len() {
                let dir = segments[..values.len()].join("/");
                found.entry(values).or_insert_with(|| format!("{base}{dir}/"));
            }
        }
        if !page.is_truncated {
            break;
        }
        after = page.last;
    }
    let missing: Vec<(Vec<String>, String)> = found.into_iter().filter(|(v, _)| !known.contains(v)).collect();
    let mut lines = Vec::new();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|(v, _)| format!("{}:{}", table.name, partition_path(&table.partition_keys, v))).collect();
        lines.push(format!("Partitions not in metastore:\t{}", names.join("\t")));
        let partitions = missing.iter().map(|(v, loc)| partition_for(&table, v.clone(), loc.clone())).collect();
        let errors = cx.catalog.batch_create_partitions(&table.database_name, &table.name, partitions).await?;
        for (n, (v, _)) in names.iter().zip(&missing) {
            if !errors.iter().any(|e| &e.item == v) {
                lines.push(format!("Repair: Added partition to metastore {n}"));
            }
        }
    }
    Ok(text(&["result"], lines))
}

async fn create_view(cx: &Context, name: &Name, or_replace: bool, query: &str) -> Result<Outcome> {
    let catalog = &cx.catalog;
    let db = cx.database_of(name);
    catalog.get_database(&db).map_err(|_| Error::SchemaNotFound(db.clone()))?;
    let existing = catalog.get_table(&db, &name.name).ok();
    if let Some(t) = &existing {
        if !is_view(t) {
            return Err(already_exists(format!("Table {db}.{} already exists and is not a view", name.name)));
        }
        if !or_replace {
            return Err(already_exists(format!("View {db}.{} already exists", name.name)));
        }
    }
    // The view must plan; its columns are what it returns.
    let df = cx.dataframe(query).await?;
    let infos: Vec<ColumnInfo> = df.schema().fields().iter().map(|f| crate::types::athena_column(f)).collect();
    let trino_types: Vec<String> = df.schema().fields().iter().map(|f| crate::types::trino_type(f, None)).collect();
    let columns: Vec<Column> = df
        .schema()
        .fields()
        .iter()
        .map(|f| Column { name: f.name().to_lowercase(), r#type: Some(arrow_to_hive(f.data_type())), ..Default::default() })
        .collect();
    let mut table = Table {
        name: name.name.clone(),
        database_name: db.clone(),
        table_type: Some(VIEW_TYPE.into()),
        parameters: [("presto_view".to_string(), "true".to_string()), ("comment".to_string(), "Presto View".to_string())].into_iter().collect(),
        storage_descriptor: Some(StorageDescriptor { columns, serde_info: Some(SerDeInfo::default()), ..Default::default() }),
        ..Default::default()
    };
    table.extra.insert("ViewOriginalText".into(), serde_json::Value::String(view_original_text(query, &db, &infos, &trino_types)));
    table.extra.insert("ViewExpandedText".into(), serde_json::Value::String("/* Presto View */".into()));
    match existing {
        Some(_) => {
            catalog.update_table(&db, table, false, None).await?;
        }
        None => {
            catalog.create_table(&db, table).await?;
        }
    }
    Ok(Outcome::default())
}

/// The values of a partition spec in the order of the table's keys, which it must name all of.
fn partition_values(table: &Table, spec: &PartitionSpec) -> Result<Vec<String>> {
    if table.partition_keys.is_empty() {
        return Err(Error::InvalidInput(format!("Table {}.{} is not partitioned", table.database_name, table.name)));
    }
    let given: BTreeMap<String, String> = spec.values.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
    if given.len() != table.partition_keys.len() || table.partition_keys.iter().any(|k| !given.contains_key(&k.name.to_lowercase())) {
        let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
        return Err(Error::InvalidInput(format!(
            "Partition spec must name every partition key of {}.{}: {}",
            table.database_name,
            table.name,
            keys.join(", ")
        )));
    }
    Ok(table.partition_keys.iter().map(|k| given[&k.name.to_lowercase()].clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_like_hive() {
        assert!(pattern_matches("rev*", "Reviews"));
        assert!(pattern_matches("a|rev*", "a"));
        assert!(!pattern_matches("rev", "reviews"));
        assert!(pattern_matches("*", "x"));
    }
}
