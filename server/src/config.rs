//! Settings of `minerva serve`: flags over environment variables over the config file over the
//! embedded defaults. Each setting is declared once, here, with its documentation.
//!
//! The config file (TOML, `--config` / `MINERVA_CONFIG`) holds the same settings by the flag's
//! name with `_` for `-`, plus the extra users:
//!
//! ```toml
//! address = "127.0.0.1:9000"
//! data_dir = "./minerva-data"
//! region = "us-east-1"
//!
//! [[users]]
//! access_key = "alice"
//! secret_key = "alice-secret"
//! account_id = "111111111111"   # optional: derived from the access key when absent
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::app::Settings;
use crate::users::{PRIMARY_ACCOUNT, User, Users, derived_account_id};

const DEFAULT_ADDRESS: &str = "127.0.0.1:9000";
const DEFAULT_DATA_DIR: &str = "./minerva-data";
const DEFAULT_ACCESS_KEY: &str = "minerva";
const DEFAULT_SECRET_KEY: &str = "minerva-secret";
const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_QUERY_MEMORY_MB: usize = 1024;
const DEFAULT_MAX_QUERIES: usize = 4;
const DEFAULT_QUERY_LIMIT_MB: usize = 512;
/// Athena's default timeout for DML queries: 30 minutes.
const DEFAULT_QUERY_TIMEOUT_SECS: u64 = 30 * 60;
const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;

#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// A TOML file with these settings and extra users.
    #[arg(long, env = "MINERVA_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9000].
    #[arg(long, env = "MINERVA_ADDRESS")]
    address: Option<String>,
    /// Directory holding objects, the catalog and query history; created if missing
    /// [default: ./minerva-data].
    #[arg(long, env = "MINERVA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Access key id of the primary user [default: minerva].
    #[arg(long, env = "MINERVA_ACCESS_KEY")]
    access_key: Option<String>,
    /// Secret key of the primary user. Prefer the environment variable: flags show in `ps`.
    #[arg(long, env = "MINERVA_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Region reported to clients and used in signatures [default: us-east-1].
    #[arg(long, env = "MINERVA_REGION")]
    region: Option<String>,
    /// Memory all running queries may hold together, in MiB, before they spill or fail
    /// [default: 1024].
    #[arg(long, env = "MINERVA_QUERY_MEMORY_MB")]
    query_memory_mb: Option<usize>,
    /// Memory one query may hold, in MiB, before it spills or fails [default: 512].
    #[arg(long, env = "MINERVA_QUERY_LIMIT_MB")]
    query_limit_mb: Option<usize>,
    /// Seconds a query may run before it fails [default: 1800].
    #[arg(long, env = "MINERVA_QUERY_TIMEOUT_SECS")]
    query_timeout_secs: Option<u64>,
    /// Queries that run at once; more wait in state QUEUED [default: 4].
    #[arg(long, env = "MINERVA_MAX_QUERIES")]
    max_queries: Option<usize>,
    /// Seconds a connection may wait for request headers, or between two pieces of a request
    /// body, before it is closed [default: 60].
    #[arg(long, env = "MINERVA_IDLE_TIMEOUT_SECS")]
    idle_timeout_secs: Option<u64>,
    /// Accept every access key no user has as the primary user's, without checking signatures
    /// (what suites written against LocalStack's `test`/`test` expect). For tests only.
    #[arg(long, env = "MINERVA_ANY_CREDENTIALS")]
    any_credentials: bool,
    /// Answer `POST /_minerva/reset`, which empties the running server (every bucket, table and
    /// query). For test suites only.
    #[arg(long, env = "MINERVA_ALLOW_RESET")]
    allow_reset: bool,
    /// Days Athena's result files are kept; older ones are removed in the background (fractions
    /// of a day allowed) [default: kept for ever].
    #[arg(long, env = "MINERVA_RESULTS_RETENTION_DAYS")]
    results_retention_days: Option<f64>,
    /// Buckets to create at start, comma-separated (those that exist are kept).
    #[arg(long, env = "MINERVA_INIT_BUCKETS", value_delimiter = ',')]
    init_buckets: Vec<String>,
    /// A folder applied on the first start of a data directory: `buckets/<bucket>/…` files are
    /// uploaded, then its `*.sql` files run in name order.
    #[arg(long, env = "MINERVA_INIT_DIR")]
    init_dir: Option<PathBuf>,
}

/// A user of the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    access_key: String,
    secret_key: String,
    account_id: Option<String>,
}

/// The config file: every setting optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    address: Option<String>,
    data_dir: Option<PathBuf>,
    access_key: Option<String>,
    secret_key: Option<String>,
    region: Option<String>,
    query_memory_mb: Option<usize>,
    query_limit_mb: Option<usize>,
    query_timeout_secs: Option<u64>,
    max_queries: Option<usize>,
    idle_timeout_secs: Option<u64>,
    results_retention_days: Option<f64>,
    #[serde(default)]
    any_credentials: bool,
    #[serde(default)]
    allow_reset: bool,
    #[serde(default)]
    init_buckets: Vec<String>,
    init_dir: Option<PathBuf>,
    #[serde(default)]
    users: Vec<FileUser>,
}

