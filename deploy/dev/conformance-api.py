#!/usr/bin/env python3
"""The shared AWS-recorded conformance cases, run THROUGH the Step Functions API
with a real client (boto3), as a Step Functions user would run them against
Step Functions Local.

    conformance-api.py CASES.jsonl --out RESULTS.jsonl [--bin target/release/expressway]
                       [--diff EXEC_RESULTS.jsonl]

Writes one result line per case in the format of `expressway conformance`
(`{"id", "status", "output"|"error"+"cause"}`), to be judged by
`../shared/conformance/run.py --judge RESULTS.jsonl --cases CASES.jsonl`.

How a case runs:
- its recorded task answers (`mocks`) become one test case of a MockConfigFile
  (one file for all cases), under the state machine's name from the case's
  context; the server gets that file as `api.mock_config`;
- one `expressway serve` per distinct (region, account) of the contexts;
- CreateStateMachine with the context's name, type and role (an
  InvalidDefinition answer is the result INVALID_DEFINITION), then
  StartSyncExecution (EXPRESS) or StartExecution + DescribeExecution (STANDARD)
  on `stateMachineArn#TestCase` with the context's execution name, then
  DeleteStateMachine so the next case may reuse the name;
- validation cases (no execution) go through ValidateStateMachineDefinition
  and CreateStateMachine; both must agree.

--diff EXEC_RESULTS judges both result files and lists the cases whose strict
verdict differs (the API must pass exactly what `exec` passes).
Run with the clients' venv: target/services/clients-venv/bin/python.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "conformance")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "conformance")

import boto3  # noqa: E402
import botocore.config  # noqa: E402
import botocore.exceptions  # noqa: E402

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
POLL_LIMIT_S = 30


def compact(v):
    """JSON as serde_json writes it (what a non-string mock cause becomes)."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def python_style(v):
    """JSON as a Python Lambda runtime writes an error document: `", "` and
    `": "` separators. Step Functions passes such a cause on verbatim through
    a bare function ARN (connectors/src/mock.rs renders `exec`'s the same way)."""
    return json.dumps(v, ensure_ascii=False)


def resources_by_state(definition):
    """State name -> Resource, over every nested Map/Parallel."""
    out = {}

    def walk(states):
        for name, s in (states or {}).items():
            if not isinstance(s, dict):
                continue
            if "Resource" in s and name not in out:
                out[name] = s["Resource"]
            for b in s.get("Branches") or []:
                if isinstance(b, dict):
                    walk(b.get("States"))
            for key in ("Iterator", "ItemProcessor"):
                if isinstance(s.get(key), dict):
                    walk(s[key].get("States"))

    if isinstance(definition, dict):
        walk(definition.get("States"))
    return out


def is_function_arn(resource):
    return isinstance(resource, str) and resource.startswith("arn:aws:lambda:") and ":function:" in resource


def mock_answer(entry, resource):
    """One recorded answer as a MockConfigFile response (`Return` or `Throw`)."""
    outcome = entry.get("outcome")
    if outcome == "succeeded":
        return {"Return": entry.get("output")}
    if outcome == "failed":
        throw = {"Error": entry.get("error") or "States.TaskFailed"}
        cause = entry.get("cause")
        if cause is not None:
            if isinstance(cause, str):
                throw["Cause"] = cause
            elif is_function_arn(resource):
                throw["Cause"] = python_style(cause)
            else:
                throw["Cause"] = compact(cause)
        return {"Throw": throw}
    if outcome == "timed_out":
        return {"Throw": {"Error": "States.Timeout", "Cause": ""}}
    raise ValueError(f"unknown mock outcome {outcome!r}")


def add_test_case(mock_file, machine, test_case, case):
    """The case's recorded answers as `test_case` of `machine`: per state, its
    answers in recorded order are invocations 0, 1, 2, …"""
    resources = resources_by_state(case.get("definition"))
    by_state = {}
    for entry in case.get("mocks") or []:
        by_state.setdefault(entry["state"], []).append(entry)
    states = {}
    for i, (state, entries) in enumerate(by_state.items()):
        response = f"{test_case}.{i}"
        mock_file["MockedResponses"][response] = {
            str(n): mock_answer(e, resources.get(state)) for n, e in enumerate(entries)
        }
        states[state] = response
    machines = mock_file["StateMachines"]
    machines.setdefault(machine, {"TestCases": {}})["TestCases"][test_case] = states


