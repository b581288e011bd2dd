//! Where things are in the lake, as table locations, crawler targets and Athena's output
//! locations name them (`s3://bucket/key`, Hive's `s3a://` and `s3n://` too), and the names Hive
//! gives partition folders (`key=value`, the value escaped).

use std::fmt;

/// A bucket and a key (or key prefix) of the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

/// Why text is not an S3 location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLocation(pub String);

impl fmt::Display for BadLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadLocation {}

impl S3Location {
    /// Reads `s3://bucket/key` (or `s3a://`, `s3n://`), ignoring blanks around it.
    pub fn parse(url: &str) -> Result<S3Location, BadLocation> {
        let url = url.trim();
        let rest = ["s3://", "s3a://", "s3n://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .ok_or_else(|| BadLocation(format!("{url} is not an s3:// location")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BadLocation(format!("{url} names no bucket")));
        }
        Ok(S3Location { bucket: bucket.to_string(), key: key.to_string() })
    }

    /// The location as a folder: its key ends with `/`, unless it is the bucket's root.
    pub fn directory(mut self) -> S3Location {
        if !self.key.is_empty() && !self.key.ends_with('/') {
            self.key.push('/');
        }
        self
    }

    /// The location as a URL, in the `s3://` scheme whatever scheme it was given in.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// A partition value as Hive writes it in a folder name: control characters and the characters
/// Hive reserves (`"#%'*/:=?\{[]^`) as `%XX` of their UTF-8 bytes.
pub fn escape_partition_value(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if c.is_control() || matches!(c, '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^') {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value a partition folder's name holds: each `%XX` is the byte XX; other text is as is.
pub fn unescape_partition_value(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_in_every_scheme_hive_writes() {
        let cases = [
            ("s3://b/k/", Ok(("b", "k/"))),
            ("  s3a://b/a/b  ", Ok(("b", "a/b"))),
            ("s3n://b", Ok(("b", ""))),
            ("s3://b/", Ok(("b", ""))),
            ("http://b/k", Err(())),
            ("s3:///k", Err(())),
            ("b/k", Err(())),
        ];
        for (text, want) in cases {
            let got = S3Location::parse(text).map(|l| (l.bucket, l.key)).map_err(|_| ());
            assert_eq!(got, want.map(|(b, k)| (b.to_string(), k.to_string())), "{text}");
        }
        assert_eq!(S3Location::parse("s3a://b/t").unwrap().directory().url(), "s3://b/t/");
        assert_eq!(S3Location::parse("s3://b").unwrap().directory().url(), "s3://b/");
    }

    #[test]
    fn partition_values_escape_as_hive_does_and_come_back() {
        for (value, folder) in [("a/b", "a%2Fb"), ("x=1", "x%3D1"), ("100%", "100%25"), ("é ok", "é ok"), ("\n", "%0A")] {
            assert_eq!(escape_partition_value(value), folder);
            assert_eq!(unescape_partition_value(folder), value);
        }
        assert_eq!(unescape_partition_value("%zz%2"), "%zz%2");
    }
}
