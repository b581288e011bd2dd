//! Listings in S3's order (UTF-8 byte order of keys), with prefixes, delimiters and pages: the
//! current objects (ListObjects V1/V2) and every version (ListObjectVersions).

use std::ops::Bound;

use crate::error::{Error, Result};
use crate::kv::prefix_successor;
use crate::objects::ObjectInfo;
use crate::records::*;
use crate::store::{Store, parse_version_name};

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Return only keys after this one (StartAfter, Marker, or a decoded continuation token).
    pub after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix returned: where the next page starts.
    pub last: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    /// With `key_marker`: resume after this version of that key.
    pub version_id_marker: Option<String>,
    pub max_keys: usize,
}

/// One version in a listing.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub key: String,
    pub record: ObjectRecord,
    pub is_latest: bool,
}

#[derive(Debug, Clone, Default)]
pub struct VersionsPage {
    pub versions: Vec<VersionEntry>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// The common prefix a key rolls up into, if the delimiter occurs after the prefix.
fn rolled_up(key: &str, prefix: &str, delimiter: Option<&str>) -> Option<String> {
    let d = delimiter?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| key[..prefix.len() + i + d.len()].to_string())
}

impl Store {
    /// One page of the current objects, rolling keys up into common prefixes at the delimiter.
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage> {
        self.head_bucket(bucket)?;
        // S3 answers max-keys=0 with an empty page that is not truncated.
        if query.max_keys == 0 {
            return Ok(ListPage::default());
        }
        let base = object_prefix(bucket);
        let full = |k: &str| {
            let mut v = base.clone();
            v.extend_from_slice(k.as_bytes());
            v
        };
        let scan_prefix = full(&query.prefix);
        let end = match prefix_successor(&scan_prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let mut from = match &query.after {
            Some(after) if after.as_str() >= query.prefix.as_str() => Bound::Excluded(full(after)),
            _ => Bound::Included(scan_prefix.clone()),
        };
        let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut page = ListPage::default();
        let mut count = 0usize;
        'scan: loop {
            for entry in self.index().range(from.clone(), end.clone()) {
                let (k, v) = entry?;
                let key = std::str::from_utf8(&k[base.len()..]).map_err(|e| Error::Corrupt(e.to_string()))?.to_string();
                if let Some(cp) = rolled_up(&key, &query.prefix, delimiter) {
                    // A prefix already returned on an earlier page is not returned again.
                    let seen = query.after.as_deref().is_some_and(|a| a.starts_with(&cp));
                    if !seen {
                        if count == query.max_keys {
                            page.is_truncated = true;
                            break 'scan;
                        }
                        count += 1;
                        page.last = Some(cp.clone());
                        page.common_prefixes.push(cp.clone());
                    }
                    // Skip every key under this prefix in one jump.
                    match prefix_successor(&full(&cp)) {
                        Some(next) => {
                            from = Bound::Included(next);
                            continue 'scan;
                        }
                        None => break 'scan,
                    }
                }
                if count == query.max_keys {
                    page.is_truncated = true;
                    break 'scan;
                }
                count += 1;
                page.last = Some(key.clone());
                page.objects.push(ObjectInfo { key, record: decode("object record", &v)? });
            }
            break;
        }
        Ok(page)
    }

    /// One page of every version of every key (delete markers included), keys in byte order and
    /// each key's versions newest first.
    pub fn list_object_versions(&self, bucket: &str, query: &VersionQuery) -> Result<VersionsPage> {
        self.head_bucket(bucket)?;
        if query.max_keys == 0 {
            return Ok(VersionsPage::default());
        }
        let base = version_prefix(bucket);
        let escaped = |k: &str, terminated: bool| {
            let mut v = base.clone();
            push_escaped(&mut v, k);
            if terminated {
                v.extend_from_slice(&[0, 0]);
            }
            v
        };
        let scan_prefix = escaped(&query.prefix, false);
        let end = match prefix_successor(&scan_prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let marker = query.key_marker.as_deref().filter(|m| !m.is_empty());
        // Where to start, and the key of the entry just before the start (to tell whether the
        // first entry is its key's newest).
        let mut previous_key: Option<String> = None;
        let mut from = Bound::Included(scan_prefix.clone());
        if let Some(km) = marker.filter(|km| *km >= query.prefix.as_str()) {
            let resume_at = match query.version_id_marker.as_deref().filter(|v| !v.is_empty()) {
                Some("null") => self.null_version(bucket, km)?.map(|r| r.seq),
                Some(id) => Some(parse_version_name(id)?),
                None => None,
            };
            match resume_at {
                Some(seq) => {
                    from = Bound::Excluded(version_key(bucket, km, seq));
                    previous_key = Some(km.to_string());
                }
                // After every version of the marker key.
                None => {
                    if let Some(next) = prefix_successor(&escaped(km, true)) {
                        from = Bound::Included(next);
                    }
                }
            }
        }
        let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut page = VersionsPage::default();
        let mut count = 0usize;
        'scan: loop {
            for entry in self.index().range(from.clone(), end.clone()) {
                let (k, v) = entry?;
                let (key, _) = split_escaped(&k[base.len()..])?;
                if let Some(cp) = rolled_up(&key, &query.prefix, delimiter) {
                    let seen = marker.is_some_and(|m| m.starts_with(&cp));
                    if !seen {
                        if count == query.max_keys {
                            page.is_truncated = true;
                            break 'scan;
                        }
                        count += 1;
                        page.next_key_marker = Some(cp.clone());
                        page.next_version_id_marker = None;
                        page.common_prefixes.push(cp.clone());
                    }
                    match prefix_successor(&escaped(&cp, false)) {
                        Some(next) => {
                            from = Bound::Included(next);
                            previous_key = None;
                            continue 'scan;
                        }
                        None => break 'scan,
                    }
                }
                if count == query.max_keys {
                    page.is_truncated = true;
                    break 'scan;
                }
                count += 1;
                let record: ObjectRecord = decode("version record", &v)?;
                let is_latest = previous_key.as_deref() != Some(key.as_str());
                previous_key = Some(key.clone());
                page.next_key_marker = Some(key.clone());
                page.next_version_id_marker = Some(record.version_name().to_string());
                page.versions.push(VersionEntry { key, record, is_latest });
            }
            break;
        }
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_version_id_marker = None;
        }
        Ok(page)
    }
}
