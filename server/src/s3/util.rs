//! Conversions between s3s's wire types and storage's: times, ETags, tags, checksums, bodies,
//! the headers an object keeps, and listing key encoding.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use storage::{ChecksumAlgorithm as Algo, Checksums, ExpectedDigests};

use crate::s3::ACCOUNT_DISPLAY_NAME;
use crate::s3::error::s3_err;

pub fn etag(v: &str) -> ETag {
    ETag::Strong(v.to_string())
}

pub fn owner(account_id: &str) -> Owner {
    Owner { display_name: Some(ACCOUNT_DISPLAY_NAME.into()), id: Some(account_id.to_string()) }
}

/// Keys in listings are percent-encoded when the client asks for `EncodingType=url` (botocore
/// always does, and decodes them with `unquote_plus`).
pub fn encoder(kind: &Option<EncodingType>) -> impl Fn(&str) -> String + use<> {
    let url = kind.as_ref().is_some_and(|k| k.as_str().eq_ignore_ascii_case("url"));
    move |s: &str| {
        if !url {
            return s.to_string();
        }
        const KEEP: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
        percent_encoding::utf8_percent_encode(s, KEEP).to_string()
    }
}

/// Why s3s's decoder refused a request body, where S3 answers with a code of its own rather
/// than as a body that ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A chunk or trailer signature of an aws-chunked body is wrong.
    Signature,
    /// The body does not hash to the signed `x-amz-content-sha256`.
    PayloadHash,
}

impl Refusal {
    /// s3s's body errors are private types; their names are all that reaches us.
    fn of(error: &dyn std::error::Error) -> Option<Refusal> {
        let text = error.to_string();
        if text.starts_with("AwsChunkedStreamError: SignatureMismatch") {
            Some(Refusal::Signature)
        } else if text.starts_with("UploadStreamError: Sha256Mismatch") {
            Some(Refusal::PayloadHash)
        } else {
            None
        }
    }
}

/// What became of a request body handed to storage: remembers a refusal by s3s's decoder, so
/// that the failed write is answered as S3 answers it.
#[derive(Clone, Default)]
pub struct BodyOutcome(Arc<OnceLock<Refusal>>);

impl BodyOutcome {
    /// The S3 error for a write whose body was being read when storage failed.
    pub fn error(&self, e: storage::Error) -> S3Error {
        match (self.0.get(), &e) {
            (Some(Refusal::Signature), storage::Error::IncompleteBody(_)) => s3_error!(
                SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method."
            ),
            (Some(Refusal::PayloadHash), storage::Error::IncompleteBody(_)) => {
                let mut err = S3Error::with_message(
                    S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                );
                err.set_status_code(http::StatusCode::BAD_REQUEST);
                err
            }
            _ => s3_err(e),
        }
    }
}

/// A request body for storage, which fails unless it holds exactly the `declared` length (the
/// decoded length of an aws-chunked body, whose framing can end early without hyper noticing).
pub fn body_stream(blob: Option<StreamingBlob>, declared: Option<i64>) -> (storage::ByteStream, BodyOutcome) {
    let outcome = BodyOutcome::default();
    let seen = outcome.clone();
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let stream = match blob {
        Some(b) => b
            .map_ok(move |bytes| {
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                bytes
            })
            .map_err(move |e| {
                if let Some(r) = Refusal::of(e.as_ref()) {
                    let _ = seen.0.set(r);
                }
                std::io::Error::other(e)
            })
            .boxed(),
        None => futures::stream::empty().boxed(),
    };
    // Polled only after the body ended without an error.
    let check = futures::stream::once(async move {
        let got = received.load(Ordering::Relaxed);
        match declared.and_then(|n| u64::try_from(n).ok()) {
            Some(want) if got != want => Some(Err(std::io::Error::other(format!("the body held {got} bytes where {want} were declared")))),
            _ => None,
        }
    })
    .filter_map(futures::future::ready);
    (stream.chain(check).boxed(), outcome)
}

/// A body stream that s3s can hold across threads: the lake's stream behind a lock that is never
/// contended, with its exact length so that responses carry Content-Length.
pub struct SyncBody {
    inner: Mutex<storage::ByteStream>,
    remaining: usize,
}

impl SyncBody {
    pub fn blob(stream: storage::ByteStream, len: u64) -> StreamingBlob {
        StreamingBlob::new(SyncBody { inner: Mutex::new(stream), remaining: len as usize })
    }
}

impl Stream for SyncBody {
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.poll_next_unpin(cx)
        };
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.remaining = self.remaining.saturating_sub(chunk.len());
        }
        polled.map(|o| o.map(|r| r.map_err(|e| Box::new(e) as s3s::StdError)))
    }
}

impl s3s::stream::ByteStream for SyncBody {
    fn remaining_length(&self) -> s3s::stream::RemainingLength {
        s3s::stream::RemainingLength::new_exact(self.remaining)
    }
}

/// Which checksums to compute for an upload: those named by headers, the trailer declaration,
/// or the SDK's algorithm header.
pub fn requested_algorithms(headers: &http::HeaderMap, declared: Option<&ChecksumAlgorithm>) -> Vec<Algo> {
    let mut out = Vec::new();
    let mut add = |name: &str| {
        if let Some(a) = Algo::parse(name.trim().trim_start_matches("x-amz-checksum-"))
            && !out.contains(&a)
        {
            out.push(a);
        }
    };
    if let Some(d) = declared {
        add(d.as_str());
    }
    for name in ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            add(v);
        }
    }
    if let Some(v) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        for t in v.split(',') {
            add(t);
        }
    }
    out
}

