//! The optimised integrations whose wire is the service's own API call,
//! request-response (the table [`ALL`]): `events:putEvents`,
//! `states:startExecution`, `ecs:runTask`, `batch:submitJob`,
//! `glue:startJobRun`, Athena's `startQueryExecution`,
//! `stopQueryExecution`, `getQueryExecution` and `getQueryResults`,
//! `bedrock:invokeModel` and `createModelCustomizationJob`, CodeBuild's
//! eight, SageMaker's nine, `databrew:startJobRun` and
//! `mediaconvert:createJob`, run through the model-driven `aws-sdk` client
//! with the optimised forms' conventions (AWS Step Functions developer
//! guide, "Integrating optimized services" and each service's page, and
//! the executions recorded on AWS in `../shared/conformance`). The forms
//! AWS wraps in parameters of its own (Amazon EMR, EMR on EKS, EMR
//! Serverless, EKS) are refused with the `aws-sdk` call of the same API
//! named ([`not_run`]).
//! - **In-process.** `states:startExecution` of a machine this process
//!   runs (the Step Functions API's, [`LocalExecutions`]) starts it here,
//!   without a network hop, with the same result and error names.
//! - **Parameters** are the API's, PascalCase. `putEvents`' `Detail` and
//!   `startExecution`'s `Input` may be JSON values: they are sent as their
//!   JSON text (a string is sent as it is). `invokeModel`'s `Body` likewise.
//! - **Results.** `putEvents` is the API's `{Entries, FailedEntryCount}`;
//!   a failed entry fails the task as `EventBridge.FailedEntry` with that
//!   result as the cause. `invokeModel` is `{Body, ContentType}` with the
//!   model's JSON answer parsed. `glue:startJobRun` adds the request's
//!   `JobName`, as AWS does. The others are the API's output with the
//!   AWS SDK for Java v1's `SdkHttpMetadata` and `SdkResponseMetadata`
//!   added and timestamps as epoch milliseconds (`StartDate`).
//! - **Errors** are named as the Java SDK v1 clients name them:
//!   `StepFunctions.ExecutionAlreadyExistsException` with the cause
//!   `<message> (Service: AWSStepFunctions; Status Code: 400; Error Code:
//!   ExecutionAlreadyExists; Request ID: …; Proxy: null)`.
//!
//! `.sync` and `.waitForTaskToken` never reach here: Express workflows
//! refuse them (the validator, and `Integration::parse`).

use expressway_aws_sdk::{AwsSdkClient, Call, Failure};
use expressway_engine::{TaskOutcome, Value};
use expressway_runtime::tasks::{LocalExecutions, StartExecution, StartRefused, StartedExecution};
use serde_json::{Map, Value as Json, json};

/// What sets an integration apart from the API call it rides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `events:putEvents`: JSON details sent as text; a failed entry fails.
    PutEvents,
    /// `states:startExecution`: JSON input sent as text; in-process when
    /// this process runs the machine.
    StartExecution,
    /// `glue:startJobRun`: the request's `JobName` added to the result.
    GlueStartJobRun,
    /// `bedrock:invokeModel`: `{Body, ContentType}`, the model's JSON parsed.
    InvokeModel,
    /// The API's output with the Java SDK v1's metadata.
    Plain,
}

/// How one integration is named: its ARN, the `aws-sdk` call it rides on,
/// and the Java SDK v1 names of its errors.
#[derive(Debug, PartialEq, Eq)]
pub struct Names {
    kind: Kind,
    service: &'static str,
    action: &'static str,
    /// `events:putEvents`, the bounded metric label.
    label: &'static str,
    sdk_service: &'static str,
    sdk_action: &'static str,
    /// The ASL error prefix (`StepFunctions`).
    prefix: &'static str,
    /// The service in causes (`AWSStepFunctions`).
    v1_service: &'static str,
}

