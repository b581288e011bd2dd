//! Bucket operations: create, delete, head, location, list, and the settings a bucket carries
//! (versioning, tags, CORS, canned ACL, policy).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use storage::{CorsRule, Versioning};

use crate::s3::Lake;
use crate::s3::access::Policy;
use crate::s3::dates::timestamp;
use crate::s3::error::s3_err;
use crate::s3::util::{owner, tag_set, tags_of};

const BUCKET_ACLS: [&str; 4] = ["private", "public-read", "public-read-write", "authenticated-read"];

/// The canned ACL an ACL request states, from its header or from a grant list that matches one.
pub fn canned_acl(canned: Option<&str>, policy: Option<&AccessControlPolicy>, allowed: &[&str]) -> S3Result<String> {
    if let Some(c) = canned {
        if !allowed.contains(&c) {
            return Err(s3_error!(InvalidArgument, "unknown canned ACL {c}"));
        }
        return Ok(c.to_string());
    }
    let Some(policy) = policy else { return Err(s3_error!(MalformedACLError, "an ACL needs a canned ACL or an AccessControlPolicy")) };
    let mut everyone = Vec::new();
    let mut signed = Vec::new();
    for g in policy.grants.iter().flatten() {
        let uri = g.grantee.as_ref().and_then(|gr| gr.uri.as_deref()).unwrap_or_default();
        let perm = g.permission.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default();
        if uri.ends_with("/global/AllUsers") {
            everyone.push(perm);
        } else if uri.ends_with("/global/AuthenticatedUsers") {
            signed.push(perm);
        }
    }
    let has = |list: &[String], p: &str| list.iter().any(|x| x == p || x == "FULL_CONTROL");
    let acl = if has(&everyone, "WRITE") {
        "public-read-write"
    } else if has(&everyone, "READ") {
        "public-read"
    } else if has(&signed, "READ") {
        "authenticated-read"
    } else {
        "private"
    };
    if !allowed.contains(&acl) {
        return Err(s3_error!(NotImplemented, "only grants that amount to a canned ACL are supported"));
    }
    Ok(acl.to_string())
}

