//! What every request is served with: the settings of `minerva serve`, and the `App` opened
//! from them (the store, every account's catalog, the query engine, users, S3's access checks
//! and the s3s service).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use catalog::Catalogs;
use query::{Engine, EngineConfig};
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Result, s3_error};
use storage::Store;

use crate::s3::Lake;
use crate::s3::access::Access;
use crate::users::{PRIMARY_ACCOUNT, User, Users};

/// The most a browser form upload (POST Object) may carry: s3s holds it in memory.
const MAX_POST_OBJECT: u64 = 64 * 1024 * 1024;
/// The largest XML request body (CompleteMultipartUpload with 10,000 parts is about 1 MiB).
pub const MAX_XML_BODY: u64 = 4 * 1024 * 1024;
/// How far a request's signing time may be from ours, as on S3.
const MAX_CLOCK_SKEW_SECS: u32 = 15 * 60;

/// Validated settings of `minerva serve`.
#[derive(Clone)]
pub struct Settings {
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub users: Users,
    pub query_memory: usize,
    /// Memory one query may hold.
    pub query_limit: usize,
    pub query_timeout: Duration,
    pub max_queries: usize,
    /// How long a connection may idle while sending request headers or a body.
    pub idle_timeout: Duration,
    /// How long Athena's result files are kept (for ever without one).
    pub results_retention: Option<Duration>,
    /// Whether `POST /_minerva/reset` empties the server.
    pub allow_reset: bool,
    /// Buckets to create at start, and a folder to apply on the first start.
    pub init_buckets: Vec<String>,
    pub init_dir: Option<PathBuf>,
}

pub struct App {
    pub store: Store,
    /// Every account's Glue catalog.
    pub catalogs: Catalogs,
    pub engine: Engine,
    pub users: Users,
    /// Who may do what on S3: asked by S3 requests, and by queries and crawlers for their callers.
    pub access: Arc<Access>,
    pub region: String,
    pub idle_timeout: Duration,
    /// What has been served, for `/_minerva/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Whether `POST /_minerva/reset` empties the server (`--allow-reset`).
    pub allow_reset: bool,
    pub s3: S3Service,
}

struct Auth(Users);

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.credentials().secret(access_key) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.{}",
                crate::users::UNKNOWN_KEY_HINT
            )),
        }
    }
}

impl App {
    /// Opens the data directory and everything over it. Fast: no data is scanned beyond the
    /// index, so the server is ready well under a second after start.
    pub async fn open(settings: &Settings) -> anyhow_like::Result<Arc<App>> {
        let kv = storage::open_data_dir(&settings.data_dir)?;
        let root = settings.data_dir.clone();
        let (store, recovery) = Store::open(&root, kv.clone(), &settings.region)?;
        // Logged at every start, so that what a crash left behind is visible and counted.
        tracing::info!(
            objects = recovery.objects,
            versions = recovery.versions,
            staged_removed = recovery.staged_removed,
            orphans_removed = recovery.orphans_removed,
            "recovered the data directory"
        );
        let catalogs = open_catalogs(&kv, &settings.users).await?;
        let engine = Engine::new(
            store.clone(),
            catalogs.clone(),
            kv,
            EngineConfig {
                memory_limit: settings.query_memory,
                query_memory_limit: settings.query_limit,
                max_concurrent: settings.max_queries,
                timeout: settings.query_timeout,
                // Spill files go with the rest of the data (a container may have no /tmp), in
                // a directory of their own that the engine empties at start-up.
                spill_dir: Some(settings.data_dir.join("spill")),
                legacy_account: PRIMARY_ACCOUNT.to_string(),
                ..Default::default()
            },
        )?;
        let access = Arc::new(Access { store: store.clone(), users: settings.users.clone() });
        let app = App {
            store: store.clone(),
            catalogs,
            engine,
            users: settings.users.clone(),
            access: access.clone(),
            region: settings.region.clone(),
            idle_timeout: settings.idle_timeout,
            metrics: Default::default(),
            allow_reset: settings.allow_reset,
            s3: {
                let mut builder = S3ServiceBuilder::new(Lake { store: store.clone(), users: settings.users.clone(), access: access.clone() });
                builder.set_auth(Auth(settings.users.clone()));
                builder.set_access(SharedAccess(access));
                let mut config = s3s::config::S3Config::default();
                config.post_object_max_file_size = MAX_POST_OBJECT;
                config.xml_max_body_size = MAX_XML_BODY as usize;
                config.presigned_url_max_skew_time_secs = MAX_CLOCK_SKEW_SECS;
                builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(config))));
                builder.build()
            },
        };
        // The primary user's Athena results bucket exists from the start, as the console makes it.
        app.results_location(settings.users.primary(), &settings.region).await?;
        Ok(Arc::new(app))
    }
}

/// Opens every account's catalog: a data directory of layout 1 has its one catalog adopted by the
/// primary account, and each user's account gets its `default` database the first time.
pub async fn open_catalogs(kv: &Arc<dyn storage::Kv>, users: &Users) -> anyhow_like::Result<Catalogs> {
    let catalogs = Catalogs::new(kv.clone());
    let adopted = catalogs.adopt_shared_catalog(PRIMARY_ACCOUNT).await?;
    if adopted > 0 {
        tracing::info!(
            records = adopted,
            account = PRIMARY_ACCOUNT,
            "the catalog of the data directory's older layout now belongs to the primary account"
        );
    }
    for user in users.all() {
        if catalogs.account(&user.account_id)?.provision_default_database().await? {
            tracing::info!(account = %user.account_id, "created the catalog's default database");
        }
    }
    Ok(catalogs)
}

/// The access check s3s calls for every S3 request, shared with the operations that check
/// more than one resource (CopyObject reads its source, DeleteObjects checks each key).
struct SharedAccess(Arc<Access>);

#[async_trait::async_trait]
impl s3s::access::S3Access for SharedAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        crate::log::operation(cx.s3_op().name());
        self.0.check(cx).await
    }
}

impl App {
    /// The caller's default Athena result location in a region,
    /// `s3://aws-athena-query-results-<account>-<region>/`, creating the bucket (owned by the
    /// caller, in that region) the first time.
    pub async fn results_location(&self, user: &User, region: &str) -> Result<String, storage::Error> {
        let bucket = format!("aws-athena-query-results-{}-{region}", user.account_id);
        if self.store.head_bucket(&bucket).is_err() {
            match self.store.create_bucket_in(&bucket, &user.access_key, region).await {
                Ok(_) | Err(storage::Error::BucketAlreadyOwnedByYou(_) | storage::Error::BucketAlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(format!("s3://{bucket}/"))
    }
}

/// Start-up errors: anything that stops the server from starting, with its message.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}
