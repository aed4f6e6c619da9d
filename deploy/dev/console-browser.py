#!/usr/bin/env python3
"""The web console in headless Chromium (Debian's `chromium`, installed by
deploy/dev/services.sh), driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: no websocket, no extra package).

    deploy/dev/console-browser.py target/release/expressway [--out target/artifacts/console]

Checks: the graph renders for every reference and example machine with one
box per state; per-state counts change while a pipeline runs; a failed
execution's path is highlighted; "try it" shows the output; nothing is
logged as an error in the browser; a foreign Host or Origin is refused
(403) and starting is refused when allow_start is off. Writes PNG
screenshots to --out."""
import argparse, base64, glob, http.client, json, os, re, select, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MACHINE_DIRS = ["benches/machines", "config/examples/machines"]
PIPELINE_MACHINE = {
    "StartAt": "Route",
    "States": {
        "Route": {"Type": "Choice", "Choices": [{"Variable": "$.bad", "BooleanEquals": True, "Next": "Broken"}],
                  "Default": "Label"},
        "Label": {"Type": "Pass", "Parameters": {"id.$": "$.id", "ok": True}, "Next": "Done"},
        "Broken": {"Type": "Fail", "Error": "BadRecord", "Cause": "the record is marked bad"},
        "Done": {"Type": "Succeed"},
    },
}


