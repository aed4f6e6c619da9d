//! Requests built and answers read against the wire formats the AWS API
//! references document, with no network: one or more operations per
//! protocol, the error naming Step Functions uses, and the model bundle.

use expressway_aws_sdk::Call;
use expressway_aws_sdk::request::{WireRequest, build};
use expressway_aws_sdk::response::{Failure, WireResponse, read};
use serde_json::{Value as Json, json};

fn request(service: &str, action: &str, input: Json) -> WireRequest {
    let call = Call::resolve(service, action).expect("resolves");
    build(&call.model, &call.operation, call.op(), &input).expect("builds")
}

fn header<'a>(req: &'a WireRequest, name: &str) -> Option<&'a str> {
    req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn answer(service: &str, action: &str, status: u16, headers: &[(&str, &str)], body: &str) -> Result<Json, Failure> {
    let call = Call::resolve(service, action).expect("resolves");
    let resp = WireResponse {
        status,
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: body.as_bytes().to_vec(),
    };
    read(&call.model, call.op(), &resp)
}

fn form(req: &WireRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(&req.body).into_owned().collect()
}

#[test]
fn the_bundle_holds_every_sdk_service_under_its_java_client_name() {
    let services = expressway_aws_sdk::bundle::services();
    assert!(services.len() > 400, "{} services", services.len());
    for name in [
        "s3",
        "dynamodb",
        "eventbridge",
        "sfn",
        "secretsmanager",
        "ssm",
        "kinesis",
        "sqs",
        "sns",
        "ec2",
        "acmpca",
        "cloudwatchlogs",
        "rekognition",
        "glue",
        "bedrockagent",
    ] {
        assert!(services.contains(&name), "{name} missing");
    }
    let sdk = |s: &str| expressway_aws_sdk::bundle::service(s).map(|m| m.metadata.sdk_name.clone());
    assert_eq!(sdk("dynamodb").as_deref(), Ok("DynamoDb"));
    assert_eq!(sdk("sfn").as_deref(), Ok("Sfn"));
    assert_eq!(sdk("acmpca").as_deref(), Ok("AcmPca"));
    assert_eq!(sdk("cloudwatchlogs").as_deref(), Ok("CloudWatchLogs"));
}

#[test]
fn unknown_services_and_actions_are_named_in_the_diagnostic() {
    let e = Call::resolve("nosuchservice", "getThing").unwrap_err();
    assert!(e.contains("'nosuchservice'"), "{e}");
    let e = Call::resolve("s3", "getObjekt").unwrap_err();
    assert!(e.contains("'s3'") && e.contains("'getObjekt'"), "{e}");
    // camelCase with acronyms matches whatever its case.
    assert_eq!(Call::resolve("s3", "listObjectsV2").map(|c| c.operation), Ok("ListObjectsV2".to_string()));
    assert_eq!(Call::resolve("rds", "describeDBInstances").map(|c| c.operation), Ok("DescribeDBInstances".to_string()));
}

#[test]
fn json_1_0_posts_the_input_under_its_target() {
    let req = request("dynamodb", "putItem", json!({"TableName": "t", "Item": {"id": {"S": "1"}}}));
    assert_eq!((req.method.as_str(), req.path_and_query.as_str()), ("POST", "/"));
    assert_eq!(header(&req, "x-amz-target"), Some("DynamoDB_20120810.PutItem"));
    assert_eq!(header(&req, "content-type"), Some("application/x-amz-json-1.0"));
    let body: Json = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, json!({"TableName": "t", "Item": {"id": {"S": "1"}}}));
}

#[test]
fn json_1_1_targets_and_unknown_parameters_are_refused_by_name() {
    let req = request("ssm", "getParameter", json!({"Name": "/a", "WithDecryption": true}));
    assert_eq!(header(&req, "x-amz-target"), Some("AmazonSSM.GetParameter"));
    assert_eq!(header(&req, "content-type"), Some("application/x-amz-json-1.1"));
    let call = Call::resolve("ssm", "getParameter").unwrap();
    let e = build(&call.model, &call.operation, call.op(), &json!({"Nme": "/a"})).unwrap_err();
    assert!(e.contains("\"Nme\"") && e.contains("Name"), "{e}");
}