/// One row: kind, the optimised form's service and action, the AWS SDK
/// service it calls (the action is the same), the error prefix and the
/// Java SDK v1 service name.
macro_rules! row {
    ($kind:ident, $service:literal, $action:literal, $sdk_service:literal, $prefix:literal, $v1:literal) => {
        Names {
            kind: Kind::$kind,
            service: $service,
            action: $action,
            label: concat!($service, ":", $action),
            sdk_service: $sdk_service,
            sdk_action: $action,
            prefix: $prefix,
            v1_service: $v1,
        }
    };
}

/// The request-response optimised integrations AWS lists ("Integrating
/// optimized services with Step Functions", each service's page) whose
/// request is the service API's own.
const ALL: &[Names] = &[
    row!(PutEvents, "events", "putEvents", "eventbridge", "EventBridge", "AmazonEventBridge"),
    row!(StartExecution, "states", "startExecution", "sfn", "StepFunctions", "AWSStepFunctions"),
    row!(Plain, "ecs", "runTask", "ecs", "ECS", "AmazonECS"),
    row!(Plain, "batch", "submitJob", "batch", "Batch", "AWSBatch"),
    row!(GlueStartJobRun, "glue", "startJobRun", "glue", "Glue", "AWSGlue"),
    row!(Plain, "athena", "startQueryExecution", "athena", "Athena", "AmazonAthena"),
    row!(Plain, "athena", "stopQueryExecution", "athena", "Athena", "AmazonAthena"),
    row!(Plain, "athena", "getQueryExecution", "athena", "Athena", "AmazonAthena"),
    row!(Plain, "athena", "getQueryResults", "athena", "Athena", "AmazonAthena"),
    row!(InvokeModel, "bedrock", "invokeModel", "bedrockruntime", "Bedrock", "AmazonBedrockRuntime"),
    row!(Plain, "bedrock", "createModelCustomizationJob", "bedrock", "Bedrock", "AmazonBedrock"),
    row!(Plain, "codebuild", "startBuild", "codebuild", "CodeBuild", "AWSCodeBuild"),
    row!(Plain, "codebuild", "stopBuild", "codebuild", "CodeBuild", "AWSCodeBuild"),
    row!(Plain, "codebuild", "batchDeleteBuilds", "codebuild", "CodeBuild", "AWSCodeBuild"),
    row!(Plain, "codebuild", "batchGetReports", "codebuild", "CodeBuild", "AWSCodeBuild"),
    row!(Plain, "codebuild", "startBuildBatch", "codebuild", "CodeBuild", "AWSCodeBuild"),
    row!(Plain, "codebuild", "stopBuildBatch", "codebuild", "CodeBuild", "AWSCodeBuild"),
    row!(Plain, "codebuild", "retryBuildBatch", "codebuild", "CodeBuild", "AWSCodeBuild"),
    row!(Plain, "codebuild", "deleteBuildBatch", "codebuild", "CodeBuild", "AWSCodeBuild"),
    row!(Plain, "sagemaker", "createEndpoint", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "sagemaker", "createEndpointConfig", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "sagemaker", "createHyperParameterTuningJob", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "sagemaker", "createLabelingJob", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "sagemaker", "createModel", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "sagemaker", "createProcessingJob", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "sagemaker", "createTrainingJob", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "sagemaker", "createTransformJob", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "sagemaker", "updateEndpoint", "sagemaker", "SageMaker", "AmazonSageMaker"),
    row!(Plain, "databrew", "startJobRun", "databrew", "DataBrew", "AWSGlueDataBrew"),
    row!(Plain, "mediaconvert", "createJob", "mediaconvert", "MediaConvert", "AWSMediaConvert"),
];

