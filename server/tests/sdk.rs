//! The AWS SDK for Rust against the real binary: a client family whose code is generated from
//! the service models (not botocore's), with its own protocol choices (aws-sdk-athena 1.128 still
//! speaks AWS JSON 1.1). The users' path: upload the review file to S3, describe it in Glue,
//! query it through Athena, page the results, and read a failing query's error.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use aws_sdk_s3::primitives::ByteStream;

const ACCESS_KEY: &str = "sdk-access";
const SECRET_KEY: &str = "sdk-secret-key";
const REGION: &str = "us-east-1";

/// One `minerva serve` on a free port with a data directory of its own, stopped on drop.
struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_minerva"))
            .args(["serve", "--address", &format!("127.0.0.1:{port}"), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, "--region", REGION])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the minerva binary starts");
        // The server listens only once it is ready to answer.
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "minerva did not start listening");
            std::thread::sleep(Duration::from_millis(20)); // polling for readiness
        }
        Server { child, url: format!("http://127.0.0.1:{port}"), _dir: dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every client needs: the endpoint, static keys, a region and a plain-HTTP client.
macro_rules! client {
    ($sdk:ident, $server:expr) => {{
        let config = $sdk::config::Builder::new()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .endpoint_url(&$server.url)
            .region($sdk::config::Region::new(REGION))
            .credentials_provider($sdk::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "static"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        $sdk::Client::from_conf(config)
    }};
}

fn reviews_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/womens_clothing_ecommerce_reviews.csv")
}

/// Reviews per class, counted from the file itself.
fn expected_counts(data: &[u8]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let mut reader = csv::Reader::from_reader(data);
    let class = reader.headers().unwrap().iter().position(|h| h == "Class Name").expect("a Class Name column");
    for record in reader.records() {
        *counts.entry(record.unwrap()[class].to_string()).or_insert(0) += 1;
    }
    counts
}

async fn wait(athena: &aws_sdk_athena::Client, id: &str) -> aws_sdk_athena::types::QueryExecution {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let q = athena.get_query_execution().query_execution_id(id).send().await.unwrap().query_execution.unwrap();
        let state = q.status().and_then(|s| s.state()).cloned().unwrap();
        if matches!(state, QueryExecutionState::Succeeded | QueryExecutionState::Failed | QueryExecutionState::Cancelled) {
            return q;
        }
        assert!(Instant::now() < deadline, "query {id} did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await; // polling the state, as every Athena client does
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_reviews_through_the_rust_sdk() {
    let server = Server::start();
    let (s3, glue, athena, sts) =
        (client!(aws_sdk_s3, server), client!(aws_sdk_glue, server), client!(aws_sdk_athena, server), client!(aws_sdk_sts, server));

    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("000000000000"));

    let data = std::fs::read(reviews_file()).expect("the review file of ../shared/data");
    s3.create_bucket().bucket("reviews").send().await.unwrap();
    s3.put_object().bucket("reviews").key("raw/reviews.csv").body(ByteStream::from(data.clone())).send().await.unwrap();
    let head = s3.head_object().bucket("reviews").key("raw/reviews.csv").send().await.unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));

    glue.create_database().database_input(DatabaseInput::builder().name("shop").build().unwrap()).send().await.unwrap();
    let names =
        ["row_id", "clothing_id", "age", "title", "review_text", "rating", "recommended", "positive_feedback", "division", "department", "class"];
    let columns: Vec<Column> = names.iter().map(|n| Column::builder().name(*n).r#type("string").build().unwrap()).collect();
    let table = TableInput::builder()
        .name("reviews")
        .table_type("EXTERNAL_TABLE")
        .parameters("skip.header.line.count", "1")
        .storage_descriptor(
            StorageDescriptor::builder()
                .set_columns(Some(columns))
                .location("s3://reviews/raw/")
                .input_format("org.apache.hadoop.mapred.TextInputFormat")
                .output_format("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat")
                .serde_info(
                    SerDeInfo::builder()
                        .serialization_library("org.apache.hadoop.hive.serde2.OpenCSVSerde")
                        .parameters("separatorChar", ",")
                        .parameters("quoteChar", "\"")
                        .build(),
                )
                .build(),
        )
        .build()
        .unwrap();
    glue.create_table().database_name("shop").table_input(table).send().await.unwrap();
    let got = glue.get_table().database_name("shop").name("reviews").send().await.unwrap();
    assert_eq!(got.table().map(|t| t.name()), Some("reviews"));
    let missing = glue.get_table().database_name("shop").name("nothing").send().await.unwrap_err();
    assert!(missing.as_service_error().is_some_and(|e| e.is_entity_not_found_exception()), "{missing:?}");

    let id = athena
        .start_query_execution()
        .query_string("SELECT class, COUNT(*) AS reviews FROM reviews GROUP BY class ORDER BY class")
        .query_execution_context(QueryExecutionContext::builder().database("shop").build())
        .result_configuration(ResultConfiguration::builder().output_location("s3://reviews/results/").build())
        .send()
        .await
        .unwrap()
        .query_execution_id
        .unwrap();
    let q = wait(&athena, &id).await;
    assert_eq!(q.status().and_then(|s| s.state()), Some(&QueryExecutionState::Succeeded), "{q:?}");
    assert_eq!(q.result_configuration().and_then(|r| r.output_location()), Some(format!("s3://reviews/results/{id}.csv").as_str()));

    // Pages of five rows: the header row first, then every class once.
    let mut rows = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = athena.get_query_results().query_execution_id(&id).max_results(5).set_next_token(token).send().await.unwrap();
        pages += 1;
        let set = page.result_set().unwrap();
        if pages == 1 {
            let types: Vec<&str> = set.result_set_metadata().unwrap().column_info().iter().map(|c| c.r#type()).collect();
            assert_eq!(types, ["varchar", "bigint"]);
        }
        for row in set.rows() {
            rows.push(row.data().iter().map(|d| d.var_char_value().unwrap_or_default().to_string()).collect::<Vec<_>>());
        }
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(rows[0], ["class", "reviews"]);
    let got: BTreeMap<String, u64> = rows[1..].iter().map(|r| (r[0].clone(), r[1].parse().unwrap())).collect();
    let want = expected_counts(&data);
    assert_eq!(got, want);
    assert!(pages > want.len() / 5, "{pages} pages for {} rows", want.len());

    // A failing query: FAILED with Athena's reason, and its results are refused with Athena's
    // error, which the SDK turns into its typed InvalidRequestException.
    let id = athena.start_query_execution().query_string("SELECT * FROM shop.no_such_table").send().await.unwrap().query_execution_id.unwrap();
    let q = wait(&athena, &id).await;
    let status = q.status().unwrap();
    assert_eq!(status.state(), Some(&QueryExecutionState::Failed));
    assert!(status.state_change_reason().unwrap_or_default().starts_with("TABLE_NOT_FOUND"), "{status:?}");
    let refused = athena.get_query_results().query_execution_id(&id).send().await.unwrap_err();
    let refused = refused.into_service_error();
    assert!(refused.is_invalid_request_exception(), "{refused:?}");
    assert!(refused.to_string().contains("FAILED"), "{refused}");
}
