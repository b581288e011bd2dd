//! The benchmarks' S3 load generator: SigV4-signed requests over keep-alive HTTP/1.1 connections,
//! one connection per concurrent worker, bodies streamed from one in-memory block and responses
//! counted and dropped. Each command prints one JSON object with what it measured.
//!
//! It is written to cost the client as little as possible (UNSIGNED-PAYLOAD, no body hashing, no
//! copies), so that a run against nginx serving the same bytes shows its ceiling.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use hmac::{KeyInit, Mac};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(about = "S3 load generator for Minerva's benchmarks")]
struct Args {
    /// Server to load, `http://host:port`.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    #[arg(long, default_value = "minerva")]
    access_key: String,
    #[arg(long, default_value = "minerva-secret")]
    secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Threads of the generator's runtime (the servers under test need the other cores).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a bucket (one that exists already is fine).
    MakeBucket { bucket: String },
    /// GETs one object `repeat` times, one after another, and reports the throughput.
    Get {
        bucket: String,
        key: String,
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// PUTs an object of `size` bytes `repeat` times and reports the throughput.
    Put {
        bucket: String,
        key: String,
        #[arg(long)]
        size: u64,
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// Uploads an object of `size` bytes in parts, `concurrency` parts at a time, then completes it.
    Multipart {
        bucket: String,
        key: String,
        #[arg(long)]
        size: u64,
        #[arg(long, default_value_t = 64 << 20)]
        part_size: u64,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Small-object PUTs or GETs from `concurrency` connections for `seconds`: ops/s and latencies.
    /// GETs read keys that `fill` wrote (`--keys` of them under `--prefix`).
    Small {
        bucket: String,
        #[arg(long, value_parser = ["put", "get"])]
        op: String,
        #[arg(long, default_value_t = 4096)]
        size: u64,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value = "small/")]
        prefix: String,
        #[arg(long, default_value_t = 1000)]
        keys: u64,
    },
    /// Writes `count` objects of `size` bytes named `<prefix><n>` (zero-padded) from `concurrency` connections.
    Fill {
        bucket: String,
        #[arg(long, default_value = "small/")]
        prefix: String,
        #[arg(long)]
        count: u64,
        #[arg(long, default_value_t = 4096)]
        size: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Lists every key under `prefix` with ListObjectsV2, `page` keys a request.
    List {
        bucket: String,
        #[arg(long, default_value = "")]
        prefix: String,
        #[arg(long, default_value_t = 1000)]
        page: u32,
    },
}

fn main() -> Fallible<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
    let client = Arc::new(Client::new(&args)?);
    let report = runtime.block_on(run(client, args.command))?;
    println!("{report}");
    Ok(())
}

async fn run(client: Arc<Client>, command: Command) -> Fallible<serde_json::Value> {
    match command {
        Command::MakeBucket { bucket } => {
            let mut conn = client.connect().await?;
            let resp = conn.send(&client, Method::PUT, &format!("/{bucket}"), &[], Payload::empty()).await?;
            let status = resp.status();
            let text = read_text(resp).await?;
            if !status.is_success() && !text.contains("BucketAlreadyOwnedByYou") {
                return Err(format!("create bucket {bucket}: {status} {text}").into());
            }
            Ok(json!({"op": "make-bucket", "bucket": bucket}))
        }
        Command::Get { bucket, key, repeat } => {
            let mut conn = client.connect().await?;
            let path = format!("/{bucket}/{key}");
            let mut bytes = 0;
            let started = Instant::now();
            for _ in 0..repeat {
                let resp = conn.send(&client, Method::GET, &path, &[], Payload::empty()).await?;
                expect_ok(&resp, "GET")?;
                bytes += drain(resp).await?;
            }
            Ok(throughput("get", bytes, started.elapsed()))
        }
        Command::Put { bucket, key, size, repeat } => {
            let mut conn = client.connect().await?;
            let path = format!("/{bucket}/{key}");
            let started = Instant::now();
            for _ in 0..repeat {
                let resp = conn.send(&client, Method::PUT, &path, &[], Payload::repeat(size)).await?;
                check(resp, "PUT").await?;
            }
            Ok(throughput("put", size * repeat as u64, started.elapsed()))
        }
        Command::Multipart { bucket, key, size, part_size, concurrency } => multipart(client, bucket, key, size, part_size, concurrency).await,
        Command::Small { bucket, op, size, concurrency, seconds, prefix, keys } => {
            let run = SmallRun { bucket, put: op == "put", size, concurrency, duration: Duration::from_secs_f64(seconds), prefix, keys };
            small(client, run).await
        }
        Command::Fill { bucket, prefix, count, size, concurrency } => fill(client, bucket, prefix, count, size, concurrency).await,
        Command::List { bucket, prefix, page } => {
            let mut conn = client.connect().await?;
            let started = Instant::now();
            let (mut keys, mut requests) = (0u64, 0u64);
            let mut token: Option<String> = None;
            loop {
                let mut query = vec![("list-type", "2".to_string()), ("max-keys", page.to_string()), ("prefix", prefix.clone())];
                if let Some(t) = &token {
                    query.push(("continuation-token", t.clone()));
                }
                let resp = conn.send(&client, Method::GET, &format!("/{bucket}"), &query, Payload::empty()).await?;
                expect_ok(&resp, "ListObjectsV2")?;
                let xml = read_text(resp).await?;
                requests += 1;
                keys += xml.matches("<Key>").count() as u64;
                token = tag(&xml, "NextContinuationToken").map(unescape_xml);
                if tag(&xml, "IsTruncated") != Some("true") || token.is_none() {
                    break;
                }
            }
            let elapsed = started.elapsed().as_secs_f64();
            Ok(json!({"op": "list", "keys": keys, "requests": requests, "seconds": elapsed, "keys_per_s": keys as f64 / elapsed}))
        }
    }
}

async fn multipart(client: Arc<Client>, bucket: String, key: String, size: u64, part_size: u64, concurrency: usize) -> Fallible<serde_json::Value> {
    let path = format!("/{bucket}/{key}");
    let started = Instant::now();
    let mut conn = client.connect().await?;
    let resp = conn.send(&client, Method::POST, &path, &[("uploads", String::new())], Payload::empty()).await?;
    expect_ok(&resp, "CreateMultipartUpload")?;
    let xml = read_text(resp).await?;
    let upload_id = tag(&xml, "UploadId").map(unescape_xml).ok_or("no UploadId in the reply")?;
    let parts = size.div_ceil(part_size);
    let next = Arc::new(AtomicU64::new(1));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, next, path, upload_id) = (client.clone(), next.clone(), path.clone(), upload_id.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = client.connect().await?;
            let mut etags = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n > parts {
                    return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(etags);
                }
                let len = part_size.min(size - (n - 1) * part_size);
                let query = [("partNumber", n.to_string()), ("uploadId", upload_id.clone())];
                let resp = conn.send(&client, Method::PUT, &path, &query, Payload::repeat(len)).await?;
                expect_ok(&resp, "UploadPart")?;
                let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).ok_or("no ETag for a part")?.to_string();
                drain(resp).await?;
                etags.push((n, etag));
            }
        }));
    }
    let mut etags = Vec::new();
    for w in workers {
        etags.extend(w.await??);
    }
    etags.sort();
    let mut body = String::from("<CompleteMultipartUpload>");
    for (n, etag) in &etags {
        body.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"));
    }
    body.push_str("</CompleteMultipartUpload>");
    let resp = conn.send(&client, Method::POST, &path, &[("uploadId", upload_id)], Payload::bytes(Bytes::from(body))).await?;
    let status = resp.status();
    let text = read_text(resp).await?;
    // CompleteMultipartUpload may fail after a 200 (the error is in the body).
    if !status.is_success() || text.contains("<Error>") {
        return Err(format!("CompleteMultipartUpload: {status} {text}").into());
    }
    let mut report = throughput("multipart", size, started.elapsed());
    report["parts"] = json!(parts);
    Ok(report)
}

