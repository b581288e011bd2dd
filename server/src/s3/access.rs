//! Who may do what: each user owns the buckets it creates; others (and anonymous callers) get in
//! only where a bucket policy or a canned ACL grants it.
//!
//! The rules follow S3's evaluation order for what Minerva supports: an explicit `Deny` in the
//! bucket policy wins, then the owner may do anything, then an `Allow` in the policy or an ACL
//! grant lets a request through, and everything else is `AccessDenied`.
//!
//! Supported policy subset: `Effect` Allow/Deny; `Principal` `"*"`, `{"AWS": "*"}`, account ids,
//! `arn:aws:iam::<account>:root` and `arn:aws:iam::<account>:user/<access key>`; `Action` and
//! `Resource` with `*` and `?` wildcards. Conditions are not evaluated; failing closed, a Deny with
//! a `Condition` always applies and an Allow with one grants nothing (both are logged). The
//! bucket's owner may always read, change and delete its policy, as on S3, so no policy can lock
//! the owner out.

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};
use std::sync::Arc;

use serde_json::Value;
use storage::Store;

use crate::users::{User, Users};

/// The access decision for the S3 API.
pub struct Access {
    pub store: Store,
    pub users: Users,
}

/// What a request wants to do, in IAM's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub action: &'a str,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    /// The version the request names, if any: its own ACL decides, not the current version's.
    pub version_id: Option<&'a str>,
}

/// The IAM action an S3 operation needs, and whether a read-only ACL grant covers it.
pub fn action_for(op: &str, has_version: bool) -> &'static str {
    match op {
        "GetObject" | "HeadObject" if has_version => "s3:GetObjectVersion",
        "GetObject" | "HeadObject" => "s3:GetObject",
        "GetObjectAttributes" => "s3:GetObjectAttributes",
        "PutObject" | "PostObject" | "CopyObject" | "CreateMultipartUpload" | "UploadPart" | "UploadPartCopy" | "CompleteMultipartUpload" => {
            "s3:PutObject"
        }
        "DeleteObject" if has_version => "s3:DeleteObjectVersion",
        "DeleteObject" | "DeleteObjects" => "s3:DeleteObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListParts" => "s3:ListMultipartUploadParts",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "s3:ListBucket",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "GetBucketLocation" => "s3:GetBucketLocation",
        "GetObjectTagging" if has_version => "s3:GetObjectVersionTagging",
        "GetObjectTagging" => "s3:GetObjectTagging",
        "PutObjectTagging" if has_version => "s3:PutObjectVersionTagging",
        "PutObjectTagging" => "s3:PutObjectTagging",
        "DeleteObjectTagging" if has_version => "s3:DeleteObjectVersionTagging",
        "DeleteObjectTagging" => "s3:DeleteObjectTagging",
        "GetObjectAcl" => "s3:GetObjectAcl",
        "PutObjectAcl" => "s3:PutObjectAcl",
        "GetBucketAcl" => "s3:GetBucketAcl",
        "PutBucketAcl" => "s3:PutBucketAcl",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "PutBucketVersioning" => "s3:PutBucketVersioning",
        "GetBucketTagging" => "s3:GetBucketTagging",
        "PutBucketTagging" | "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "GetBucketPolicy" | "GetBucketPolicyStatus" => "s3:GetBucketPolicy",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "DeleteBucket" => "s3:DeleteBucket",
        _ => "s3:*unsupported*",
    }
}

/// Whether a glob with `*` and `?` matches `text` (IAM's matching, case-sensitive).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement of a bucket policy, reduced to what Minerva evaluates.
#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// `None`: everyone, anonymous callers included.
    principals: Option<Vec<String>>,
    actions: Vec<String>,
    resources: Vec<String>,
    conditional: bool,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

/// A resource policy (a bucket's, or a Glue catalog's), parsed and checked when it is stored.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

impl Policy {
    /// Parses a bucket policy; the error is S3's `MalformedPolicy` message.
    pub fn parse(text: &str, bucket: &str) -> Result<Policy, String> {
        Policy::parse_for("s3:", text, |r| {
            r.strip_prefix("arn:aws:s3:::").is_some_and(|rest| glob(rest.split('/').next().unwrap_or_default(), bucket))
        })
    }

