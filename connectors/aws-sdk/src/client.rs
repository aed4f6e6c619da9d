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

/// The most of an answer read: past it the call fails as Step Functions'
/// payload limit would.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

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

fn client_failure(sdk: &str, cause: String) -> Failure {
    Failure { error: format!("{sdk}.SdkClientException"), cause }
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
        let sdk = call.model.metadata.sdk_name.clone();
        let wire = crate::request::build(&call.model, &call.operation, call.op(), input).map_err(|cause| Failure {
            error: "States.Runtime".into(),
            cause: format!("{}: {cause}", call.resource()),
        })?;
        let resp = self.send(call, wire).await.map_err(|cause| client_failure(&sdk, cause))?;
        response::read(&call.model, call.op(), &resp)
    }

    async fn send(&self, call: &Call, wire: WireRequest) -> Result<WireResponse, String> {
        let (base, region) = self.endpoint(call);
        let url = format!("{base}{}", wire.path_and_query);
        let uri: hyper::Uri = url.parse().map_err(|e| format!("the endpoint '{url}' is not a URL: {e}"))?;
        let host = match (uri.host(), uri.port_u16()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return Err(format!("the endpoint '{url}' has no host")),
        };
        let mut headers = wire.headers;
        headers.push(("host".into(), host));
        let credentials = self.credentials().await?;
        let identity = credentials.into();
        let mut signing = SigningSettings::default();
        if call.model.signing_name() == "s3" {
            signing.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            signing.percent_encoding_mode = PercentEncodingMode::Single;
            signing.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name(call.model.signing_name())
            .time(SystemTime::now())
            .settings(signing)
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let signable = SignableRequest::new(
            &wire.method,
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&wire.body),
        )
        .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| format!("signing: {e}"))?.into_parts();
        let mut builder = hyper::Request::builder().method(wire.method.as_str()).uri(uri);
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        for (k, v) in instructions.headers() {
            builder = builder.header(k, v);
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
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer (at most {MAX_RESPONSE_BYTES} bytes): {e}"))?
                .to_bytes()
                .to_vec();
            Ok::<_, String>(WireResponse { status, headers, body })
        })
        .await;
        sent.map_err(|_| format!("Unable to execute HTTP request: no answer within {:?}", self.settings.timeout))?
    }
}