/// Optimised integrations AWS documents with request-response but whose
/// API is a wrapper of its own (Amazon EMR's `addStep` takes one `Step`
/// where `AddJobFlowSteps` takes a list, …), or which call more than an AWS
/// API (`eks:call`): not run, and the validator names the `aws-sdk` call of
/// the same API, when there is one.
const WRAPPED: &[(&str, &str, &str, &str)] = &[
    ("elasticmapreduce", "createCluster", "emr", "runJobFlow"),
    ("elasticmapreduce", "addStep", "emr", "addJobFlowSteps"),
    ("elasticmapreduce", "cancelStep", "emr", "cancelSteps"),
    ("elasticmapreduce", "terminateCluster", "emr", "terminateJobFlows"),
    ("elasticmapreduce", "setClusterTerminationProtection", "emr", "setTerminationProtection"),
    ("elasticmapreduce", "modifyInstanceFleetByName", "emr", "modifyInstanceFleet"),
    ("elasticmapreduce", "modifyInstanceGroupByName", "emr", "modifyInstanceGroups"),
    ("emr-containers", "createVirtualCluster", "emrcontainers", "createVirtualCluster"),
    ("emr-containers", "deleteVirtualCluster", "emrcontainers", "deleteVirtualCluster"),
    ("emr-containers", "startJobRun", "emrcontainers", "startJobRun"),
    ("emr-serverless", "createApplication", "emrserverless", "createApplication"),
    ("emr-serverless", "startApplication", "emrserverless", "startApplication"),
    ("emr-serverless", "stopApplication", "emrserverless", "stopApplication"),
    ("emr-serverless", "deleteApplication", "emrserverless", "deleteApplication"),
    ("emr-serverless", "startJobRun", "emrserverless", "startJobRun"),
    ("emr-serverless", "cancelJobRun", "emrserverless", "cancelJobRun"),
    ("eks", "createCluster", "eks", "createCluster"),
    ("eks", "deleteCluster", "eks", "deleteCluster"),
    ("eks", "createNodegroup", "eks", "createNodegroup"),
    ("eks", "deleteNodegroup", "eks", "deleteNodegroup"),
];

/// Why `arn:aws:states:::<service>:<action>` does not run, and what would.
pub fn not_run(service: &str, action: &str) -> String {
    let runs = |s: &str, a: &str| Call::resolve(s, a).is_ok();
    let wrapped = WRAPPED.iter().find(|(s, a, ..)| *s == service && *a == action);
    if let Some((_, _, sdk_service, sdk_action)) = wrapped
        && runs(sdk_service, sdk_action)
    {
        return format!(
            "AWS's optimised form wraps the API in parameters and a result of its own, which Expressway does not \
             run; arn:aws:states:::aws-sdk:{sdk_service}:{sdk_action} calls the same API with its own parameters and result"
        );
    }
    if runs(service, action) {
        return format!(
            "no such integration in Expressway; arn:aws:states:::aws-sdk:{service}:{action} calls that API"
        );
    }
    "no such integration in Expressway".into()
}

/// A resolved optimised integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Optimised {
    pub kind: Kind,
    names: &'static Names,
    call: Call,
}

impl Optimised {
    /// `arn:aws:states:::<service>:<action>` when it is one of these.
    pub fn parse(service: &str, action: &str) -> Option<Result<Optimised, String>> {
        let n = ALL.iter().find(|n| n.service == service && n.action == action)?;
        Some(Call::resolve(n.sdk_service, n.sdk_action).map(|call| Optimised { kind: n.kind, names: n, call }))
    }

    fn names(&self) -> &'static Names {
        self.names
    }

    /// The bounded metric label, `events:putEvents`.
    pub fn label(&self) -> &'static str {
        self.names.label
    }

    fn resource(&self) -> String {
        format!("arn:aws:states:::{}", self.label())
    }
}

fn runtime_failure(cause: String) -> TaskOutcome {
    TaskOutcome::Failed { error: "States.Runtime".into(), cause: Some(cause) }
}

/// Run `task` with its `Parameters`/`Arguments`.
pub async fn call(client: Option<&AwsSdkClient>, task: &Optimised, input: &Value) -> TaskOutcome {
    let Some(client) = client else {
        return runtime_failure("the AWS SDK client could not be built (see the log)".into());
    };
    let params = match request(task, Json::from(input)) {
        Ok(p) => p,
        Err(cause) => return runtime_failure(format!("{}: {cause}", task.resource())),
    };
    match client.call_with_answer(&task.call, &params).await {
        Ok((mut out, answer)) => {
            // Glue's answer has only the run's id; AWS adds the job's name.
            if task.kind == Kind::GlueStartJobRun
                && let (Some(name), Some(fields)) = (params.get("JobName"), out.as_object_mut())
            {
                fields.insert("JobName".into(), name.clone());
            }
            result(task, out, &answer)
        }
        Err(f) => failure(task, f),
    }
}

