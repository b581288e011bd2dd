//! The `minerva` binary: S3, Glue and Athena on one port, over a local data directory.

mod app;
mod athena;
mod config;
mod crawl_cmd;
mod dispatch;
mod glue;
mod idle;
mod init;
mod log;
mod metrics;
mod protocol;
mod reset;
mod retention;
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
    /// Empty a data directory, with the server stopped: every bucket, object, table and query goes.
    Reset {
        /// The data directory.
        #[arg(long, env = "MINERVA_DATA_DIR", default_value = "./minerva-data")]
        data_dir: std::path::PathBuf,
    },
    /// Exit 0 if the server answers its health check (for container HEALTHCHECKs).
    Healthcheck {
        /// The server's address; a wildcard address means this host.
        #[arg(long, env = "MINERVA_ADDRESS", default_value = "127.0.0.1:9000")]
        address: String,
    },
}

fn main() {
    log::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => match args.settings() {
            Ok(settings) => {
                let dir = settings.data_dir.display().to_string();
                // Every start-up error says which data directory it is about.
                run(settings).map_err(|e| {
                    let message = chain(e.as_ref());
                    let message = if message.contains(&dir) { message } else { format!("{message} (data directory {dir})") };
                    message.into()
                })
            }
            Err(e) => Err(e.into()),
        },
        Command::Crawl(args) => crawl_cmd::run(args),
        Command::Reset { data_dir } => {
            let dir = config::absolute(data_dir);
            storage::reset_data_dir(&dir).map(|()| eprintln!("emptied the data directory {}", dir.display())).map_err(|e| e.into())
        }
        Command::Healthcheck { address } => init::healthcheck(&address),
    };
    if let Err(e) = result {
        eprintln!("minerva: {}", chain(e.as_ref()));
        std::process::exit(1);
    }
}

/// An error and its causes, so that the cause is never hidden behind a summary; a cause whose
/// words its error already repeats is said once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(&format!(": {text}"));
        }
        source = s.source();
    }
    message
}

fn run(settings: app::Settings) -> app::anyhow_like::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("minerva-http").build()?;
    runtime.block_on(serve::serve(settings))
}
