//! The Glue catalog as DataFusion sees it: catalog `awsdatacatalog`, one schema per database, and
//! each table a listing table over its S3 location with the file format its SerDe names.
//!
//! Object stores are resolved per bucket through [`LakeRegistry`], which hands DataFusion the
//! lake's own `ObjectStore`, so reads go straight to the blob files.

use std::sync::Arc;

use async_trait::async_trait;
use catalog::{Catalog, Table};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use storage::{BucketStore, Permissions, S3Location, Store};
use stores::Registry;
use url::Url;

use crate::delimited::{DelimitedFormat, Dialect};
use crate::partitioned::PartitionedTable;
use crate::text::TextOptions;
use crate::types::hive_to_arrow;

/// The catalog name Athena exposes for Glue.
pub const CATALOG_NAME: &str = "awsdatacatalog";

/// Explicitly registered stores, by `scheme://host`.
mod stores {
    use std::collections::HashMap;
    use std::sync::{Arc, RwLock};

    use object_store::ObjectStore;

    #[derive(Default, Debug)]
    pub struct Registry(RwLock<HashMap<String, Arc<dyn ObjectStore>>>);

    impl Registry {
        pub fn get(&self, k: &str) -> Option<Arc<dyn ObjectStore>> {
            self.0.read().unwrap_or_else(|p| p.into_inner()).get(k).cloned()
        }
        pub fn insert(&self, k: String, v: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
            self.0.write().unwrap_or_else(|p| p.into_inner()).insert(k, v)
        }
        pub fn remove(&self, k: &str) -> Option<Arc<dyn ObjectStore>> {
            self.0.write().unwrap_or_else(|p| p.into_inner()).remove(k)
        }
    }
}

/// Resolves `s3://bucket/…` to the lake's bucket. Other schemes can be registered explicitly.
#[derive(Debug)]
pub struct LakeRegistry {
    store: Store,
    extra: Registry,
    /// Whose S3 permissions the buckets are used with; none for the engine's own work.
    acting_for: Option<Arc<dyn Permissions>>,
}

impl LakeRegistry {
    pub fn new(store: Store) -> Self {
        LakeRegistry { store, extra: Registry::default(), acting_for: None }
    }

    /// The lake as `permissions` may use it: each bucket's store checks every call.
    pub fn acting_for(store: Store, permissions: Arc<dyn Permissions>) -> Self {
        LakeRegistry { store, extra: Registry::default(), acting_for: Some(permissions) }
    }
}

fn registry_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
}

impl ObjectStoreRegistry for LakeRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.extra.insert(registry_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.extra.remove(&registry_key(url)).ok_or_else(|| DataFusionError::Execution(format!("no object store registered for {url}")))
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        if let Some(s) = self.extra.get(&registry_key(url)) {
            return Ok(s);
        }
        match url.scheme() {
            "s3" | "s3a" | "s3n" => {
                let bucket = url.host_str().unwrap_or_default();
                Ok(Arc::new(match &self.acting_for {
                    Some(p) => BucketStore::acting_for(self.store.clone(), bucket, p.clone()),
                    None => BucketStore::new(self.store.clone(), bucket),
                }))
            }
            other => Err(DataFusionError::Execution(format!("no object store for the URL scheme {other:?}"))),
        }
    }
}

/// Plans the SQL of a view, in the database it was defined in.
#[async_trait]
pub trait ViewPlanner: Send + Sync + std::fmt::Debug {
    async fn plan_view(&self, database: &str, sql: &str) -> DfResult<datafusion::logical_expr::LogicalPlan>;
}

#[derive(Debug)]
pub struct GlueCatalogProvider {
    catalog: Catalog,
    store: Store,
    views: Option<Arc<dyn ViewPlanner>>,
}

impl GlueCatalogProvider {
    pub fn new(catalog: Catalog, store: Store) -> Self {
        GlueCatalogProvider { catalog, store, views: None }
    }

    /// Views are planned by `views`; without one, querying a view fails.
    pub fn with_views(mut self, views: Arc<dyn ViewPlanner>) -> Self {
        self.views = Some(views);
        self
    }
}

impl CatalogProvider for GlueCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        self.catalog.list_databases().map(|d| d.into_iter().map(|d| d.name).collect()).unwrap_or_default()
    }

    /// A database that does not exist is a schema too, whose every table is the typed
    /// `SchemaNotFound`: DataFusion would otherwise say only that the table is not found.
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let database = match self.catalog.get_database(name) {
            Ok(db) => Ok(db.name),
            Err(_) => Err(name.to_string()),
        };
        Some(Arc::new(GlueSchema { catalog: self.catalog.clone(), store: self.store.clone(), database, views: self.views.clone() }))
    }
}

