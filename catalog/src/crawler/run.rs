//! One crawl: list the targets, read what changed (the first megabyte of text, the footer of
//! Parquet), group the files into tables and partitions, and write them to the catalog, each
//! table with its partitions in one atomic batch, as the crawler's policies say.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use storage::KvOp;

use super::custom::{Custom, infer_text_with};
use super::infer::{CustomLayout, FileSchema};
use super::plan::{Crawled, Grouping, PlannedPartition, PlannedTable, plan, sanitize};
use super::{Crawler, cache_prefix};
use crate::model::{self, Column, Parameters, Partition, SerDeInfo, StorageDescriptor, Table};
use crate::{Catalog, Error, decode, encode, partition_key, table_key, version_key};

/// Finds the object store of a bucket (`s3://bucket/…`); an error names why there is none.
pub type Resolver = Arc<dyn Fn(&str) -> Result<Arc<dyn ObjectStore>, String> + Send + Sync>;

/// How far a crawl has got, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: &'static str,
    pub done: usize,
    pub total: usize,
}

/// One table as the run left it, for reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableReport {
    pub name: String,
    pub action: String,
    pub location: String,
    pub classification: String,
    pub columns: usize,
    pub partitions: usize,
    pub records: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub tables_created: Vec<String>,
    pub tables_updated: Vec<String>,
    pub tables_deleted: Vec<String>,
    pub partitions_added: usize,
    pub partitions_deleted: usize,
    /// Objects whose contents were read in this run.
    pub objects_read: usize,
    /// Unchanged objects whose schema was remembered from an earlier run.
    pub objects_reused: usize,
    /// Files that could not be classified, with the reason.
    pub skipped: Vec<(String, String)>,
    pub tables: Vec<TableReport>,
}

/// The crawler's `Configuration` JSON, as far as the crawl uses it.
#[derive(Debug, Clone, Default)]
pub struct CrawlConfig {
    pub combine_compatible: bool,
    /// Glue's TableLevelConfiguration: the absolute level of table roots (the bucket is 1).
    pub table_level: Option<usize>,
}

impl CrawlConfig {
    pub fn parse(text: &str) -> crate::Result<CrawlConfig> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::InvalidInput(format!("Configuration is not valid JSON: {e}")))?;
        let grouping = v.get("Grouping");
        let policy = grouping.and_then(|g| g.get("TableGroupingPolicy")).and_then(|p| p.as_str());
        if let Some(p) = policy
            && p != "CombineCompatibleSchemas"
        {
            return Err(Error::InvalidInput(format!("unknown TableGroupingPolicy {p}")));
        }
        let level = match grouping.and_then(|g| g.get("TableLevelConfiguration")) {
            None => None,
            Some(l) => {
                Some(l.as_u64().filter(|n| *n >= 1).ok_or_else(|| Error::InvalidInput("TableLevelConfiguration must be a positive integer".into()))?
                    as usize)
            }
        };
        Ok(CrawlConfig { combine_compatible: policy.is_some(), table_level: level })
    }
}

/// What a crawler remembers of an object, so that an unchanged one is not read again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
    e_tag: Option<String>,
    size: u64,
    outcome: Result<FileSchema, String>,
    /// The crawler's classifiers (names, versions, updates) when the object was read: an
    /// outcome read under other classifiers is read again.
    #[serde(default)]
    classifiers: String,
}

/// The most text read of a file to infer its schema.
const TEXT_SAMPLE: usize = 1 << 20;
/// Files read at once.
const READ_CONCURRENCY: usize = 8;

/// Glue exclusion globs, relative to the include path: `*` within a folder, `**` across
/// folders, `?`, `[…]` and `{a,b}`.
fn glob_regex(glob: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    let mut in_braces = false;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '{' => {
                re.push('(');
                in_braces = true;
            }
            '}' if in_braces => {
                re.push(')');
                in_braces = false;
            }
            ',' if in_braces => re.push('|'),
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']').map(|p| p + i).ok_or("an unclosed [ in an exclusion pattern")?;
                re.push('[');
                re.extend(chars[i + 1..end].iter().map(|c| if *c == '!' { '^' } else { *c }));
                re.push(']');
                i = end;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| format!("bad exclusion pattern {glob:?}: {e}"))
}

