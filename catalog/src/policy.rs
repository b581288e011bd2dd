//! The catalog's resource policy: the JSON document by which an account grants others access to
//! its catalog (Glue's PutResourcePolicy). Stored here as text with its hash; what it grants is
//! evaluated at the edge, where the caller and the operation are known.

use serde::{Deserialize, Serialize};
use storage::KvOp;

use crate::model::{self, Timestamp};
use crate::{Catalog, Error, Result, decode, encode};

const KEY: &[u8] = b"meta/resource-policy";

/// The policy, as GetResourcePolicy returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcePolicy {
    pub policy: String,
    /// Names this version of the policy, for the conditions of later changes.
    pub hash: String,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

/// What PutResourcePolicy requires of the policy already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exists {
    Must,
    MustNot,
    Either,
}

/// A hash of the policy text (FNV-1a, 64 bits), as hex.
fn hash(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

impl Catalog {
    pub fn resource_policy(&self) -> Result<Option<ResourcePolicy>> {
        self.tree.get(KEY)?.map(|v| decode(&v)).transpose()
    }

    /// Sets the policy, if the one there is what the caller says (`hash_condition`, `exists`).
    pub async fn put_resource_policy(&self, policy: String, hash_condition: Option<&str>, exists: Exists) -> Result<ResourcePolicy> {
        let _writes = self.writes.lock().await;
        let current = self.resource_policy()?;
        match (&current, exists) {
            (Some(_), Exists::MustNot) => return Err(Error::ConditionFailed("A resource policy already exists".into())),
            (None, Exists::Must) => return Err(Error::ConditionFailed("No resource policy exists".into())),
            _ => {}
        }
        if let Some(expected) = hash_condition
            && current.as_ref().map(|p| p.hash.as_str()) != Some(expected)
        {
            return Err(Error::ConditionFailed(format!("The policy hash {expected} does not match the current policy")));
        }
        let now = model::now();
        let stored = ResourcePolicy { hash: hash(&policy), policy, create_time: current.map(|p| p.create_time).unwrap_or(now), update_time: now };
        self.commit(vec![KvOp::Put(KEY.to_vec(), encode(&stored))]).await?;
        Ok(stored)
    }

    pub async fn delete_resource_policy(&self, hash_condition: Option<&str>) -> Result<()> {
        let _writes = self.writes.lock().await;
        let Some(current) = self.resource_policy()? else {
            return Err(Error::NotFound("Policy not found".into()));
        };
        if let Some(expected) = hash_condition
            && current.hash != expected
        {
            return Err(Error::ConditionFailed(format!("The policy hash {expected} does not match the current policy")));
        }
        self.commit(vec![KvOp::Delete(KEY.to_vec())]).await
    }
}
