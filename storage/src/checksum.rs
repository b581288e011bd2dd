//! Digests of object bodies: the MD5 behind every ETag and the additional checksums
//! (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) that clients may send and ask for.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

use crate::error::{DigestKind, Error, Result};

/// An additional checksum algorithm, as named by S3's `x-amz-checksum-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] =
        [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme, ChecksumAlgorithm::Sha1, ChecksumAlgorithm::Sha256];

    /// Parses S3's spelling (`CRC32`, `crc32c`, …), case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    pub(crate) fn digest_kind(self) -> DigestKind {
        match self {
            ChecksumAlgorithm::Crc32 => DigestKind::Crc32,
            ChecksumAlgorithm::Crc32c => DigestKind::Crc32c,
            ChecksumAlgorithm::Crc64Nvme => DigestKind::Crc64Nvme,
            ChecksumAlgorithm::Sha1 => DigestKind::Sha1,
            ChecksumAlgorithm::Sha256 => DigestKind::Sha256,
        }
    }
}

/// Base64 checksum values, one optional field per algorithm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Checksums {
    pub fn get(&self, algorithm: ChecksumAlgorithm) -> Option<&str> {
        match algorithm {
            ChecksumAlgorithm::Crc32 => self.crc32.as_deref(),
            ChecksumAlgorithm::Crc32c => self.crc32c.as_deref(),
            ChecksumAlgorithm::Crc64Nvme => self.crc64nvme.as_deref(),
            ChecksumAlgorithm::Sha1 => self.sha1.as_deref(),
            ChecksumAlgorithm::Sha256 => self.sha256.as_deref(),
        }
    }

    pub fn set(&mut self, algorithm: ChecksumAlgorithm, value: String) {
        let slot = match algorithm {
            ChecksumAlgorithm::Crc32 => &mut self.crc32,
            ChecksumAlgorithm::Crc32c => &mut self.crc32c,
            ChecksumAlgorithm::Crc64Nvme => &mut self.crc64nvme,
            ChecksumAlgorithm::Sha1 => &mut self.sha1,
            ChecksumAlgorithm::Sha256 => &mut self.sha256,
        };
        *slot = Some(value);
    }

    pub fn algorithms(&self) -> impl Iterator<Item = ChecksumAlgorithm> + '_ {
        ChecksumAlgorithm::ALL.into_iter().filter(|a| self.get(*a).is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.algorithms().next().is_none()
    }
}

/// What a client claimed about a body: verified after the body is received, before it is stored.
#[derive(Debug, Clone, Default)]
pub struct ExpectedDigests {
    /// The base64 `Content-MD5` header.
    pub content_md5: Option<String>,
    /// `x-amz-checksum-*` values, from headers or from the trailer of an aws-chunked body.
    pub checksums: Checksums,
}

impl ExpectedDigests {
    /// Checks that every claim is well formed, so that a malformed header is refused before the
    /// body is read.
    pub fn validate_format(&self) -> Result<()> {
        if let Some(md5) = &self.content_md5 {
            decode_digest(md5, 16, DigestKind::ContentMd5)?;
        }
        for algorithm in self.checksums.algorithms() {
            let value = self.checksums.get(algorithm).unwrap_or_default();
            decode_digest(value, algorithm.digest_len(), algorithm.digest_kind())?;
        }
        Ok(())
    }

    /// Compares the claims with what was computed over the body.
    pub fn verify(&self, md5: &[u8; 16], computed: &Checksums) -> Result<()> {
        if let Some(claimed) = &self.content_md5
            && decode_digest(claimed, 16, DigestKind::ContentMd5)? != md5
        {
            return Err(Error::BadDigest(DigestKind::ContentMd5));
        }
        for algorithm in self.checksums.algorithms() {
            let claimed = self.checksums.get(algorithm).unwrap_or_default();
            let claimed = decode_digest(claimed, algorithm.digest_len(), algorithm.digest_kind())?;
            let actual = computed
                .get(algorithm)
                .and_then(|v| BASE64.decode(v).ok())
                // The caller did not ask for this algorithm to be computed: that is our bug, but
                // storing an unverified body would be worse than refusing it.
                .ok_or_else(|| Error::InvalidArgument(format!("checksum {} was not computed", algorithm.name())))?;
            if claimed != actual {
                return Err(Error::BadDigest(algorithm.digest_kind()));
            }
        }
        Ok(())
    }
}

