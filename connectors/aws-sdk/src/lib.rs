//! `arn:aws:states:::aws-sdk:<service>:<action>`: any action of any AWS
//! service, as AWS Step Functions runs it, driven by the AWS service models
//! (botocore's JSON descriptions, minimised and embedded: [`bundle`]).
//!
//! What AWS does, and so what this does (AWS Step Functions developer guide,
//! "AWS SDK service integrations", and executions recorded on AWS in
//! `../shared/conformance`, tagged `task:sdk:*`):
//! - **Service name.** The ARN names the service as the AWS SDK for Java v2
//!   names its client, lower-cased: `sfn` (botocore `stepfunctions`),
//!   `eventbridge` (`events`), `cloudwatchlogs` (`logs`), `secretsmanager`,
//!   `dynamodb`, `s3`, `ec2`, `acmpca`. That name is the model's `serviceId`
//!   split into words, each capitalised, `Amazon`/`Aws` dropped from the
//!   front and `Service` from the end (`DynamoDB` → `DynamoDb`, `ACM PCA` →
//!   `AcmPca`, `Database Migration Service` → `DatabaseMigration`);
//!   `deploy/dev/aws-models.py` computes it as the Java SDK's code generator
//!   does and keys the bundle by it.
//! - **Action.** camelCase of the operation (`getObject`, `putEvents`,
//!   `describeDBInstances`); matched to the model's operation without regard
//!   to case.
//! - **Parameters and results** use the AWS SDK for Java v2's member names
//!   with the first letter upper case ([`model::pascal`]: `restApiId` is
//!   `RestApiId`, `SSEKMSKeyId` is `SsekmsKeyId`, DynamoDB's `BOOL` is
//!   `Bool`), whatever the protocol's wire names (`locationName`,
//!   `queryName`, headers, URI labels, EC2's `Filter.N` is `Filters`). Any
//!   other name fails with `States.Runtime`, "The field "bucket" is not
//!   supported by Step Functions", as AWS words it. Result structures list
//!   their members in name order; maps keep the service's order.
//! - **Budgets.** One answer's body is read up to
//!   [`client::MAX_RESPONSE_BYTES`], or the budget a caller passes to
//!   `call_within` (an `ItemReader`'s object) (a larger declared or streamed one
//!   fails as `States.DataLimitExceeded`, naming the budget); an XML answer
//!   holds at most [`xml::MAX_ELEMENTS`] elements nested at most
//!   [`values::MAX_DEPTH`] deep, its members looked up through one index.
//! - **Errors** are `<SdkName>.<Exception>`: the client name in PascalCase
//!   and the Java SDK's exception class, which is the modelled error shape
//!   with `Exception` added where missing and `Fault` turned into it
//!   (`S3.NoSuchKeyException` for S3's `NoSuchKey`,
//!   `DynamoDb.ConditionalCheckFailedException`,
//!   `Rds.DbInstanceNotFoundException` for `DBInstanceNotFoundFault`). A code
//!   the model does not list is the service's base exception
//!   (`SecretsManager.SecretsManagerException`). The cause is the Java SDK's
//!   message: `<service message> (Service: <SdkName>, Status Code: <n>,
//!   Request ID: <id>[, Extended Request ID: <x-amz-id-2>])`. A call that
//!   gets no answer is `<SdkName>.SdkClientException`.
//! - **Blobs.** A streaming payload (S3 `GetObject`'s `Body`) is returned as
//!   its text; a blob parameter that is not a string is sent as its JSON
//!   text (`"Body": {"a": 1}` stores `{"a":1}`: AWS's recorded ETags match
//!   the MD5 of exactly that). Other blobs read back as text when they are
//!   UTF-8, base64 otherwise.
//! - **Timestamps** in results are ISO 8601 strings (`2024-05-01T10:00:00Z`);
//!   parameters take ISO 8601 or epoch seconds.
//! - **Headers** the output binds (S3 `ContentLength`, `ETag`) are members
//!   like any other; a prefixed-header map (S3 `Metadata`) is always present,
//!   if empty. No `SdkHttpMetadata` is added (that is the optimised
//!   integrations' shape).
//!
//! Protocols: `json` (1.0/1.1, `X-Amz-Target`), `rest-json`, `rest-xml`,
//! `query`, `ec2`; where a model lists several (`protocols`), the first of
//! those in that order, as botocore and the Java SDK choose (SQS is `json`
//! now, with its query-era error codes from `x-amzn-query-error`).

pub mod bundle;
pub mod client;
pub mod json;
pub mod model;
pub mod query;
pub mod request;
pub mod response;
pub mod values;
pub mod xml;

pub use client::{AwsSdkClient, Settings};
pub use response::Failure;

use model::{Operation, ServiceModel};
use std::sync::Arc;

/// A resolved `aws-sdk:<service>:<action>`: the service's model and the
/// operation's name in it.
#[derive(Clone)]
pub struct Call {
    pub service: String,
    pub action: String,
    /// The model's operation name (`GetObject`).
    pub operation: String,
    pub model: Arc<ServiceModel>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "aws-sdk:{}:{}", self.service, self.action)
    }
}

impl PartialEq for Call {
    fn eq(&self, other: &Call) -> bool {
        self.service == other.service && self.operation == other.operation
    }
}

impl Eq for Call {}

impl Call {
    /// `service` and `action` as the ARN writes them; an unknown service or
    /// action is a diagnostic naming it.
    pub fn resolve(service: &str, action: &str) -> Result<Call, String> {
        let model = bundle::service(service).map_err(|e| {
            if e.starts_with("no AWS SDK service") {
                format!("{e} (the AWS SDK for Java v2 client name, lower case: s3, dynamodb, eventbridge, sfn, …)")
            } else {
                e
            }
        })?;
        let Some((operation, op)) = model.operation(action) else {
            return Err(format!("the AWS SDK service '{service}' has no action '{action}'"));
        };
        if op.input.as_deref().and_then(|i| model.shapes.get(i)).is_some_and(|s| s.eventstream)
            || op.output.as_deref().and_then(|o| model.shapes.get(o)).is_some_and(has_event_stream(&model))
        {
            return Err(format!("'{service}:{action}' streams events, which Step Functions does not support"));
        }
        let operation = operation.to_string();
        Ok(Call { service: service.to_string(), action: action.to_string(), operation, model })
    }

    pub fn op(&self) -> &Operation {
        // Present: resolve found it.
        &self.model.operations[&self.operation]
    }

    pub fn resource(&self) -> String {
        format!("arn:aws:states:::aws-sdk:{}:{}", self.service, self.action)
    }
}

fn has_event_stream(model: &ServiceModel) -> impl Fn(&model::Shape) -> bool + '_ {
    move |shape| shape.members.iter().any(|(_, m)| model.shapes.get(&m.shape).is_some_and(|s| s.eventstream))
}