#[test]
fn json_results_are_pascal_case_with_iso_timestamps() {
    let out = answer("sfn", "startExecution", 200, &[], r#"{"executionArn":"arn:x","startDate":1.7e9}"#).unwrap();
    assert_eq!(out, json!({"ExecutionArn": "arn:x", "StartDate": "2023-11-14T22:13:20Z"}));
}

#[test]
fn json_errors_are_the_java_sdk_exception_with_its_cause() {
    let e = answer(
        "dynamodb",
        "putItem",
        400,
        &[("x-amzn-requestid", "R1")],
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#,
    )
    .unwrap_err();
    assert_eq!(e.error, "DynamoDb.ResourceNotFoundException");
    assert_eq!(e.cause, "Requested resource not found (Service: DynamoDb, Status Code: 400, Request ID: R1)");
    // A code the model does not list: the service's base exception.
    let e = answer(
        "secretsmanager",
        "createSecret",
        400,
        &[("x-amzn-requestid", "R2")],
        r#"{"__type":"ValidationException","Message":"Invalid name."}"#,
    )
    .unwrap_err();
    assert_eq!(e.error, "SecretsManager.SecretsManagerException");
    assert_eq!(e.cause, "Invalid name. (Service: SecretsManager, Status Code: 400, Request ID: R2)");
    // SQS (json, query-compatible): the query-era code names the error.
    let e = answer(
        "sqs",
        "getQueueUrl",
        400,
        &[("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender")],
        r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"}"#,
    )
    .unwrap_err();
    assert_eq!(e.error, "Sqs.QueueDoesNotExistException");
}

#[test]
fn rest_xml_binds_uri_labels_query_headers_and_a_json_body_as_text() {
    let req = request("s3", "getObject", json!({"Bucket": "b", "Key": "dir/a b.json", "Range": "bytes=0-9"}));
    assert_eq!((req.method.as_str(), req.path_and_query.as_str()), ("GET", "/b/dir/a%20b.json"));
    assert_eq!(header(&req, "range"), Some("bytes=0-9"));
    let req = request(
        "s3",
        "putObject",
        json!({"Bucket": "b", "Key": "k", "Body": {"Dict": "Value"}, "Metadata": {"Owner": "me"}}),
    );
    assert_eq!(req.method, "PUT");
    assert_eq!(req.body, br#"{"Dict":"Value"}"#);
    assert_eq!(header(&req, "x-amz-meta-owner"), Some("me"));
    let req = request("s3", "listObjectsV2", json!({"Bucket": "b", "Prefix": "in/", "MaxKeys": 5}));
    assert_eq!(req.path_and_query, "/b?list-type=2&max-keys=5&prefix=in%2F");
}

#[test]
fn rest_xml_writes_payload_structures_in_the_service_namespace() {
    let req =
        request("s3", "putBucketTagging", json!({"Bucket": "b", "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}}));
    let body = String::from_utf8(req.body.clone()).unwrap();
    assert_eq!(
        body,
        r#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"#
    );
    assert!(header(&req, "content-md5").is_some(), "PutBucketTagging requires Content-MD5");
}

#[test]
fn rest_xml_results_take_headers_and_the_body_as_text_last() {
    let out = answer(
        "s3",
        "getObject",
        200,
        &[
            ("content-length", "9"),
            ("content-type", "binary/octet-stream"),
            ("etag", "\"332eec544317a6d340b8e77da7fe54ad\""),
            ("last-modified", "Wed, 22 Jan 2025 13:27:57 GMT"),
            ("accept-ranges", "bytes"),
            ("x-amz-server-side-encryption", "AES256"),
        ],
        "text data",
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&out).unwrap(),
        r#"{"AcceptRanges":"bytes","ContentLength":9,"ContentType":"binary/octet-stream","ETag":"\"332eec544317a6d340b8e77da7fe54ad\"","LastModified":"2025-01-22T13:27:57Z","Metadata":{},"ServerSideEncryption":"AES256","Body":"text data"}"#
    );
    let listed = answer(
        "s3",
        "listObjectsV2",
        200,
        &[],
        r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>2</KeyCount><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b</Key><Size>3</Size></Contents><Contents><Key>c</Key><Size>4</Size></Contents></ListBucketResult>"#,
    )
    .unwrap();
    assert_eq!(listed["Contents"], json!([{"Key": "a&b", "Size": 3}, {"Key": "c", "Size": 4}]));
    assert_eq!((listed["KeyCount"].clone(), listed["IsTruncated"].clone()), (json!(2), json!(false)));
}

#[test]
fn rest_xml_errors_name_the_exception_with_the_extended_request_id() {
    let e = answer(
        "s3",
        "getObject",
        404,
        &[("x-amz-request-id", "R3"), ("x-amz-id-2", "X3")],
        "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>k</Key></Error>",
    )
    .unwrap_err();
    assert_eq!(e.error, "S3.NoSuchKeyException");
    assert_eq!(
        e.cause,
        "The specified key does not exist. (Service: S3, Status Code: 404, Request ID: R3, Extended Request ID: X3)"
    );
}

#[test]
fn query_flattens_the_input_into_form_fields_and_reads_the_result_wrapper() {
    let req = request(
        "sns",
        "createTopic",
        json!({"Name": "t", "Attributes": {"DisplayName": "d"}, "Tags": [{"Key": "k", "Value": "v"}]}),
    );
    assert_eq!(header(&req, "content-type"), Some("application/x-www-form-urlencoded; charset=utf-8"));
    let fields = form(&req);
    for (k, v) in [
        ("Action", "CreateTopic"),
        ("Version", "2010-03-31"),
        ("Name", "t"),
        ("Attributes.entry.1.key", "DisplayName"),
        ("Attributes.entry.1.value", "d"),
        ("Tags.member.1.Key", "k"),
        ("Tags.member.1.Value", "v"),
    ] {
        assert!(fields.contains(&(k.to_string(), v.to_string())), "{k}={v} not in {fields:?}");
    }
    let out = answer(
        "sns",
        "publish",
        200,
        &[],
        r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>"#,
    )
    .unwrap();
    assert_eq!(out, json!({"MessageId": "m-1"}));
    let e = answer(
        "sns",
        "publish",
        404,
        &[],
        r#"<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>r9</RequestId></ErrorResponse>"#,
    )
    .unwrap_err();
    assert_eq!(
        (e.error.as_str(), e.cause.as_str()),
        ("Sns.NotFoundException", "Topic does not exist (Service: Sns, Status Code: 404, Request ID: r9)")
    );
    let answered = e.service_error.expect("the service's error");
    assert_eq!(
        (answered.status, answered.code.as_str(), answered.request_id.as_deref()),
        (404, "NotFound", Some("r9"))
    );
}

#[test]
fn ec2_numbers_lists_without_member_and_reads_item_lists() {
    let req = request(
        "ec2",
        "describeVpcs",
        json!({"Filters": [{"Name": "cidr", "Values": ["10.0.0.0/16", "10.1.0.0/16"]}], "VpcIds": ["vpc-1"]}),
    );
    let fields = form(&req);
    for (k, v) in [
        ("Action", "DescribeVpcs"),
        ("Filter.1.Name", "cidr"),
        ("Filter.1.Value.1", "10.0.0.0/16"),
        ("Filter.1.Value.2", "10.1.0.0/16"),
        ("VpcId.1", "vpc-1"),
    ] {
        assert!(fields.contains(&(k.to_string(), v.to_string())), "{k}={v} not in {fields:?}");
    }
    let out = answer(
        "ec2",
        "describeVpcs",
        200,
        &[],
        r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock><isDefault>true</isDefault></item></vpcSet></DescribeVpcsResponse>"#,
    )
    .unwrap();
    assert_eq!(out, json!({"Vpcs": [{"CidrBlock": "10.0.0.0/16", "IsDefault": true, "VpcId": "vpc-1"}]}));
    let e = answer(
        "ec2",
        "describeVpcs",
        400,
        &[],
        r#"<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-9' does not exist</Message></Error></Errors><RequestID>r8</RequestID></Response>"#,
    )
    .unwrap_err();
    assert_eq!(e.error, "Ec2.Ec2Exception");
    assert_eq!(e.cause, "The vpc ID 'vpc-9' does not exist (Service: Ec2, Status Code: 400, Request ID: r8)");
}

#[test]
fn rest_json_binds_labels_and_sends_the_rest_as_json() {
    let req =
        request("lambda", "invoke", json!({"FunctionName": "f:1", "Payload": {"a": 1}, "InvocationType": "Event"}));
    assert_eq!((req.method.as_str(), req.path_and_query.as_str()), ("POST", "/2015-03-31/functions/f%3A1/invocations"));
    assert_eq!(header(&req, "x-amz-invocation-type"), Some("Event"));
    assert_eq!(req.body, br#"{"a":1}"#);
    let req = request("apigateway", "getRestApi", json!({"RestApiId": "abc"}));
    assert_eq!((req.method.as_str(), req.path_and_query.as_str()), ("GET", "/restapis/abc"));
    let e = answer(
        "lambda",
        "invoke",
        404,
        &[("x-amzn-errortype", "ResourceNotFoundException:http://internal")],
        r#"{"Message":"Function not found"}"#,
    )
    .unwrap_err();
    assert_eq!(e.error, "Lambda.ResourceNotFoundException");
}

#[test]
fn parameter_names_are_the_java_sdk_names_in_pascal_case() {
    use expressway_aws_sdk::model::pascal;
    assert_eq!(pascal("restApiId"), "RestApiId");
    assert_eq!(pascal("Bucket"), "Bucket");
    assert_eq!(pascal("Equals"), "EqualsValue");
    assert_eq!(pascal("ETag"), "ETag");
    assert_eq!(pascal("BOOL"), "Bool");
    assert_eq!(pascal("SS"), "Ss");
    assert_eq!(pascal("NULL"), "Nul");
    assert_eq!(pascal("SSEKMSKeyId"), "SsekmsKeyId");
    assert_eq!(pascal("DBInstanceIdentifier"), "DbInstanceIdentifier");
    assert_eq!(pascal("Default"), "DefaultValue");
    assert_eq!(pascal("VpcId"), "VpcId");
}
