//! The minimised AWS service model (what `deploy/dev/aws-models.py` keeps of
//! botocore's `service-2.json`): enough to put a call on the wire and read
//! its answer, nothing of the documentation or validation rules.

use serde::{Deserialize, Deserializer};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "rest-json")]
    RestJson,
    #[serde(rename = "rest-xml")]
    RestXml,
    #[serde(rename = "query")]
    Query,
    #[serde(rename = "ec2")]
    Ec2,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub protocol: Protocol,
    pub service_id: String,
    pub endpoint_prefix: String,
    pub signing_name: Option<String>,
    pub target_prefix: Option<String>,
    pub json_version: Option<String>,
    pub api_version: String,
    pub global_endpoint: Option<String>,
    /// The AWS SDK for Java v2 client name: the error prefix.
    pub sdk_name: String,
    #[serde(default)]
    pub aws_query_compatible: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http {
    pub method: String,
    pub request_uri: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub http: Http,
    pub input: Option<String>,
    pub output: Option<String>,
    pub result_wrapper: Option<String>,
    #[serde(default)]
    pub checksum_required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Float,
    Double,
    Boolean,
    Blob,
    Timestamp,
    #[serde(rename = "bigdecimal")]
    BigDecimal,
    #[serde(rename = "biginteger")]
    BigInteger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Location {
    Uri,
    Querystring,
    Header,
    Headers,
    StatusCode,
}

#[derive(Debug, Default, Deserialize)]
pub struct XmlNamespace {
    pub uri: String,
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub shape: String,
    pub location: Option<Location>,
    pub location_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    pub xml_namespace: Option<XmlNamespace>,
    #[serde(default)]
    pub xml_attribute: bool,
    #[serde(default)]
    pub jsonvalue: bool,
    pub timestamp_format: Option<String>,
    pub query_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorTrait {
    pub code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default, deserialize_with = "ordered_members")]
    pub members: Vec<(String, Member)>,
    pub member: Option<Box<Member>>,
    pub key: Option<Box<Member>>,
    pub value: Option<Box<Member>>,
    pub payload: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub streaming: bool,
    #[serde(default)]
    pub exception: bool,
    pub xml_namespace: Option<XmlNamespace>,
    pub location_name: Option<String>,
    #[serde(default)]
    pub jsonvalue: bool,
    #[serde(default)]
    pub document: bool,
    #[serde(default)]
    pub eventstream: bool,
    pub error: Option<ErrorTrait>,
    /// The SDK for Java v2 exception class of an error shape.
    pub sdk_name: Option<String>,
}

/// Members in the model's order (XML bodies follow it).
fn ordered_members<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Member)>, D::Error> {
    let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    map.into_iter()
        .map(|(name, m)| Member::deserialize(m).map(|m| (name, m)).map_err(serde::de::Error::custom))
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct ServiceModel {
    pub metadata: Metadata,
    pub operations: HashMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
    /// Operation names by their lower case: an action resolves per call.
    #[serde(skip)]
    pub by_lower_name: HashMap<String, String>,
}

impl ServiceModel {
    pub fn shape(&self, name: &str) -> Result<&Shape, String> {
        self.shapes.get(name).ok_or_else(|| format!("the service model has no shape '{name}'"))
    }

    /// The operation an ASL action names: `getObject` is `GetObject`.
    /// Matched without regard to case, as AWS's camelCase of an operation
    /// with an acronym (`listObjectsV2`, `describeDBInstances`) varies.
    pub fn operation(&self, action: &str) -> Option<(&str, &Operation)> {
        let name = self.by_lower_name.get(&action.to_ascii_lowercase())?;
        self.operations.get_key_value(name).map(|(n, o)| (n.as_str(), o))
    }

    /// Fills the index [`Self::operation`] reads; once, after loading.
    pub fn index_operations(&mut self) {
        self.by_lower_name = self.operations.keys().map(|n| (n.to_ascii_lowercase(), n.clone())).collect();
    }

    /// The name Step Functions gives an error the service answered with:
    /// the Java SDK's exception class of the modelled error whose code (or
    /// shape name) it is, else the service's own `<SdkName>Exception`.
    pub fn error_name(&self, code: &str) -> String {
        // A shape whose modelled code matches wins over one merely named so,
        // whatever order the shapes are stored in.
        let exceptions = || self.shapes.iter().filter(|(_, s)| s.exception);
        let modelled = exceptions()
            .find(|(_, s)| s.error.as_ref().and_then(|e| e.code.as_deref()) == Some(code))
            .or_else(|| exceptions().find(|(name, _)| name.as_str() == code));
        match modelled.and_then(|(_, s)| s.sdk_name.clone()) {
            Some(name) => name,
            None => format!("{}Exception", self.metadata.sdk_name),
        }
    }

    pub fn signing_name(&self) -> &str {
        self.metadata.signing_name.as_deref().unwrap_or(&self.metadata.endpoint_prefix)
    }
}

/// The Step Functions parameter (and result) name of a member: the AWS SDK
/// for Java v2's property name with its first letter upper case, as Step
/// Functions serialises the Java SDK's objects. The Java name lower-cases
/// the leading capitals but the last before a lower-case letter
/// (`SSEKMSKeyId` is `ssekmsKeyId`, `BOOL` is `bool`, `ETag` is `eTag`) and
/// appends `Value` to Java keywords and reserved method names; so
/// `restApiId` is `RestApiId`, `SSEKMSKeyId` is `SsekmsKeyId`, DynamoDB's
/// `BOOL` is `Bool` (AWS's answers to Step Functions show `Bool`, see
/// aws/aws-sdk-js#4294), `Equals` is `EqualsValue` (the developer guide's
/// example), and DynamoDB's `NULL` is `Nul` (the Java SDK's customisation
/// of that member).
pub fn pascal(member: &str) -> String {
    if member == "NULL" {
        return "Nul".into();
    }
    let java = java_property(member);
    let mut chars = java.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Java keywords and the method names every Java SDK v2 model object
/// already has: a member so named gets `Value` appended.
const JAVA_RESERVED: &[&str] = &[
    "abstract",
    "assert",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extends",
    "false",
    "final",
    "finally",
    "float",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "int",
    "interface",
    "long",
    "native",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "true",
    "try",
    "void",
    "volatile",
    "while",
    "equals",
    "finalize",
    "getClass",
    "hashCode",
    "notify",
    "notifyAll",
    "toString",
    "wait",
    "builder",
    "sdkFields",
    "toBuilder",
    "overrideConfiguration",
    "sdkHttpResponse",
];

/// The Java SDK v2's name of a member (its code generator's
/// `Utils.unCapitalize`, then the reserved-name rewrite).
fn java_property(member: &str) -> String {
    let lowered = un_capitalize(member);
    if JAVA_RESERVED.contains(&lowered.as_str()) || JAVA_RESERVED.contains(&lowered.to_lowercase().as_str()) {
        return un_capitalize(&format!("{lowered}Value"));
    }
    lowered
}

/// Lower-cases the first letter and the capitals after it, up to the last
/// capital before a lower-case letter: `SSEKMSKeyId` → `ssekmsKeyId`.
fn un_capitalize(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < chars.len() {
        out.extend(chars[i].to_lowercase());
        i += 1;
        let next_upper = chars.get(i).is_some_and(|c| c.is_uppercase());
        let then_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
        if !next_upper || then_lower {
            break;
        }
    }
    out.extend(&chars[i..]);
    out
}
