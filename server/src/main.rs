//! The `minerva` binary: S3, Glue and Athena on one port, over a local data directory.

mod app;
mod athena;
mod config;
mod crawl_cmd;
mod dispatch;
mod glue;
mod idle;
mod init;
mod protocol;
mod s3;
mod serve;
mod sigv4;
mod sts;
mod users;

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
    Serve(config::ServeArgs),
    /// Crawl an S3 prefix of a data directory into Glue tables, as a Glue crawler would.
    Crawl(crawl_cmd::CrawlArgs),
    /// Exit 0 if the server answers its health check (for container HEALTHCHECKs).
    Healthcheck {
        /// The server's address; a wildcard address means this host.
        #[arg(long, env = "MINERVA_ADDRESS", default_value = "127.0.0.1:9000")]
        address: String,
    },
}

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MINERVA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,minerva=info,storage=info,query=info,catalog=info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => match args.settings() {
            Ok(settings) => run(settings),
            Err(e) => Err(e.into()),
        },
        Command::Crawl(args) => crawl_cmd::run(args),
        Command::Healthcheck { address } => init::healthcheck(&address),
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
    runtime.block_on(serve::serve(settings))
}