impl ServeArgs {
    /// Merges flags, environment, file and defaults, and validates the result.
    pub fn settings(self) -> Result<Settings, String> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                toml::from_str::<FileSettings>(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let address = self.address.or(file.address).unwrap_or_else(|| DEFAULT_ADDRESS.into());
        let address: SocketAddr = address.parse().map_err(|e| format!("address {address:?}: {e}"))?;
        let region = self.region.or(file.region).unwrap_or_else(|| DEFAULT_REGION.into());
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("region {region:?} is not a region name"));
        }
        let query_memory_mb = self.query_memory_mb.or(file.query_memory_mb).unwrap_or(DEFAULT_QUERY_MEMORY_MB);
        let max_queries = self.max_queries.or(file.max_queries).unwrap_or(DEFAULT_MAX_QUERIES);
        let query_limit_mb = self.query_limit_mb.or(file.query_limit_mb).unwrap_or(DEFAULT_QUERY_LIMIT_MB.min(query_memory_mb));
        let query_timeout = self.query_timeout_secs.or(file.query_timeout_secs).unwrap_or(DEFAULT_QUERY_TIMEOUT_SECS);
        if query_memory_mb == 0 || max_queries == 0 || query_limit_mb == 0 || query_timeout == 0 {
            return Err("query memory, query limit, query timeout and max queries must be at least 1".into());
        }
        let idle = self.idle_timeout_secs.or(file.idle_timeout_secs).unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS);
        if idle == 0 {
            return Err("the idle timeout must be at least one second".into());
        }
        let primary = User {
            access_key: self.access_key.or(file.access_key).unwrap_or_else(|| DEFAULT_ACCESS_KEY.into()),
            secret_key: self.secret_key.or(file.secret_key).unwrap_or_else(|| DEFAULT_SECRET_KEY.into()),
            account_id: PRIMARY_ACCOUNT.into(),
        };
        let others = file
            .users
            .into_iter()
            .map(|u| User {
                account_id: u.account_id.unwrap_or_else(|| derived_account_id(&u.access_key)),
                access_key: u.access_key,
                secret_key: u.secret_key,
            })
            .collect();
        let users = Users::new(primary, others)?;
        let users = if self.any_credentials || file.any_credentials { users.accepting_any_credentials() } else { users };
        let data_dir: PathBuf = self.data_dir.or(file.data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        let results_retention = match self.results_retention_days.or(file.results_retention_days) {
            None => None,
            Some(days) if days.is_finite() && days > 0.0 && days < 1e6 => Some(Duration::from_secs_f64(days * 86_400.0)),
            Some(days) => return Err(format!("results retention {days} days: give a number of days above 0")),
        };
        Ok(Settings {
            address,
            // Absolute, so that the log and every error say which directory it is.
            data_dir: absolute(data_dir),
            region,
            users,
            query_memory: query_memory_mb * 1024 * 1024,
            query_limit: query_limit_mb * 1024 * 1024,
            query_timeout: Duration::from_secs(query_timeout),
            max_queries,
            idle_timeout: Duration::from_secs(idle),
            results_retention,
            allow_reset: self.allow_reset || file.allow_reset,
            init_buckets: {
                let flags: Vec<String> = self.init_buckets.into_iter().map(|b| b.trim().to_string()).filter(|b| !b.is_empty()).collect();
                if flags.is_empty() { file.init_buckets } else { flags }
            },
            init_dir: self.init_dir.or(file.init_dir),
        })
    }
}

/// A directory as an absolute path without `.` components or a trailing slash (symbolic links
/// are not followed: the path is the one the user gave).
pub fn absolute(dir: PathBuf) -> PathBuf {
    match std::path::absolute(&dir) {
        Ok(path) => path.components().collect(),
        Err(_) => dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_over_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("minerva.toml");
        std::fs::write(
            &path,
            "address = \"127.0.0.1:9100\"\nregion = \"eu-west-1\"\nmax_queries = 2\n[[users]]\naccess_key = \"alice\"\nsecret_key = \"a\"\n[[users]]\naccess_key = \"bob\"\nsecret_key = \"b\"\naccount_id = \"222222222222\"\n",
        )
        .unwrap();
        let args = ServeArgs { config: Some(path.clone()), region: Some("us-west-2".into()), ..Default::default() };
        let s = args.settings().unwrap();
        assert_eq!(s.address.to_string(), "127.0.0.1:9100");
        assert_eq!(s.region, "us-west-2", "a flag beats the file");
        assert_eq!(s.max_queries, 2);
        assert_eq!(s.query_memory, DEFAULT_QUERY_MEMORY_MB * 1024 * 1024);
        assert_eq!(s.users.len(), 3);
        assert_eq!(s.users.primary().access_key, DEFAULT_ACCESS_KEY);
        assert_eq!(s.users.get("bob").unwrap().account_id, "222222222222");
        assert_eq!(s.users.get("alice").unwrap().account_id, derived_account_id("alice"));

        std::fs::write(&path, "adress = \"typo\"\n").unwrap();
        let err = ServeArgs { config: Some(path), ..Default::default() }.settings().err().unwrap();
        assert!(err.contains("adress"), "{err}");
        let err = ServeArgs { address: Some("nope".into()), ..Default::default() }.settings().err().unwrap();
        assert!(err.contains("nope"), "{err}");
    }
}