fn not_data(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.') || name.ends_with(".crc") || name.ends_with("$folder$")
}

/// The bucket and key prefix of an `s3://bucket/prefix` path.
fn split_target(path: &str) -> Result<(String, String), String> {
    let location = storage::S3Location::parse(path).map_err(|e| e.to_string())?;
    Ok((location.bucket, location.key.trim_matches('/').to_string()))
}

/// Reads what inference needs of an object. The outer error is a read that failed: the object is
/// skipped this run and read again the next. The inner one is a file the crawler cannot classify,
/// remembered until the object changes.
async fn read_schema(store: &Arc<dyn ObjectStore>, path: &Path, size: u64, custom: Arc<Vec<Custom>>) -> Result<Result<FileSchema, String>, String> {
    let name = path.filename().unwrap_or_default().to_string();
    if size == 0 {
        return Ok(Err("empty file".into()));
    }
    let unreadable = |e: object_store::Error| format!("cannot read: {e}");
    // The footer magic says Parquet without reading the body.
    let tail = store
        .get_opts(path, GetOptions { range: Some(GetRange::Suffix(4.min(size))), ..Default::default() })
        .await
        .map_err(unreadable)?
        .bytes()
        .await
        .map_err(unreadable)?;
    if tail.as_ref() == b"PAR1" || name.ends_with(".parquet") {
        return super::parquet::infer_parquet(store.clone(), path, size).await.map_err(unreadable);
    }
    let take = size.min(TEXT_SAMPLE as u64);
    let sample = store.get_range(path, 0..take).await.map_err(unreadable)?.to_vec();
    tokio::task::spawn_blocking(move || infer_text_with(&name, &sample, size, take == size, TEXT_SAMPLE, &custom))
        .await
        .map_err(|e| format!("inference failed: {e}"))
}

fn params(t: &PlannedTable, crawler: &str, records: u64, objects: u64, size: u64) -> Parameters {
    let mut p = Parameters::new();
    p.insert("classification".into(), t.classification.clone());
    p.insert("compressionType".into(), t.compression.into());
    p.insert("typeOfData".into(), "file".into());
    p.insert("recordCount".into(), records.to_string());
    p.insert("averageRecordSize".into(), size.checked_div(records).unwrap_or(0).to_string());
    p.insert("objectCount".into(), objects.to_string());
    p.insert("sizeKey".into(), size.to_string());
    p.insert("UPDATED_BY_CRAWLER".into(), crawler.into());
    p.insert("CrawlerSchemaDeserializerVersion".into(), "1.0".into());
    p.insert("CrawlerSchemaSerializerVersion".into(), "1.0".into());
    if let Some(csv) = &t.csv {
        p.insert("delimiter".into(), csv.delimiter.to_string());
        p.insert("areColumnsQuoted".into(), csv.quoted.to_string());
        p.insert("columnsOrdered".into(), "true".into());
        if csv.header {
            p.insert("skip.header.line.count".into(), "1".into());
        }
    }
    p
}