/// The grants a canned ACL stands for, as S3 lists them.
pub fn grants(acl: Option<&str>, owner_account: &str) -> Vec<Grant> {
    let group = |uri: &str, perm: &str| Grant {
        grantee: Some(Grantee { type_: Type::from_static(Type::GROUP), uri: Some(uri.into()), display_name: None, email_address: None, id: None }),
        permission: Some(Permission::from(perm.to_string())),
    };
    let mut out = vec![Grant {
        grantee: Some(Grantee {
            type_: Type::from_static(Type::CANONICAL_USER),
            id: Some(owner_account.into()),
            display_name: Some(crate::s3::ACCOUNT_DISPLAY_NAME.into()),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }];
    const ALL: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
    const AUTH: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
    match acl.unwrap_or("private") {
        "public-read" => out.push(group(ALL, "READ")),
        "public-read-write" => {
            out.push(group(ALL, "READ"));
            out.push(group(ALL, "WRITE"));
        }
        "authenticated-read" => out.push(group(AUTH, "READ")),
        _ => {}
    }
    out
}

/// A region name as AWS forms them: `eu-west-1`, `us-gov-west-1`, `ap-southeast-2`.
fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

impl Lake {
    pub(super) async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let caller = self.caller_of(&req)?;
        // Every region is served here: the region a request is signed for is the endpoint it
        // was sent to (the server's own for an unsigned one), and the rules are S3's for that
        // endpoint: a bucket is made in the endpoint's region, named as the constraint (none
        // for us-east-1).
        let endpoint = req.region.as_ref().map(|r| r.as_str().to_string()).unwrap_or_else(|| self.store.region().to_string());
        let input = req.input;
        let name = input.bucket;
        let region = match input.create_bucket_configuration.as_ref().and_then(|c| c.location_constraint.as_ref()).map(|c| c.as_str()) {
            // S3 refuses us-east-1 named explicitly: that region is the absence of a constraint.
            Some("us-east-1") => return Err(s3_error!(InvalidLocationConstraint, "The specified location-constraint is not valid")),
            Some("") | None if endpoint == "us-east-1" => "us-east-1".to_string(),
            Some("") | None => {
                return Err(s3_error!(
                    IllegalLocationConstraintException,
                    "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to."
                ));
            }
            Some(c) if !valid_region(c) => return Err(s3_error!(InvalidLocationConstraint, "The specified location-constraint is not valid")),
            Some(c) if c == endpoint => c.to_string(),
            Some(c) => {
                return Err(s3_error!(
                    IllegalLocationConstraintException,
                    "The {c} location constraint is incompatible for the region specific endpoint this request was sent to."
                ));
            }
        };
        let acl = match input.acl.as_ref() {
            Some(a) => Some(canned_acl(Some(a.as_str()), None, &BUCKET_ACLS)?),
            None => None,
        };
        match self.store.create_bucket_in(&name, &caller.access_key, &region).await {
            Ok(_) => {
                if acl.is_some() {
                    self.store
                        .update_bucket(&name, |b| {
                            b.config.acl = acl.clone();
                            Ok(())
                        })
                        .await
                        .map_err(s3_err)?;
                }
            }
            // us-east-1 answers a re-create by the owner with success, for historical reasons.
            Err(storage::Error::BucketAlreadyOwnedByYou(_)) if region == "us-east-1" && endpoint == "us-east-1" => {}
            Err(e) => return Err(s3_err(e)),
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{name}")) }))
    }

    pub(super) async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store.delete_bucket(&req.input.bucket).await.map_err(s3_err)?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    pub(super) async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(b.region), ..Default::default() }))
    }

    pub(super) async fn get_bucket_location(&self, req: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        // us-east-1 is reported as an empty constraint, as S3 does.
        let location_constraint = (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    /// The caller's own buckets, as S3 lists them, with `prefix` and pages of `max-buckets`.
    pub(super) async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let caller = self.caller_of(&req)?;
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input.continuation_token.clone().filter(|t| !t.is_empty());
        let max = input.max_buckets.map(|m| m.clamp(1, 10_000) as usize).unwrap_or(usize::MAX);
        let mut buckets: Vec<Bucket> = self
            .store
            .list_buckets()
            .map_err(s3_err)?
            .into_iter()
            .filter(|b| b.owner == caller.access_key && b.name.starts_with(&prefix))
            .filter(|b| after.as_ref().is_none_or(|a| b.name.as_str() > a.as_str()))
            .filter(|b| input.bucket_region.as_ref().is_none_or(|r| &b.region == r))
            .map(|b| Bucket { name: Some(b.name), creation_date: Some(timestamp(b.created)), bucket_region: Some(b.region) })
            .collect();
        let truncated = buckets.len() > max;
        buckets.truncate(max);
        let next = if truncated { buckets.last().and_then(|b| b.name.clone()) } else { None };
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner(&caller.account_id)),
            continuation_token: next,
            prefix: input.prefix,
        }))
    }

    pub(super) async fn get_bucket_versioning(&self, req: S3Request<GetBucketVersioningInput>) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        let status = match b.versioning {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
            Versioning::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
        };
        Ok(S3Response::new(GetBucketVersioningOutput { status, mfa_delete: None }))
    }

    pub(super) async fn put_bucket_versioning(&self, req: S3Request<PutBucketVersioningInput>) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        if input.versioning_configuration.mfa_delete.as_ref().is_some_and(|m| m.as_str() == "Enabled") {
            return Err(s3_error!(NotImplemented, "MFA delete is not supported"));
        }
        let state = match input.versioning_configuration.status.as_ref().map(|s| s.as_str()) {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => {
                return Err(s3_error!(IllegalVersioningConfigurationException, "The Versioning element must be specified as Enabled or Suspended"));
            }
        };
        self.store.set_versioning(&input.bucket, state).await.map_err(s3_err)?;
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }

    pub(super) async fn get_bucket_tagging(&self, req: S3Request<GetBucketTaggingInput>) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        if b.config.tags.is_empty() {
            return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
        }
        Ok(S3Response::new(GetBucketTaggingOutput { tag_set: tag_set(&b.config.tags) }))
    }

    pub(super) async fn put_bucket_tagging(&self, req: S3Request<PutBucketTaggingInput>) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags = tags_of(input.tagging, true)?;
        self.store
            .update_bucket(&input.bucket, |b| {
                b.config.tags = tags.clone();
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(PutBucketTaggingOutput::default()))
    }

    pub(super) async fn delete_bucket_tagging(&self, req: S3Request<DeleteBucketTaggingInput>) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.store
            .update_bucket(&req.input.bucket, |b| {
                b.config.tags.clear();
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
    }

    pub(super) async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        let Some(rules) = b.config.cors else {
            return Err(s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist"));
        };
        let rules = rules
            .into_iter()
            .map(|r| CORSRule {
                id: r.id,
                allowed_origins: r.allowed_origins,
                allowed_methods: r.allowed_methods,
                allowed_headers: (!r.allowed_headers.is_empty()).then_some(r.allowed_headers),
                expose_headers: (!r.expose_headers.is_empty()).then_some(r.expose_headers),
                max_age_seconds: r.max_age_seconds,
            })
            .collect();
        Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(rules) }))
    }

    pub(super) async fn put_bucket_cors(&self, req: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        let rules = input.cors_configuration.cors_rules;
        if rules.is_empty() || rules.len() > 100 {
            return Err(s3_error!(MalformedXML, "A CORS configuration holds between 1 and 100 rules"));
        }
        let mut stored = Vec::with_capacity(rules.len());
        for r in rules {
            if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
                return Err(s3_error!(MalformedXML, "Every CORSRule needs an AllowedOrigin and an AllowedMethod"));
            }
            for m in &r.allowed_methods {
                if !["GET", "PUT", "POST", "DELETE", "HEAD"].contains(&m.as_str()) {
                    return Err(s3_error!(InvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is {}", m));
                }
            }
            for o in &r.allowed_origins {
                if o.matches('*').count() > 1 {
                    return Err(s3_error!(InvalidRequest, "AllowedOrigin \"{}\" can not have more than one wildcard.", o));
                }
            }
            stored.push(CorsRule {
                id: r.id,
                allowed_origins: r.allowed_origins,
                allowed_methods: r.allowed_methods,
                allowed_headers: r.allowed_headers.unwrap_or_default(),
                expose_headers: r.expose_headers.unwrap_or_default(),
                max_age_seconds: r.max_age_seconds,
            });
        }
        self.store
            .update_bucket(&input.bucket, |b| {
                b.config.cors = Some(stored.clone());
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(PutBucketCorsOutput::default()))
    }

    pub(super) async fn delete_bucket_cors(&self, req: S3Request<DeleteBucketCorsInput>) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.store
            .update_bucket(&req.input.bucket, |b| {
                b.config.cors = None;
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(DeleteBucketCorsOutput::default()))
    }

    pub(super) async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        let account = self.account_of(&b.owner);
        Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants(b.config.acl.as_deref(), &account)), owner: Some(owner(&account)) }))
    }

    pub(super) async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
        let input = req.input;
        let acl = canned_acl(input.acl.as_ref().map(|a| a.as_str()), input.access_control_policy.as_ref(), &BUCKET_ACLS)?;
        self.store
            .update_bucket(&input.bucket, |b| {
                b.config.acl = Some(acl.clone());
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(PutBucketAclOutput::default()))
    }

    pub(super) async fn get_bucket_policy(&self, req: S3Request<GetBucketPolicyInput>) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        match b.config.policy {
            Some(p) => Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(p) })),
            None => Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")),
        }
    }

    pub(super) async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let bucket = req.input.bucket;
        let b = self.store.head_bucket(&bucket).map_err(s3_err)?;
        let Some(text) = b.config.policy else { return Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")) };
        let public = Policy::parse(&text, &bucket).map(|p| p.is_public()).unwrap_or(false);
        Ok(S3Response::new(GetBucketPolicyStatusOutput { policy_status: Some(PolicyStatus { is_public: Some(public) }) }))
    }

    pub(super) async fn put_bucket_policy(&self, req: S3Request<PutBucketPolicyInput>) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        if input.policy.len() > 20 * 1024 {
            return Err(s3_error!(MalformedPolicy, "Policies must not be larger than 20 KB"));
        }
        Policy::parse(&input.policy, &input.bucket).map_err(|m| s3_error!(MalformedPolicy, "{}", m))?;
        let text = input.policy;
        self.store
            .update_bucket(&input.bucket, |b| {
                b.config.policy = Some(text.clone());
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(PutBucketPolicyOutput::default()))
    }

    pub(super) async fn delete_bucket_policy(&self, req: S3Request<DeleteBucketPolicyInput>) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.store
            .update_bucket(&req.input.bucket, |b| {
                b.config.policy = None;
                Ok(())
            })
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(DeleteBucketPolicyOutput::default()))
    }
}
