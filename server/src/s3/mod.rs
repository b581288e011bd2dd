//! The S3 protocol: s3s's typed operations implemented over the lake.
//!
//! Each operation lives with its kind (`buckets`, `objects`, `listing`, `multipart`); this file
//! only routes s3s's trait methods to them. `access` decides who may do what, `cors` answers
//! browsers, `edge` repairs what s3s settles around the operations, `error` maps storage errors
//! to S3's, `util` converts wire types.

pub mod access;
mod buckets;
pub mod cors;
mod dates;
pub mod edge;
pub mod error;
mod listing;
mod multipart;
mod objects;
mod util;

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use storage::Store;

use crate::users::{User, Users};

/// The display name S3 shows for owners.
pub const ACCOUNT_DISPLAY_NAME: &str = "minerva";

pub struct Lake {
    pub store: Store,
    pub users: Users,
    pub access: Arc<access::Access>,
}

impl Lake {
    /// The signed caller of a request that needs one.
    fn caller_of<T>(&self, req: &S3Request<T>) -> S3Result<User> {
        req.credentials.as_ref().and_then(|c| self.users.get(&c.access_key)).cloned().ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))
    }

    /// The account id of the user with this access key (a bucket's owner).
    fn account_of(&self, access_key: &str) -> String {
        self.users.get(access_key).map(|u| u.account_id.clone()).unwrap_or_else(|| self.users.primary().account_id.clone())
    }
}

macro_rules! route {
    ($($op:ident: $input:ident => $output:ident,)*) => {
        #[async_trait::async_trait]
        impl S3 for Lake {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    Lake::$op(self, req).await
                }
            )*
        }
    };
}

route! {
    create_bucket: CreateBucketInput => CreateBucketOutput,
    delete_bucket: DeleteBucketInput => DeleteBucketOutput,
    head_bucket: HeadBucketInput => HeadBucketOutput,
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput,
    list_buckets: ListBucketsInput => ListBucketsOutput,
    get_bucket_versioning: GetBucketVersioningInput => GetBucketVersioningOutput,
    put_bucket_versioning: PutBucketVersioningInput => PutBucketVersioningOutput,
    get_bucket_tagging: GetBucketTaggingInput => GetBucketTaggingOutput,
    put_bucket_tagging: PutBucketTaggingInput => PutBucketTaggingOutput,
    delete_bucket_tagging: DeleteBucketTaggingInput => DeleteBucketTaggingOutput,
    get_bucket_cors: GetBucketCorsInput => GetBucketCorsOutput,
    put_bucket_cors: PutBucketCorsInput => PutBucketCorsOutput,
    delete_bucket_cors: DeleteBucketCorsInput => DeleteBucketCorsOutput,
    get_bucket_acl: GetBucketAclInput => GetBucketAclOutput,
    put_bucket_acl: PutBucketAclInput => PutBucketAclOutput,
    get_bucket_policy: GetBucketPolicyInput => GetBucketPolicyOutput,
    get_bucket_policy_status: GetBucketPolicyStatusInput => GetBucketPolicyStatusOutput,
    put_bucket_policy: PutBucketPolicyInput => PutBucketPolicyOutput,
    delete_bucket_policy: DeleteBucketPolicyInput => DeleteBucketPolicyOutput,
    put_object: PutObjectInput => PutObjectOutput,
    get_object: GetObjectInput => GetObjectOutput,
    head_object: HeadObjectInput => HeadObjectOutput,
    delete_object: DeleteObjectInput => DeleteObjectOutput,
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput,
    copy_object: CopyObjectInput => CopyObjectOutput,
    get_object_tagging: GetObjectTaggingInput => GetObjectTaggingOutput,
    put_object_tagging: PutObjectTaggingInput => PutObjectTaggingOutput,
    delete_object_tagging: DeleteObjectTaggingInput => DeleteObjectTaggingOutput,
    get_object_acl: GetObjectAclInput => GetObjectAclOutput,
    put_object_acl: PutObjectAclInput => PutObjectAclOutput,
    get_object_attributes: GetObjectAttributesInput => GetObjectAttributesOutput,
    list_objects: ListObjectsInput => ListObjectsOutput,
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output,
    list_object_versions: ListObjectVersionsInput => ListObjectVersionsOutput,
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput,
    upload_part: UploadPartInput => UploadPartOutput,
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput,
    list_parts: ListPartsInput => ListPartsOutput,
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput,
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput,
    list_multipart_uploads: ListMultipartUploadsInput => ListMultipartUploadsOutput,
}
