"""The AWS CLI and boto3 against `expressway serve` (run by tests/api.rs).

    python api_clients.py ENDPOINT            any key (the server has no credentials)
    python api_clients.py ENDPOINT --signed   the server checks AKIDEXPRESSWAY / s3cret

Every call goes through the real clients; each answer is asserted. Both
clients prefix StartSyncExecution's host with `sync-` unless told not to:
AWS_DISABLE_HOST_PREFIX_INJECTION=true does that for a local endpoint.
"""
import json
import os
import subprocess
import sys

import boto3
import botocore.exceptions

ENDPOINT = sys.argv[1]
SIGNED = "--signed" in sys.argv
ROLE = "arn:aws:iam::123456789012:role/expressway-test"
PREFIX = "arn:aws:states:us-east-1:123456789012:stateMachine:"
DEFINITION = json.dumps({
    "StartAt": "Double",
    "States": {
        "Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)"}, "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 100, "Next": "TooBig"}],
                  "Default": "Done"},
        "TooBig": {"Type": "Fail", "Error": "Number.TooBig", "Cause": "over 100"},
        "Done": {"Type": "Succeed"},
    },
})
os.environ["AWS_DISABLE_HOST_PREFIX_INJECTION"] = "true"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_ACCESS_KEY_ID"] = "AKIDEXPRESSWAY" if SIGNED else "anything"
os.environ["AWS_SECRET_ACCESS_KEY"] = "s3cret" if SIGNED else "anything"
AWS = os.path.join(os.path.dirname(sys.executable), "aws")


def cli(*args, expect_error=None):
    """`aws stepfunctions ARGS --endpoint-url ENDPOINT`: its JSON answer, or
    (with expect_error) the error code it printed."""
    run = subprocess.run([AWS, "stepfunctions", *args, "--endpoint-url", ENDPOINT, "--output", "json"],
                         capture_output=True, text=True, timeout=60)
    if expect_error:
        assert run.returncode != 0, f"{args} should fail with {expect_error}: {run.stdout}"
        assert f"({expect_error})" in run.stderr, run.stderr
        return run.stderr
    assert run.returncode == 0, f"{args}: {run.stderr}"
    return json.loads(run.stdout) if run.stdout.strip() else {}


