//! Sending a call: the endpoint (an override from the configuration, else
//! the service's regional endpoint), SigV4 with `aws-sigv4` over the
//! credentials of the SDK configuration, and the hyper client.

use crate::Call;
use crate::request::WireRequest;
use crate::response::{self, Failure, WireResponse};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The memory budget of one service answer's body: a `Content-Length`
/// above it is refused unread, a body streamed past it is cut off there.
/// Past it the call fails as `States.DataLimitExceeded`, as Step Functions'
/// 256 KiB result limit would fail it anyway (XML answers are further
/// bounded by [`crate::xml::MAX_ELEMENTS`]).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The failure of an answer over its budget (normally [`MAX_RESPONSE_BYTES`]).
pub fn too_large(call: &Call, size: Option<u64>, budget: usize) -> Failure {
    let size = size.map(|n| format!(" ({n} bytes)")).unwrap_or_default();
    Failure {
        error: "States.DataLimitExceeded".into(),
        cause: format!(
            "The answer of {}{size} exceeds the {budget}-byte budget for one service answer",
            call.resource()
        ),
        service_error: None,
    }
}

pub struct Settings {
    pub region: String,
    /// Every service's endpoint (`aws.endpoint_url`, e.g. an emulator).
    pub endpoint_url: Option<String>,
    /// Per-service endpoints by ARN service name, then endpoint prefix.
    pub endpoints: BTreeMap<String, String>,
    pub credentials: Option<SharedCredentialsProvider>,
    pub timeout: Duration,
}

pub struct AwsSdkClient {
    http: Client<Https, Full<Bytes>>,
    settings: Settings,
    cached: Mutex<Option<Credentials>>,
}

/// How a request is signed: the service's signing name and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    pub name: String,
    pub region: String,
}

/// Why a request got no answer to read.
#[derive(Debug)]
pub enum Sent {
    /// Over the call's budget: the declared size, when there was one.
    TooLarge(Option<u64>),
    NoAnswer(String),
}

impl From<String> for Sent {
    fn from(cause: String) -> Sent {
        Sent::NoAnswer(cause)
    }
}

fn client_failure(sdk: &str, cause: String) -> Failure {
    Failure { error: format!("{sdk}.SdkClientException"), cause, service_error: None }
}