    /// Parses a policy of one service: its actions start with `action_prefix` (or are `*`), and
    /// each resource must satisfy `resource_ok`.
    pub fn parse_for(action_prefix: &str, text: &str, resource_ok: impl Fn(&str) -> bool) -> Result<Policy, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("Policies must be valid JSON: {e}"))?;
        let list = match doc.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => return Err("Missing required field Statement".into()),
        };
        let mut statements = Vec::new();
        for s in &list {
            let effect = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                _ => return Err("Invalid effect: every statement needs Effect Allow or Deny".into()),
            };
            let principals = match s.get("Principal") {
                Some(Value::String(p)) if p == "*" => None,
                Some(Value::Object(m)) => match m.get("AWS") {
                    Some(v) => {
                        let list = strings(v).ok_or("Invalid principal in policy")?;
                        // `"*"`, alone or in a list, is everyone, anonymous callers included.
                        if list.iter().any(|p| p == "*") { None } else { Some(list) }
                    }
                    None => return Err("Invalid principal in policy: only AWS principals are supported".into()),
                },
                _ => return Err("Invalid principal in policy".into()),
            };
            let actions = s.get("Action").and_then(strings).ok_or("Missing required field Action")?;
            if actions.iter().any(|a| !a.starts_with(action_prefix) && a != "*") {
                return Err("Policy has invalid action".into());
            }
            let resources = s.get("Resource").and_then(strings).ok_or("Missing required field Resource")?;
            if !resources.iter().all(|r| resource_ok(r)) {
                return Err("Policy has invalid resource".into());
            }
            let conditional = s.get("Condition").is_some();
            if conditional {
                tracing::warn!("a policy statement has a Condition, which Minerva does not evaluate: an Allow is ignored, a Deny always applies");
            }
            statements.push(Statement { effect, principals, actions, resources, conditional });
        }
        Ok(Policy { statements })
    }

    /// The strongest effect any statement has on the request: `Deny` over `Allow` over nothing.
    pub fn evaluate(&self, caller: Option<&User>, request: &Request<'_>) -> Option<Effect> {
        let resource = match request.key {
            Some(k) => format!("arn:aws:s3:::{}/{}", request.bucket, k),
            None => format!("arn:aws:s3:::{}", request.bucket),
        };
        self.effect_on(caller, request.action, &resource)
    }

    /// The strongest effect any statement has on `action` over `resource` (an ARN).
    pub fn effect_on(&self, caller: Option<&User>, action: &str, resource: &str) -> Option<Effect> {
        let mut found = None;
        // Conditions are not evaluated: failing closed, a conditional Deny applies and a
        // conditional Allow grants nothing.
        for s in self.statements.iter().filter(|s| !s.conditional || s.effect == Effect::Deny) {
            let principal = match &s.principals {
                None => true,
                Some(list) => caller.is_some_and(|u| list.iter().any(|p| principal_matches(p, u))),
            };
            if !principal
                || !s.actions.iter().any(|a| a == "*" || glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                || !s.resources.iter().any(|r| glob(r, resource))
            {
                continue;
            }
            if s.effect == Effect::Deny {
                return Some(Effect::Deny);
            }
            found = Some(Effect::Allow);
        }
        found
    }

    /// Whether the policy grants anything to everyone (S3's `PolicyStatus.IsPublic`).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| s.effect == Effect::Allow && s.principals.is_none() && !s.conditional)
    }
}

fn principal_matches(p: &str, user: &User) -> bool {
    p == user.account_id || p == format!("arn:aws:iam::{}:root", user.account_id) || p == user.arn() || p == user.access_key
}

/// What a canned ACL lets callers other than the owner do: (anyone may read, anyone may write,
/// signed users may read).
fn acl_grants(acl: Option<&str>) -> (bool, bool, bool) {
    match acl.unwrap_or("private") {
        "public-read" => (true, false, true),
        "public-read-write" => (true, true, true),
        "authenticated-read" => (false, false, true),
        _ => (false, false, false),
    }
}

/// Whether an ACL lets `caller` (not the owner) do `action`.
fn acl_allows(acl: Option<&str>, caller: Option<&User>, action: &str, object_level: bool) -> bool {
    let (anyone_read, anyone_write, signed_read) = acl_grants(acl);
    let read = if object_level {
        matches!(action, "s3:GetObject" | "s3:GetObjectVersion" | "s3:GetObjectAttributes")
    } else {
        matches!(action, "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads")
    };
    let write = !object_level && matches!(action, "s3:PutObject" | "s3:DeleteObject" | "s3:AbortMultipartUpload" | "s3:ListMultipartUploadParts");
    (read && (anyone_read || (signed_read && caller.is_some()))) || (write && anyone_write)
}

impl Access {
    /// Whether `caller` may do `request`. The bucket must exist (callers check that first).
    pub fn allowed(&self, caller: Option<&User>, request: &Request<'_>) -> bool {
        let Ok(bucket) = self.store.head_bucket(request.bucket) else { return caller.is_some() };
        let owner = caller.is_some_and(|u| u.access_key == bucket.owner);
        if owner && matches!(request.action, "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy") {
            return true;
        }
        let policy = bucket.config.policy.as_deref().and_then(|p| Policy::parse(p, request.bucket).ok());
        let verdict = policy.as_ref().and_then(|p| p.evaluate(caller, request));
        if verdict == Some(Effect::Deny) {
            return false;
        }
        if owner || verdict == Some(Effect::Allow) {
            return true;
        }
        if acl_allows(bucket.config.acl.as_deref(), caller, request.action, false) {
            return true;
        }
        // An object's own ACL (of the version asked for) can open it to readers.
        if let Some(key) = request.key
            && let Ok(info) = self.store.head_version(request.bucket, key, request.version_id)
        {
            return acl_allows(info.record.acl.as_deref(), caller, request.action, true);
        }
        false
    }

    pub fn caller(&self, access_key: Option<&str>) -> Option<&User> {
        access_key.and_then(|k| self.users.get(k))
    }
}

