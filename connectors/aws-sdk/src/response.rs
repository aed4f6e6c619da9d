//! An HTTP answer as Step Functions hands it to the state machine: the
//! output shape in PascalCase, or the error `<SdkName>.<Exception>` with
//! the Java SDK's cause text.

use crate::model::{Kind, Location, Operation, Protocol, ServiceModel, pascal};
use crate::values::{blob_out, scalar_from_text};
use crate::{json, xml};
use serde_json::{Map, Value as Json};

pub struct WireResponse {
    pub status: u16,
    /// Header names lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WireResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A failed call: the ASL error name and cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
    /// What the service answered, when it answered with an error: the
    /// optimised integrations name their errors from it.
    pub service_error: Option<Box<ServiceError>>,
}

/// A service's error answer, as the wire had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub status: u16,
    /// The service's error code (`ExecutionAlreadyExists`).
    pub code: String,
    /// The Java SDK's exception class (`ExecutionAlreadyExistsException`).
    pub exception: String,
    pub message: Option<String>,
    pub request_id: Option<String>,
}

pub fn read(model: &ServiceModel, op: &Operation, resp: &WireResponse) -> Result<Json, Failure> {
    if resp.status >= 300 {
        return Err(error(model, resp));
    }
    let malformed = |e: String| Failure {
        error: format!("{}.SdkClientException", model.metadata.sdk_name),
        cause: format!("Unable to unmarshall response ({e}). Response Code: {}", resp.status),
        service_error: None,
    };
    let Some(output) = op.output.as_deref() else { return Ok(Json::Object(Map::new())) };
    match model.metadata.protocol {
        Protocol::Json => {
            if resp.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Json::Object(Map::new()));
            }
            let wire: Json = serde_json::from_slice(&resp.body).map_err(|e| malformed(e.to_string()))?;
            json::from_wire(model, output, &wire).map_err(malformed)
        }
        Protocol::Query | Protocol::Ec2 => {
            let text = String::from_utf8_lossy(&resp.body);
            let root = xml::parse(&text).map_err(malformed)?;
            let result = match &op.result_wrapper {
                Some(wrapper) => root.child(wrapper).unwrap_or(&root),
                None => &root,
            };
            xml::structure(model, output, result, 0).map_err(malformed)
        }
        Protocol::RestJson | Protocol::RestXml => rest(model, output, resp).map_err(malformed),
    }
}

fn rest(model: &ServiceModel, output: &str, resp: &WireResponse) -> Result<Json, String> {
    let shape = model.shape(output)?;
    let xml_protocol = model.metadata.protocol == Protocol::RestXml;
    let mut out = match &shape.payload {
        Some(_) => Map::new(),
        None if resp.body.iter().all(u8::is_ascii_whitespace) => Map::new(),
        None if xml_protocol => {
            match xml::structure(model, output, &xml::parse(&String::from_utf8_lossy(&resp.body))?, 0)? {
                Json::Object(m) => m,
                _ => Map::new(),
            }
        }
        None => {
            let wire: Json = serde_json::from_slice(&resp.body).map_err(|e| e.to_string())?;
            match json::from_wire(model, output, &wire)? {
                Json::Object(m) => m,
                _ => Map::new(),
            }
        }
    };
    for (name, member) in &shape.members {
        let mshape = model.shape(&member.shape)?;
        let wire = member.location_name.as_deref().unwrap_or(name).to_ascii_lowercase();
        match member.location {
            Some(Location::Header) => {
                if let Some(v) = resp.header(&wire) {
                    let value = if mshape.jsonvalue || member.jsonvalue {
                        crate::values::base64_decode(v)
                            .and_then(|b| serde_json::from_slice(&b).ok())
                            .unwrap_or_else(|| Json::String(v.to_string()))
                    } else if mshape.kind == Kind::List {
                        Json::Array(v.split(',').map(|s| Json::String(s.trim().to_string())).collect())
                    } else {
                        scalar_from_text(mshape, v)
                    };
                    out.insert(pascal(name), value);
                }
            }
            // Prefixed headers (S3 `Metadata`) are always there, if empty.
            Some(Location::Headers) => {
                let prefix = wire.as_str();
                let map: Map<String, Json> = resp
                    .headers
                    .iter()
                    .filter_map(|(k, v)| k.strip_prefix(prefix).map(|key| (key.to_string(), Json::String(v.clone()))))
                    .collect();
                out.insert(pascal(name), Json::Object(map));
            }
            Some(Location::StatusCode) => {
                out.insert(pascal(name), Json::from(resp.status));
            }
            _ => {}
        }
    }
    // The payload last, as Step Functions writes it (S3 `Body`).
    if let Some(payload) = &shape.payload
        && let Some((pname, member)) = shape.members.iter().find(|(n, _)| n == payload)
    {
        let pshape = model.shape(&member.shape)?;
        let value = match pshape.kind {
            Kind::Blob | Kind::String => Some(blob_out(&resp.body)),
            _ if resp.body.iter().all(u8::is_ascii_whitespace) => None,
            _ if xml_protocol => {
                Some(xml::value(model, member, &xml::parse(&String::from_utf8_lossy(&resp.body))?, 0)?)
            }
            _ => Some(json::from_wire(
                model,
                &member.shape,
                &serde_json::from_slice(&resp.body).map_err(|e| e.to_string())?,
            )?),
        };
        if let Some(v) = value {
            out.insert(pascal(pname), v);
        }
    }
    // Header members read after the body go in name order too.
    let mut sorted: Vec<(String, Json)> = out.into_iter().collect();
    let payload = shape.payload.as_deref().map(pascal);
    sorted.sort_by(|a, b| (Some(&a.0) == payload.as_ref()).cmp(&(Some(&b.0) == payload.as_ref())).then(a.0.cmp(&b.0)));
    Ok(Json::Object(sorted.into_iter().collect()))
}

