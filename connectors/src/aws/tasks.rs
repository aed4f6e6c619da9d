//! The engine's `TaskService` over AWS: Resource ARNs parsed once into an
//! [`Integration`], calls run on the AWS runtime under a concurrency cap,
//! and per-integration metrics in the spirit of CloudWatch's
//! `LambdaFunction*` and `ServiceIntegration*` families.

use super::Aws;
use super::dynamodb::{self, Operation};
use super::http_invoke::HttpInvoker;
use super::optimised::{self, Optimised};
use super::{apigateway, lambda, sns, sqs};
use expressway_engine::{TaskCall, TaskOutcome};
use expressway_runtime::tasks::{LocalExecutions, TaskReply, TaskService};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

pub mod metric {
    pub const SCHEDULED: &str = "expressway_task_calls_total";
    pub const SUCCEEDED: &str = "expressway_task_calls_succeeded_total";
    pub const FAILED: &str = "expressway_task_calls_failed_total";
    pub const DURATION: &str = "expressway_task_call_duration_seconds";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integration {
    /// `arn:aws:lambda:…:function:name[:qualifier]`
    LambdaFunction(String),
    /// `arn:aws:states:::lambda:invoke`
    LambdaInvoke,
    /// `arn:aws:states:::sqs:sendMessage`
    SqsSendMessage,
    /// `arn:aws:states:::sns:publish`
    SnsPublish,
    /// `arn:aws:states:::http:invoke`
    HttpInvoke,
    /// `arn:aws:states:::dynamodb:<operation>`
    DynamoDb(Operation),
    /// `arn:aws:states:::aws-sdk:<service>:<action>`, resolved against the
    /// service's model.
    AwsSdk(expressway_aws_sdk::Call),
    /// A Distributed Map's ItemReader / ResultWriter: `arn:aws:states:::s3:<action>`.
    S3(super::s3_items::Action),
    /// `events:putEvents`, `states:startExecution`, `ecs:runTask`, … (see
    /// [`super::optimised`]).
    Optimised(Optimised),
    /// `arn:aws:states:::apigateway:invoke`
    ApiGatewayInvoke,
}

impl Integration {
    pub fn parse(resource: &str) -> Result<Integration, String> {
        let unsupported = |why: &str| Err(format!("Task resource '{resource}' is not supported: {why}"));
        if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
            let (service, action) = rest.split_once(':').unwrap_or((rest, ""));
            if action.ends_with(".sync") || action.ends_with(".waitForTaskToken") {
                return unsupported(
                    "Expressway runs every execution as an Express workflow, which supports only request-response integrations",
                );
            }
            return match (service, action) {
                ("lambda", "invoke") => Ok(Integration::LambdaInvoke),
                ("sqs", "sendMessage") => Ok(Integration::SqsSendMessage),
                ("sns", "publish") => Ok(Integration::SnsPublish),
                ("dynamodb", op) => match Operation::parse(op) {
                    Some(op) => Ok(Integration::DynamoDb(op)),
                    None => unsupported("the DynamoDB actions are putItem, getItem, updateItem and deleteItem"),
                },
                ("http", "invoke") => Ok(Integration::HttpInvoke),
                ("s3", action) => super::s3_items::Action::parse(action).map(Integration::S3).ok_or(()).or_else(|_| {
                    unsupported(
                        "a Map's ItemReader/ResultWriter reads getObject and listObjectsV2 and writes putObject",
                    )
                }),
                ("apigateway", "invoke") => Ok(Integration::ApiGatewayInvoke),
                ("aws-sdk", call) => {
                    let (service, action) = call.split_once(':').unwrap_or((call, ""));
                    expressway_aws_sdk::Call::resolve(service, action)
                        .map(Integration::AwsSdk)
                        .or_else(|e| unsupported(&e))
                }
                _ => match Optimised::parse(service, action) {
                    Some(resolved) => resolved.map(Integration::Optimised).or_else(|e| unsupported(&e)),
                    None => unsupported(&optimised::not_run(service, action)),
                },
            };
        }
        let parts: Vec<&str> = resource.split(':').collect();
        if parts.len() >= 7 && parts[..3] == ["arn", "aws", "lambda"] && parts[5] == "function" {
            return Ok(Integration::LambdaFunction(resource.to_string()));
        }
        if parts.len() >= 6 && parts[2] == "states" && parts[5] == "activity" {
            return unsupported("activities need a worker polling for them, which Express workflows do not have");
        }
        unsupported("expected a Lambda function ARN or arn:aws:states:::<service>:<action>")
    }

