//! `minerva crawl s3://bucket/prefix --database NAME`: a crawler run in this process over a data
//! directory, with a progress bar on a terminal and a table of what it created and changed.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use catalog::{Catalogs, Database, Progress};
use catalog::{Crawler, S3Target, Targets};
use storage::Store;

#[derive(clap::Args, Debug)]
pub struct CrawlArgs {
    /// What to crawl: `s3://bucket/prefix`.
    path: String,
    /// The database the tables go to; made if it does not exist.
    #[arg(long)]
    database: String,
    /// The data directory (of a server that is not running).
    #[arg(long, env = "MINERVA_DATA_DIR", default_value = "./minerva-data")]
    data_dir: PathBuf,
    /// Region the data directory's buckets are in.
    #[arg(long, env = "MINERVA_REGION", default_value = "us-east-1")]
    region: String,
    /// A prefix for the names of the tables made.
    #[arg(long)]
    table_prefix: Option<String>,
    /// The crawler's name (kept, so that a later run is incremental) [default: minerva-crawl-DATABASE].
    #[arg(long)]
    name: Option<String>,
    /// Glob patterns of objects to leave out, relative to the path (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
}

fn bar(p: Progress) -> String {
    const WIDTH: usize = 30;
    if p.total == 0 {
        return format!("{:<8} …", p.phase);
    }
    let filled = (p.done * WIDTH / p.total).min(WIDTH);
    format!("{:<8} [{}{}] {}/{}", p.phase, "#".repeat(filled), ".".repeat(WIDTH - filled), p.done, p.total)
}

pub fn run(args: CrawlArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(crawl(args))
}

async fn crawl(args: CrawlArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if !args.path.starts_with("s3://") {
        return Err(format!("{} is not an s3:// path", args.path).into());
    }
    let dir = crate::config::absolute(args.data_dir.clone());
    // A crawl reads a lake that is there: it never makes an empty data directory of a wrong path.
    if !storage::is_data_dir(&dir) {
        return Err(format!(
            "{}; pass --data-dir (or MINERVA_DATA_DIR) the directory `minerva serve` uses",
            storage::Error::NotADataDir { dir: dir.clone() }
        )
        .into());
    }
    let kv = storage::open_data_dir(&dir).map_err(|e| match e {
        storage::Error::InUse { .. } => format!("{e}: stop it, or start a crawler through its Glue API (StartCrawler)"),
        e => format!("cannot open the data directory {}: {e}", dir.display()),
    })?;
    eprintln!("data directory {}", dir.display());
    let (store, _) = Store::open(&dir, kv.clone(), &args.region)?;
    // The crawl is the primary account's, as a server's default user's would be.
    let catalogs = Catalogs::new(kv);
    catalogs.adopt_shared_catalog(crate::users::PRIMARY_ACCOUNT).await?;
    let catalog = catalogs.account(crate::users::PRIMARY_ACCOUNT)?;
    let database = catalog::normalize_name("database", &args.database)?;
    if catalog.get_database(&database).is_err() {
        catalog.create_database(Database { name: database.clone(), ..Default::default() }).await?;
        eprintln!("created database {database}");
    }
    let name = args.name.clone().unwrap_or_else(|| format!("minerva-crawl-{database}"));
    let target = S3Target { path: args.path.clone(), exclusions: args.exclude.clone(), ..Default::default() };
    let definition = Crawler {
        name: name.clone(),
        role: Some("minerva".into()),
        database_name: Some(database.clone()),
        targets: Targets { s3_targets: vec![target.clone()], ..Default::default() },
        table_prefix: args.table_prefix.clone(),
        ..Default::default()
    };
    match catalog.get_crawler(&name) {
        Ok(_) => {
            let prefix = args.table_prefix.clone();
            catalog
                .update_crawler(&name, move |c| {
                    c.database_name = Some(database.clone());
                    c.targets = Targets { s3_targets: vec![target], ..Default::default() };
                    c.table_prefix = prefix;
                })
                .await?;
        }
        Err(_) => {
            catalog.create_crawler(definition).await?;
        }
    }
    let terminal = std::io::stderr().is_terminal();
    let progress = move |p: Progress| {
        if terminal {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}\x1b[K", bar(p));
            let _ = err.flush();
        }
    };
    let outcome = catalog.run_crawler(&name, crate::glue::lake_resolver(&store, None), &progress).await?;
    if terminal {
        eprintln!();
    }
    let summary = outcome.map_err(|e| format!("the crawl failed: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<32} {:<9} {:<14} {:>7} {:>10} {:>12}  LOCATION", "TABLE", "ACTION", "CLASSIFICATION", "COLUMNS", "PARTITIONS", "RECORDS")?;
    for t in &summary.tables {
        writeln!(
            out,
            "{:<32} {:<9} {:<14} {:>7} {:>10} {:>12}  {}",
            t.name, t.action, t.classification, t.columns, t.partitions, t.records, t.location
        )?;
    }
    for t in &summary.tables_deleted {
        writeln!(out, "{t:<32} {:<9}", "retired")?;
    }
    writeln!(
        out,
        "{} created, {} updated, {} retired; {} partitions added; {} objects read, {} unchanged",
        summary.tables_created.len(),
        summary.tables_updated.len(),
        summary.tables_deleted.len(),
        summary.partitions_added,
        summary.objects_read,
        summary.objects_reused
    )?;
    for (object, reason) in &summary.skipped {
        writeln!(out, "skipped {object}: {reason}")?;
    }
    Ok(())
}