#[derive(Debug)]
struct GlueSchema {
    catalog: Catalog,
    store: Store,
    /// The database, or the name of one that does not exist.
    database: std::result::Result<String, String>,
    views: Option<Arc<dyn ViewPlanner>>,
}

#[async_trait]
impl SchemaProvider for GlueSchema {
    fn table_names(&self) -> Vec<String> {
        let Ok(database) = &self.database else { return Vec::new() };
        self.catalog.list_tables(database, None).map(|t| t.into_iter().map(|t| t.name).collect()).unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let database = match &self.database {
            Ok(database) => database,
            Err(missing) => return Err(DataFusionError::External(Box::new(crate::error::Error::SchemaNotFound(missing.clone())))),
        };
        // `t$…`: an Iceberg table at another snapshot, or a metadata table (Glue's names hold no `$`).
        if let Some((base, suffix)) = name.split_once('$') {
            let table = match self.catalog.get_table(database, base) {
                Ok(t) => t,
                Err(catalog::Error::NotFound(_)) if suffix.contains('=') => {
                    return Err(DataFusionError::External(Box::new(crate::error::Error::TableNotFound {
                        database: database.clone(),
                        table: base.into(),
                    })));
                }
                Err(catalog::Error::NotFound(_)) => return Ok(None),
                Err(e) => return Err(DataFusionError::External(Box::new(e))),
            };
            if crate::iceberg_scan::is_iceberg(&table) {
                return crate::iceberg_scan::special(&self.store, &table, suffix).await.map(Some).map_err(|e| DataFusionError::External(Box::new(e)));
            }
            if suffix == "partitions" && !table.partition_keys.is_empty() {
                return hive_partitions(&self.catalog, &table).map(Some);
            }
            if suffix.starts_with("version=") || suffix.starts_with("asof") {
                return Err(DataFusionError::External(Box::new(crate::error::Error::InvalidInput(format!(
                    "This connector does not support versioned tables: {database}.{base} is not an Iceberg table"
                )))));
            }
            return Ok(None);
        }
        let table = match self.catalog.get_table(database, name) {
            Ok(t) => t,
            Err(catalog::Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(DataFusionError::External(Box::new(e))),
        };
        if crate::views::is_view(&table) {
            let (sql, database) = crate::views::view_definition(&table).ok_or_else(|| plan_err(&table, "the view's definition is unreadable"))?;
            let views = self.views.as_ref().ok_or_else(|| plan_err(&table, "views cannot be read here"))?;
            let plan = views.plan_view(&database, &sql).await?;
            return Ok(Some(Arc::new(datafusion::datasource::ViewTable::new(plan, Some(sql)))));
        }
        if crate::iceberg_scan::is_iceberg(&table) {
            let t = crate::iceberg_scan::IcebergTable::load(&self.store, &table).await.map_err(|e| DataFusionError::External(Box::new(e)))?;
            return Ok(Some(Arc::new(t)));
        }
        listing_table(&self.store, &self.catalog, &table).await.map(Some)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.database.as_ref().is_ok_and(|database| self.catalog.get_table(database, name).is_ok())
    }
}

fn plan_err(table: &Table, msg: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Plan(format!("table {}.{}: {msg}", table.database_name, table.name))
}

/// The file format a table's SerDe and input format name, with its options.
fn file_format(table: &Table, detected: Option<FileCompressionType>) -> DfResult<Arc<dyn FileFormat>> {
    let sd = table.storage_descriptor.as_ref().ok_or_else(|| plan_err(table, "it has no storage descriptor"))?;
    let serde = sd.serde_info.as_ref();
    let library = serde.and_then(|s| s.serialization_library.as_deref()).unwrap_or_default().to_ascii_lowercase();
    let input = sd.input_format.as_deref().unwrap_or_default().to_ascii_lowercase();
    let classification = table.parameters.get("classification").map(|c| c.to_ascii_lowercase()).unwrap_or_default();
    let params = serde.map(|s| s.parameters.clone()).unwrap_or_default();
    // Text files may be compressed as a whole (the crawler records which way).
    let compression = match table.parameters.get("compressionType").map(|c| c.to_ascii_lowercase()).as_deref() {
        Some("gzip") => FileCompressionType::GZIP,
        Some("bzip2") => FileCompressionType::BZIP2,
        Some("zstd") => FileCompressionType::ZSTD,
        Some("xz") => FileCompressionType::XZ,
        Some(_) => FileCompressionType::UNCOMPRESSED,
        None => detected.unwrap_or(FileCompressionType::UNCOMPRESSED),
    };
    if is_parquet(table) {
        return Ok(Arc::new(crate::tuning::parquet_format()));
    }
    if library.contains("json") || classification == "json" {
        return Ok(Arc::new(JsonFormat::default().with_file_compression_type(compression)));
    }
    // Log SerDes read lines by pattern, not by delimiter: not read as delimited text.
    if library.contains("grokserde") || library.contains("regexserde") {
        let named = serde.and_then(|s| s.serialization_library.as_deref()).unwrap_or_default();
        return Err(plan_err(table, format!("SerDe {named} is not supported yet")));
    }
    if library.contains("opencsvserde") || library.contains("lazysimpleserde") || input.contains("textinputformat") || classification == "csv" {
        let open_csv = library.contains("opencsvserde");
        let delimiter = if open_csv {
            params.get("separatorChar").cloned().unwrap_or_else(|| ",".into())
        } else {
            params.get("field.delim").or_else(|| params.get("serialization.format")).cloned().unwrap_or_else(|| "\u{1}".into())
        };
        // Hive reads a number as a byte's code (the default Ctrl-A is stored as "1"), anything
        // else as its first character.
        let delimiter = if delimiter == "\\t" {
            b'\t'
        } else if let Ok(code) = delimiter.parse::<i8>() {
            code as u8
        } else if delimiter.len() == 1 {
            delimiter.as_bytes()[0]
        } else {
            return Err(plan_err(table, format!("unsupported field delimiter {delimiter:?}")));
        };
        let quote = if open_csv { params.get("quoteChar").and_then(|q| q.bytes().next()).unwrap_or(b'"') } else { b'"' };
        // LazySimpleSerDe's escape character protects delimiters anywhere in a field (see
        // `crate::delimited` for how it meets quotes).
        let escape = if open_csv { None } else { params.get("escape.delim").and_then(|e| e.bytes().next()) };
        let skip = table.parameters.get("skip.header.line.count").map(|s| s.trim()).unwrap_or("0");
        let has_header = match skip {
            "0" => false,
            "1" => true,
            n => return Err(plan_err(table, format!("skip.header.line.count={n} is not supported (0 or 1)"))),
        };
        // LazySimpleSerDe does not know quotes; files written by pandas and most tools do quote
        // fields that hold the delimiter or a newline. Honouring the quotes reads such files the
        // way their writer meant, which is what users of these files expect.
        // The reader keeps an empty field as '' and reads a field missing from a short row as
        // NULL, as Hive does (see `crate::delimited`).
        // Fields are text converted to the columns' types (see `crate::text`): an empty field is
        // '' in a string column and NULL in any other. LazySimpleSerDe also reads `\N` (or what
        // `serialization.null.format` says) as NULL; OpenCSVSerde has no NULL marker.
        let text = TextOptions {
            null: if open_csv { None } else { Some(params.get("serialization.null.format").cloned().unwrap_or_else(|| "\\N".into())) },
            collection: params.get("collection.delim").cloned().unwrap_or_else(|| "\u{2}".into()),
            map_key: params.get("mapkey.delim").cloned().unwrap_or_else(|| "\u{3}".into()),
            escape: escape.map(char::from),
        };
        return Ok(Arc::new(DelimitedFormat::new(Dialect { delimiter, quote, escape, has_header }, text, compression)));
    }
    Err(plan_err(table, format!("unsupported SerDe {library:?} / input format {input:?}")))
}

/// A Hive table's `"t$partitions"`: one row of partition key values per partition, typed as
/// the keys are declared.
fn hive_partitions(catalog: &Catalog, table: &Table) -> DfResult<Arc<dyn TableProvider>> {
    let partitions = catalog.get_partitions(&table.database_name, &table.name).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (i, k) in table.partition_keys.iter().enumerate() {
        let t = hive_to_arrow(k.r#type.as_deref().unwrap_or("string")).map_err(|e| plan_err(table, e))?;
        let text: datafusion::arrow::array::ArrayRef =
            Arc::new(datafusion::arrow::array::StringArray::from(partitions.iter().map(|p| p.values.get(i).cloned()).collect::<Vec<_>>()));
        columns.push(datafusion::arrow::compute::cast(&text, &t)?);
        fields.push(Field::new(&k.name, t, true));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = datafusion::arrow::array::RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]])?))
}