def partition_of(case, fallback=(DEFAULT_REGION, DEFAULT_ACCOUNT)):
    """The case's (region, account); a case without a context (validation)
    takes `fallback`, so that it needs no server of its own."""
    ctx = case.get("context") or {}
    if not ctx:
        return fallback
    return (ctx.get("region") or DEFAULT_REGION, ctx.get("account") or DEFAULT_ACCOUNT)


class Server:
    """`expressway serve` with only the API, on a free port."""

    def __init__(self, binary, workdir, region, account, mock_config):
        self.log_path = os.path.join(workdir, f"serve-{region}-{account}.log")
        config = os.path.join(workdir, f"api-{region}-{account}.yaml")
        with open(config, "w") as f:
            f.write(
                "api:\n"
                "  address: 127.0.0.1:0\n"
                f"  region: {region}\n"
                f"  account: \"{account}\"\n"
                f"  mock_config: {json.dumps(mock_config)}\n"
                "  executions_kept: 100\n"
            )
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        self.endpoint = self._wait_for_address()
        self.client = boto3.client(
            "stepfunctions", endpoint_url=self.endpoint, region_name=region,
            config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60, connect_timeout=5))

    def _wait_for_address(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.log.seek(0)
            for line in self.log.read().splitlines():
                if line.startswith("Step Functions API on "):
                    return line.split(" on ", 1)[1].strip()
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        with open(self.log_path) as f:
            sys.exit(f"expressway serve did not start:\n{f.read()[-2000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def error_result(e):
    """A refused request (a ClientError) or one boto3 refused to send."""
    if isinstance(e, botocore.exceptions.ParamValidationError):
        return {"status": "ERROR", "error": "ParamValidationError", "cause": str(e)}
    err = e.response.get("Error", {})
    return {"status": "ERROR", "error": err.get("Code"), "cause": err.get("Message")}


REFUSED = (botocore.exceptions.ClientError, botocore.exceptions.ParamValidationError)


def execution_result(answer):
    """A DescribeExecution / StartSyncExecution answer as a runner result."""
    status = answer["status"]
    r = {"status": status}
    if "output" in answer:
        try:
            r["output"] = json.loads(answer["output"])
        except ValueError:
            r["output"] = answer["output"]
    for k in ("error", "cause"):
        if k in answer:
            r[k] = answer[k]
    return r


def create(sfn, name, definition, machine_type, role):
    """CreateStateMachine: its ARN, or an INVALID_DEFINITION / ERROR result."""
    try:
        arn = sfn.create_state_machine(name=name, definition=definition, roleArn=role, type=machine_type)[
            "stateMachineArn"]
        return arn, None
    except REFUSED as e:
        code = e.response.get("Error", {}).get("Code") if isinstance(e, botocore.exceptions.ClientError) else None
        if code == "InvalidDefinition":
            return None, {"status": "INVALID_DEFINITION", "error": "States.InvalidDefinition",
                          "cause": e.response["Error"].get("Message")}
        return None, error_result(e)


def definition_text(case):
    return case.get("definition_text") or json.dumps(case.get("definition"), ensure_ascii=False)


def run_validation(sfn, case, n, role, disagreements):
    definition = definition_text(case)
    try:
        answer = sfn.validate_state_machine_definition(definition=definition, type="STANDARD")
        validated = "VALID" if answer["result"] == "OK" else "INVALID_DEFINITION"
    except REFUSED as e:
        return error_result(e)
    arn, failed = create(sfn, f"validation-{n}", definition, "STANDARD", role)
    created = failed["status"] if failed else "VALID"
    if arn:
        sfn.delete_state_machine(stateMachineArn=arn)
    if created != validated:
        disagreements.append((case["id"], validated, created))
    if failed and failed["status"] == "INVALID_DEFINITION":
        return failed
    return {"status": validated}


def run_execution(sfn, case, test_case):
    ctx = case.get("context") or {}
    machine_type = ctx.get("state_machine_type") or "EXPRESS"
    account = ctx.get("account") or DEFAULT_ACCOUNT
    role = ctx.get("role_arn") or f"arn:aws:iam::{account}:role/expressway-conformance"
    arn, failed = create(sfn, ctx["state_machine_name"], definition_text(case), machine_type, role)
    if failed:
        return failed
    try:
        start = {"stateMachineArn": f"{arn}#{test_case}", "input": json.dumps(case.get("input"))}
        if ctx.get("execution_name"):
            start["name"] = ctx["execution_name"]
        if machine_type == "EXPRESS":
            return execution_result(sfn.start_sync_execution(**start))
        execution = sfn.start_execution(**start)["executionArn"]
        deadline, pause = time.monotonic() + POLL_LIMIT_S, 0.0005
        while True:
            answer = sfn.describe_execution(executionArn=execution)
            if answer["status"] != "RUNNING":
                return execution_result(answer)
            if time.monotonic() > deadline:
                return {"status": "ERROR", "error": "HarnessTimeout", "cause": f"still RUNNING after {POLL_LIMIT_S} s"}
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
    except REFUSED as e:
        return error_result(e)
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)


def diff(cases_path, cases, api_results, exec_path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(cases_path)))
    import compare  # the shared judge

    exec_results = {r["id"]: r for r in (json.loads(l) for l in open(exec_path) if l.strip())}
    api_by_id = {r["id"]: r for r in api_results}
    differ = []
    for c in cases:
        e, a = exec_results.get(c["id"]), api_by_id.get(c["id"])
        if e is None or a is None:
            continue
        es, as_ = compare.judge(c, e)["strict"], compare.judge(c, a)["strict"]
        if es != as_:
            differ.append((c["id"], es, as_, e, a))
    print(f"{len(differ)} cases differ between exec and the API")
    for cid, es, as_, e, a in differ:
        print(f"- {cid}: exec {'passes' if es else 'fails'}, API {'passes' if as_ else 'fails'}")
        print(f"    exec: {json.dumps(e)[:300]}")
        print(f"    api:  {json.dumps(a)[:300]}")
    return differ


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", default="target/release/expressway")
    ap.add_argument("--diff", metavar="EXEC_RESULTS")
    ap.add_argument("--filter")
    a = ap.parse_args()

    cases = [json.loads(l) for l in open(a.cases) if l.strip()]
    if a.filter:
        cases = [c for c in cases if a.filter in c["id"]]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="conformance-api-") as work:
        mock_file = {"StateMachines": {}, "MockedResponses": {}}
        test_cases = {}
        for n, c in enumerate(cases):
            if c.get("kind") == "execution" and c.get("context"):
                test_cases[n] = f"case{n}"
                add_test_case(mock_file, c["context"]["state_machine_name"], test_cases[n], c)
        mock_path = os.path.join(work, "MockConfigFile.json")
        with open(mock_path, "w") as f:
            json.dump(mock_file, f)

        with_context = [partition_of(c) for c in cases if c.get("context")]
        fallback = max(set(with_context), key=with_context.count) if with_context else (DEFAULT_REGION,
                                                                                        DEFAULT_ACCOUNT)

        def partition(c):
            return partition_of(c, fallback)

        partitions = sorted({partition(c) for c in cases})
        servers = {}
        try:
            for region, account in partitions:
                servers[(region, account)] = Server(os.path.abspath(a.bin), work, region, account, mock_path)
            results, disagreements = [], []
            for n, c in enumerate(cases):
                sfn = servers[partition(c)].client
                if n in test_cases:
                    r = run_execution(sfn, c, test_cases[n])
                else:
                    role = f"arn:aws:iam::{partition(c)[1]}:role/expressway-conformance"
                    r = run_validation(sfn, c, n, role, disagreements)
                r["id"] = c["id"]
                results.append(r)
        finally:
            for s in servers.values():
                s.stop()
    with open(a.out, "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    print(f"wrote {len(results)} results to {a.out} in {time.monotonic() - started:.1f} s "
          f"({len(servers)} server(s))", file=sys.stderr)
    for cid, validated, created in disagreements:
        print(f"ValidateStateMachineDefinition says {validated}, CreateStateMachine {created}: {cid}",
              file=sys.stderr)
    if a.diff:
        diff(a.cases, cases, results, a.diff)
    if disagreements:
        sys.exit(1)


if __name__ == "__main__":
    main()
