//! Definitions AWS refuses at CreateStateMachine, one rule per test, each
//! naming where AWS states it.

use expressway_engine::WorkflowType;
use expressway_engine::validate::{Code, Diagnostic, validate};
use serde_json::{Value, json};

fn problems(def: &Value, workflow: WorkflowType) -> Vec<Diagnostic> {
    validate(def, workflow).err().unwrap_or_default()
}

fn refused(def: Value, workflow: WorkflowType, code: Code, pointer: &str) -> String {
    let d = problems(&def, workflow);
    let hit = d.iter().find(|d| d.code == code && d.pointer == pointer);
    hit.unwrap_or_else(|| panic!("expected {code:?} at {pointer}, got {d:?}")).message.clone()
}

fn accepted(def: Value, workflow: WorkflowType) {
    let d = problems(&def, workflow);
    assert!(d.is_empty(), "expected no problems, got {d:?}");
}

fn task(resource: &str, extra: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": resource, "End": true});
    if let (Some(s), Some(e)) = (state.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"StartAt": "T", "States": {"T": state}})
}

/// AWS refuses a JSONata state's Credentials without `RoleArn`: "The field
/// 'RoleArn' is required but was missing at /States/State0/Credentials"
/// (recorded); `RoleArn` is the one member of the API's TaskCredentials. A
/// JSONPath state's Credentials is a payload template (ASL spec, Task state).
#[test]
fn jsonata_credentials_need_a_role_arn() {
    let lambda = "arn:aws:states:::lambda:invoke";
    let jsonata = |creds: Value| {
        json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {"T":
            {"Type": "Task", "Resource": lambda, "Arguments": "{% $states.input %}", "Credentials": creds, "End": true}}})
    };
    let msg = refused(
        jsonata(json!({"InvalidField": "invalid"})),
        WorkflowType::Standard,
        Code::MissingField,
        "/States/T/Credentials",
    );
    assert_eq!(msg, "The field 'RoleArn' is required but was missing");
    refused(
        jsonata(json!({"RoleArn.$": "$.role"})),
        WorkflowType::Standard,
        Code::MissingField,
        "/States/T/Credentials",
    );
    accepted(jsonata(json!({"RoleArn": "{% $states.input.role %}"})), WorkflowType::Standard);
    accepted(task(lambda, json!({"Credentials": {"RoleArn.$": "$.role"}})), WorkflowType::Standard);
    accepted(task(lambda, json!({"Credentials": {"RoleArn": "arn:aws:iam::1:role/r"}})), WorkflowType::Standard);
    refused(
        task(lambda, json!({"Credentials": "r"})),
        WorkflowType::Standard,
        Code::WrongType,
        "/States/T/Credentials",
    );
    refused(jsonata(json!(null)), WorkflowType::Standard, Code::WrongType, "/States/T/Credentials");
}

/// Developer Guide, "Choosing workflow type": Express workflows do not
/// support activities, `.sync` or `.waitForTaskToken`; AWS answers
/// "Express state machine does not support '.sync' service integration".
#[test]
fn express_refuses_standard_only_resources() {
    let cases = [
        ("arn:aws:states:::states:startExecution.sync", Some("'.sync'")),
        ("arn:aws:states:::states:startExecution.sync:2", Some("'.sync'")),
        ("arn:aws:states:::sns:publish.waitForTaskToken", Some("'.waitForTaskToken'")),
        ("arn:aws:states:us-east-1:123456789012:activity:work", Some("Activity")),
        ("arn:aws:states:::lambda:invoke", None),
        ("arn:aws:lambda:us-east-1:123456789012:function:f", None),
    ];
    for (resource, refusal) in cases {
        accepted(task(resource, json!({})), WorkflowType::Standard);
        match refusal {
            Some(words) => {
                let msg =
                    refused(task(resource, json!({})), WorkflowType::Express, Code::Unsupported, "/States/T/Resource");
                assert!(msg.starts_with("Express state machine does not support") && msg.contains(words), "{msg}");
            }
            None => accepted(task(resource, json!({})), WorkflowType::Express),
        }
    }
}

/// The refusal reaches into Parallel branches and Map processors too.
#[test]
fn express_refusal_applies_in_nested_machines() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:1:activity:a", "End": true}}}
    ]}}});
    refused(def, WorkflowType::Express, Code::Unsupported, "/States/P/Branches/0/States/A/Resource");
}

/// A definition longer than AWS's 1,048,576 characters is refused before it
/// is parsed (AWS: "Maximum definition size: 1 MB"; the API's `definition`
/// member is at most 1,048,576 long); one just under it compiles.
#[test]
fn a_definition_past_awss_length_limit_is_refused_unread() {
    let with_comment = |len: usize| {
        let shell = r#"{"Comment":"","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
        shell.replacen(r#""Comment":"""#, &format!(r#""Comment":"{}""#, "x".repeat(len - shell.len())), 1)
    };
    let limit = expressway_engine::MAX_DEFINITION_CHARS;
    assert!(expressway_engine::compile_text(&with_comment(limit), WorkflowType::Standard).is_ok());
    let d = expressway_engine::compile_text(&with_comment(limit + 1), WorkflowType::Standard).expect_err("refused");
    assert!(d[0].message.contains("longer than AWS's limit"), "{d:?}");
}

/// Developer Guide, "Handling errors in Step Functions workflows", Retry
/// fields: `MaxDelaySeconds` "must be greater than 0 and less than 31622401"
/// (a year and a day); AWS's language server's fixtures refuse 31622401.
#[test]
fn max_delay_seconds_is_at_most_a_year_and_a_day() {
    let retry = |max: Value| {
        let lambda = "arn:aws:lambda:us-east-1:111111111111:function:f";
        task(lambda, json!({"Retry": [{"ErrorEquals": ["E"], "MaxDelaySeconds": max}]}))
    };
    accepted(retry(json!(1)), WorkflowType::Standard);
    accepted(retry(json!(31_622_400)), WorkflowType::Standard);
    for over in [json!(31_622_401), json!(99_999_999), json!(0)] {
        let msg = refused(retry(over), WorkflowType::Standard, Code::OutOfRange, "/States/T/Retry/0/MaxDelaySeconds");
        assert_eq!(msg, "'MaxDelaySeconds' must be an integer from 1 to 31622400");
    }
}