/// Whether a table's files are Parquet, by its SerDe, input format or classification.
fn is_parquet(table: &Table) -> bool {
    let sd = table.storage_descriptor.as_ref();
    let library = sd.and_then(|sd| sd.serde_info.as_ref()).and_then(|s| s.serialization_library.as_deref()).unwrap_or_default();
    let input = sd.and_then(|sd| sd.input_format.as_deref()).unwrap_or_default();
    let classification = table.parameters.get("classification").map(String::as_str).unwrap_or_default();
    library.to_ascii_lowercase().contains("parquet")
        || input.to_ascii_lowercase().contains("parquet")
        || classification.eq_ignore_ascii_case("parquet")
}

/// The schema with top-level strings as string views.
fn viewed(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new(fields)
}

/// The compression of a table's files, from their extensions, as Athena reads text and JSON
/// without a `compressionType`: `.gz`, `.bz2`, `.zst`, `.xz`. Only when the files agree.
fn compression_by_extension(store: &Store, location: &str) -> Option<FileCompressionType> {
    let S3Location { bucket, key: prefix } = crate::location::parse(location).ok()?;
    let page = store.list_objects(&bucket, &storage::ListQuery { prefix, max_keys: 200, ..Default::default() }).ok()?;
    let mut found = None;
    for o in page.objects.iter().filter(|o| o.record.size > 0 && !o.key.ends_with('/')) {
        let name = o.key.rsplit('/').next().unwrap_or_default();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let kind = if name.ends_with(".gz") {
            FileCompressionType::GZIP
        } else if name.ends_with(".bz2") {
            FileCompressionType::BZIP2
        } else if name.ends_with(".zst") {
            FileCompressionType::ZSTD
        } else if name.ends_with(".xz") {
            FileCompressionType::XZ
        } else {
            FileCompressionType::UNCOMPRESSED
        };
        match found {
            None => found = Some(kind),
            Some(k) if k == kind => {}
            Some(_) => return None,
        }
    }
    found
}

