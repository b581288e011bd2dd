//! `GET /_minerva/metrics`: Prometheus's text format, for a dashboard or an alert on a server that
//! runs for long. Requests by service, operation and status with their latencies and bytes,
//! queries by state, and memory (the queries' pool and the process's resident set).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0];

/// What has been served since start: per service, per operation, the answers by status and
/// their latencies; per service, the bytes. One lock, and no allocation once an operation has
/// been seen.
#[derive(Default)]
pub struct Metrics {
    services: Mutex<HashMap<&'static str, Service>>,
}

#[derive(Default)]
struct Service {
    operations: HashMap<String, Operation>,
    received: u64,
    sent: u64,
}

#[derive(Default)]
struct Operation {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

#[derive(Default)]
struct Histogram {
    /// Counts of the requests at or under each bound of `BUCKETS`, not cumulative.
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A service's operations in name order.
fn sorted(service: &Service) -> Vec<(&String, &Operation)> {
    let mut ops: Vec<(&String, &Operation)> = service.operations.iter().collect();
    ops.sort_by(|a, b| a.0.cmp(b.0));
    ops
}

/// One answered request, as the metrics count it.
pub struct Served<'a> {
    pub service: &'static str,
    pub operation: &'a str,
    pub status: u16,
    pub took: Duration,
    /// The request's and the response's declared body sizes (absent for streamed bodies).
    pub received: Option<u64>,
    pub sent: Option<u64>,
}

impl Metrics {
    pub fn record(&self, s: Served<'_>) {
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        let service = services.entry(s.service).or_default();
        service.received += s.received.unwrap_or(0);
        service.sent += s.sent.unwrap_or(0);
        let operation = match service.operations.get_mut(s.operation) {
            Some(o) => o,
            None => service.operations.entry(s.operation.to_string()).or_default(),
        };
        *operation.statuses.entry(s.status).or_default() += 1;
        let h = &mut operation.latency;
        let secs = s.took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The exposition: these metrics, the engine's queries and memory, the process's memory.
    pub fn render(&self, queries: query::QueryCounts, query_memory: usize) -> String {
        let mut out = String::new();
        let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&&str> = services.keys().collect();
        names.sort();
        out.push_str("# HELP minerva_requests_total Requests answered, by service, operation and HTTP status.\n");
        out.push_str("# TYPE minerva_requests_total counter\n");
        for name in &names {
            for (operation, o) in sorted(&services[**name]) {
                for (status, n) in &o.statuses {
                    let _ = writeln!(out, "minerva_requests_total{{service=\"{name}\",operation=\"{}\",status=\"{status}\"}} {n}", label(operation));
                }
            }
        }
        out.push_str("# HELP minerva_request_duration_seconds Time from a request's arrival to its answer's headers.\n");
        out.push_str("# TYPE minerva_request_duration_seconds histogram\n");
        for name in &names {
            for (operation, o) in sorted(&services[**name]) {
                let labels = format!("service=\"{name}\",operation=\"{}\"", label(operation));
                let h = &o.latency;
                let mut cumulative = 0;
                for (bound, n) in BUCKETS.iter().zip(h.counts) {
                    cumulative += n;
                    let _ = writeln!(out, "minerva_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
                }
                let _ = writeln!(out, "minerva_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "minerva_request_duration_seconds_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "minerva_request_duration_seconds_count{{{labels}}} {}", h.count);
            }
        }
        out.push_str("# HELP minerva_bytes_total Request and response body bytes, where their length was declared.\n");
        out.push_str("# TYPE minerva_bytes_total counter\n");
        for name in &names {
            let service = &services[**name];
            for (direction, n) in [("received", service.received), ("sent", service.sent)] {
                let _ = writeln!(out, "minerva_bytes_total{{service=\"{name}\",direction=\"{direction}\"}} {n}");
            }
        }
        drop(services);
        out.push_str("# HELP minerva_queries Athena queries waiting or running now.\n# TYPE minerva_queries gauge\n");
        let _ = writeln!(out, "minerva_queries{{state=\"QUEUED\"}} {}", queries.queued);
        let _ = writeln!(out, "minerva_queries{{state=\"RUNNING\"}} {}", queries.running);
        out.push_str("# HELP minerva_queries_finished_total Athena queries that ended since start, by final state.\n");
        out.push_str("# TYPE minerva_queries_finished_total counter\n");
        for (state, n) in [("SUCCEEDED", queries.succeeded), ("FAILED", queries.failed), ("CANCELLED", queries.cancelled)] {
            let _ = writeln!(out, "minerva_queries_finished_total{{state=\"{state}\"}} {n}");
        }
        out.push_str("# HELP minerva_query_memory_bytes Memory the running queries hold in their pools.\n");
        let _ = writeln!(out, "# TYPE minerva_query_memory_bytes gauge\nminerva_query_memory_bytes {query_memory}");
        if let Some(rss) = resident_bytes() {
            out.push_str("# HELP minerva_resident_memory_bytes The process's resident set.\n");
            let _ = writeln!(out, "# TYPE minerva_resident_memory_bytes gauge\nminerva_resident_memory_bytes {rss}");
        }
        out
    }
}

/// A label value with Prometheus's escapes.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The resident set size, from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_into_buckets_and_render_as_prometheus_reads_them() {
        let m = Metrics::default();
        for ms in [1, 3, 700] {
            m.record(Served { service: "s3", operation: "GetObject", status: 200, took: Duration::from_millis(ms), received: None, sent: Some(10) });
        }
        let text = m.render(query::QueryCounts { running: 1, succeeded: 2, ..Default::default() }, 5);
        assert!(text.contains("minerva_requests_total{service=\"s3\",operation=\"GetObject\",status=\"200\"} 3"), "{text}");
        assert!(text.contains("minerva_request_duration_seconds_bucket{service=\"s3\",operation=\"GetObject\",le=\"0.001\"} 1"), "{text}");
        assert!(text.contains("minerva_request_duration_seconds_bucket{service=\"s3\",operation=\"GetObject\",le=\"0.005\"} 2"), "{text}");
        assert!(text.contains("minerva_request_duration_seconds_bucket{service=\"s3\",operation=\"GetObject\",le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("minerva_bytes_total{service=\"s3\",direction=\"sent\"} 30"), "{text}");
        assert!(text.contains("minerva_queries{state=\"RUNNING\"} 1") && text.contains("minerva_queries_finished_total{state=\"SUCCEEDED\"} 2"));
        assert!(text.contains("minerva_query_memory_bytes 5"));
    }
}
