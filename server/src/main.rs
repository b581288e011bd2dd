//! The `minerva` binary: S3, Glue and Athena on one port, over a local data directory.

mod app;
mod athena;
mod aws_json;
mod glue;
mod s3;
mod sigv4;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "minerva", version, about = "S3, Glue and Athena on your laptop: one binary, real SQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve S3, Glue, Athena and STS on one address.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MINERVA_ADDRESS", default_value = "127.0.0.1:9000")]
    address: String,
    /// Directory holding objects, the catalog and query history; created if missing.
    #[arg(long, env = "MINERVA_DATA_DIR", default_value = "./minerva-data")]
    data_dir: PathBuf,
    /// Access key id clients sign with.
    #[arg(long, env = "MINERVA_ACCESS_KEY", default_value = "minerva")]
    access_key: String,
    /// Secret key clients sign with. Prefer the environment variable: flags show in `ps`.
    #[arg(long, env = "MINERVA_SECRET_KEY", default_value = "minerva-secret", hide_default_value = true, hide_env_values = true)]
    secret_key: String,
    /// Region reported to clients and used in signatures.
    #[arg(long, env = "MINERVA_REGION", default_value = "us-east-1")]
    region: String,
    /// Memory all running queries may hold together, in MiB, before they spill or fail.
    #[arg(long, env = "MINERVA_QUERY_MEMORY_MB", default_value_t = 1024)]
    query_memory_mb: usize,
    /// Queries that run at once; more wait in state QUEUED.
    #[arg(long, env = "MINERVA_MAX_QUERIES", default_value_t = 4)]
    max_queries: usize,
}

impl ServeArgs {
    fn validate(self) -> Result<app::Settings, String> {
        let address: SocketAddr = self.address.parse().map_err(|e| format!("--address {:?}: {e}", self.address))?;
        if self.access_key.is_empty() || self.secret_key.is_empty() {
            return Err("the access key and the secret key must not be empty".into());
        }
        if self.region.is_empty() || !self.region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("--region {:?} is not a region name", self.region));
        }
        if self.query_memory_mb == 0 || self.max_queries == 0 {
            return Err("--query-memory-mb and --max-queries must be at least 1".into());
        }
        Ok(app::Settings {
            address,
            data_dir: self.data_dir,
            region: self.region,
            access_key: self.access_key,
            secret_key: self.secret_key,
            query_memory: self.query_memory_mb * 1024 * 1024,
            max_queries: self.max_queries,
        })
    }
}

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MINERVA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,server=info,storage=info,query=info,catalog=info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => match args.validate() {
            Ok(settings) => run(settings),
            Err(e) => Err(e.into()),
        },
    };
    if let Err(e) = result {
        // Print the whole chain, so the cause is never hidden behind a summary.
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        eprintln!("minerva: {message}");
        std::process::exit(1);
    }
}

fn run(settings: app::Settings) -> app::anyhow_like::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("minerva-http").build()?;
    runtime.block_on(app::serve(settings))
}
