//! STS: GetCallerIdentity answers who signed the request. Spoken in the Query protocol (and in
//! AWS JSON 1.0, as AWS has started to offer it); see `protocol`.

use serde::{Deserialize, Serialize};

use crate::protocol::{ApiError, Document, Input, Outcome, ServiceErrors, run};
use crate::users::User;

/// The XML namespace of STS's Query-protocol answers.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The `X-Amz-Target` prefix of STS's operations in AWS JSON 1.0.
pub const TARGET_PREFIX: &str = "AWSSecurityTokenServiceV20110615";

/// STS's words for the errors every protocol needs.
pub struct Errors;

impl ServiceErrors for Errors {
    fn missing_member(&self, member: &str) -> ApiError {
        ApiError::new("MissingParameter", format!("The request must contain the parameter {member}"))
    }
}

#[derive(Deserialize)]
pub struct GetCallerIdentityInput {}

impl Input for GetCallerIdentityInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCallerIdentityOutput {
    arn: String,
    user_id: String,
    account: String,
}

async fn get_caller_identity(caller: &User, _input: GetCallerIdentityInput) -> Result<GetCallerIdentityOutput, ApiError> {
    Ok(GetCallerIdentityOutput { arn: caller.arn(), user_id: caller.access_key.clone(), account: caller.account_id.clone() })
}

/// Runs one STS operation for the caller.
pub async fn call(caller: &User, operation: &str, input: Document) -> Outcome {
    match operation {
        "GetCallerIdentity" => run(input, &Errors, |i| get_caller_identity(caller, i)).await,
        other => Err(ApiError::new("InvalidAction", format!("Could not find operation {other} for version 2011-06-15"))),
    }
}
