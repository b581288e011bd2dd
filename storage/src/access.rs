//! Acting for someone. Every object a query or a crawler reads or writes on a caller's behalf is
//! checked against that caller's S3 permissions, with the decision S3 requests themselves get
//! (the server's `s3::access`, behind [`Permissions`]), so that no path from one account's request
//! reaches another's data except through a grant. The checks are made where the lake is touched:
//! [`crate::BucketStore`] for `object_store` callers, [`authorize`] for the few direct ones.

use std::fmt;

use crate::error::{Error, Result};

/// An S3 action taken on the lake for someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    GetObject,
    ListBucket,
    PutObject,
    DeleteObject,
}

impl Action {
    /// The action's IAM name, as bucket policies name it.
    pub fn iam(self) -> &'static str {
        match self {
            Action::GetObject => "s3:GetObject",
            Action::ListBucket => "s3:ListBucket",
            Action::PutObject => "s3:PutObject",
            Action::DeleteObject => "s3:DeleteObject",
        }
    }
}

/// Whether a principal may take an action on a bucket (and key): S3's own decision for the same
/// request (ownership, bucket policy, ACLs).
pub trait Permissions: Send + Sync + fmt::Debug {
    fn allows(&self, action: Action, bucket: &str, key: Option<&str>) -> bool;
}

/// Checks an action, refusing it as [`Error::AccessDenied`].
pub fn authorize(permissions: &dyn Permissions, action: Action, bucket: &str, key: Option<&str>) -> Result<()> {
    if permissions.allows(action, bucket, key) {
        return Ok(());
    }
    tracing::debug!(action = action.iam(), bucket, key, principal = ?permissions, "access denied");
    Err(Error::AccessDenied { path: format!("s3://{bucket}/{}", key.unwrap_or_default()) })
}
