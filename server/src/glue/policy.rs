//! The catalog's resource policy: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy, and
//! what a policy grants another account. A request to another account's catalog goes through
//! only if that catalog's policy allows the caller the operation's action (`glue:<Operation>`) on
//! every resource the request names (the catalog, its database, its table) and denies none, as
//! Glue evaluates a resource policy. Principals, actions and resources match as in S3's bucket
//! policies (`s3::access`): account ids, root and user ARNs, `*` and `?` wildcards.

use serde::{Deserialize, Serialize};

use super::{Glue, glue_err, invalid};
use crate::protocol::{ApiError, Document, Empty, Input};
use crate::s3::access::{Effect, Policy};
use crate::users::User;

/// A catalog's resource policy: IAM's statements (`s3::access::Policy`), of `glue:` actions on
/// `arn:aws:glue:` resources.
pub struct CatalogPolicy(Policy);

impl CatalogPolicy {
    /// Parses a policy; the error is the message of Glue's InvalidInputException.
    pub fn parse(text: &str) -> Result<CatalogPolicy, String> {
        Policy::parse_for("glue:", text, |r| r.starts_with("arn:aws:glue:")).map(CatalogPolicy)
    }

    /// Whether the policy allows `caller` the action on every one of `resources` and denies it
    /// on none.
    pub fn allows(&self, caller: &User, action: &str, resources: &[String]) -> bool {
        resources.iter().all(|r| self.0.effect_on(Some(caller), action, r) == Some(Effect::Allow))
    }
}

fn text(input: &Document, path: &[&str]) -> Option<String> {
    let mut at = input;
    for member in path {
        at = at.get(*member)?;
    }
    at.as_str().map(str::to_lowercase)
}

/// The resources an operation's input names, as ARNs: the catalog, and the database and table
/// the request is about (names are lowercased, as Glue stores them).
pub fn resources(region: &str, account: &str, operation: &str, input: &Document) -> Vec<String> {
    let database = text(input, &["DatabaseName"]).or_else(|| match operation {
        "GetDatabase" | "UpdateDatabase" | "DeleteDatabase" => text(input, &["Name"]),
        "CreateDatabase" => text(input, &["DatabaseInput", "Name"]),
        _ => None,
    });
    let table = text(input, &["TableName"]).or_else(|| match operation {
        "GetTable" | "DeleteTable" => text(input, &["Name"]),
        "CreateTable" | "UpdateTable" => text(input, &["TableInput", "Name"]),
        _ => None,
    });
    let mut arns = vec![format!("arn:aws:glue:{region}:{account}:catalog")];
    if let Some(db) = &database {
        arns.push(format!("arn:aws:glue:{region}:{account}:database/{db}"));
        if let Some(t) = &table {
            arns.push(format!("arn:aws:glue:{region}:{account}:table/{db}/{t}"));
        }
    }
    arns
}

/// The account of a catalog ARN (`arn:aws:glue:<region>:<account>:catalog`).
pub fn catalog_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", "aws", "glue", _, account, "catalog"] => Some(account),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutResourcePolicyInput {
    pub policy_in_json: String,
    #[serde(default)]
    pub policy_hash_condition: Option<String>,
    /// `MUST_EXIST`, `NOT_EXIST` or `NONE`.
    #[serde(default)]
    pub policy_exists_condition: Option<String>,
}

impl Input for PutResourcePolicyInput {
    const REQUIRED: &'static [&'static str] = &["PolicyInJson"];
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutResourcePolicyOutput {
    policy_hash: String,
}