/// `states:startExecution`: in-process when `local` runs the target
/// machine (no network hop; the same result shape and error names as
/// AWS's answer would give), else AWS's StartExecution.
pub async fn start_execution(
    local: Option<&dyn LocalExecutions>,
    client: Option<&AwsSdkClient>,
    task: &Optimised,
    input: &Value,
) -> TaskOutcome {
    if let Some(local) = local
        && let Ok(params) = request(task, Json::from(input))
        && let Some(arn) = params.get("StateMachineArn").and_then(Json::as_str)
    {
        let text = |field: &str| params.get(field).and_then(Json::as_str).map(str::to_string);
        let request = StartExecution {
            state_machine_arn: arn.to_string(),
            input: text("Input"),
            name: text("Name"),
            trace_header: text("TraceHeader"),
        };
        if let Some(answer) = local.start_execution(&request) {
            return in_process(task, answer);
        }
    }
    call(client, task, input).await
}

/// An in-process StartExecution's answer as the optimised form gives AWS's.
fn in_process(task: &Optimised, answer: Result<StartedExecution, StartRefused>) -> TaskOutcome {
    let request_id = uuid();
    match answer {
        Ok(started) => {
            let out = json!({"ExecutionArn": started.execution_arn, "StartDate": started.start_ms});
            let body = json!({"executionArn": started.execution_arn, "startDate": started.start_ms as f64 / 1000.0});
            let answer = expressway_aws_sdk::response::WireResponse {
                status: 200,
                headers: vec![
                    ("x-amzn-requestid".into(), request_id),
                    ("content-type".into(), "application/x-amz-json-1.0".into()),
                    ("content-length".into(), body.to_string().len().to_string()),
                ],
                body: Vec::new(),
            };
            result(task, out, &answer)
        }
        Err(refused) => failure(
            task,
            Failure {
                error: String::new(),
                cause: String::new(),
                service_error: Some(Box::new(expressway_aws_sdk::response::ServiceError {
                    status: 400,
                    exception: task.call.model.error_name(&refused.code),
                    code: refused.code,
                    message: Some(refused.message),
                    request_id: Some(request_id),
                })),
            },
        ),
    }
}

/// A request id in the form AWS's have (a UUID).
fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    expressway_engine::intrinsics::uuid_v4(now.rotate_left(17) ^ n, n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ now)
}

