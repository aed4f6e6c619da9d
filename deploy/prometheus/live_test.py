#!/usr/bin/env python3
"""A real Prometheus scrapes a running `expressway run`.

One process runs four pipelines over the dev services (tansu for Kafka,
ministack for SQS): file -> Kafka, Kafka -> file (a machine that fails on
a quarter of its records: the induced failure), file -> SQS with
sqs:sendMessage tasks (a fifth of them to a queue that does not exist), and
SQS -> null. Prometheus scrapes it every second with the labels Kubernetes
service discovery would add, and evaluates deploy/prometheus/expressway-rules.yaml
with each `for:` cut to 0s. Then:
  - the failure alerts fire (ExpresswayExecutionFailureRatioHigh,
    ExpresswayExecutionsFailing, ExpresswayDeadLetters, ExpresswayTaskErrors);
  - every recording rule has a value;
  - every PromQL expression of every Grafana panel, and every template
    variable, returns data (panels fed by cluster exporters, kube_*, are
    exempt and listed).
Needs KAFKA_BROKERS and AWS_ENDPOINT_URL (deploy/dev/services.sh start).
  python3 deploy/prometheus/live_test.py --bin target/release/expressway --prometheus /usr/bin/prometheus
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILURE_ALERTS = [
    "ExpresswayExecutionFailureRatioHigh",
    "ExpresswayExecutionsFailing",
    "ExpresswayDeadLetters",
    "ExpresswayTaskErrors",
]
# Labels that Kubernetes service discovery (and the ServiceMonitor) add.
TARGET_LABELS = {"namespace": "streaming", "pod": "expressway-0", "container": "expressway"}
passed = 0


def check(ok, what):
    global passed
    if not ok:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    passed += 1
    print(f"ok   {what}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(deadline_s, done):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if done():
            return True
        time.sleep(0.5)
    return done()


def http_json(url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def create_queue(endpoint, name):
    headers = {
        "X-Amz-Target": "AmazonSQS.CreateQueue",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    return http_json(endpoint + "/", json.dumps({"QueueName": name}).encode(), headers)["QueueUrl"]


def create_topic(brokers, name):
    tansu = subprocess.run(
        [os.path.join(REPO, "deploy/dev/services.sh"), "path", "tansu"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for _ in range(30):
        created = subprocess.run(
            [tansu, "topic", "create", name, "--partitions", "2", "--broker", f"tcp://{brokers}"],
            capture_output=True,
            text=True,
        )
        if created.returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError(f"creating topic {name}: {created.stderr}")


MACHINES = {
    "classify.asl.json": {
        "StartAt": "Route",
        "States": {
            "Route": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": -1, "Next": "Keep"}], "Default": "Keep"},
            "Keep": {"Type": "Pass", "End": True},
        },
    },
    "judge.asl.json": {
        "StartAt": "Bad?",
        "States": {
            "Bad?": {"Type": "Choice", "Choices": [{"Variable": "$.bad", "BooleanEquals": True, "Next": "Reject"}], "Default": "Accept"},
            "Reject": {"Type": "Fail", "Error": "Reading.Invalid", "Cause": "induced by the test"},
            "Accept": {"Type": "Succeed"},
        },
    },
    "forward.asl.json": {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl.$": "$.queue", "MessageBody.$": "$.body"},
                "ResultPath": None,
                "End": True,
            }
        },
    },
}


def config_yaml(work, brokers, endpoint, topic, queues, metrics_port):
    return f"""
pipelines:
  - name: feed
    state_machine: classify.asl.json
    source: {{ type: file, path: {work}/feed.jsonl, follow: true }}
    sink: {{ type: kafka, brokers: "{brokers}", topic: {topic} }}
    dead_letter: {{ type: file, path: {work}/feed-dead.jsonl }}
  - name: readings
    state_machine: judge.asl.json
    source: {{ type: kafka, brokers: "{brokers}", group: {topic}-group, topics: [{topic}] }}
    sink: {{ type: file, path: {work}/readings-out.jsonl }}
    dead_letter: {{ type: file, path: {work}/readings-dead.jsonl }}
    idempotency: {{ key: $.id }}
  - name: forward
    state_machine: forward.asl.json
    source: {{ type: file, path: {work}/forward.jsonl, follow: true }}
    sink: {{ type: sqs, queue_url: "{queues['out']}" }}
    dead_letter: {{ type: file, path: {work}/forward-dead.jsonl }}
  - name: inbox
    state_machine: classify.asl.json
    source: {{ type: sqs, queue_url: "{queues['in']}", wait_time: 1s }}
    sink: {{ type: "null" }}
    dead_letter: {{ type: "null" }}
runtime: {{ shards: 1, max_in_flight_per_shard: 8, commit_interval: 1s, drain_timeout: 5s }}
aws: {{ endpoint_url: "{endpoint}", region: us-east-1 }}
metrics: {{ address: "127.0.0.1:{metrics_port}" }}
"""


def rules_without_for(src, dst):
    text = open(src).read()
    text, n = re.subn(r"(?m)^(\s+)for: \S+$", r"\1for: 0s", text)
    assert n > 0, "no `for:` to shorten"
    open(dst, "w").write(text)


def prometheus_config(work, metrics_port):
    labels = ", ".join(f'{k}: "{v}"' for k, v in TARGET_LABELS.items())
    return f"""
global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
rule_files: [{work}/rules.yaml]
scrape_configs:
  - job_name: expressway
    static_configs:
      - targets: ["127.0.0.1:{metrics_port}"]
        labels: {{ {labels} }}