/// Builds the DataFusion table for a catalog table: a listing table over its location, or, with
/// partition keys, a [`PartitionedTable`] over the catalog's partitions.
pub async fn listing_table(store: &Store, catalog: &Catalog, table: &Table) -> DfResult<Arc<dyn TableProvider>> {
    let location = table.location().ok_or_else(|| plan_err(table, "it has no location"))?;
    let mut url_text = crate::location::directory_url(location);
    // A location may name one object rather than a folder (the crawler's table of a lone file).
    if !location.trim().ends_with('/')
        && let Ok(S3Location { bucket, key }) = S3Location::parse(location)
        && !key.is_empty()
        && store.head_object(&bucket, &key).is_ok()
    {
        url_text = location.trim().replacen("s3a://", "s3://", 1);
    }
    let url = ListingTableUrl::parse(&url_text)?;
    // A table whose bucket is gone must fail loudly rather than look empty (invariant 3).
    if let Some(bucket) = Url::parse(&url_text).ok().and_then(|u| u.host_str().map(str::to_string))
        && store.head_bucket(&bucket).is_err()
    {
        return Err(plan_err(table, format!("its location {url_text} is in a bucket that does not exist")));
    }
    let detected = if table.parameters.contains_key("compressionType") { None } else { compression_by_extension(store, &url_text) };
    let format = file_format(table, detected)?;
    let mut fields = Vec::new();
    for c in table.columns() {
        let hive = c.r#type.as_deref().unwrap_or("string");
        let t = hive_to_arrow(hive).map_err(|e| plan_err(table, format!("column {}: {e}", c.name)))?;
        fields.push(Field::new(&c.name, t, true));
    }
    let declared = Schema::new(fields);
    // Parquet's strings are read as views into the decoded pages (what DataFusion's reader makes
    // anyway): declaring them `Utf8` would copy every value once more, and filters, joins and
    // aggregates run faster over views. Delimited text is parsed straight into the declared types
    // (see `crate::delimited`), its strings into views too.
    let viewed_strings = is_parquet(table) || format.downcast_ref::<DelimitedFormat>().is_some();
    let file_schema = Arc::new(if viewed_strings { viewed(&declared) } else { declared });
    let mut partition_fields = Vec::new();
    for k in &table.partition_keys {
        let hive = k.r#type.as_deref().unwrap_or("string");
        let t = hive_to_arrow(hive).map_err(|e| plan_err(table, format!("partition key {}: {e}", k.name)))?;
        partition_fields.push(Field::new(&k.name, t, true));
    }
    Ok(if !table.partition_keys.is_empty() {
        let schema = Arc::new(Schema::new(
            file_schema.fields().iter().map(|f| f.as_ref().clone()).chain(partition_fields.iter().cloned()).collect::<Vec<_>>(),
        ));
        Arc::new(PartitionedTable {
            catalog: catalog.clone(),
            table: table.clone(),
            format,
            file_schema,
            partition_fields,
            schema,
            projection: crate::projection::Projection::of(table).map_err(|e| DataFusionError::External(Box::new(e)))?,
        })
    } else {
        let options = ListingOptions::new(format).with_file_extension("");
        let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(file_schema);
        Arc::new(ListingTable::try_new(config)?)
    })
}