/// The API input of the optimised form's parameters.
pub fn request(task: &Optimised, mut params: Json) -> Result<Json, String> {
    let as_text = |v: &mut Json| {
        if !v.is_string() {
            *v = Json::String(v.to_string());
        }
    };
    match task.kind {
        Kind::PutEvents => {
            if let Some(entries) = params.get_mut("Entries").and_then(Json::as_array_mut) {
                entries.iter_mut().filter_map(|e| e.get_mut("Detail")).for_each(as_text);
            }
        }
        Kind::StartExecution => {
            if let Some(input) = params.get_mut("Input") {
                as_text(input);
            }
        }
        Kind::InvokeModel => {
            for field in ["Input", "Output"] {
                if params.get(field).is_some() {
                    return Err(format!(
                        "the field \"{field}\" (an S3 location) is not supported by Expressway: pass the model's input as Body"
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(params)
}

/// The optimised form's result of the API's output.
pub fn result(task: &Optimised, mut out: Json, answer: &expressway_aws_sdk::response::WireResponse) -> TaskOutcome {
    match task.kind {
        Kind::PutEvents => {
            if out.get("FailedEntryCount").and_then(Json::as_u64).is_some_and(|n| n > 0) {
                return TaskOutcome::Failed { error: "EventBridge.FailedEntry".into(), cause: Some(out.to_string()) };
            }
            TaskOutcome::Succeeded(Value::from(out))
        }
        Kind::InvokeModel => {
            if let Some(body) = out.get_mut("Body")
                && let Some(parsed) = body.as_str().and_then(|text| serde_json::from_str::<Json>(text).ok())
            {
                *body = parsed;
            }
            let mut shaped = Map::new();
            for field in ["Body", "ContentType"] {
                if let Some(v) = out.get(field) {
                    shaped.insert(field.into(), v.clone());
                }
            }
            TaskOutcome::Succeeded(Value::from(Json::Object(shaped)))
        }
        _ => {
            if let Some(output) = task.call.op().output.as_deref() {
                expressway_aws_sdk::values::timestamps_as_epoch_millis(&task.call.model, output, &mut out, 0);
            }
            let Json::Object(fields) = out else { return TaskOutcome::Succeeded(Value::from(out)) };
            let mut all: Vec<(String, Json)> = fields.into_iter().collect();
            all.extend(sdk_metadata(answer));
            all.sort_by(|a, b| a.0.cmp(&b.0));
            TaskOutcome::Succeeded(Value::from(Json::Object(all.into_iter().collect())))
        }
    }
}

/// The header's name as the Java SDK v1 reports it (hyper lower-cases
/// them all).
fn header_name(lower: &str) -> String {
    match lower {
        "content-type" => "Content-Type".into(),
        "content-length" => "Content-Length".into(),
        "date" => "Date".into(),
        "x-amzn-requestid" => "x-amzn-RequestId".into(),
        other => other.to_string(),
    }
}

/// `SdkHttpMetadata` and `SdkResponseMetadata` of an answer.
fn sdk_metadata(answer: &expressway_aws_sdk::response::WireResponse) -> [(String, Json); 2] {
    let mut all = Map::new();
    let mut single = Map::new();
    for (name, value) in &answer.headers {
        let name = header_name(name);
        if let Some(list) = all.entry(name.clone()).or_insert_with(|| json!([])).as_array_mut() {
            list.push(json!(value));
        }
        single.insert(name, json!(value));
    }
    let request_id =
        answer.header("x-amzn-requestid").or_else(|| answer.header("x-amz-request-id")).unwrap_or_default().to_string();
    [
        (
            "SdkHttpMetadata".into(),
            json!({"AllHttpHeaders": all, "HttpHeaders": single, "HttpStatusCode": answer.status}),
        ),
        ("SdkResponseMetadata".into(), json!({"RequestId": request_id})),
    ]
}

/// A failure named as the Java SDK v1 client of the integration names it.
pub fn failure(task: &Optimised, f: Failure) -> TaskOutcome {
    let n = task.names();
    let (error, cause) = match &f.service_error {
        Some(e) => (
            format!("{}.{}", n.prefix, e.exception),
            format!(
                "{} (Service: {}; Status Code: {}; Error Code: {}; Request ID: {}; Proxy: null)",
                e.message.as_deref().unwrap_or("null"),
                n.v1_service,
                e.status,
                e.code,
                e.request_id.as_deref().unwrap_or("null")
            ),
        ),
        None => match f.error.split_once('.') {
            // `<SdkName>.SdkClientException`: the client, not the service.
            Some((sdk, rest)) if sdk == task.call.model.metadata.sdk_name => (format!("{}.{rest}", n.prefix), f.cause),
            _ => (f.error, f.cause),
        },
    };
    TaskOutcome::Failed { error, cause: Some(cause) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expressway_aws_sdk::response::{ServiceError, WireResponse};

    fn task(service: &str, action: &str) -> Optimised {
        Optimised::parse(service, action).expect("optimised").expect("resolves")
    }

    #[test]
    fn every_optimised_integration_resolves_to_its_api_call() {
        for n in ALL {
            let t = task(n.service, n.action);
            assert_eq!(t.resource(), format!("arn:aws:states:::{}:{}", n.service, n.action));
        }
        assert!(Optimised::parse("events", "putRule").is_none());
        // What would run instead of the wrapped forms: an API the models have.
        for (service, action, sdk_service, sdk_action) in WRAPPED {
            assert!(Call::resolve(sdk_service, sdk_action).is_ok(), "{sdk_service}:{sdk_action}");
            let why = not_run(service, action);
            assert!(why.contains(&format!("aws-sdk:{sdk_service}:{sdk_action}")), "{why}");
        }
        assert!(not_run("glue", "getJobRun").ends_with("aws-sdk:glue:getJobRun calls that API"));
        assert_eq!(not_run("nosuch", "thing"), "no such integration in Expressway");
    }

    #[test]
    fn json_details_and_inputs_are_sent_as_their_text() {
        let params = json!({"Entries": [{"Detail": {"a": 1}, "Source": "s"}, {"Detail": "{\"b\":2}"}]});
        let sent = request(&task("events", "putEvents"), params).expect("request");
        assert_eq!(sent["Entries"][0]["Detail"], json!("{\"a\":1}"));
        assert_eq!(sent["Entries"][1]["Detail"], json!("{\"b\":2}"));
        let sent = request(&task("states", "startExecution"), json!({"Input": {"x": [1]}})).expect("request");
        assert_eq!(sent["Input"], json!("{\"x\":[1]}"));
        let e = request(&task("bedrock", "invokeModel"), json!({"Input": {"S3Uri": "s3://b/k"}})).unwrap_err();
        assert!(e.contains("\"Input\""), "{e}");
    }

    #[test]
    fn a_failed_entry_fails_the_put_with_the_result_as_cause() {
        let out = json!({"Entries": [{"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}], "FailedEntryCount": 1});
        let answer = WireResponse { status: 200, headers: vec![], body: vec![] };
        let TaskOutcome::Failed { error, cause } = result(&task("events", "putEvents"), out.clone(), &answer) else {
            panic!("a failed entry fails the task")
        };
        assert_eq!(error, "EventBridge.FailedEntry");
        assert_eq!(serde_json::from_str::<Json>(&cause.expect("cause")).expect("json"), out);
    }

    #[test]
    fn start_execution_adds_the_sdk_metadata_and_dates_in_epoch_millis() {
        let answer = WireResponse {
            status: 200,
            headers: vec![
                ("x-amzn-requestid".into(), "r-1".into()),
                ("content-type".into(), "application/x-amz-json-1.0".into()),
            ],
            body: vec![],
        };
        let out = json!({"ExecutionArn": "arn:x", "StartDate": "2024-05-01T10:00:00.123Z"});
        let TaskOutcome::Succeeded(v) = result(&task("states", "startExecution"), out, &answer) else { panic!() };
        let v = Json::from(&v);
        assert_eq!(v["StartDate"], json!(1714557600123i64));
        assert_eq!(v["SdkResponseMetadata"], json!({"RequestId": "r-1"}));
        assert_eq!(v["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"], json!("r-1"));
        assert_eq!(v["SdkHttpMetadata"]["AllHttpHeaders"]["Content-Type"], json!(["application/x-amz-json-1.0"]));
        let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["ExecutionArn", "SdkHttpMetadata", "SdkResponseMetadata", "StartDate"]);
    }

    #[test]
    fn service_errors_take_the_java_v1_names() {
        let f = Failure {
            error: "Sfn.ExecutionAlreadyExistsException".into(),
            cause: "v2 text".into(),
            service_error: Some(Box::new(ServiceError {
                status: 400,
                code: "ExecutionAlreadyExists".into(),
                exception: "ExecutionAlreadyExistsException".into(),
                message: Some("Execution Already Exists: 'arn:e'".into()),
                request_id: Some("r-2".into()),
            })),
        };
        let TaskOutcome::Failed { error, cause } = failure(&task("states", "startExecution"), f) else { panic!() };
        assert_eq!(error, "StepFunctions.ExecutionAlreadyExistsException");
        assert_eq!(
            cause.as_deref(),
            Some(
                "Execution Already Exists: 'arn:e' (Service: AWSStepFunctions; Status Code: 400; Error Code: ExecutionAlreadyExists; Request ID: r-2; Proxy: null)"
            )
        );
        let f = Failure { error: "Sfn.SdkClientException".into(), cause: "no route".into(), service_error: None };
        let TaskOutcome::Failed { error, .. } = failure(&task("states", "startExecution"), f) else { panic!() };
        assert_eq!(error, "StepFunctions.SdkClientException");
    }
}