/// A run of small requests: `concurrency` workers PUT (or GET) objects of `size` bytes for
/// `duration`, GETs over `keys` keys filled under `prefix`.
struct SmallRun {
    bucket: String,
    put: bool,
    size: u64,
    concurrency: usize,
    duration: Duration,
    prefix: String,
    keys: u64,
}

async fn small(client: Arc<Client>, run: SmallRun) -> Fallible<serde_json::Value> {
    let SmallRun { bucket, put, size, concurrency, duration, prefix, keys } = run;
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..concurrency.max(1) {
        let (client, stop, bucket, prefix) = (client.clone(), stop.clone(), bucket.clone(), prefix.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = client.connect().await?;
            let mut latencies = Vec::new();
            // A different walk through the keys per worker, without a random number generator.
            let mut n = (w as u64).wrapping_mul(7919) % keys.max(1);
            while !stop.load(Ordering::Relaxed) {
                let path =
                    if put { format!("/{bucket}/{prefix}w{w}/{}", n % 1000) } else { format!("/{bucket}/{}", key_name(&prefix, n % keys.max(1))) };
                n = n.wrapping_add(104_729);
                let t = Instant::now();
                if put {
                    let resp = conn.send(&client, Method::PUT, &path, &[], Payload::repeat(size)).await?;
                    check(resp, "PUT").await?;
                } else {
                    let resp = conn.send(&client, Method::GET, &path, &[], Payload::empty()).await?;
                    expect_ok(&resp, "GET")?;
                    if drain(resp).await? != size {
                        return Err(format!("GET {path}: not {size} bytes").into());
                    }
                }
                latencies.push(t.elapsed().as_secs_f64());
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(latencies)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0.0) * 1000.0;
    Ok(json!({
        "op": if put { "small-put" } else { "small-get" },
        "concurrency": concurrency,
        "size": size,
        "ops": latencies.len(),
        "seconds": elapsed,
        "ops_per_s": latencies.len() as f64 / elapsed,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }))
}

async fn fill(client: Arc<Client>, bucket: String, prefix: String, count: u64, size: u64, concurrency: usize) -> Fallible<serde_json::Value> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, next, bucket, prefix) = (client.clone(), next.clone(), bucket.clone(), prefix.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = client.connect().await?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(());
                }
                let path = format!("/{bucket}/{}", key_name(&prefix, n));
                let resp = conn.send(&client, Method::PUT, &path, &[], Payload::repeat(size)).await?;
                check(resp, "PUT").await?;
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(json!({"op": "fill", "count": count, "seconds": elapsed, "ops_per_s": count as f64 / elapsed}))
}