pub async fn put(glue: &Glue<'_>, input: PutResourcePolicyInput) -> Result<PutResourcePolicyOutput, ApiError> {
    CatalogPolicy::parse(&input.policy_in_json).map_err(invalid)?;
    let exists = match input.policy_exists_condition.as_deref() {
        Some("MUST_EXIST") => catalog::PolicyExists::Must,
        Some("NOT_EXIST") => catalog::PolicyExists::MustNot,
        None | Some("NONE") => catalog::PolicyExists::Either,
        Some(other) => return Err(invalid(format!("PolicyExistsCondition {other} is not MUST_EXIST, NOT_EXIST or NONE"))),
    };
    let stored = glue.catalog.put_resource_policy(input.policy_in_json, input.policy_hash_condition.as_deref(), exists).await.map_err(glue_err)?;
    Ok(PutResourcePolicyOutput { policy_hash: stored.hash })
}

#[derive(Deserialize)]
pub struct GetResourcePolicyInput {}

impl Input for GetResourcePolicyInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResourcePolicyOutput {
    policy_in_json: String,
    policy_hash: String,
    create_time: f64,
    update_time: f64,
}

pub async fn get(glue: &Glue<'_>, _input: GetResourcePolicyInput) -> Result<GetResourcePolicyOutput, ApiError> {
    match glue.catalog.resource_policy().map_err(glue_err)? {
        Some(p) => {
            Ok(GetResourcePolicyOutput { policy_in_json: p.policy, policy_hash: p.hash, create_time: p.create_time, update_time: p.update_time })
        }
        None => Err(ApiError::new("EntityNotFoundException", "Policy not found")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteResourcePolicyInput {
    #[serde(default)]
    pub policy_hash_condition: Option<String>,
}

impl Input for DeleteResourcePolicyInput {}

pub async fn delete(glue: &Glue<'_>, input: DeleteResourcePolicyInput) -> Result<Empty, ApiError> {
    glue.catalog.delete_resource_policy(input.policy_hash_condition.as_deref()).await.map_err(glue_err)?;
    Ok(Empty {})
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(account: &str) -> User {
        User { access_key: format!("key-{account}"), secret_key: "s".into(), account_id: account.into() }
    }

    #[test]
    fn policies_allow_every_resource_named_and_deny_wins() {
        let policy = CatalogPolicy::parse(
            &json!({"Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": ["glue:Get*"],
                 "Resource": ["arn:aws:glue:us-east-1:000000000000:catalog", "arn:aws:glue:us-east-1:000000000000:database/db",
                              "arn:aws:glue:us-east-1:000000000000:table/db/*"]},
                {"Effect": "Deny", "Principal": "*", "Action": "glue:GetTable", "Resource": "arn:aws:glue:us-east-1:000000000000:table/db/secret"},
            ]})
            .to_string(),
        )
        .unwrap();
        let (alice, bob) = (user("111111111111"), user("222222222222"));
        let table = |t: &str| resources("us-east-1", "000000000000", "GetTable", &json!({"DatabaseName": "DB", "Name": t}));
        assert!(policy.allows(&alice, "glue:GetTable", &table("t")));
        assert!(!policy.allows(&bob, "glue:GetTable", &table("t")));
        assert!(!policy.allows(&alice, "glue:DeleteTable", &table("t")));
        assert!(!policy.allows(&alice, "glue:GetTable", &table("secret")));
        let other_db = resources("us-east-1", "000000000000", "GetTables", &json!({"DatabaseName": "other"}));
        assert!(!policy.allows(&alice, "glue:GetTables", &other_db));
        assert_eq!(table("T")[2], "arn:aws:glue:us-east-1:000000000000:table/db/t");
        // A condition is not evaluated: failing closed, an Allow with one grants nothing.
        let conditional = CatalogPolicy::parse(
            &json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "glue:*", "Resource": "arn:aws:glue:*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}})
                .to_string(),
        )
        .unwrap();
        assert!(!conditional.allows(&alice, "glue:GetTable", &table("t")));
        for bad in ["not json", "{}", r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}"#] {
            assert!(CatalogPolicy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(catalog_account("arn:aws:glue:us-east-1:000000000000:catalog"), Some("000000000000"));
        assert_eq!(catalog_account("arn:aws:glue:us-east-1:000000000000:database/x"), None);
    }
}