fn decode_digest(value: &str, len: usize, kind: DigestKind) -> Result<Vec<u8>> {
    match BASE64.decode(value.trim()) {
        Ok(bytes) if bytes.len() == len => Ok(bytes),
        _ => Err(Error::InvalidDigest(kind)),
    }
}

/// The checksum of a multipart object from its parts' checksums (base64) and sizes.
///
/// `full_object`: for the CRC algorithms, the CRC of the whole body, combined from the parts'
/// CRCs without reading the data. Otherwise S3's composite checksum: the algorithm over the
/// concatenated raw part checksums, then `-N`. Returns `None` if a part lacks the checksum.
pub fn multipart_checksum(algorithm: ChecksumAlgorithm, parts: &[(&str, u64)], full_object: bool) -> Option<String> {
    let mut raw = Vec::with_capacity(parts.len());
    for (value, _) in parts {
        raw.push(BASE64.decode(value).ok().filter(|b| b.len() == algorithm.digest_len())?);
    }
    let crc = match algorithm {
        ChecksumAlgorithm::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
        ChecksumAlgorithm::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
        ChecksumAlgorithm::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
        _ => None,
    };
    if full_object {
        let crc = crc?;
        let mut combined: Option<u64> = None;
        for (bytes, (_, len)) in raw.iter().zip(parts) {
            let mut be = [0u8; 8];
            be[8 - bytes.len()..].copy_from_slice(bytes);
            let value = u64::from_be_bytes(be);
            combined = Some(match combined {
                None => value,
                Some(c) => crc_fast::checksum_combine(crc, c, value, *len),
            });
        }
        let value = combined.unwrap_or(0);
        let bytes = value.to_be_bytes();
        return Some(BASE64.encode(&bytes[8 - algorithm.digest_len()..]));
    }
    let mut h = Hasher::new([algorithm]);
    for bytes in &raw {
        h.update(bytes);
    }
    let (_, sums) = h.finish();
    Some(format!("{}-{}", sums.get(algorithm)?, parts.len()))
}

/// Computes the MD5 and any requested checksums in one pass.
pub struct Hasher {
    md5: md5::Md5,
    crc32: Option<crc_fast::Digest>,
    crc32c: Option<crc_fast::Digest>,
    crc64nvme: Option<crc_fast::Digest>,
    sha1: Option<sha1::Sha1>,
    sha256: Option<sha2::Sha256>,
}