fn key_name(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:08}")
}

fn throughput(op: &str, bytes: u64, elapsed: Duration) -> serde_json::Value {
    let secs = elapsed.as_secs_f64();
    json!({"op": op, "bytes": bytes, "seconds": secs, "mib_per_s": bytes as f64 / secs / (1 << 20) as f64})
}

fn expect_ok(resp: &Response<Incoming>, what: &str) -> Fallible<()> {
    if resp.status() == StatusCode::OK || resp.status() == StatusCode::NO_CONTENT { Ok(()) } else { Err(format!("{what}: {}", resp.status()).into()) }
}

/// Fails with the server's error text unless the reply is a success; reads it to the end.
async fn check(resp: Response<Incoming>, what: &str) -> Fallible<()> {
    let status = resp.status();
    let text = read_text(resp).await?;
    if status.is_success() { Ok(()) } else { Err(format!("{what}: {status} {text}").into()) }
}

async fn drain(resp: Response<Incoming>) -> Fallible<u64> {
    let mut body = resp.into_body();
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len() as u64;
        }
    }
    Ok(n)
}

async fn read_text(resp: Response<Incoming>) -> Fallible<String> {
    Ok(String::from_utf8_lossy(&resp.into_body().collect().await?.to_bytes()).into_owned())
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + end])
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Request bodies: nothing, a given buffer, or `len` bytes cut from one shared 1 MiB block.
#[derive(Clone)]
struct Payload {
    block: Bytes,
    remaining: u64,
}