    /// A bounded metric label: one per integration, one per AWS SDK service.
    fn label(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(match self {
            Integration::LambdaFunction(_) => "lambda:function",
            Integration::LambdaInvoke => "lambda:invoke",
            Integration::SqsSendMessage => "sqs:sendMessage",
            Integration::SnsPublish => "sns:publish",
            Integration::HttpInvoke => "http:invoke",
            Integration::DynamoDb(Operation::PutItem) => "dynamodb:putItem",
            Integration::DynamoDb(Operation::GetItem) => "dynamodb:getItem",
            Integration::DynamoDb(Operation::UpdateItem) => "dynamodb:updateItem",
            Integration::DynamoDb(Operation::DeleteItem) => "dynamodb:deleteItem",
            Integration::AwsSdk(call) => return std::borrow::Cow::Owned(format!("aws-sdk:{}", call.service)),
            Integration::S3(action) => action.label(),
            Integration::Optimised(task) => task.label(),
            Integration::ApiGatewayInvoke => "apigateway:invoke",
        })
    }
}

async fn aws_sdk_call(
    client: Option<&expressway_aws_sdk::AwsSdkClient>,
    call: &expressway_aws_sdk::Call,
    input: &expressway_engine::Value,
) -> TaskOutcome {
    let Some(client) = client else {
        return TaskOutcome::Failed {
            error: "States.Runtime".into(),
            cause: Some("the AWS SDK client could not be built (see the log)".into()),
        };
    };
    match client.call(call, &serde_json::Value::from(input)).await {
        Ok(out) => TaskOutcome::Succeeded(expressway_engine::Value::from(out)),
        Err(f) => TaskOutcome::Failed { error: f.error, cause: Some(f.cause) },
    }
}

struct Clients {
    lambda: aws_sdk_lambda::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    http: HttpInvoker,
    aws_sdk: Option<expressway_aws_sdk::AwsSdkClient>,
    region: String,
}

pub struct AwsTasks {
    aws: Arc<Aws>,
    clients: Arc<Clients>,
    limit: Arc<Semaphore>,
    local: Option<Arc<dyn LocalExecutions>>,
}

impl AwsTasks {
    pub fn new(aws: Arc<Aws>, http: HttpInvoker) -> AwsTasks {
        let aws_sdk = aws.aws_sdk().inspect_err(|e| tracing::warn!("aws-sdk:* tasks will fail: {e}")).ok();
        let clients = Arc::new(Clients {
            lambda: aws.lambda(),
            sqs: aws.sqs(),
            sns: aws.sns(),
            dynamodb: aws.dynamodb(),
            http,
            aws_sdk,
            region: aws.region(),
        });
        let limit = Arc::new(Semaphore::new(aws.max_concurrent_calls));
        AwsTasks { aws, clients, limit, local: None }
    }

    /// `states:startExecution` of a machine `local` runs starts it there,
    /// without a network hop.
    pub fn in_process(mut self, local: Arc<dyn LocalExecutions>) -> AwsTasks {
        self.local = Some(local);
        self
    }
}

impl TaskService for AwsTasks {
    fn check(&self, resource: &str) -> Result<(), String> {
        Integration::parse(resource).map(|_| ())
    }

    fn start(&self, call: TaskCall, reply: TaskReply) {
        let integration = match Integration::parse(&call.resource) {
            Ok(i) => i,
            Err(cause) => {
                return reply.send(TaskOutcome::Failed { error: "States.Runtime".into(), cause: Some(cause) });
            }
        };
        let (clients, limit, local) = (self.clients.clone(), self.limit.clone(), self.local.clone());
        self.aws.handle().spawn(async move {
            // Past the task's time nobody reads the answer: the call (and
            // its wait for a slot) stops, its connection and slot freed.
            // Abandonment is polled first: a call whose waiter is already
            // gone does not start.
            let (label, began) = (integration.label(), Instant::now());
            let abandoned = reply.abandoned();
            let call = std::pin::pin!(perform(integration, call, clients, limit, local));
            match futures_util::future::select(abandoned, call).await {
                futures_util::future::Either::Right((outcome, _)) => reply.send(outcome),
                // Counted as what it was to its task, so a hung endpoint
                // shows in the task error rate and the call durations.
                futures_util::future::Either::Left(_) => {
                    let error = expressway_engine::errors::ErrorName::Timeout.as_str();
                    metrics::histogram!(metric::DURATION, "integration" => label.clone())
                        .record(began.elapsed().as_secs_f64());
                    metrics::counter!(metric::FAILED, "integration" => label, "error" => error).increment(1);
                }
            }
        });
    }
}