/// A user's S3 permissions as a query or a crawler acting for them checks them: the decision the
/// user's own S3 requests get, so that Athena and Glue reach no object S3 would refuse them.
#[derive(Clone)]
pub struct Acting {
    pub access: Arc<Access>,
    pub user: User,
}

impl std::fmt::Debug for Acting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.user.arn())
    }
}

impl storage::Permissions for Acting {
    fn allows(&self, action: storage::Action, bucket: &str, key: Option<&str>) -> bool {
        self.access.allowed(Some(&self.user), &Request { action: action.iam(), bucket, key, version_id: None })
    }
}

impl Access {
    /// The permissions of `user`, for what acts on their behalf.
    pub fn acting_for(self: &Arc<Self>, user: &User) -> Arc<dyn storage::Permissions> {
        Arc::new(Acting { access: self.clone(), user: user.clone() })
    }
}

fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let caller = self.caller(cx.credentials().map(|c| c.access_key.as_str())).cloned();
        let op = cx.s3_op().name();
        // Decoded as s3s decodes it, so that `version%49d=` cannot pass as something else.
        let version: Option<String> =
            cx.uri().query().and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "versionId").map(|(_, v)| v.into_owned()));
        let has_version = version.is_some();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => return if caller.is_some() { Ok(()) } else { Err(denied()) },
            S3Path::Bucket { bucket } => (bucket.to_string(), None),
            S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
        };
        if op == "CreateBucket" {
            return if caller.is_some() { Ok(()) } else { Err(denied()) };
        }
        // A bucket that does not exist is reported as such by the operation itself; a batch
        // delete is authorised key by key by the operation.
        if self.store.head_bucket(&bucket).is_err() || op == "DeleteObjects" {
            return Ok(());
        }
        let request = Request { action: action_for(op, has_version), bucket: &bucket, key: key.as_deref(), version_id: version.as_deref() };
        if self.allowed(caller.as_ref(), &request) {
            Ok(())
        } else {
            tracing::debug!(op, bucket, key = ?key, caller = ?caller.as_ref().map(|u| &u.access_key), "access denied");
            Err(denied())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(k: &str, account: &str) -> User {
        User { access_key: k.into(), secret_key: "s".into(), account_id: account.into() }
    }

    #[test]
    fn globs() {
        let cases = [
            ("*", "anything", true),
            ("arn:aws:s3:::b/public/*", "arn:aws:s3:::b/public/x/y", true),
            ("arn:aws:s3:::b/public/*", "arn:aws:s3:::b/private/x", false),
            ("s3:Get*", "s3:GetObject", true),
            ("s3:?etObject", "s3:GetObject", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn policy_evaluation() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/public/*"},
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":["s3:*"],"Resource":["arn:aws:s3:::pub","arn:aws:s3:::pub/*"]},
            {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/public/secret*"},
            {"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::pub/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}
        ]}"#;
        let p = Policy::parse(text, "pub").unwrap();
        assert!(p.is_public());
        let get = |key| Request { action: "s3:GetObject", bucket: "pub", key: Some(key), version_id: None };
        assert_eq!(p.evaluate(None, &get("public/a.csv")), Some(Effect::Allow));
        assert_eq!(p.evaluate(None, &get("private/a.csv")), None);
        assert_eq!(p.evaluate(None, &get("public/secret.txt")), Some(Effect::Deny));
        let alice = user("alice", "111111111111");
        assert_eq!(p.evaluate(Some(&alice), &get("private/a.csv")), Some(Effect::Allow));
        let bob = user("bob", "222222222222");
        assert_eq!(p.evaluate(Some(&bob), &get("private/a.csv")), None);
        let put = Request { action: "s3:PutObject", bucket: "pub", key: Some("x"), version_id: None };
        assert_eq!(p.evaluate(None, &put), None, "a conditional Allow grants nothing");
        let conditional_deny = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::pub/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        assert_eq!(
            Policy::parse(conditional_deny, "pub").unwrap().evaluate(Some(&alice), &get("x")),
            Some(Effect::Deny),
            "a conditional Deny applies"
        );
        let star_list =
            r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":["*"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/secret/*"}]}"#;
        let p = Policy::parse(star_list, "pub").unwrap();
        assert_eq!(p.evaluate(None, &get("secret/k")), Some(Effect::Deny), "[\"*\"] is everyone");
        for bad in [
            "not json",
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::pub"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}]}"#,
        ] {
            assert!(Policy::parse(bad, "pub").is_err(), "{bad}");
        }
    }

    #[test]
    fn canned_acls() {
        let alice = user("alice", "111111111111");
        assert!(acl_allows(Some("public-read"), None, "s3:ListBucket", false));
        assert!(!acl_allows(Some("public-read"), None, "s3:PutObject", false));
        assert!(acl_allows(Some("public-read-write"), None, "s3:PutObject", false));
        assert!(!acl_allows(Some("authenticated-read"), None, "s3:GetObject", true));
        assert!(acl_allows(Some("authenticated-read"), Some(&alice), "s3:GetObject", true));
        assert!(!acl_allows(None, Some(&alice), "s3:GetObject", true));
    }
}