static BLOCK: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();

impl Payload {
    fn empty() -> Self {
        Payload { block: Bytes::new(), remaining: 0 }
    }

    fn bytes(b: Bytes) -> Self {
        let remaining = b.len() as u64;
        Payload { block: b, remaining }
    }

    fn repeat(len: u64) -> Self {
        let block = BLOCK.get_or_init(|| {
            // Not compressible and not all one byte, so no layer can shortcut it.
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            Bytes::from(
                (0..1 << 20)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect::<Vec<u8>>(),
            )
        });
        Payload { block: block.clone(), remaining: len }
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = this.remaining.min(this.block.len() as u64) as usize;
        this.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(this.block.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

struct Client {
    /// `host:port`, for the socket and the `Host` header.
    authority: String,
    access_key: String,
    secret_key: String,
    region: String,
}

struct Conn {
    sender: http1::SendRequest<Payload>,
}

impl Client {
    fn new(args: &Args) -> Fallible<Self> {
        let authority = args.endpoint.strip_prefix("http://").ok_or("the endpoint must be http://host:port")?.trim_end_matches('/').to_string();
        Ok(Client { authority, access_key: args.access_key.clone(), secret_key: args.secret_key.clone(), region: args.region.clone() })
    }

    async fn connect(&self) -> Fallible<Conn> {
        let stream = TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Conn { sender })
    }

    /// SigV4 over the method, path, query and the three headers we send; the body is
    /// UNSIGNED-PAYLOAD, as SDKs may send it.
    fn authorization(&self, method: &Method, path: &str, query: &str, amz_date: &str) -> String {
        let date = &amz_date[..8];
        let signed = "host;x-amz-content-sha256;x-amz-date";
        let canonical = format!(
            "{method}\n{path}\n{query}\nhost:{}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:{amz_date}\n\n{signed}\nUNSIGNED-PAYLOAD",
            self.authority
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
        let mut key = hmac(format!("AWS4{}", self.secret_key).as_bytes(), date.as_bytes());
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}", self.access_key)
    }
}

impl Conn {
    async fn send(&mut self, client: &Client, method: Method, path: &str, query: &[(&str, String)], body: Payload) -> Fallible<Response<Incoming>> {
        if self.sender.is_closed() {
            *self = client.connect().await?;
        }
        let mut pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
        pairs.sort();
        let canonical_query = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let canonical_path = path.split('/').map(encode).collect::<Vec<_>>().join("/");
        let authorization = client.authorization(&method, &canonical_path, &canonical_query, &amz_date);
        let uri = if canonical_query.is_empty() { canonical_path } else { format!("{canonical_path}?{canonical_query}") };
        let request = |body: Payload| {
            Request::builder()
                .method(method.clone())
                .uri(uri.as_str())
                .header("host", &client.authority)
                .header("x-amz-date", amz_date.as_str())
                .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
                .header("authorization", authorization.as_str())
                .header("content-length", body.remaining)
                .body(body)
        };
        // A server may close a keep-alive connection between two requests (some peers close after
        // every reply): a request that never went out is sent again on a new connection.
        if self.sender.ready().await.is_err() {
            *self = client.connect().await?;
        }
        match self.sender.send_request(request(body.clone())?).await {
            Ok(resp) => Ok(resp),
            Err(e) if e.is_canceled() || e.is_closed() => {
                *self = client.connect().await?;
                Ok(self.sender.send_request(request(body)?).await?)
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// SigV4's URI encoding: everything but the unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
