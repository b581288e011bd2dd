//! S3 locations as the engine reads them (table and output locations, CTAS and UNLOAD targets):
//! [`storage::S3Location`], with a malformed one the caller's mistake.

use storage::S3Location;

use crate::error::{Error, Result};

/// Reads an `s3://` location (Hive's `s3a://` and `s3n://` too).
pub(crate) fn parse(url: &str) -> Result<S3Location> {
    S3Location::parse(url).map_err(|e| Error::InvalidInput(e.to_string()))
}

/// A location as a folder URL: an S3 location, in any of Hive's schemes, as `s3://…/`; any other
/// URL (a test's `file://`) with a `/` at its end.
pub(crate) fn directory_url(location: &str) -> String {
    match S3Location::parse(location) {
        Ok(l) => l.directory().url(),
        Err(_) => {
            let location = location.trim();
            if location.ends_with('/') { location.to_string() } else { format!("{location}/") }
        }
    }
}
