//! AWS: the SDK configuration every client shares, the Task integrations
//! (Lambda, SQS, SNS, DynamoDB), the SQS source and sink and the DynamoDB dedup
//! store. Calls run on one tokio runtime owned here; the engine sees only
//! its synchronous traits.

pub mod apigateway;
pub mod bounded;
pub mod dynamodb;
pub mod errors;
pub mod http_invoke;
pub mod http_rules;
pub mod lambda;
pub mod optimised;
pub mod response;
pub mod s3_items;
pub mod sns;
pub mod sqs;
pub mod tasks;

use expressway_config::pipeline::AwsConfig;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One of an SQS or SNS task's `MessageAttributes`; each service builds its
/// own attribute type from it.
pub(crate) struct MessageAttribute {
    pub name: String,
    pub data_type: String,
    pub string_value: Option<String>,
    /// `BinaryValue`, given base64-encoded as in the services' JSON APIs.
    pub binary_value: Option<Vec<u8>>,
}

/// `MessageAttributes` of an SQS or SNS task. A `BinaryValue` that is not
/// base64 is an error naming the attribute, as the service would answer.
pub(crate) fn message_attributes(params: &expressway_engine::Value) -> Result<Vec<MessageAttribute>, String> {
    use base64::Engine;
    use expressway_engine::Value;
    let Some(Value::Object(attrs)) = params.get("MessageAttributes") else { return Ok(Vec::new()) };
    attrs
        .iter()
        .map(|(name, a)| {
            let binary_value = match a.get("BinaryValue").and_then(Value::as_str) {
                None => None,
                Some(text) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|e| format!("MessageAttributes.{name}.BinaryValue is not base64: {e}"))?,
                ),
            };
            Ok(MessageAttribute {
                name: name.to_string(),
                data_type: a.get("DataType").and_then(Value::as_str).unwrap_or("String").to_string(),
                string_value: a.get("StringValue").and_then(Value::as_str).map(str::to_string),
                binary_value,
            })
        })
        .collect()
}

/// How long an `aws-sdk:*` call may wait for its answer; a Task's own
/// `TimeoutSeconds` still applies on top.
pub const AWS_SDK_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The SDK configuration (default chain plus the config file's overrides)
/// and the runtime AWS calls run on.
pub struct Aws {
    runtime: tokio::runtime::Runtime,
    config: aws_config::SdkConfig,
    endpoints: BTreeMap<String, String>,
    pub max_concurrent_calls: usize,
}

impl Aws {
    pub fn new(settings: &AwsConfig) -> Result<Arc<Aws>, String> {
        Aws::load(settings, true)
    }

    /// [`Aws::new`] for tasks that call no AWS service (HTTP tasks only):
    /// no credentials, and the region from the environment or the profile if
    /// at all, never from the instance metadata service, whose lookup on a
    /// machine outside AWS waits and warns for nothing.
    pub fn for_http_only(settings: &AwsConfig) -> Result<Arc<Aws>, String> {
        Aws::load(settings, false)
    }

    fn load(settings: &AwsConfig, region_from_instance: bool) -> Result<Arc<Aws>, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aws")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the AWS runtime: {e}"))?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        } else if !region_from_instance {
            use aws_config::meta::region::RegionProviderChain;
            let chain =
                RegionProviderChain::first_try(aws_config::environment::EnvironmentVariableRegionProvider::new())
                    .or_else(aws_config::profile::ProfileFileRegionProvider::new());
            loader = loader.region(chain);
        }
        if !region_from_instance {
            // No call is signed: the default credentials chain, which looks
            // the region up on the instance again, is not built at all.
            loader = loader.no_credentials();
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = runtime.block_on(loader.load());
        if config.region().is_none() && region_from_instance {
            // HTTP tasks need none; AWS calls then fail with a cause saying so.
            tracing::warn!("no AWS region: set aws.region in the config or AWS_REGION to call AWS services");
        }
        Ok(Arc::new(Aws {
            runtime,
            config,
            endpoints: settings.endpoints.clone(),
            max_concurrent_calls: settings.max_concurrent_calls.max(1),
        }))
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    pub fn region(&self) -> String {
        self.config.region().map(|r| r.to_string()).unwrap_or_default()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let mut b = aws_sdk_sqs::config::Builder::from(&self.config)
            .interceptor(bounded::BoundedResponses(errors::SQS.max_answer_bytes))
            .retry_classifier(bounded::NoRetryPastTheBound);
        if let Some(url) = self.endpoints.get("sqs") {
            b = b.endpoint_url(url);
        }
        aws_sdk_sqs::Client::from_conf(b.build())
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        let mut b = aws_sdk_lambda::config::Builder::from(&self.config)
            .interceptor(bounded::BoundedResponses(errors::LAMBDA.max_answer_bytes))
            .retry_classifier(bounded::NoRetryPastTheBound);
        if let Some(url) = self.endpoints.get("lambda") {
            b = b.endpoint_url(url);
        }
        aws_sdk_lambda::Client::from_conf(b.build())
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        let mut b = aws_sdk_sns::config::Builder::from(&self.config)
            .interceptor(bounded::BoundedResponses(errors::SNS.max_answer_bytes))
            .retry_classifier(bounded::NoRetryPastTheBound);
        if let Some(url) = self.endpoints.get("sns") {
            b = b.endpoint_url(url);
        }
        aws_sdk_sns::Client::from_conf(b.build())
    }

    /// The client of `arn:aws:states:::aws-sdk:*` tasks: this configuration's
    /// region, credentials and endpoints (`aws.endpoints` keys are ARN
    /// service names or endpoint prefixes).
    pub fn aws_sdk(&self) -> Result<expressway_aws_sdk::AwsSdkClient, String> {
        expressway_aws_sdk::AwsSdkClient::new(expressway_aws_sdk::Settings {
            region: self.region(),
            endpoint_url: self.config.endpoint_url().map(str::to_string),
            endpoints: self.endpoints.clone(),
            credentials: self.config.credentials_provider(),
            timeout: AWS_SDK_CALL_TIMEOUT,
        })
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let mut b = aws_sdk_dynamodb::config::Builder::from(&self.config)
            .interceptor(bounded::BoundedResponses(errors::DYNAMODB.max_answer_bytes))
            .retry_classifier(bounded::NoRetryPastTheBound);
        if let Some(url) = self.endpoints.get("dynamodb") {
            b = b.endpoint_url(url);
        }
        aws_sdk_dynamodb::Client::from_conf(b.build())
    }
}