/// The code, message and request ids of an error answer, per protocol.
struct ErrorParts {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    extended_request_id: Option<String>,
}

fn error_parts(model: &ServiceModel, resp: &WireResponse) -> ErrorParts {
    let mut parts = ErrorParts {
        code: None,
        message: None,
        request_id: resp.header("x-amzn-requestid").or(resp.header("x-amz-request-id")).map(str::to_string),
        extended_request_id: resp.header("x-amz-id-2").map(str::to_string),
    };
    match model.metadata.protocol {
        Protocol::Json | Protocol::RestJson => {
            let body: Json = serde_json::from_slice(&resp.body).unwrap_or(Json::Null);
            let field = |k: &str| body.get(k).and_then(Json::as_str).map(str::to_string);
            let header_type = resp.header("x-amzn-errortype").map(str::to_string);
            let code = header_type.or_else(|| field("__type")).or_else(|| field("code")).or_else(|| field("Code"));
            parts.code = code.map(|c| {
                let c = c.split(':').next().unwrap_or(&c).to_string();
                c.rsplit('#').next().unwrap_or(&c).to_string()
            });
            // Query-compatible services (SQS) also send `x-amzn-query-error`
            // with the query-era code; the Java SDK names the exception
            // after `__type`, as here.
            parts.message = field("message").or_else(|| field("Message")).or_else(|| field("errorMessage"));
        }
        Protocol::RestXml | Protocol::Query | Protocol::Ec2 => {
            if let Ok(root) = xml::parse(&String::from_utf8_lossy(&resp.body)) {
                parts.code = root.find_text("Code").map(str::to_string);
                parts.message = root.find_text("Message").map(str::to_string);
                if let Some(id) = root.find_text("RequestId").or(root.find_text("RequestID")) {
                    parts.request_id.get_or_insert_with(|| id.to_string());
                }
            }
        }
    }
    if parts.code.is_none() {
        // A body-less answer (S3 HEAD): the status names it.
        parts.code = Some(
            match resp.status {
                404 => "NotFound",
                403 => "Forbidden",
                400 => "BadRequest",
                _ => "",
            }
            .to_string(),
        );
    }
    parts
}

pub fn error(model: &ServiceModel, resp: &WireResponse) -> Failure {
    let parts = error_parts(model, resp);
    let sdk = &model.metadata.sdk_name;
    let code = parts.code.unwrap_or_default();
    let exception = model.error_name(&code);
    let mut details = format!(
        "Service: {sdk}, Status Code: {}, Request ID: {}",
        resp.status,
        parts.request_id.as_deref().unwrap_or("null")
    );
    if let Some(ext) = parts.extended_request_id {
        details.push_str(&format!(", Extended Request ID: {ext}"));
    }
    Failure {
        error: format!("{sdk}.{exception}"),
        cause: format!("{} ({details})", parts.message.as_deref().unwrap_or("null")),
        service_error: Some(Box::new(ServiceError {
            status: resp.status,
            code,
            exception,
            message: parts.message,
            request_id: parts.request_id,
        })),
    }
}
