//! Storage errors as S3 errors: the code, the status and, where S3 sends them, headers.

use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::{S3Error, S3ErrorCode};
use storage::ErrorKind;

use crate::s3::dates::{http_date_text, timestamp};

/// Maps a storage error to its S3 error; internal faults are logged once here.
pub fn s3_err(e: storage::Error) -> S3Error {
    use storage::Error as E;
    let msg = e.to_string();
    let code = match &e {
        E::NoSuchBucket(_) => S3ErrorCode::NoSuchBucket,
        E::NoSuchKey(_) => S3ErrorCode::NoSuchKey,
        E::NoSuchUpload(_) => S3ErrorCode::NoSuchUpload,
        E::NoSuchVersion(_) => S3ErrorCode::NoSuchVersion,
        E::InvalidVersionId(_) => S3ErrorCode::InvalidArgument,
        E::DeleteMarker { latest: true, .. } => S3ErrorCode::NoSuchKey,
        E::DeleteMarker { latest: false, .. } => S3ErrorCode::MethodNotAllowed,
        E::PreconditionFailed => S3ErrorCode::PreconditionFailed,
        E::ConditionalConflict => S3ErrorCode::ConditionalRequestConflict,
        E::BucketAlreadyOwnedByYou(_) => S3ErrorCode::BucketAlreadyOwnedByYou,
        E::BucketAlreadyExists(_) => S3ErrorCode::BucketAlreadyExists,
        E::BucketNotEmpty(_) => S3ErrorCode::BucketNotEmpty,
        E::InvalidBucketName { .. } => S3ErrorCode::InvalidBucketName,
        E::InvalidKey(m) if m.contains("longer") => S3ErrorCode::KeyTooLongError,
        E::InvalidKey(_) => S3ErrorCode::InvalidArgument,
        E::BadDigest(_) => S3ErrorCode::BadDigest,
        E::InvalidDigest(storage::DigestKind::ContentMd5) => S3ErrorCode::InvalidDigest,
        E::InvalidDigest(_) => S3ErrorCode::InvalidRequest,
        E::InvalidRange { .. } => S3ErrorCode::InvalidRange,
        E::InvalidPartNumber(_) => S3ErrorCode::Custom("InvalidPartNumber".into()),
        E::InvalidPart(_) => S3ErrorCode::InvalidPart,
        E::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        E::EntityTooSmall { .. } => S3ErrorCode::EntityTooSmall,
        E::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        E::IncompleteBody(_) => S3ErrorCode::IncompleteBody,
        E::NoSpace(_) => S3ErrorCode::Custom("InsufficientStorage".into()),
        _ => S3ErrorCode::InternalError,
    };
    if e.kind() == ErrorKind::Internal || e.kind() == ErrorKind::ResourceExhausted {
        tracing::error!(error = %e, "storage fault");
    } else {
        tracing::debug!(error = %e, "request refused");
    }
    // S3's own wording where clients and people recognise it; ours (with the detail) elsewhere.
    let msg = match &e {
        E::NoSuchBucket(_) => "The specified bucket does not exist".to_string(),
        E::NoSuchKey(_) | E::DeleteMarker { latest: true, .. } => "The specified key does not exist.".to_string(),
        E::DeleteMarker { latest: false, .. } => "The specified method is not allowed against this resource.".to_string(),
        E::NoSuchUpload(_) => {
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.".to_string()
        }
        E::NoSuchVersion(_) => "The specified version does not exist.".to_string(),
        E::InvalidVersionId(_) => "Invalid version id specified".to_string(),
        E::BucketAlreadyOwnedByYou(_) => "Your previous request to create the named bucket succeeded and you already own it.".to_string(),
        E::BucketAlreadyExists(_) => {
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.".to_string()
        }
        E::BucketNotEmpty(_) => "The bucket you tried to delete is not empty".to_string(),
        E::InvalidBucketName { .. } => format!("The specified bucket is not valid. ({msg})"),
        E::PreconditionFailed => "At least one of the pre-conditions you specified did not hold".to_string(),
        E::InvalidRange { .. } => "The requested range is not satisfiable".to_string(),
        E::InvalidPartNumber(_) => "The requested partnumber is not satisfiable".to_string(),
        E::InvalidPart(_) => {
            format!("One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. ({msg})")
        }
        E::InvalidPartOrder => "The list of parts was not in ascending order. The parts list must be specified in order by part number.".to_string(),
        E::EntityTooSmall { .. } => format!("Your proposed upload is smaller than the minimum allowed object size. ({msg})"),
        E::BadDigest(storage::DigestKind::ContentMd5) => "The Content-MD5 you specified did not match what we received.".to_string(),
        E::BadDigest(kind) => format!("The {kind} you specified did not match the calculated checksum."),
        _ => msg,
    };
    let mut err = S3Error::with_message(code, msg);
    match &e {
        E::InvalidRange { .. } | E::InvalidPartNumber(_) => err.set_status_code(StatusCode::RANGE_NOT_SATISFIABLE),
        // A full disk is the server's condition, not the request's fault: a 5xx that says so.
        E::NoSpace(_) => err.set_status_code(StatusCode::INSUFFICIENT_STORAGE),
        E::PreconditionFailed => err.set_status_code(StatusCode::PRECONDITION_FAILED),
        E::ConditionalConflict => err.set_status_code(StatusCode::CONFLICT),
        E::DeleteMarker { version_id, last_modified, .. } => {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
            headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
            if let Ok(v) = HeaderValue::from_str(version_id) {
                headers.insert("x-amz-version-id", v);
            }
            if let Ok(v) = HeaderValue::from_str(&http_date_text(&timestamp(*last_modified))) {
                headers.insert(http::header::LAST_MODIFIED, v);
            }
            err.set_headers(headers);
        }
        _ => {}
    }
    err
}

/// S3's wording for the errors s3s answers with a code alone (a bucket name or key it cannot
/// route, a signature that does not match): without a `<Message>`, clients print "Unknown".
fn standard_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "KeyTooLongError" => "Your key is too long",
        "IncompleteBody" => "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        _ => return None,
    })
}

/// Finishes an S3 error answer, reading its document once (only a small one): a document that
/// carries only a code gets the message S3 sends with that code, and the code and message are
/// noted for the request's line in the log (see `crate::log`); an answer without a document
/// (HEAD) is named by its status. Other answers pass untouched.
pub async fn finish_error(response: axum::response::Response) -> axum::response::Response {
    use axum::body::HttpBody;
    const MOST: usize = 8 * 1024;
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let by_status = || (status.canonical_reason().unwrap_or("Error").replace(' ', ""), String::new());
    if response.body().size_hint().exact().is_none_or(|n| n as usize > MOST) {
        let (code, message) = by_status();
        crate::log::error(code, message);
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MOST).await else {
        return axum::response::Response::from_parts(parts, axum::body::Body::empty());
    };
    let text = String::from_utf8_lossy(&bytes);
    let element = |name: &str| text.split(&format!("<{name}>")).nth(1).and_then(|rest| rest.split(&format!("</{name}>")).next());
    let Some(code) = element("Code") else {
        let (code, message) = by_status();
        crate::log::error(code, message);
        return axum::response::Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let missing = element("Message").is_none().then(|| standard_message(code)).flatten().filter(|_| status.is_client_error());
    let Some(message) = missing else {
        crate::log::error(code, element("Message").unwrap_or_default());
        return axum::response::Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    crate::log::error(code, message);
    let xml = text.replacen(&format!("<Code>{code}</Code>"), &format!("<Code>{code}</Code><Message>{message}</Message>"), 1);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(xml))
}