pub fn claimed(
    md5: Option<String>,
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
) -> ExpectedDigests {
    let mut digests = ExpectedDigests { content_md5: md5, checksums: Checksums::default() };
    for (a, v) in [(Algo::Crc32, crc32), (Algo::Crc32c, crc32c), (Algo::Crc64Nvme, crc64), (Algo::Sha1, sha1), (Algo::Sha256, sha256)] {
        if let Some(v) = v {
            digests.checksums.set(a, v);
        }
    }
    digests
}

/// Reads `x-amz-checksum-*` values from the trailer of an aws-chunked body, once it has ended.
pub fn trailer_reader(trailers: Option<s3s::TrailingHeaders>) -> Option<Box<dyn FnOnce() -> Checksums + Send>> {
    let trailers = trailers?;
    Some(Box::new(move || {
        let mut sums = Checksums::default();
        trailers.read(|headers| {
            for a in Algo::ALL {
                let name = format!("x-amz-checksum-{}", a.name().to_ascii_lowercase());
                if let Some(v) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
                    sums.set(a, v.to_string());
                }
            }
        });
        sums
    }))
}

pub fn checksum_fields(sums: &Checksums) -> [Option<String>; 5] {
    [sums.crc32.clone(), sums.crc32c.clone(), sums.crc64nvme.clone(), sums.sha1.clone(), sums.sha256.clone()]
}

pub fn checksum_type(t: storage::ChecksumType) -> ChecksumType {
    ChecksumType::from_static(match t {
        storage::ChecksumType::FullObject => ChecksumType::FULL_OBJECT,
        storage::ChecksumType::Composite => ChecksumType::COMPOSITE,
    })
}

pub fn algorithm_list(sums: &Checksums) -> Option<Vec<ChecksumAlgorithm>> {
    let algos: Vec<ChecksumAlgorithm> = sums.algorithms().map(|a| ChecksumAlgorithm::from(a.name().to_string())).collect();
    (!algos.is_empty()).then_some(algos)
}

pub fn user_metadata(m: Option<Metadata>) -> BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

/// The most tags an object may carry, and the longest key and value, as on S3.
const MAX_OBJECT_TAGS: usize = 10;
const MAX_BUCKET_TAGS: usize = 50;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

fn check_tags(tags: &BTreeMap<String, String>, count: usize, max: usize) -> S3Result<()> {
    if count > max && max == MAX_OBJECT_TAGS {
        // S3's own answer to an eleventh object tag is this generic code, not InvalidTag.
        let mut err = S3Error::with_message(S3ErrorCode::Custom("BadRequest".into()), format!("Object tags cannot be greater than {max}"));
        err.set_status_code(http::StatusCode::BAD_REQUEST);
        return Err(err);
    }
    if count > max {
        return Err(s3_error!(InvalidTag, "Bucket tag count cannot be greater than {}", max));
    }
    if tags.len() != count {
        return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key"));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY {
            return Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid"));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(s3_error!(InvalidTag, "The TagValue you have provided is invalid"));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(s3_error!(InvalidTag, "Your TagKey cannot be prefixed with aws:"));
        }
    }
    Ok(())
}

/// Parses the `x-amz-tagging` header: a URL query string `k1=v1&k2=v2`.
pub fn parse_tagging_header(raw: Option<&str>) -> S3Result<BTreeMap<String, String>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Ok(BTreeMap::new()) };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    let count = pairs.len();
    let tags: BTreeMap<String, String> = pairs.into_iter().collect();
    check_tags(&tags, count, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

/// A `Tagging` document as a map, checked against S3's limits for objects or buckets.
pub fn tags_of(tagging: Tagging, bucket: bool) -> S3Result<BTreeMap<String, String>> {
    let count = tagging.tag_set.len();
    let mut tags = BTreeMap::new();
    for t in tagging.tag_set {
        tags.insert(t.key.unwrap_or_default(), t.value.unwrap_or_default());
    }
    check_tags(&tags, count, if bucket { MAX_BUCKET_TAGS } else { MAX_OBJECT_TAGS })?;
    Ok(tags)
}

pub fn tag_set(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

/// A `Range` header as storage's range.
pub fn range_spec(r: Range) -> storage::RangeSpec {
    match r {
        Range::Int { first, last } => storage::RangeSpec::From { first, last },
        Range::Suffix { length } => storage::RangeSpec::Suffix(length),
    }
}

/// Parses `bytes=first-last` as UploadPartCopy's `x-amz-copy-source-range` states it (both ends
/// required).
pub fn copy_source_range(raw: &str) -> S3Result<storage::RangeSpec> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let spec = raw.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    if last < first {
        return Err(bad());
    }
    Ok(storage::RangeSpec::From { first, last: Some(last) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagging_header_and_limits() {
        let t = parse_tagging_header(Some("team=data&env=dev%20box&empty=")).unwrap();
        assert_eq!(t["env"], "dev box");
        assert_eq!(t["empty"], "");
        assert!(parse_tagging_header(Some("a=1&a=2")).is_err());
        let many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tagging_header(Some(&many.join("&"))).is_err());
        assert!(parse_tagging_header(Some("aws:x=1")).is_err());
        assert!(parse_tagging_header(None).unwrap().is_empty());
    }

    #[test]
    fn copy_source_ranges() {
        assert_eq!(copy_source_range("bytes=0-9").unwrap(), storage::RangeSpec::From { first: 0, last: Some(9) });
        for bad in ["0-9", "bytes=5-1", "bytes=-3", "bytes=2-"] {
            assert!(copy_source_range(bad).is_err(), "{bad}");
        }
    }
}
