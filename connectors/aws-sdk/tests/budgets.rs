//! What bounds a call's memory and time whatever the service answers (the
//! byte budget of one answer, the XML element and depth budgets, member
//! lookup linear in the siblings), and the parameter names Step Functions
//! takes (PascalCase only, as AWS refuses any other).

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use expressway_aws_sdk::client::MAX_RESPONSE_BYTES;
use expressway_aws_sdk::request::build;
use expressway_aws_sdk::response::{WireResponse, read};
use expressway_aws_sdk::xml::{MAX_ELEMENTS, parse};
use expressway_aws_sdk::{AwsSdkClient, Call, Settings};
use serde_json::{Value as Json, json};
use std::io::{Read, Write};
use std::time::Duration;

/// A server answering every connection with `answer` (head and body as
/// given), on a thread; its `http://127.0.0.1:<port>` URL.
fn answering(answer: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 65536];
            let _ = stream.read(&mut request);
            // The client may stop reading early: a failed write is expected.
            let _ = stream.write_all(&answer);
        }
    });
    url
}

fn client(url: &str) -> AwsSdkClient {
    AwsSdkClient::new(Settings {
        region: "us-east-1".into(),
        endpoint_url: Some(url.to_string()),
        endpoints: Default::default(),
        credentials: Some(SharedCredentialsProvider::new(Credentials::new("AKID", "SECRET", None, None, "test"))),
        timeout: Duration::from_secs(30),
    })
    .expect("client")
}

fn call_against(answer: Vec<u8>) -> expressway_aws_sdk::Failure {
    let url = answering(answer);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let call = Call::resolve("s3", "getObject").expect("resolves");
    runtime
        .block_on(client(&url).call(&call, &json!({"Bucket": "b", "Key": "k"})))
        .expect_err("the answer is over the budget")
}

#[test]
fn an_answer_declaring_more_than_the_budget_is_refused_unread_naming_the_limit() {
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", MAX_RESPONSE_BYTES + 1);
    let f = call_against(head.into_bytes());
    assert_eq!(f.error, "States.DataLimitExceeded");
    assert!(f.cause.contains(&format!("{MAX_RESPONSE_BYTES}-byte budget")), "{}", f.cause);
    assert!(f.cause.contains("aws-sdk:s3:getObject") && f.cause.contains("4194305 bytes"), "{}", f.cause);
}

#[test]
fn a_streamed_answer_is_cut_off_at_the_budget() {
    // Chunked: no declared length, so only the streaming limit stops it.
    let chunk = vec![b'a'; 1 << 20];
    let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..(MAX_RESPONSE_BYTES / chunk.len() + 2) {
        answer.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        answer.extend(&chunk);
        answer.extend(b"\r\n");
    }
    answer.extend(b"0\r\n\r\n");
    let f = call_against(answer);
    assert_eq!(f.error, "States.DataLimitExceeded");
    assert!(f.cause.contains(&format!("{MAX_RESPONSE_BYTES}-byte budget")), "{}", f.cause);
}

#[test]
fn xml_answers_are_bounded_in_elements_and_depth() {
    let many = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS));
    let e = parse(&many).unwrap_err();
    assert!(e.contains(&format!("more than {MAX_ELEMENTS} XML elements")), "{e}");
    let at_limit = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS - 1));
    assert_eq!(parse(&at_limit).expect("within the budget").children.len(), MAX_ELEMENTS - 1);
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert!(parse(&deep).unwrap_err().contains("nests deeper"));
}

#[test]
fn a_flattened_list_of_many_siblings_reads_every_item_in_order() {
    // S3 ListObjectsV2's `Contents` is flattened among the result's other
    // members: each member is looked up in an index built once.
    let n = 20_000;
    let contents: String = (0..n).map(|i| format!("<Contents><Key>k{i}</Key><Size>{i}</Size></Contents>")).collect();
    let body = format!(
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>{contents}\
         <KeyCount>{n}</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>"
    );
    let call = Call::resolve("s3", "listObjectsV2").expect("resolves");
    let resp = WireResponse { status: 200, headers: vec![], body: body.into_bytes() };
    let out = read(&call.model, call.op(), &resp).expect("reads");
    let items = out["Contents"].as_array().expect("Contents");
    assert_eq!(items.len(), n);
    assert_eq!(items[n - 1]["Key"], json!(format!("k{}", n - 1)));
    assert_eq!(items[7]["Size"], json!(7));
    assert_eq!((out["Name"].clone(), out["KeyCount"].clone()), (json!("b"), json!(n)));
}

fn build_err(service: &str, action: &str, input: Json) -> String {
    let call = Call::resolve(service, action).expect("resolves");
    build(&call.model, &call.operation, call.op(), &input).unwrap_err()
}

#[test]
fn parameters_are_pascal_case_only_as_step_functions_takes_them() {
    // S3's members are PascalCase in the model: `bucket` is refused.
    let e = build_err("s3", "getObject", json!({"bucket": "b", "Key": "k"}));
    assert!(e.starts_with("The field \"bucket\" is not supported by Step Functions"), "{e}");
    assert!(e.contains("Bucket"), "{e}");
    // API Gateway's are camelCase in the model: Step Functions takes
    // `RestApiId`, and refuses the model's own `restApiId`.
    let call = Call::resolve("apigateway", "getRestApi").expect("resolves");
    let req = build(&call.model, &call.operation, call.op(), &json!({"RestApiId": "abc123"})).expect("builds");
    assert_eq!(req.path_and_query, "/restapis/abc123");
    let e = build_err("apigateway", "getRestApi", json!({"restApiId": "abc123"}));
    assert!(e.starts_with("The field \"restApiId\" is not supported by Step Functions"), "{e}");
    // Nested structures too: DynamoDB's `BOOL` is the Java SDK's `bool`,
    // so Step Functions takes `Bool` and refuses the wire's `BOOL`.
    let e = build_err("dynamodb", "putItem", json!({"TableName": "t", "Item": {"a": {"BOOL": true}}}));
    assert!(e.contains("The field \"BOOL\" is not supported by Step Functions"), "{e}");
    let call = Call::resolve("dynamodb", "putItem").expect("resolves");
    let input = json!({"TableName": "t", "Item": {"a": {"Bool": true}, "b": {"Nul": true}, "c": {"Ss": ["x"]}}});
    let req = build(&call.model, &call.operation, call.op(), &input).expect("builds");
    let body: Json = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(body["Item"], json!({"a": {"BOOL": true}, "b": {"NULL": true}, "c": {"SS": ["x"]}}));
}