impl Hasher {
    pub fn new(algorithms: impl IntoIterator<Item = ChecksumAlgorithm>) -> Self {
        let mut h = Hasher { md5: md5::Md5::new(), crc32: None, crc32c: None, crc64nvme: None, sha1: None, sha256: None };
        for a in algorithms {
            match a {
                ChecksumAlgorithm::Crc32 => h.crc32 = Some(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc)),
                ChecksumAlgorithm::Crc32c => h.crc32c = Some(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi)),
                ChecksumAlgorithm::Crc64Nvme => h.crc64nvme = Some(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme)),
                ChecksumAlgorithm::Sha1 => h.sha1 = Some(sha1::Sha1::new()),
                ChecksumAlgorithm::Sha256 => h.sha256 = Some(sha2::Sha256::new()),
            }
        }
        h
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        for crc in [&mut self.crc32, &mut self.crc32c, &mut self.crc64nvme].into_iter().flatten() {
            crc.update(data);
        }
        if let Some(s) = &mut self.sha1 {
            s.update(data);
        }
        if let Some(s) = &mut self.sha256 {
            s.update(data);
        }
    }

    pub fn finish(self) -> ([u8; 16], Checksums) {
        let md5: [u8; 16] = self.md5.finalize().into();
        let mut sums = Checksums::default();
        if let Some(c) = self.crc32 {
            sums.crc32 = Some(BASE64.encode((c.finalize() as u32).to_be_bytes()));
        }
        if let Some(c) = self.crc32c {
            sums.crc32c = Some(BASE64.encode((c.finalize() as u32).to_be_bytes()));
        }
        if let Some(c) = self.crc64nvme {
            sums.crc64nvme = Some(BASE64.encode(c.finalize().to_be_bytes()));
        }
        if let Some(s) = self.sha1 {
            sums.sha1 = Some(BASE64.encode(s.finalize()));
        }
        if let Some(s) = self.sha256 {
            sums.sha256 = Some(BASE64.encode(s.finalize()));
        }
        (md5, sums)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known digests of "hello world", as computed by the AWS SDKs.
    #[test]
    fn known_digests() {
        let mut h = Hasher::new(ChecksumAlgorithm::ALL);
        h.update(b"hello ");
        h.update(b"world");
        let (md5, sums) = h.finish();
        assert_eq!(hex::encode(md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(sums.crc32.as_deref(), Some("DUoRhQ=="));
        assert_eq!(sums.crc32c.as_deref(), Some("yZRlqg=="));
        assert_eq!(sums.sha1.as_deref(), Some("Kq5sNclPz7QV2+lfQIuc6R7oRu0="));
        assert_eq!(sums.sha256.as_deref(), Some("uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="));
        assert_eq!(sums.crc64nvme.as_deref(), Some("jSnVw/bqjr4="));
    }

    #[test]
    fn multipart_checksums_combine_parts() {
        let sums = |data: &[u8]| {
            let mut h = Hasher::new(ChecksumAlgorithm::ALL);
            h.update(data);
            h.finish().1
        };
        let (a, b) = (b"hello ".as_slice(), b"world".as_slice());
        let (sa, sb, whole) = (sums(a), sums(b), sums(b"hello world"));
        for algo in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
            let parts = [(sa.get(algo).unwrap(), a.len() as u64), (sb.get(algo).unwrap(), b.len() as u64)];
            assert_eq!(multipart_checksum(algo, &parts, true).as_deref(), whole.get(algo), "{algo:?}");
        }
        // Composite: SHA256 over the two raw SHA256 digests, then "-2".
        let parts = [(sa.sha256.as_deref().unwrap(), 6), (sb.sha256.as_deref().unwrap(), 5)];
        let mut raw = BASE64.decode(sa.sha256.as_deref().unwrap()).unwrap();
        raw.extend(BASE64.decode(sb.sha256.as_deref().unwrap()).unwrap());
        let want = format!("{}-2", sums(&raw).sha256.unwrap());
        assert_eq!(multipart_checksum(ChecksumAlgorithm::Sha256, &parts, false), Some(want));
        assert_eq!(multipart_checksum(ChecksumAlgorithm::Sha256, &parts, true), None);
    }

    #[test]
    fn verify_detects_mismatch_and_malformed() {
        let mut h = Hasher::new([ChecksumAlgorithm::Crc32]);
        h.update(b"hello world");
        let (md5, sums) = h.finish();
        let ok = ExpectedDigests { content_md5: Some("XrY7u+Ae7tCTyyK7j1rNww==".into()), checksums: sums.clone() };
        ok.verify(&md5, &sums).unwrap();

        let wrong = Checksums { crc32: Some("AAAAAA==".into()), ..Default::default() };
        let bad = ExpectedDigests { content_md5: None, checksums: wrong };
        assert!(matches!(bad.verify(&md5, &sums), Err(Error::BadDigest(DigestKind::Crc32))));

        let malformed = ExpectedDigests { content_md5: Some("not base64!".into()), checksums: Checksums::default() };
        assert!(matches!(malformed.validate_format(), Err(Error::InvalidDigest(DigestKind::ContentMd5))));
    }
}
