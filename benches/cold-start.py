#!/usr/bin/env python3
"""Time to first result of each binary given: `validate --config` of a
Pass-only pipeline and of one with two aws-sdk tasks (their service models
inflated on first use), and `run` of config/examples/quickstart.yaml from the
start. N runs each (default 15) after one warm-up; median, min, max in ms.

    python3 benches/cold-start.py OLD_BIN NEW_BIN
"""
import os, statistics, subprocess, sys, tempfile, time

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp(prefix="expressway-cold-start-")
machines = {
    "pass": '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
    "sdk": '{"StartAt": "Get", "States": {'
    '"Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}, "Next": "Put"},'
    '"Put": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem", "Parameters": {"TableName": "t", "Item": {"id": {"S": "1"}}}, "End": true}}}',
}
for name, definition in machines.items():
    with open(os.path.join(work, f"{name}.asl.json"), "w") as f:
        f.write(definition)
    with open(os.path.join(work, f"{name}.yaml"), "w") as f:
        f.write(
            f"pipelines:\n  - name: {name}\n    state_machine: {name}.asl.json\n"
            "    source: { type: file, path: in.jsonl }\n    sink: { type: file, path: out.jsonl }\n"
            "    dead_letter: { type: file, path: dead.jsonl }\n"
        )
cases = [
    ("validate --config, Pass-only machine", ["validate", "--config", os.path.join(work, "pass.yaml")], {}),
    ("validate --config, two aws-sdk tasks", ["validate", "--config", os.path.join(work, "sdk.yaml")], {}),
    (
        "run quickstart.yaml --from-start (6,000 readings)",
        ["run", "--config", os.path.join(repo, "config/examples/quickstart.yaml"), "--from-start"],
        {"QUICKSTART_OUT": os.path.join(work, "quickstart")},
    ),
]
n = int(os.environ.get("N", "15"))
for label, args, env in cases:
    for binary in sys.argv[1:]:
        times = []
        for i in range(n + 1):
            start = time.perf_counter()
            done = subprocess.run([binary] + args, env={**os.environ, **env}, capture_output=True)
            if done.returncode != 0:
                sys.exit(f"{binary} {' '.join(args)} failed: {done.stderr.decode()}")
            if i > 0:  # the first run warms the page cache
                times.append((time.perf_counter() - start) * 1000)
        times.sort()
        print(f"{label} | {os.path.basename(binary)} | median {statistics.median(times):.1f} ms"
              f" | min {times[0]:.1f} | max {times[-1]:.1f} | n={n}")