def fail(message):
    print(f"console-browser: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    fail(f"timed out waiting for {what}")


def count_states(machine):
    n = 0
    for state in machine["States"].values():
        n += 1
        for branch in state.get("Branches", []):
            n += count_states(branch)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            n += count_states(processor)
    return n


def request(port, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def api_call(port, operation, fields):
    status, data = request(port, "POST", "/", {"X-Amz-Target": f"AWSStepFunctions.{operation}",
                                               "Content-Type": "application/x-amz-json-1.0"}, json.dumps(fields))
    if status != 200:
        fail(f"{operation}: {status} {data[:300]!r}")
    return json.loads(data)


class Expressway:
    def __init__(self, binary, work, allow_start, pipelines=True):
        self.port = free_port()
        self.work = work
        inbox = os.path.join(work, "in.jsonl")
        open(inbox, "a").close()
        with open(os.path.join(work, "labels.asl.json"), "w") as f:
            json.dump(PIPELINE_MACHINE, f)
        config = [
            "api:",
            f"  address: 127.0.0.1:{self.port}",
            f"  console: {{ enabled: true, allow_start: {'true' if allow_start else 'false'} }}",
        ]
        if pipelines:
            config += [
                "pipelines:",
                "  - name: labels",
                "    state_machine: labels.asl.json",
                "    source: { type: file, path: in.jsonl, follow: true }",
                "    sink: { type: file, path: out.jsonl }",
                "    dead_letter: { type: file, path: dead.jsonl }",
                "runtime: { shards: 2 }",
            ]
        path = os.path.join(work, f"console-{self.port}.yaml")
        with open(path, "w") as f:
            f.write("\n".join(config) + "\n")
        self.log = open(os.path.join(work, f"expressway-{self.port}.log"), "w")
        command = [binary, "run" if pipelines else "serve", "--config", path]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=work)
        wait_until("the console to answer", lambda: self.ready(), 30)

    def ready(self):
        if self.process.poll() is not None:
            fail(f"expressway exited: {open(self.log.name).read()[-2000:]}")
        try:
            return request(self.port, "GET", "/console/api/overview", {"Host": f"127.0.0.1:{self.port}"})[0] == 200
        except OSError:
            return False

    def append(self, records):
        with open(os.path.join(self.work, "in.jsonl"), "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands) and 4 (events
    and answers), NUL-separated JSON."""

    def __init__(self, profile):
        executable = shutil.which("chromium") or shutil.which("chromium-browser")
        if not executable:
            fail("chromium is not installed (deploy/dev/services.sh install)")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def fds():
            # Copies first, so that neither end is overwritten by the other's dup2;
            # close_fds then keeps only 3 and 4 (pass_fds).
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1400,1000", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.errors = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ["Runtime", "Log", "Page"]:
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1400, height=1000, deviceScaleFactor=1,
                  mobile=False)

    def read_message(self, timeout):
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_browser], [], [], timeout)
            if not ready:
                fail("chromium did not answer")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                fail("chromium closed its pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=False, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            m = self.read_message(30)
            if m.get("id") == self.next_id:
                if "error" in m:
                    fail(f"{method}: {m['error']}")
                return m.get("result", {})
            self.event(m)

    def event(self, m):
        method, params = m.get("method"), m.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(("console", [a.get("value", a.get("description")) for a in params.get("args", [])]))
        elif method == "Runtime.exceptionThrown":
            self.errors.append(("exception", params["exceptionDetails"].get("exception", {}).get("description")))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(("log", params["entry"].get("text"), params["entry"].get("url")))

    def js(self, expression):
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url):
        self.call("Page.navigate", session=True, url=url)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close")
        except SystemExit:
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--out", default=os.path.join(ROOT, "target/artifacts/console"))
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    os.makedirs(args.out, exist_ok=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        server = Expressway(binary, work, allow_start=True)
        browser = None
        try:
            port = server.port
            base = f"http://127.0.0.1:{port}/console/"
            machines = {}
            for d in MACHINE_DIRS:
                for f in sorted(glob.glob(os.path.join(ROOT, d, "*.asl.json"))):
                    name = "ref-" + os.path.basename(f)[: -len(".asl.json")]
                    text = open(f).read()
                    api_call(port, "CreateStateMachine", {"name": name, "definition": text, "type": "EXPRESS",
                                                          "roleArn": "arn:aws:iam::123456789012:role/r"})
                    machines[name] = count_states(json.loads(text))
            if len(machines) < 4:
                fail(f"reference machines missing: {sorted(machines)}")
            machines["labels"] = count_states(PIPELINE_MACHINE)

            browser = Browser(os.path.join(work, "profile"))
            for name, states in machines.items():
                browser.goto(f"{base}#machine={name}")
                wait_until(f"the graph of {name}",
                           lambda: browser.js(f"!!document.body && document.body.dataset.graphFor === {json.dumps(name)}"))
                boxes = browser.js("document.querySelectorAll('#graph g.xw-state').length")
                if boxes != states:
                    fail(f"{name}: {boxes} boxes drawn for {states} states")
                ids = browser.js("[...document.querySelectorAll('#graph g.xw-state')].every(g => g.id.startsWith('xw-s:'))")
                if not ids:
                    fail(f"{name}: a state box without its id")
                browser.screenshot(os.path.join(args.out, f"graph-{name}.png"))
                print(f"console-browser: {name}: {boxes} boxes")

            # A page opened on a machine that does not exist says so and stays live
            # (the failed first select had left it without its poll: frozen).
            browser.goto(f"http://127.0.0.1:{port}/console/?fresh=1#machine=does-not-exist")
            wait_until("the page to be ready", lambda: browser.js("!!document.body && document.body.dataset.ready === 'true'"))
            if "cannot show 'does-not-exist'" not in browser.js("document.getElementById('machine-title').textContent"):
                fail("a missing machine is not said to be missing")
            stamp = browser.js("document.getElementById('status').textContent")
            wait_until("the status line to move on", lambda: browser.js("document.getElementById('status').textContent") != stamp)

            # Counts change while the pipeline runs.
            browser.goto(f"{base}#machine=labels")
            wait_until("the pipeline's graph", lambda: browser.js("!!document.body && document.body.dataset.graphFor === 'labels'"))
            entered = "Number(document.getElementById('xw-s:Route').dataset.entered || 0)"
            first = browser.js(entered)
            server.append([{"id": i, "bad": False} for i in range(50)])
            wait_until("Route's entered count to reach 50", lambda: browser.js(entered) >= first + 50)
            server.append([{"id": i, "bad": False} for i in range(50, 80)])
            wait_until("Route's entered count to grow again", lambda: browser.js(entered) >= first + 80)
            label_done = browser.js("Number(document.getElementById('xw-s:Label').dataset.succeeded)")
            if label_done < 80:
                fail(f"Label succeeded {label_done} times, expected 80")
            # Edge counts: every good record went Route → Label → Done.
            edge = "Number((document.querySelector('#graph g.xw-edge[data-from=\"{}\"][data-to=\"{}\"]') || {{dataset: {{}}}}).dataset.count || 0)"
            wait_until("the Route → Label edge count to reach 80", lambda: browser.js(edge.format("Route", "Label")) >= first + 80)
            if browser.js(edge.format("Label", "Done")) < 80:
                fail(f"Label → Done counted {browser.js(edge.format('Label', 'Done'))}, expected at least 80")
            if browser.js(edge.format("Route", "Broken")) != 0:
                fail("Route → Broken counted before any bad record")

            # The overview's lag column: the file source, read to its end, reports 0 bytes behind.
            lag_cell = "document.querySelector('#pipelines tr.pipeline td:nth-child(7)').textContent"
            wait_until("the lag column to read 0 B", lambda: browser.js(lag_cell) == "0 B")
            browser.screenshot(os.path.join(args.out, "counts.png"))
            print(f"console-browser: counts went {first} → {browser.js(entered)}")

            # A failed execution's path is highlighted.
            server.append([{"id": 999, "bad": True}])
            wait_until("the failure to be listed", lambda: browser.js("document.querySelectorAll('#failures li').length > 0"))
            browser.js("document.querySelector('#failures li').click()")
            failed = browser.js("[...document.querySelectorAll('#graph .xw-failed')].map(g => g.id)")
            on_path = browser.js("[...document.querySelectorAll('#graph .xw-path')].map(g => g.id).sort()")
            if failed != ["xw-s:Broken"] or on_path != ["xw-s:Broken", "xw-s:Route"]:
                fail(f"highlighted failed {failed}, path {on_path}")
            if "BadRecord" not in browser.js("document.getElementById('f-error').textContent"):
                fail("the failure's error is not shown")
            if '"bad":true' not in browser.js("document.getElementById('f-input').textContent").replace(" ", ""):
                fail("the failure's input is not shown")
            browser.screenshot(os.path.join(args.out, "failure-path.png"))

            # "Try it" shows the output.
            browser.js("document.getElementById('try-input').value = JSON.stringify({id: 'tried', bad: false})")
            browser.js("document.getElementById('try-run').click()")
            wait_until("the try-it answer", lambda: browser.js("document.getElementById('try-status').textContent"))
            status = browser.js("document.getElementById('try-status').textContent")
            output = browser.js("document.getElementById('try-output').textContent")
            if status != "SUCCEEDED" or json.loads(output) != {"id": "tried", "ok": True}:
                fail(f"try it: {status} {output}")
            on_path = browser.js("[...document.querySelectorAll('#graph .xw-path')].map(g => g.id).sort()")
            failed = browser.js("[...document.querySelectorAll('#graph .xw-failed')].map(g => g.id)")
            path_text = browser.js("document.getElementById('try-path').textContent")
            if on_path != ["xw-s:Done", "xw-s:Label", "xw-s:Route"] or failed or path_text != "Route → Label → Done":
                fail(f"try it highlighted path {on_path}, failed {failed}, path text {path_text!r}")
            browser.screenshot(os.path.join(args.out, "try-it.png"))

            # "Try it" on an input that fails: its path ends on the failed state.
            browser.js("document.getElementById('try-status').textContent = ''")
            browser.js("document.getElementById('try-input').value = JSON.stringify({id: 'tried', bad: true})")
            browser.js("document.getElementById('try-run').click()")
            wait_until("the failing try-it answer", lambda: browser.js("document.getElementById('try-status').textContent"))
            status = browser.js("document.getElementById('try-status').textContent")
            on_path = browser.js("[...document.querySelectorAll('#graph .xw-path')].map(g => g.id).sort()")
            failed = browser.js("[...document.querySelectorAll('#graph .xw-failed')].map(g => g.id)")
            if status != "FAILED" or on_path != ["xw-s:Broken", "xw-s:Route"] or failed != ["xw-s:Broken"]:
                fail(f"failing try it: {status}, highlighted path {on_path}, failed {failed}")
            if "BadRecord" not in browser.js("document.getElementById('try-output').textContent"):
                fail("the failing try-it's error is not shown")

            # Host and Origin checks.
            good = {"Host": f"127.0.0.1:{port}"}
            checks = [
                ("a foreign Host", "GET", "/console/api/overview", {"Host": "attacker.example"}, 403),
                ("a rebinding Host", "GET", "/console/", {"Host": f"rebind.attacker.example:{port}"}, 403),
                ("a foreign Origin", "GET", "/console/api/failures?pipeline=labels",
                 {**good, "Origin": "http://attacker.example"}, 403),
                ("a cross-site fetch", "GET", "/console/api/overview", {**good, "Sec-Fetch-Site": "cross-site"}, 403),
                ("a start without Origin", "POST", "/console/api/start", {**good, "Content-Type": "application/json"},
                 403),
                ("the console's own requests", "GET", "/console/api/overview", good, 200),
            ]
            for what, method, path, headers, expected in checks:
                body = json.dumps({"machine": "labels", "input": "{}"}) if method == "POST" else None
                status, _ = request(port, method, path, headers, body)
                if status != expected:
                    fail(f"{what}: {status}, expected {expected}")

            # The missing machine's graph answers 404 on purpose; nothing else may fail.
            expected = "/console/api/graph?machine=does-not-exist"
            errors = [e for e in browser.errors if not (len(e) > 2 and str(e[2]).endswith(expected))]
            if errors:
                fail(f"errors in the browser log: {errors}")
        finally:
            if browser:
                browser.close()
            server.stop()

        # Read-only unless allow_start.
        read_only = Expressway(binary, os.path.join(work), allow_start=False, pipelines=False)
        try:
            port = read_only.port
            status, _ = request(port, "POST", "/console/api/start",
                                {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}",
                                 "Content-Type": "application/json"}, json.dumps({"machine": "x", "input": "{}"}))
            if status != 403:
                fail(f"a start with allow_start off: {status}, expected 403")
        finally:
            read_only.stop()
    print(f"console-browser: all checks passed in {time.monotonic() - began:.1f} s; screenshots in {args.out}")


if __name__ == "__main__":
    main()
