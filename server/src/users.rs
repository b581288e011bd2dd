//! The users Minerva knows: credential pairs, each its own account, as on AWS.
//!
//! Each user owns the buckets it creates and has its own account id (it names the user's Athena
//! results bucket and appears in ARNs). The first user is the one given by `--access-key`; its
//! account is `000000000000`. Others come from the config file; an account id not stated there
//! is derived from the access key, so reordering the file changes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::sigv4::Credentials;

/// Said after the service's own words when a request's access key is no user's.
pub const UNKNOWN_KEY_HINT: &str = " (Minerva knows no user with this access key: sign with a configured one, or start the server with --any-credentials to accept any key as its primary user's, as LocalStack does.)";

/// The account of the primary user.
pub const PRIMARY_ACCOUNT: &str = "000000000000";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub access_key: String,
    pub secret_key: String,
    pub account_id: String,
}

impl User {
    /// The user's ARN, as STS and policies name it.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account_id, self.access_key)
    }
}

/// A 12-digit account id derived from an access key.
pub fn derived_account_id(access_key: &str) -> String {
    let digest = Sha256::digest(access_key.as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 1_000_000_000_000;
    // Never collide with the primary account.
    format!("{:012}", n.max(1))
}

#[derive(Clone)]
pub struct Users {
    by_key: Arc<HashMap<String, User>>,
    primary: Arc<User>,
    credentials: Credentials,
    /// `--any-credentials`: an access key no user has is taken as the primary user's, unchecked.
    any_credentials: bool,
}

impl Users {
    /// The primary user first, then the others. Access keys must be unique.
    pub fn new(primary: User, others: Vec<User>) -> Result<Self, String> {
        let mut by_key = HashMap::new();
        for u in std::iter::once(primary.clone()).chain(others) {
            if u.access_key.is_empty() || u.secret_key.is_empty() {
                return Err("every user needs a non-empty access key and secret key".into());
            }
            if u.account_id.len() != 12 || !u.account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("user {}: an account id is 12 digits, not {:?}", u.access_key, u.account_id));
            }
            if by_key.insert(u.access_key.clone(), u.clone()).is_some() {
                return Err(format!("access key {} is configured twice", u.access_key));
            }
        }
        let credentials = Credentials::new(by_key.values().map(|u| (u.access_key.clone(), u.secret_key.clone())));
        Ok(Users { by_key: Arc::new(by_key), primary: Arc::new(primary), credentials, any_credentials: false })
    }

    /// Takes every access key no user has as the primary user's, without checking its
    /// signature: what suites written against LocalStack (`test`/`test`) expect. For tests only.
    pub fn accepting_any_credentials(mut self) -> Self {
        self.any_credentials = true;
        self
    }

    /// Whether a request signed with this key is taken as the primary user's, unchecked.
    pub fn stands_in(&self, access_key: &str) -> bool {
        self.any_credentials && !self.by_key.contains_key(access_key)
    }

    pub fn any_credentials(&self) -> bool {
        self.any_credentials
    }

    pub fn get(&self, access_key: &str) -> Option<&User> {
        self.by_key.get(access_key)
    }

    pub fn primary(&self) -> &User {
        &self.primary
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Every user, the primary first.
    pub fn all(&self) -> impl Iterator<Item = &User> {
        std::iter::once(self.primary.as_ref()).chain(self.by_key.values().filter(|u| u.access_key != self.primary.access_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(k: &str, account: &str) -> User {
        User { access_key: k.into(), secret_key: format!("{k}-secret"), account_id: account.into() }
    }

    #[test]
    fn users_are_unique_and_well_formed() {
        let users = Users::new(user("root", PRIMARY_ACCOUNT), vec![user("alice", &derived_account_id("alice"))]).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users.get("alice").unwrap().account_id, derived_account_id("alice"));
        assert_eq!(users.credentials().secret("alice"), Some("alice-secret"));
        assert!(Users::new(user("root", PRIMARY_ACCOUNT), vec![user("root", "111111111111")]).is_err());
        assert!(Users::new(user("root", "12"), vec![]).is_err());
        assert_ne!(derived_account_id("alice"), derived_account_id("bob"));
        assert_eq!(derived_account_id("alice").len(), 12);
    }
}