fn columns(cols: &[(String, super::infer::Ty)]) -> Vec<Column> {
    cols.iter().map(|(n, t)| Column { name: n.clone(), r#type: Some(t.hive()), ..Default::default() }).collect()
}

/// The storage descriptor of a table or partition of this kind.
fn descriptor(t: &PlannedTable, cols: &[(String, super::infer::Ty)], location: String, parameters: Parameters) -> StorageDescriptor {
    const TEXT_IN: &str = "org.apache.hadoop.mapred.TextInputFormat";
    const TEXT_OUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
    let (input, output, library, serde_params): (&str, &str, &str, Parameters) = match (t.classification.as_str(), &t.custom) {
        (_, Some(CustomLayout::Grok { pattern, custom_patterns })) => {
            let mut p: Parameters = [("input.format".to_string(), pattern.clone())].into();
            if !custom_patterns.is_empty() {
                p.insert("input.grokCustomPatterns".into(), custom_patterns.clone());
            }
            (TEXT_IN, TEXT_OUT, "com.amazonaws.glue.serde.GrokSerDe", p)
        }
        ("parquet", _) => (
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            [("serialization.format".to_string(), "1".to_string())].into(),
        ),
        ("json", _) => (
            "org.apache.hadoop.mapred.TextInputFormat",
            "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "org.openx.data.jsonserde.JsonSerDe",
            [("paths".to_string(), cols.iter().map(|c| c.0.clone()).collect::<Vec<_>>().join(","))].into(),
        ),
        _ => {
            let csv = t.csv.clone().unwrap_or(super::infer::CsvLayout { delimiter: ',', header: false, quoted: false });
            if csv.quoted {
                (
                    "org.apache.hadoop.mapred.TextInputFormat",
                    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                    [("separatorChar".to_string(), csv.delimiter.to_string()), ("quoteChar".to_string(), "\"".to_string())].into(),
                )
            } else {
                (
                    "org.apache.hadoop.mapred.TextInputFormat",
                    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    [("field.delim".to_string(), csv.delimiter.to_string())].into(),
                )
            }
        }
    };
    StorageDescriptor {
        columns: columns(cols),
        location: Some(location),
        input_format: Some(input.into()),
        output_format: Some(output.into()),
        compressed: t.compression != "none",
        number_of_buckets: -1,
        serde_info: Some(SerDeInfo { serialization_library: Some(library.into()), parameters: serde_params, ..Default::default() }),
        parameters,
        ..Default::default()
    }
}

fn partition_of(t: &PlannedTable, p: &PlannedPartition, table_location: &str, crawler: &str) -> Partition {
    let location = format!("{table_location}{}/", p.dirs.join("/"));
    let parameters = params(t, crawler, p.records, p.objects, p.size);
    Partition {
        values: p.values.clone(),
        storage_descriptor: Some(descriptor(t, &p.columns, location, parameters.clone())),
        parameters,
        creation_time: Some(model::now()),
        ..Default::default()
    }
}

/// Runs a crawl. A failure of the whole run (a missing bucket or database) is the error; files
/// that cannot be read are skipped and listed in the summary.
pub(crate) async fn crawl(
    catalog: &Catalog,
    crawler: &Crawler,
    resolver: &Resolver,
    cancel: &AtomicBool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RunSummary, String> {
    let db = crawler.database_name.clone().ok_or("the crawler has no DatabaseName")?;
    let db = catalog.get_database(&db).map_err(|e| e.to_string())?.name;
    let config = match &crawler.configuration {
        Some(c) => CrawlConfig::parse(c).map_err(|e| e.to_string())?,
        None => CrawlConfig::default(),
    };
    let new_folders_only = crawler.recrawl_policy.recrawl_behavior.as_deref() == Some("CRAWL_NEW_FOLDERS_ONLY");
    // The crawler's own classifiers come first, in its order (those Minerva applies: CSV, JSON
    // and grok).
    let mut custom = Vec::new();
    let mut classifiers = Vec::new();
    for name in &crawler.classifiers {
        let classifier = catalog.get_classifier(name).map_err(|e| format!("classifier {name}: {e}"))?;
        let body = classifier.values().next().and_then(serde_json::Value::as_object);
        let stamp = |k: &str| body.and_then(|b| b.get(k)).map(|v| v.to_string()).unwrap_or_default();
        classifiers.push(format!("{name}@{}@{}", stamp("Version"), stamp("LastUpdated")));
        custom.extend(Custom::from_glue(&classifier));
    }
    let classifiers = classifiers.join(",");
    let custom = Arc::new(custom);
    let mut summary = RunSummary::default();
    let mut seen_urls = HashSet::new();
    let mut produced = HashSet::new();
    let mut targets_seen = Vec::new();
    for target in &crawler.targets.s3_targets {
        // A stopped crawl ends between steps; what it already wrote is whole tables.
        if cancel.load(Ordering::SeqCst) {
            return Ok(summary);
        }
        let (bucket, prefix) = split_target(&target.path)?;
        let store = resolver(&bucket)?;
        let exclusions: Vec<regex::Regex> = target.exclusions.iter().map(|g| glob_regex(g)).collect::<Result<_, _>>()?;
        progress(Progress { phase: "listing", done: 0, total: 0 });
        let listing_prefix = (!prefix.is_empty()).then(|| Path::from(prefix.as_str()));
        let mut objects = Vec::new();
        let mut listed = store.list(listing_prefix.as_ref());
        while let Some(meta) = listed.try_next().await.map_err(|e| listing_failed(&target.path, &bucket, e))? {
            let key = meta.location.as_ref().to_string();
            let relative = key.strip_prefix(&prefix).unwrap_or(&key).trim_start_matches('/').to_string();
            let name = meta.location.filename().unwrap_or_default().to_string();
            if relative.is_empty() || not_data(&name) || key.ends_with('/') || exclusions.iter().any(|r| r.is_match(&relative)) {
                continue;
            }
            objects.push((meta, relative));
        }
        targets_seen.push(format!("s3://{bucket}/{}", if prefix.is_empty() { String::new() } else { format!("{prefix}/") }));
        // What is remembered from earlier runs; unchanged objects are not read again.
        let mut remembered: HashMap<String, Remembered> = HashMap::new();
        for entry in catalog.tree.scan_prefix(&[cache_prefix(&crawler.name), format!("s3://{bucket}/").into_bytes()].concat()) {
            let (k, v) = entry.map_err(|e| e.to_string())?;
            let url = String::from_utf8_lossy(&k[cache_prefix(&crawler.name).len()..]).into_owned();
            if let Ok(r) = decode::<Remembered>(&v) {
                remembered.insert(url, r);
            }
        }
        // Which folders are new (for "crawl new folders only").
        let known_folders: HashSet<String> = remembered.keys().filter_map(|u| u.rsplit_once('/').map(|(d, _)| d.to_string())).collect();
        // SampleSize: read at most that many files of each folder.
        let sample = target.sample_size.map(|n| n as usize);
        let mut per_folder: HashMap<String, usize> = HashMap::new();
        let total = objects.len();
        let mut jobs = Vec::new();
        let mut crawled = Vec::new();
        for (meta, relative) in objects {
            let url = format!("s3://{bucket}/{}", meta.location.as_ref());
            seen_urls.insert(url.clone());
            let folder = url.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
            if new_folders_only && known_folders.contains(&folder) {
                continue;
            }
            match remembered.get(&url) {
                Some(r) if r.e_tag == meta.e_tag && r.size == meta.size && r.classifiers == classifiers => {
                    summary.objects_reused += 1;
                    crawled.push((url, relative, r.outcome.clone(), false));
                    continue;
                }
                _ => {}
            }
            let taken = per_folder.entry(folder).or_insert(0);
            if sample.is_some_and(|n| *taken >= n) {
                crawled.push((url, relative, Err("not sampled".to_string()), false));
                continue;
            }
            *taken += 1;
            jobs.push((meta, relative, url));
        }
        let mut done = 0usize;
        let mut reads = futures::stream::iter(jobs.into_iter().map(|(meta, relative, url)| {
            let store = store.clone();
            let custom = custom.clone();
            async move {
                let outcome = read_schema(&store, &meta.location, meta.size, custom).await;
                (meta, relative, url, outcome)
            }
        }))
        .buffer_unordered(READ_CONCURRENCY);
        let mut cache_ops = Vec::new();
        while let Some((meta, relative, url, read)) = reads.next().await {
            if cancel.load(Ordering::SeqCst) {
                return Ok(summary);
            }
            done += 1;
            summary.objects_read += 1;
            progress(Progress { phase: "reading", done: done + summary.objects_reused, total });
            let outcome = match read {
                Ok(outcome) => {
                    let key = [cache_prefix(&crawler.name), url.clone().into_bytes()].concat();
                    cache_ops.push(KvOp::Put(
                        key,
                        encode(&Remembered {
                            e_tag: meta.e_tag.clone(),
                            size: meta.size,
                            outcome: outcome.clone(),
                            classifiers: classifiers.clone(),
                        }),
                    ));
                    outcome
                }
                Err(unreadable) => Err(unreadable),
            };
            crawled.push((url, relative, outcome, true));
        }
        drop(reads);
        catalog.commit(cache_ops).await.map_err(|e| e.to_string())?;
        // Reads finish in any order; the plan (column order, the schema a folder's unsampled
        // files share) must not depend on it, so files go on in key order.
        crawled.sort_by(|a, b| a.0.cmp(&b.0));
        // Unsampled files share the schema of their folder's sampled ones.
        let mut folder_schema: HashMap<String, FileSchema> = HashMap::new();
        for (url, _, outcome, _) in &crawled {
            if let Ok(s) = outcome {
                folder_schema.entry(url.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default()).or_insert_with(|| s.clone());
            }
        }
        let mut files = Vec::new();
        for (url, relative, outcome, _) in crawled {
            let schema = match outcome {
                Ok(s) => s,
                Err(reason) if reason == "not sampled" => {
                    let folder = url.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
                    match folder_schema.get(&folder) {
                        Some(s) => s.clone(),
                        None => continue,
                    }
                }
                Err(reason) => {
                    summary.skipped.push((url, reason));
                    continue;
                }
            };
            let mut dirs: Vec<String> = relative.split('/').map(str::to_string).collect();
            let name = dirs.pop().unwrap_or_default();
            files.push(Crawled { dirs, name, schema });
        }
        let include_name = prefix.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or(&bucket).to_string();
        let base_level = 1 + prefix.split('/').filter(|s| !s.is_empty()).count();
        let grouping =
            Grouping { combine_compatible: config.combine_compatible, table_depth: config.table_level.map(|l| l.saturating_sub(base_level)) };
        let base = format!("s3://{bucket}/{}", if prefix.is_empty() { String::new() } else { format!("{prefix}/") });
        let tables = plan(&files, &include_name, grouping);
        progress(Progress { phase: "writing", done: 0, total: tables.len() });
        for (i, t) in tables.iter().enumerate() {
            if cancel.load(Ordering::SeqCst) {
                return Ok(summary);
            }
            let name = format!("{}{}", crawler.table_prefix.as_deref().unwrap_or_default(), sanitize(&t.name)).to_lowercase();
            let mut location = base.clone();
            for d in &t.root {
                location.push_str(d);
                location.push('/');
            }
            if let Some(file) = &t.file {
                location.push_str(file);
            }
            produced.insert(name.clone());
            let report = write_table(catalog, crawler, &TableAt { db: &db, name: &name, location: &location }, t, new_folders_only, &mut summary)
                .await
                .map_err(|e| e.to_string())?;
            summary.tables.push(report);
            progress(Progress { phase: "writing", done: i + 1, total: tables.len() });
        }
    }
    // Forget objects that are gone, and tables this crawler made whose data is gone.
    let mut forget = Vec::new();
    for entry in catalog.tree.scan_prefix(&cache_prefix(&crawler.name)) {
        let (k, _) = entry.map_err(|e| e.to_string())?;
        let url = String::from_utf8_lossy(&k[cache_prefix(&crawler.name).len()..]).into_owned();
        if !seen_urls.contains(&url) && targets_seen.iter().any(|t| url.starts_with(t.as_str())) {
            forget.push(KvOp::Delete(k));
        }
    }
    catalog.commit(forget).await.map_err(|e| e.to_string())?;
    // Iceberg targets: tables registered by their newest metadata file.
    let found = super::iceberg::crawl(catalog, crawler, &db, &|bucket: &str| resolver(bucket)).await?;
    produced.extend(found.produced);
    summary.tables_created.extend(found.created);
    summary.tables_updated.extend(found.updated);
    summary.skipped.extend(found.skipped);
    if !new_folders_only {
        retire_tables(catalog, crawler, &db, &produced, &targets_seen, &mut summary).await.map_err(|e| e.to_string())?;
    }
    Ok(summary)
}

/// Where a planned table goes: its database, name and location.
struct TableAt<'a> {
    db: &'a str,
    name: &'a str,
    location: &'a str,
}

/// Creates or updates one table with its partitions, in one atomic batch.
async fn write_table(
    catalog: &Catalog,
    crawler: &Crawler,
    at: &TableAt<'_>,
    t: &PlannedTable,
    new_folders_only: bool,
    summary: &mut RunSummary,
) -> crate::Result<TableReport> {
    let TableAt { db, name, location } = *at;
    let _writes = catalog.writes.lock().await;
    let table_params = params(t, &crawler.name, t.records, t.objects, t.size);
    let mut table = Table {
        name: name.to_string(),
        database_name: db.to_string(),
        owner: Some("owner".into()),
        table_type: Some("EXTERNAL_TABLE".into()),
        retention: Some(0),
        storage_descriptor: Some(descriptor(t, &t.columns, location.to_string(), table_params.clone())),
        partition_keys: t.partition_keys.iter().map(|k| Column { name: k.clone(), r#type: Some("string".into()), ..Default::default() }).collect(),
        parameters: table_params,
        ..Default::default()
    };
    let partitions: Vec<Partition> = t.partitions.iter().map(|p| partition_of(t, p, location, &crawler.name)).collect();
    let existing = catalog.tree.get(&table_key(db, name))?.map(|v| decode::<Table>(&v)).transpose()?;
    let mut ops = Vec::new();
    let mut report = TableReport {
        name: name.to_string(),
        location: location.to_string(),
        classification: t.classification.clone(),
        columns: t.columns.len(),
        partitions: partitions.len(),
        records: t.records,
        action: "unchanged".into(),
    };
    let update_schema = crawler.schema_change_policy.update_behavior.as_deref() != Some("LOG") && !new_folders_only;
    let mut existing_partitions = HashSet::new();
    match &existing {
        None => {
            let now = model::now();
            table.create_time = Some(now);
            table.update_time = Some(now);
            table.version_id = Some("0".into());
            ops.push(KvOp::Put(table_key(db, name), encode(&table)));
            summary.tables_created.push(name.to_string());
            report.action = "created".into();
        }
        Some(old) => {
            for entry in catalog.tree.scan_prefix(&crate::partition_prefix(db, name)) {
                let (_, v) = entry?;
                existing_partitions.insert(decode::<Partition>(&v)?.values);
            }
            // A grok table's columns are its pattern's, one for each group: taken whole.
            let grok = matches!(t.custom, Some(CustomLayout::Grok { .. }));
            if update_schema && old.partition_keys.len() == table.partition_keys.len() {
                // Keep the columns the table had (in their order), widen and add the new ones.
                let mut merged: Vec<Column> = if grok { Vec::new() } else { old.columns().to_vec() };
                for c in table.columns() {
                    match merged.iter_mut().find(|m| m.name == c.name) {
                        Some(m) if m.r#type != c.r#type => {
                            m.r#type = Some(
                                super::infer::Ty::Hive(m.r#type.clone().unwrap_or_default())
                                    .merge(super::infer::Ty::Hive(c.r#type.clone().unwrap_or_default()))
                                    .hive(),
                            );
                        }
                        Some(_) => {}
                        None => merged.push(c.clone()),
                    }
                }
                if let Some(sd) = &mut table.storage_descriptor {
                    sd.columns = merged;
                }
                table.create_time = old.create_time;
                table.update_time = Some(model::now());
                let version: u64 = old.version_id.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
                let changed = old.storage_descriptor != table.storage_descriptor || old.parameters != table.parameters;
                if changed {
                    table.version_id = Some((version + 1).to_string());
                    ops.push(KvOp::Put(version_key(db, name, version), encode(old)));
                    ops.push(KvOp::Put(table_key(db, name), encode(&table)));
                    report.action = "updated".into();
                }
            }
        }
    }
    let wanted: HashSet<Vec<String>> = partitions.iter().map(|p| p.values.clone()).collect();
    for mut p in partitions {
        if existing_partitions.contains(&p.values) {
            continue;
        }
        p.database_name = db.to_string();
        p.table_name = name.to_string();
        ops.push(KvOp::Put(partition_key(db, name, &p.values), encode(&p)));
        summary.partitions_added += 1;
        if report.action == "unchanged" {
            report.action = "updated".into();
        }
    }
    // Partitions whose folders are gone, for a table this crawler maintains.
    if existing.is_some() && !new_folders_only {
        for values in existing_partitions.difference(&wanted) {
            match crawler.schema_change_policy.delete_behavior.as_deref() {
                Some("DELETE_FROM_DATABASE") => {
                    ops.push(KvOp::Delete(partition_key(db, name, values)));
                    ops.extend(catalog.deletes_under(&crate::statistics::partition_statistics_prefix(db, name, values))?);
                    summary.partitions_deleted += 1;
                }
                Some("DEPRECATE_IN_DATABASE") => {
                    if let Some(v) = catalog.tree.get(&partition_key(db, name, values))? {
                        let mut p: Partition = decode(&v)?;
                        if p.parameters.insert("DEPRECATED_BY_CRAWLER".into(), crawler.name.clone()).is_none() {
                            ops.push(KvOp::Put(partition_key(db, name, values), encode(&p)));
                        }
                    }
                }
                _ => tracing::info!(table = name, values = ?values, "a partition's data is gone; the crawler's policy is to log it"),
            }
        }
    }
    if report.action == "updated" && !summary.tables_updated.contains(&name.to_string()) && !summary.tables_created.contains(&name.to_string()) {
        summary.tables_updated.push(name.to_string());
    }
    catalog.commit(ops).await?;
    Ok(report)
}

/// Tables this crawler made under its targets that no longer have data.
async fn retire_tables(
    catalog: &Catalog,
    crawler: &Crawler,
    db: &str,
    produced: &HashSet<String>,
    targets: &[String],
    summary: &mut RunSummary,
) -> crate::Result<()> {
    let _writes = catalog.writes.lock().await;
    let mut ops = Vec::new();
    let tables: BTreeMap<String, Table> = catalog
        .tree
        .scan_prefix(&crate::table_prefix(db))
        .map(|e| e.map_err(Error::from).and_then(|(_, v)| decode::<Table>(&v)).map(|t| (t.name.clone(), t)))
        .collect::<crate::Result<_>>()?;
    for (name, mut t) in tables {
        let ours = t.parameters.get("UPDATED_BY_CRAWLER") == Some(&crawler.name);
        let under = t.location().is_some_and(|l| targets.iter().any(|p| l.starts_with(p.as_str())));
        if !ours || !under || produced.contains(&name) {
            continue;
        }
        match crawler.schema_change_policy.delete_behavior.as_deref() {
            Some("DELETE_FROM_DATABASE") => {
                ops.push(KvOp::Delete(table_key(db, &name)));
                ops.extend(catalog.table_belongings(db, &name)?);
                summary.tables_deleted.push(name);
            }
            Some("DEPRECATE_IN_DATABASE") => {
                if t.parameters.insert("DEPRECATED_BY_CRAWLER".into(), crawler.name.clone()).is_none() {
                    ops.push(KvOp::Put(table_key(db, &name), encode(&t)));
                    summary.tables_deleted.push(name);
                }
            }
            _ => tracing::info!(table = %name, "a table's data is gone; the crawler's policy is to log it"),
        }
    }
    catalog.commit(ops).await
}

/// Why a target could not be listed: a refusal in S3's words, as Glue reports a crawler's
/// missing permission; anything else as it came.
fn listing_failed(path: &str, bucket: &str, e: object_store::Error) -> String {
    match e {
        object_store::Error::PermissionDenied { .. } => format!(
            "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied): the crawler's account may not s3:ListBucket on arn:aws:s3:::{bucket}, so {path} cannot be crawled"
        ),
        e => format!("listing {path}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusion_globs() {
        let cases = [
            ("*.csv", "a.csv", true),
            ("*.csv", "dir/a.csv", false),
            ("**.csv", "dir/a.csv", true),
            ("tmp/**", "tmp/x/y", true),
            ("data?.json", "data1.json", true),
            ("{a,b}/*", "b/x", true),
            ("[!x]*", "yz", true),
            ("[!x]*", "xz", false),
        ];
        for (glob, path, want) in cases {
            assert_eq!(glob_regex(glob).unwrap().is_match(path), want, "{glob} ~ {path}");
        }
    }

    #[test]
    fn configuration_json() {
        let c = CrawlConfig::parse(r#"{"Version":1.0,"Grouping":{"TableGroupingPolicy":"CombineCompatibleSchemas","TableLevelConfiguration":3}}"#)
            .unwrap();
        assert!(c.combine_compatible);
        assert_eq!(c.table_level, Some(3));
        assert!(CrawlConfig::parse("not json").is_err());
        assert!(CrawlConfig::parse(r#"{"Grouping":{"TableLevelConfiguration":0}}"#).is_err());
    }
}