"""


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def query(self, expr):
        url = self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        answer = http_json(url)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def label_values(self, label, match):
        url = self.base + f"/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": match})
        return http_json(url)["data"]

    def firing(self):
        return {a["labels"]["alertname"] for a in http_json(self.base + "/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"}


def grafana_expr(expr):
    """A panel's PromQL as Grafana sends it with every variable at All."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
    return re.sub(r"\$\{?(namespace|pipeline)\}?", ".*", expr)


def panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--prometheus", required=True)
    args = parser.parse_args()
    brokers = os.environ.get("KAFKA_BROKERS")
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not brokers or not endpoint:
        sys.exit("KAFKA_BROKERS and AWS_ENDPOINT_URL are not set: source target/services.env (deploy/dev/services.sh start)")
    work = tempfile.mkdtemp(prefix="expressway-prometheus-")
    children = []
    try:
        suffix = f"{os.getpid()}-{int(time.time())}"
        topic = f"prom-readings-{suffix}"
        create_topic(brokers, topic)
        queues = {"in": create_queue(endpoint, f"prom-in-{suffix}"), "out": create_queue(endpoint, f"prom-out-{suffix}")}
        missing_queue = queues["in"].rsplit("/", 1)[0] + f"/prom-missing-{suffix}"
        for name, machine in MACHINES.items():
            json.dump(machine, open(os.path.join(work, name), "w"))
        # Records arrive all along (rates need more than one scrape): every
        # 0.2 s ten readings (each id twice: dedup hits; a quarter bad) and
        # one task call (a fifth to a queue that does not exist).
        stop_feeding = threading.Event()

        def feed():
            i = 0
            with open(f"{work}/feed.jsonl", "a") as readings, open(f"{work}/forward.jsonl", "a") as calls:
                while not stop_feeding.is_set():
                    for n in range(i * 10, i * 10 + 10):
                        readings.write(json.dumps({"id": n // 2, "n": n, "bad": (n // 2) % 4 == 0}) + "\n")
                    queue = missing_queue if i % 5 == 0 else queues["in"]
                    calls.write(json.dumps({"queue": queue, "body": json.dumps({"n": i})}) + "\n")
                    readings.flush()
                    calls.flush()
                    i += 1
                    stop_feeding.wait(0.2)

        open(f"{work}/feed.jsonl", "w").close()
        open(f"{work}/forward.jsonl", "w").close()
        feeder = threading.Thread(target=feed, daemon=True)
        metrics_port, prometheus_port = free_port(), free_port()
        open(f"{work}/pipeline.yaml", "w").write(config_yaml(work, brokers, endpoint, topic, queues, metrics_port))
        rules_without_for(os.path.join(REPO, "deploy/prometheus/expressway-rules.yaml"), f"{work}/rules.yaml")
        open(f"{work}/prometheus.yml", "w").write(prometheus_config(work, metrics_port))

        log = open(f"{work}/expressway.log", "w")
        expressway = subprocess.Popen([args.bin, "run", "--config", f"{work}/pipeline.yaml"], stdout=log, stderr=log, start_new_session=True)
        children.append(expressway)
        prometheus_log = open(f"{work}/prometheus.log", "w")
        prometheus = subprocess.Popen(
            [
                args.prometheus,
                f"--config.file={work}/prometheus.yml",
                f"--storage.tsdb.path={work}/tsdb",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            stdout=prometheus_log,
            stderr=prometheus_log,
            start_new_session=True,
        )
        children.append(prometheus)
        feeder.start()
        prom = Prometheus(prometheus_port)

        def up():
            try:
                return any(r["value"][1] == "1" for r in prom.query('up{job="expressway"}'))
            except Exception:
                return False

        check(wait_for(60, up), "Prometheus scrapes expressway run (up == 1)")

        def alerts_firing():
            try:
                return set(FAILURE_ALERTS) <= prom.firing()
            except Exception:
                return False

        fired = wait_for(120, alerts_firing)
        if not fired:
            print(open(f"{work}/expressway.log").read()[-3000:])
            page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
            print("\n".join(l for l in page.splitlines() if l.startswith("expressway_") and "_bucket" not in l))
        check(fired, f"the induced failures fire {', '.join(FAILURE_ALERTS)} (firing: {sorted(prom.firing())})")
        quiet = {"ExpresswaySinkErrors", "ExpresswayInternalErrors", "ExpresswayRestarting"} & prom.firing()
        check(not quiet, f"alerts with no cause stay quiet ({sorted(quiet)})")
        # Let the slower series (Kafka statistics every 5 s) arrive.
        wait_for(30, lambda: prom.query("expressway_kafka_consumer_lag") and prom.query("expressway_source_lag_records"))

        records = re.findall(r"(?m)^\s+- record: (\S+)$", open(os.path.join(REPO, "deploy/prometheus/expressway-rules.yaml")).read())
        for record in records:
            check(wait_for(20, lambda: prom.query(record)), f"recording rule {record} has a value")

        dashboard = json.load(open(os.path.join(REPO, "deploy/grafana/expressway.json")))
        exempt = []
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                expr = target["expr"]
                if "kube_" in expr:
                    exempt.append(panel["title"])
                    continue
                query = grafana_expr(expr)
                check(wait_for(20, lambda: prom.query(query)), f"panel '{panel['title']}' {target['refId']}: {query}")
        for variable in dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["definition"])
            values = prom.label_values(m.group(2), grafana_expr(m.group(1)))
            check(values, f"variable ${variable['name']}: {values}")
        print(f"exempt (cluster exporters): {exempt}")
        check(exempt == ["Container restarts (kube-state-metrics)"], "only the kube-state-metrics panel is exempt")
    finally:
        if "stop_feeding" in locals():
            stop_feeding.set()
        for child in children:
            try:
                os.killpg(child.pid, signal.SIGTERM)
                child.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(child.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    print(f"prometheus live test: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