/// The HTTP/1.1 client over rustls with the system's roots (plain `http://`
/// too, for emulators) that every outbound task call uses; it follows no
/// redirects.
pub fn https_client() -> Result<Client<Https, Full<Bytes>>, String> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| format!("loading the system's TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

impl AwsSdkClient {
    pub fn new(settings: Settings) -> Result<AwsSdkClient, String> {
        Ok(AwsSdkClient { http: https_client()?, settings, cached: Mutex::new(None) })
    }

    /// The base URL and signing region of `call`'s service.
    pub fn endpoint(&self, call: &Call) -> (String, String) {
        let meta = &call.model.metadata;
        let region = self.settings.region.clone();
        let configured = self
            .settings
            .endpoints
            .get(&call.service)
            .or_else(|| self.settings.endpoints.get(&meta.endpoint_prefix))
            .or(self.settings.endpoint_url.as_ref());
        if let Some(url) = configured {
            return (url.trim_end_matches('/').to_string(), region);
        }
        let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
        match &meta.global_endpoint {
            // Global services (IAM, Route 53, CloudFront) sign for us-east-1;
            // S3 names one too but answers regionally.
            Some(global) if call.service != "s3" && !region.starts_with("cn-") => {
                (format!("https://{global}"), "us-east-1".into())
            }
            _ => (format!("https://{}.{region}.{suffix}", meta.endpoint_prefix), region),
        }
    }

    async fn credentials(&self) -> Result<Credentials, String> {
        let fresh = |c: &Credentials| c.expiry().is_none_or(|t| t > SystemTime::now() + Duration::from_secs(300));
        if let Some(c) = self.cached.lock().map_err(|_| "credential cache poisoned")?.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let provider = self.settings.credentials.as_ref().ok_or("no AWS credentials are configured")?;
        let c = provider.provide_credentials().await.map_err(|e| format!("loading AWS credentials: {e}"))?;
        *self.cached.lock().map_err(|_| "credential cache poisoned")? = Some(c.clone());
        Ok(c)
    }

    /// Run `call` with `input` (its `Parameters`/`Arguments`).
    pub async fn call(&self, call: &Call, input: &Json) -> Result<Json, Failure> {
        self.call_within(call, input, MAX_RESPONSE_BYTES).await
    }

    /// Like [`Self::call`], reading an answer of at most `budget` bytes (an
    /// `ItemReader`'s object is data, not a result bound by 256 KiB).
    pub async fn call_within(&self, call: &Call, input: &Json, budget: usize) -> Result<Json, Failure> {
        self.answer(call, input, budget).await.map(|(out, _)| out)
    }

    /// Like [`Self::call`], with the answer's status and headers: the
    /// optimised integrations build `SdkHttpMetadata` from them.
    pub async fn call_with_answer(&self, call: &Call, input: &Json) -> Result<(Json, WireResponse), Failure> {
        self.answer(call, input, MAX_RESPONSE_BYTES).await
    }

    async fn answer(&self, call: &Call, input: &Json, budget: usize) -> Result<(Json, WireResponse), Failure> {
        let (out, mut resp) = self.call_with_raw_answer(call, input, budget).await?;
        resp.body = Vec::new();
        Ok((out, resp))
    }

    /// Like [`Self::call_within`], with the whole answer, its body too: the
    /// bytes a text member would mangle (a gzip-compressed S3 object).
    pub async fn call_with_raw_answer(
        &self,
        call: &Call,
        input: &Json,
        budget: usize,
    ) -> Result<(Json, WireResponse), Failure> {
        let wire = crate::request::build(&call.model, &call.operation, call.op(), input).map_err(|cause| Failure {
            error: "States.Runtime".into(),
            cause: format!("{}: {cause}", call.resource()),
            service_error: None,
        })?;
        let resp = self.send(call, wire, budget).await?;
        let out = response::read(&call.model, call.op(), &resp)?;
        Ok((out, resp))
    }

    async fn send(&self, call: &Call, wire: WireRequest, budget: usize) -> Result<WireResponse, Failure> {
        let sdk = &call.model.metadata.sdk_name;
        self.send_unchecked(call, wire, budget).await.map_err(|e| match e {
            Sent::TooLarge(size) => too_large(call, size, budget),
            Sent::NoAnswer(cause) => client_failure(sdk, cause),
        })
    }

    async fn send_unchecked(&self, call: &Call, wire: WireRequest, budget: usize) -> Result<WireResponse, Sent> {
        let (base, region) = self.endpoint(call);
        let url = format!("{base}{}", wire.path_and_query);
        let signing = Signing { name: call.model.signing_name().to_string(), region };
        self.send_to(&url, wire, Some(signing), budget).await
    }

    /// Send `wire` (its path ignored) to `url`, SigV4-signed as `signing`
    /// says or unsigned, under this client's timeout, reading an answer of
    /// at most `budget` bytes: the transport of `apigateway:invoke` too.
    pub async fn send_to(
        &self,
        url: &str,
        wire: WireRequest,
        signing: Option<Signing>,
        budget: usize,
    ) -> Result<WireResponse, Sent> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("the endpoint '{url}' is not a URL: {e}"))?;
        let host = match (uri.host(), uri.port_u16()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return Err(Sent::NoAnswer(format!("the endpoint '{url}' has no host"))),
        };
        let mut headers = wire.headers;
        headers.push(("host".into(), host));
        let mut signed: Vec<(String, String)> = Vec::new();
        if let Some(signing) = signing {
            let credentials = self.credentials().await?;
            let identity = credentials.into();
            let mut settings = SigningSettings::default();
            if signing.name == "s3" {
                settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
                settings.percent_encoding_mode = PercentEncodingMode::Single;
                settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            }
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&signing.region)
                .name(&signing.name)
                .time(SystemTime::now())
                .settings(settings)
                .build()
                .map_err(|e| format!("signing: {e}"))?
                .into();
            let signable = SignableRequest::new(
                &wire.method,
                url,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Bytes(&wire.body),
            )
            .map_err(|e| format!("signing: {e}"))?;
            let (instructions, _) = sign(signable, &params).map_err(|e| format!("signing: {e}"))?.into_parts();
            signed = instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        }
        let mut builder = hyper::Request::builder().method(wire.method.as_str()).uri(uri);
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        for (k, v) in &signed {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request =
            builder.body(Full::new(Bytes::from(wire.body))).map_err(|e| format!("building the request: {e}"))?;
        let sent = tokio::time::timeout(self.settings.timeout, async {
            let resp = self.http.request(request).await.map_err(|e| format!("Unable to execute HTTP request: {e}"))?;
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let declared = resp.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|n| n > budget as u64) {
                return Err(Sent::TooLarge(declared));
            }
            let body = match Limited::new(resp.into_body(), budget).collect().await {
                Ok(collected) => collected.to_bytes().to_vec(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(Sent::TooLarge(None)),
                Err(e) => return Err(Sent::NoAnswer(format!("Unable to read the answer: {e}"))),
            };
            Ok::<_, Sent>(WireResponse { status, headers, body })
        })
        .await;
        sent.map_err(|_| {
            Sent::NoAnswer(format!("Unable to execute HTTP request: no answer within {:?}", self.settings.timeout))
        })?
    }
}