def boto(access_key=None, secret=None):
    return boto3.client("stepfunctions", endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id=access_key or os.environ["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=secret or os.environ["AWS_SECRET_ACCESS_KEY"])


def with_the_cli():
    created = cli("create-state-machine", "--name", "cli-doubler", "--type", "EXPRESS", "--role-arn", ROLE,
                  "--definition", DEFINITION)
    arn = created["stateMachineArn"]
    assert arn == PREFIX + "cli-doubler", created
    ok = cli("start-sync-execution", "--state-machine-arn", arn, "--input", '{"n": 21}')
    assert ok["status"] == "SUCCEEDED" and json.loads(ok["output"]) == {"n": 42}, ok
    failed = cli("start-sync-execution", "--state-machine-arn", arn, "--input", '{"n": 60}')
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Number.TooBig", "over 100"), failed
    started = cli("start-execution", "--state-machine-arn", arn, "--name", "cli-run", "--input", '{"n": 1}')
    described = cli("describe-execution", "--execution-arn", started["executionArn"])
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"n": 2}, described
    history = cli("get-execution-history", "--execution-arn", started["executionArn"])
    assert [e["type"] for e in history["events"]] == ["ExecutionStarted", "ExecutionSucceeded"], history
    assert history["events"][0]["executionStartedEventDetails"]["input"] == '{"n": 1}', history
    valid = cli("validate-state-machine-definition", "--definition", DEFINITION)
    assert valid["result"] == "OK" and valid["diagnostics"] == [], valid
    invalid = cli("validate-state-machine-definition", "--definition", '{"StartAt": "Nowhere", "States": {}}')
    assert invalid["result"] == "FAIL" and invalid["diagnostics"], invalid
    cli("create-state-machine", "--name", "broken", "--role-arn", ROLE, "--definition", "not json",
        expect_error="InvalidDefinition")
    cli("describe-state-machine", "--state-machine-arn", PREFIX + "absent", expect_error="StateMachineDoesNotExist")
    cli("describe-state-machine", "--state-machine-arn", "arn:aws:lambda:x", expect_error="InvalidArn")
    tested = cli("test-state", "--role-arn", ROLE, "--input", '{"n": 4}', "--definition",
                 json.dumps({"Type": "Pass", "Parameters": {"m.$": "States.MathAdd($.n, 1)"}, "Next": "Later"}))
    assert tested["status"] == "SUCCEEDED" and tested["nextState"] == "Later", tested
    assert json.loads(tested["output"]) == {"m": 5}, tested
    cli("tag-resource", "--resource-arn", arn, "--tags", "key=team,value=iot")
    tags = cli("list-tags-for-resource", "--resource-arn", arn)
    assert tags["tags"] == [{"key": "team", "value": "iot"}], tags
    cli("delete-state-machine", "--state-machine-arn", arn)
    cli("describe-state-machine", "--state-machine-arn", arn, expect_error="StateMachineDoesNotExist")


def with_boto3():
    sfn = boto()
    arn = sfn.create_state_machine(name="boto-doubler", definition=DEFINITION, roleArn=ROLE,
                                   type="EXPRESS")["stateMachineArn"]
    run = sfn.start_sync_execution(stateMachineArn=arn, input='{"n": 5}')
    assert run["status"] == "SUCCEEDED" and json.loads(run["output"]) == {"n": 10}, run
    assert run["stopDate"] >= run["startDate"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["type"] == "EXPRESS" and json.loads(described["definition"]) == json.loads(DEFINITION)
    standard = sfn.create_state_machine(name="boto-standard", definition=DEFINITION, roleArn=ROLE)["stateMachineArn"]
    try:
        sfn.start_sync_execution(stateMachineArn=standard, input="{}")
        raise AssertionError("StartSyncExecution on a STANDARD machine must fail")
    except sfn.exceptions.StateMachineTypeNotSupported:
        pass
    first = sfn.start_execution(stateMachineArn=standard, name="once", input='{"n": 3}')
    try:
        sfn.start_execution(stateMachineArn=standard, name="once", input='{"n": 4}')
        raise AssertionError("a STANDARD execution name is unique")
    except sfn.exceptions.ExecutionAlreadyExists:
        pass
    executions = sfn.list_executions(stateMachineArn=standard)["executions"]
    assert [e["executionArn"] for e in executions] == [first["executionArn"]], executions
    for bad, exception in [("{not json", sfn.exceptions.InvalidExecutionInput)]:
        try:
            sfn.start_sync_execution(stateMachineArn=arn, input=bad)
            raise AssertionError("bad input must fail")
        except exception:
            pass
    try:
        sfn.create_state_machine(name="boto-doubler", definition=DEFINITION.replace("100", "7"), roleArn=ROLE,
                                 type="EXPRESS")
        raise AssertionError("a second machine of the same name must fail")
    except sfn.exceptions.StateMachineAlreadyExists:
        pass
    version = sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"]
    assert version == arn + ":1", version
    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [version]
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"},
            "Retry": [{"ErrorEquals": ["Busy"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
            "End": True}
    answered = sfn.test_state(definition=json.dumps(task), roleArn=ROLE, input="{}",
                              mock={"result": '{"Payload": {"ok": true}}'}, inspectionLevel="DEBUG")
    assert answered["status"] == "SUCCEEDED" and "nextState" not in answered, answered
    assert json.loads(answered["output"])["Payload"] == {"ok": True}, answered
    assert json.loads(answered["inspectionData"]["input"]) == {}, answered
    caught = sfn.test_state(definition=json.dumps(task), roleArn=ROLE, input="{}",
                            mock={"errorOutput": {"error": "Boom", "cause": "bad"}})
    assert (caught["status"], caught["nextState"]) == ("CAUGHT_ERROR", "Recover"), caught
    assert json.loads(caught["output"]) == {"Error": "Boom", "Cause": "bad"}, caught
    retried = sfn.test_state(definition=json.dumps(task), roleArn=ROLE, input="{}",
                             mock={"errorOutput": {"error": "Busy", "cause": "later"}})
    assert (retried["status"], retried["error"]) == ("RETRIABLE", "Busy"), retried
    # Its retrier's attempts spent (three by default), the error goes to the catcher.
    spent = sfn.test_state(definition=json.dumps(task), roleArn=ROLE, input="{}",
                           mock={"errorOutput": {"error": "Busy", "cause": "later"}},
                           stateConfiguration={"retrierRetryCount": 3})
    assert (spent["status"], spent["nextState"]) == ("CAUGHT_ERROR", "Recover"), spent
    # One state of a whole machine, named by stateName.
    machine = {"StartAt": "Call", "States": {"Call": task, "Recover": {"Type": "Succeed"}}}
    named = sfn.test_state(definition=json.dumps(machine), stateName="Call", roleArn=ROLE, input="{}",
                           mock={"result": '{"Payload": 1}'})
    assert named["status"] == "SUCCEEDED" and json.loads(named["output"]) == {"Payload": 1}, named
    inspection_checks(sfn)
    pages = sfn.get_paginator("list_state_machines").paginate(PaginationConfig={"PageSize": 1})
    names = [m["name"] for page in pages for m in page["stateMachines"]]
    assert {"boto-doubler", "boto-standard"} <= set(names), names


def inspection_checks(sfn):
    """TestState's inspectionData at DEBUG, against what AWS recorded for the same states (LocalStack's
    parity snapshots of AWS: test_test_state_scenarios, test_state_configuration, test_state_with_variables)."""
    def debug(state, input_value, **kw):
        answer = sfn.test_state(definition=json.dumps(state), roleArn=ROLE, input=json.dumps(input_value),
                                inspectionLevel="DEBUG", **kw)
        data = {k: (json.loads(v) if isinstance(v, str) else v) for k, v in answer.get("inspectionData", {}).items()}
        return answer, data

    base = {"Value": "HelloWorld"}
    _, data = debug({"Type": "Pass", "End": True}, base)
    assert data == {k: base for k in ["input", "afterInputPath", "afterParameters", "afterResultSelector",
                                      "afterResultPath"]}, data
    io_input = {"initialData": {"fieldFromInput": "value from input", "otherField": "other"},
                "unrelatedData": {"someOtherField": 1234}}
    params = {"staticValue": "some value", "inputValue": "value from input"}
    io_pass = {"Type": "Pass", "InputPath": "$.initialData", "ResultPath": "$.modifiedData", "End": True,
               "Parameters": {"staticValue": "some value", "inputValue.$": "$.fieldFromInput"}}
    _, data = debug(io_pass, io_input)
    assert data == {"input": io_input, "afterInputPath": io_input["initialData"], "afterParameters": params,
                    "afterResultSelector": params, "afterResultPath": {**io_input, "modifiedData": params}}, data
    result = {"resultKey": "result value"}
    _, data = debug({**io_pass, "Result": result}, io_input)
    assert data == {"input": io_input, "result": result, "afterResultSelector": result,
                    "afterResultPath": {**io_input, "modifiedData": result}}, data
    choice = {"Type": "Choice", "Default": "Other",
              "Choices": [{"Variable": "$.value", "NumericGreaterThan": 20, "Next": "ValueInTwenties"}]}
    answer, data = debug(choice, {"type": "Private", "value": 22})
    assert answer["nextState"] == "ValueInTwenties" and set(data) == {"input", "afterInputPath"}, (answer, data)
    answer, data = debug({"Type": "Fail", "Error": "SomeFailure", "Cause": "why"}, base)
    assert answer["status"] == "FAILED" and data == {"input": base, "afterInputPath": base}, (answer, data)
    # A task: its result, then ResultSelector and ResultPath.
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
            "Parameters": {"FunctionName": "f", "Payload.$": "$"}, "ResultSelector": {"body.$": "$.Payload"},
            "ResultPath": "$.out"}
    _, data = debug(task, {"n": 1}, mock={"result": '{"Payload": {"ok": true}}'})
    assert data == {"input": {"n": 1}, "afterInputPath": {"n": 1},
                    "afterParameters": {"FunctionName": "f", "Payload": {"n": 1}},
                    "result": {"Payload": {"ok": True}}, "afterResultSelector": {"body": {"ok": True}},
                    "afterResultPath": {"n": 1, "out": {"body": {"ok": True}}}}, data
    # A retrier's back-off and index; spent, the error fails the state with the retrier's index.
    retried = {**task, "Retry": [{"ErrorEquals": ["Other"]},
                                 {"ErrorEquals": ["Busy"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 5}]}
    failing = {"errorOutput": {"error": "Busy", "cause": "later"}}
    answer, data = debug(retried, {}, mock=failing, stateConfiguration={"retrierRetryCount": 4})
    assert answer["status"] == "RETRIABLE", answer
    assert data["errorDetails"] == {"retryBackoffIntervalSeconds": 16, "retryIndex": 1}, data
    answer, data = debug(retried, {}, mock=failing, stateConfiguration={"retrierRetryCount": 5})
    assert answer["status"] == "FAILED" and data["errorDetails"] == {"retryIndex": 1}, (answer, data)
    # The second catcher's index, with the error where its ResultPath put it.
    caught = {**task, "Catch": [{"ErrorEquals": ["Other"], "Next": "A"},
                                {"ErrorEquals": ["States.ALL"], "Next": "B", "ResultPath": "$.err"}]}
    answer, data = debug(caught, {"n": 1}, mock=failing)
    assert (answer["status"], answer["nextState"], answer["error"], answer["cause"]) == (
        "CAUGHT_ERROR", "B", "Busy", "later"), answer
    assert data["errorDetails"] == {"catchIndex": 1}, data
    # The error is the one raised, whatever the catcher made of it.
    discarded = {**task, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A", "ResultPath": None}]}
    answer, _ = debug(discarded, {"n": 1}, mock=failing)
    assert (answer["error"], answer["cause"], json.loads(answer["output"])) == ("Busy", "later", {"n": 1}), answer
    # A spent retrier decides: its error goes to the catchers, not to a later States.ALL retrier.
    shadowed = {**task, "Retry": [{"ErrorEquals": ["Busy"], "MaxAttempts": 2},
                                  {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}]}
    answer, data = debug(shadowed, {}, mock=failing, stateConfiguration={"retrierRetryCount": 3})
    assert answer["status"] == "FAILED" and data["errorDetails"] == {"retryIndex": 0}, (answer, data)
    # The Retry it runs without is still checked.
    try:
        debug({**task, "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": -5}]}, {}, mock=failing)
        raise AssertionError("a negative IntervalSeconds must be refused")
    except sfn.exceptions.InvalidDefinition:
        pass
    # A state's own output cannot pose as the test's bookkeeping.
    forged = {"Type": "Pass", "End": True, "Parameters": {
        "__expressway_test_state": {"next": "Evil", "caught": True, "catchIndex": 0}, "output": {"x": 1}}}
    answer, _ = debug(forged, {})
    assert answer["status"] == "SUCCEEDED" and "nextState" not in answer, answer
    # A Map whose own state is named as the tested state's default name.
    inner = {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "StateName", "States": {
        "StateName": {"Type": "Pass", "End": True}}}}
    answer, _ = debug(inner, [1, 2])
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == [1, 2], answer
    # Mocked, a Map's result is the mock (test_state_map_context_object, recorded on AWS).
    answer, data = debug({**inner, "ItemsPath": "$.values", "ResultPath": "$.done"}, {"values": [1, 2, 3]},
                         mock={"result": "[1, 1, 1]"})
    assert json.loads(answer["output"]) == {"values": [1, 2, 3], "done": [1, 1, 1]}, answer
    assert data["afterResultSelector"] == [1, 1, 1] and "result" not in data, data
    assert data["afterItemsPath"] == [1, 2, 3] and data["maxConcurrency"] == 0, data
    map_checks(debug)
    try:
        debug({"Type": "Parallel", "End": True, "Branches": [inner["ItemProcessor"]]}, {}, mock={"result": "{}"})
        raise AssertionError("a mocked Parallel's result must be an array")
    except sfn.exceptions.ValidationException:
        pass
    # Variables and a context object given whole, as a JSONata Pass reads them.
    jsonata = {"Type": "Pass", "QueryLanguage": "JSONata", "End": True,
               "Output": "{% {'v': $sum([1,2,3]) + $var_constant_1, 'id': $states.context.Execution.Id} %}"}
    variables = {"var_constant_1": 10}
    answer, data = debug(jsonata, {}, variables=json.dumps(variables),
                         context=json.dumps({"Execution": {"Id": "given"}}))
    assert json.loads(answer["output"]) == {"v": 16, "id": "given"}, answer
    assert data == {"input": {}, "variables": variables}, data
    try:
        sfn.test_state(definition=json.dumps(jsonata), roleArn=ROLE, variables="[1]")
        raise AssertionError("variables must be an object")
    except sfn.exceptions.ValidationException:
        pass


def map_checks(debug):
    """Mocked Map states as AWS answered them (LocalStack's parity snapshots of AWS:
    test_state_configuration, test_state_context_object)."""
    values = {"Values": ["first", "second", "third"]}
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "TestState",
                 "States": {"TestState": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                          "Arguments": {"FunctionName": "foo", "Payload": "bar"}, "End": True}}}
    base = {"Type": "Map", "QueryLanguage": "JSONata", "Items": "{% $states.input.Values %}",
            "ItemProcessor": processor, "Output": "{% $states %}", "End": True}
    caught = {**base, "ToleratedFailureCount": 1, "Catch": [
        {"ErrorEquals": ["MockException"], "Output": "{% $states %}", "Next": "HandleMockError"},
        {"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "Output": "{% $states %}",
         "Next": "HandleThreshold"}]}
    del caught["Output"]
    retried = {**base, "ToleratedFailureCount": 1, "Retry": [{"ErrorEquals": ["MockException"], "MaxAttempts": 3}, {
        "ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "MaxAttempts": 2}]}

    def failures(state, n, result):
        return debug(state, values, stateConfiguration={"mapIterationFailureCount": n}, mock={"result": result})

    # No threshold: failed iterations do not fail the Map.
    answer, data = failures(base, 2, "[0, 0, 1]")
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"])["result"] == [0, 0, 1], answer
    assert data == {"input": values, "maxConcurrency": 0}, data
    answer, data = failures(caught, 0, "[1, 1, 1]")
    assert answer["status"] == "SUCCEEDED", answer
    assert data == {"input": values, "maxConcurrency": 0, "toleratedFailureCount": 1}, data
    answer, data = failures(caught, 2, "[0, 0, 1]")
    assert (answer["status"], answer["nextState"], answer["error"], answer["cause"]) == (
        "CAUGHT_ERROR", "HandleThreshold", "States.ExceedToleratedFailureThreshold",
        "The specified tolerated failure threshold was exceeded"), answer
    assert data["errorDetails"] == {"catchIndex": 1}, data
    answer, data = failures(retried, 2, "[0, 0, 1]")
    assert answer["status"] == "RETRIABLE", answer
    assert data["errorDetails"] == {"retryBackoffIntervalSeconds": 1, "retryIndex": 1}, data
    # A JSONPath Map of a whole machine: its items after ItemsPath, even when its mock fails it.
    machine = {"StartAt": "State0", "States": {"State0": {
        "Type": "Map", "ItemsPath": "$.Values", "ToleratedFailureCount": 2, "End": True,
        "ItemProcessor": {"StartAt": "HandleItem", "States": {"HandleItem": {"Type": "Pass", "End": True}}}}}}
    answer, data = debug(machine, values, stateName="State0",
                         stateConfiguration={"mapIterationFailureCount": 2, "errorCausedByState": "HandleItem"},
                         mock={"errorOutput": {"error": "MockException", "cause": "Mock the error cause."}})
    assert (answer["status"], answer["error"]) == ("FAILED", "MockException"), answer
    assert data == {"input": values, "afterInputPath": values, "afterItemsPath": values["Values"],
                    "maxConcurrency": 0, "toleratedFailureCount": 2}, data
    # ItemsPath from the context given: an array, or the state fails before its items.
    context = {"Execution": {"Id": "arn:aws:states:::execution:M:e", "Name": "e", "StartTime": "2025-01-15T10:30:00.000Z",
                             "Input": {"values": ["charizard", "pikachu", "bulbasaur"]}},
               "State": {"Name": "MyTaskState", "RetryCount": 0}, "StateMachine": {"Name": "M"}}
    types = ["fire", "electricity", "grass"]
    for path, refused in [("$$", '"$"'), ("$$.Execution.Input", '"$.Execution.Input"'), ("$$.Execution.Input.values", None)]:
        state = {"Type": "Map", "ItemsPath": path, "MaxConcurrency": 1, "End": True,
                 "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}
        answer, data = debug(state, types, context=json.dumps(context), mock={"result": '["A", "B", "C"]'})
        if refused:
            assert (answer["status"], answer["error"], answer["cause"]) == (
                "FAILED", "States.Runtime", f"Reference path {refused} must point to array."), answer
            assert data == {"input": types, "afterInputPath": types}, data
        else:
            assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == ["A", "B", "C"], answer
            assert data["afterItemsPath"] == context["Execution"]["Input"]["values"], data
            assert data["maxConcurrency"] == 1, data
    # What a context may hold, in AWS's words.
    task = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution", "End": True}
    for given, message in [({"Execution": {"Id": 1}}, "Execution.Id must be a string"),
                           ({"Map": {}}, "'Map' field is not supported when mocking a Context object"),
                           ({"Execution": {"pokemon": "squirtle"}}, "Field 'pokemon' is not allowed"),
                           ({"Pokedex": {}}, "Field 'Pokedex' is not allowed"),
                           ({"Task": {"Token": "t"}}, "Context object contains 'Task' when state is not a Task state "
                                                      "with a '.sync' or '.waitForTaskToken' service integration pattern")]:
        try:
            debug(task, {}, context=json.dumps(given), mock={"result": "{}"})
            raise AssertionError(f"{given} must be refused")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "ValidationException", e.response
            assert e.response["Error"]["Message"] == f"Invalid Context object provided: {message}", e.response
    try:
        debug({"Type": "Pass", "End": True}, {}, mock={"result": "{}"})
        raise AssertionError("a Pass state takes no mock")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Message"] == "State type 'Pass' is not supported when a mock is specified", e
    # A mock is a result or an errorOutput with its error, within AWS's lengths (MockInput, MockErrorOutput).
    for mock, field in [({"result": "{}", "errorOutput": {"error": "E"}}, None),
                        ({"errorOutput": {"cause": "why"}}, "mock.errorOutput.error"),
                        ({"errorOutput": {"error": "E" * 257}}, "mock.errorOutput.error"),
                        ({"errorOutput": {"error": "E", "cause": "c" * 32769}}, "mock.errorOutput.cause")]:
        try:
            debug(task, {}, mock=mock)
            raise AssertionError(f"{mock} must be refused")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "ValidationException", e.response
            assert field is None or f"at '{field}'" in e.response["Error"]["Message"], e.response
    answer, _ = debug(task, {}, mock={"errorOutput": {"error": "E" * 256}})
    assert answer["error"] == "E" * 256, answer
    # The context AWS gives a state tested on its own: an Express execution, the state named StateName.
    answer, _ = debug({"Type": "Pass", "Parameters": {"c.$": "$$"}, "End": True}, {})
    given = json.loads(answer["output"])["c"]
    assert given["State"]["Name"] == "StateName" and ":express:TestState:" in given["Execution"]["Id"], given
    assert "RedriveCount" not in given["Execution"], given
    assert given["StateMachine"]["Id"].endswith(":stateMachine:TestState"), given


def signature_checks():
    good = boto()
    good.list_state_machines()
    for key, secret, exception in [("AKIDOTHER", "s3cret", "UnrecognizedClientException"),
                                   ("AKIDEXPRESSWAY", "wrong", "InvalidSignatureException")]:
        try:
            boto(key, secret).list_state_machines()
            raise AssertionError(f"{key}/{secret} must be refused")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == exception, e.response
    # A signed StartSyncExecution with a body: the payload hash is checked too.
    arn = good.create_state_machine(name="signed", definition=DEFINITION, roleArn=ROLE, type="EXPRESS")[
        "stateMachineArn"]
    assert good.start_sync_execution(stateMachineArn=arn, input='{"n": 1}')["status"] == "SUCCEEDED"
    cli("list-state-machines")
    print("signature checks passed")


if SIGNED:
    signature_checks()
else:
    with_the_cli()
    with_boto3()
    print("all client checks passed")