/// One task call, with its metrics, once a slot of `limit` is free.
async fn perform(
    integration: Integration,
    call: TaskCall,
    clients: Arc<Clients>,
    limit: Arc<Semaphore>,
    local: Option<Arc<dyn LocalExecutions>>,
) -> TaskOutcome {
    let label = integration.label();
    metrics::counter!(metric::SCHEDULED, "integration" => label.clone()).increment(1);
    let _permit = limit.acquire().await;
    let began = Instant::now();
    let outcome = match &integration {
        Integration::LambdaFunction(arn) => lambda::invoke_function(&clients.lambda, arn, &call.input).await,
        Integration::LambdaInvoke => lambda::invoke(&clients.lambda, &call.input).await,
        Integration::SqsSendMessage => sqs::send_message(&clients.sqs, &call.input).await,
        Integration::SnsPublish => sns::publish(&clients.sns, &call.input).await,
        Integration::HttpInvoke => clients.http.invoke(&call.input).await,
        Integration::DynamoDb(op) => dynamodb::call(&clients.dynamodb, *op, &call.input).await,
        Integration::AwsSdk(sdk_call) => aws_sdk_call(clients.aws_sdk.as_ref(), sdk_call, &call.input).await,
        Integration::S3(action) => super::s3_items::call(clients.aws_sdk.as_ref(), *action, &call.input).await,
        Integration::Optimised(task) if task.kind == optimised::Kind::StartExecution => {
            optimised::start_execution(local.as_deref(), clients.aws_sdk.as_ref(), task, &call.input).await
        }
        Integration::Optimised(task) => optimised::call(clients.aws_sdk.as_ref(), task, &call.input).await,
        Integration::ApiGatewayInvoke => {
            apigateway::invoke(clients.aws_sdk.as_ref(), &clients.region, &call.input).await
        }
    };
    metrics::histogram!(metric::DURATION, "integration" => label.clone()).record(began.elapsed().as_secs_f64());
    match &outcome {
        TaskOutcome::Failed { error, .. } => {
            let error = expressway_runtime::metrics::error_label(error);
            metrics::counter!(metric::FAILED, "integration" => label, "error" => error).increment(1)
        }
        _ => metrics::counter!(metric::SUCCEEDED, "integration" => label).increment(1),
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse_into_integrations_or_a_diagnostic_naming_them() {
        let f = "arn:aws:lambda:us-east-1:123456789012:function:reserve:live";
        assert_eq!(Integration::parse(f), Ok(Integration::LambdaFunction(f.into())));
        assert_eq!(Integration::parse("arn:aws:states:::lambda:invoke"), Ok(Integration::LambdaInvoke));
        assert_eq!(Integration::parse("arn:aws:states:::sqs:sendMessage"), Ok(Integration::SqsSendMessage));
        assert_eq!(Integration::parse("arn:aws:states:::sns:publish"), Ok(Integration::SnsPublish));
        assert_eq!(Integration::parse("arn:aws:states:::http:invoke"), Ok(Integration::HttpInvoke));
        assert_eq!(Integration::parse("arn:aws:states:::apigateway:invoke"), Ok(Integration::ApiGatewayInvoke));
        for optimised in [
            "events:putEvents",
            "states:startExecution",
            "ecs:runTask",
            "batch:submitJob",
            "athena:getQueryResults",
            "codebuild:startBuild",
            "sagemaker:createTransformJob",
        ] {
            let parsed = Integration::parse(&format!("arn:aws:states:::{optimised}")).unwrap();
            assert_eq!(parsed.label(), optimised);
        }
        let sdk = Integration::parse("arn:aws:states:::aws-sdk:s3:getObject").unwrap();
        assert!(matches!(&sdk, Integration::AwsSdk(c) if c.operation == "GetObject"), "{sdk:?}");
        assert_eq!(sdk.label(), "aws-sdk:s3");
        assert_eq!(
            Integration::parse("arn:aws:states:::dynamodb:updateItem"),
            Ok(Integration::DynamoDb(Operation::UpdateItem))
        );
        for (resource, why) in [
            ("arn:aws:states:::lambda:invoke.waitForTaskToken", "request-response"),
            ("arn:aws:states:::dynamodb:scan", "putItem, getItem"),
            ("arn:aws:states:us-east-1:1:activity:a", "activities"),
            ("arn:aws:states:::glue:startJobRun.sync", "request-response"),
            ("arn:aws:states:::glue:getJobRun", "no such integration"),
            ("arn:aws:states:::elasticmapreduce:addStep", "aws-sdk:emr:addJobFlowSteps"),
            ("arn:aws:states:::aws-sdk:nosuchservice:getThing", "'nosuchservice'"),
            ("arn:aws:states:::aws-sdk:s3:getObjekt", "no action 'getObjekt'"),
            ("not-an-arn", "expected a Lambda function ARN"),
        ] {
            let e = Integration::parse(resource).unwrap_err();
            assert!(e.contains(resource) && e.contains(why), "{e}");
        }
    }
}
