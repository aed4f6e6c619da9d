// The Expressway console: polls the JSON under /console/api once a second
// and draws on the graph's SVG (whose state boxes have ids "xw-s:<node id>").
// Text from the server is only ever set as textContent; the SVG is parsed as
// SVG (the server renders it with every piece of user text escaped).
"use strict";

const EVENTS = ["entered", "succeeded", "failed", "retried", "caught"];
const SIGNS = ["▶", "✓", "✗", "↻", "⤳"];
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  overview: null,
  previous: null, // { at, pipelines: {name: counters} } for rates
  machine: null, // selected machine name
  pipeline: false, // whether it is a pipeline's (counts and failures)
  stateIds: [],
  boxes: [], // by state index: the state's <g>, or null
  edgeLabels: new Map(), // "from|to|kind" → the <text> drawn on that edge
  failures: [],
  selectedFailure: null,
};

const $ = (id) => document.getElementById(id);

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function compact(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return String(n);
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function lagText(lag) {
  if (!lag) return "–";
  return lag.records !== undefined ? compact(lag.records) + " rec" : compact(lag.bytes) + " B";
}

function drawOverview(overview) {
  const now = performance.now();
  const before = state.previous;
  const seconds = before ? Math.max((now - before.at) / 1000, 0.001) : 0;
  const rate = (p, key) => {
    const old = before && before.pipelines[p.name];
    return old ? ((p[key] - old[key]) / seconds).toFixed(1) : "–";
  };
  const body = $("pipelines").tBodies[0];
  body.replaceChildren();
  for (const p of overview.pipelines) {
    const row = document.createElement("tr");
    row.className = "pipeline" + (p.name === state.machine ? " selected" : "");
    row.dataset.pipeline = p.name;
    cell(row, p.name);
    cell(row, rate(p, "started"));
    cell(row, rate(p, "succeeded"));
    cell(row, rate(p, "failed"));
    cell(row, rate(p, "deadLetters"));
    cell(row, String(p.inFlight));
    cell(row, lagText(p.lag));
    cell(row, compact(p.started));
    row.addEventListener("click", () => select(p.name));
    body.appendChild(row);
  }
  const list = $("machines");
  list.replaceChildren();
  for (const m of overview.machines) {
    const item = document.createElement("li");
    item.textContent = `${m.name} (${m.type.toLowerCase()}${m.fromConfig ? ", pipeline" : ""})`;
    item.dataset.machine = m.name;
    if (m.name === state.machine) item.classList.add("selected");
    item.addEventListener("click", () => select(m.name));
    list.appendChild(item);
  }
  state.previous = { at: now, pipelines: Object.fromEntries(overview.pipelines.map((p) => [p.name, p])) };
  $("try").hidden = !overview.allowStart || !state.machine;
}

async function select(name) {
  if (location.hash !== "#machine=" + encodeURIComponent(name)) {
    history.replaceState(null, "", "#machine=" + encodeURIComponent(name));
  }
  state.machine = name;
  state.selectedFailure = null;
  let graph;
  try {
    graph = await getJson("/console/api/graph?" + new URLSearchParams({ machine: name }));
  } catch (e) {
    // One that cannot be shown (deleted since, mistyped in a bookmark) is
    // said to be so, and the page goes on: a failed first select had left it
    // without its poll and its hashchange listener.
    if (state.machine !== name) return;
    state.machine = null;
    state.pipeline = null;
    state.boxes = [];
    $("machine-title").textContent = `cannot show '${name}': ${e.message}`;
    $("graph").replaceChildren();
    $("detail").hidden = false;
    $("failures-panel").hidden = true;
    $("failure-detail").hidden = true;
    $("try-result").hidden = true;
    return;
  }
  if (state.machine !== name) return;
  state.pipeline = graph.pipeline;
  state.stateIds = graph.stateIds;
  const doc = new DOMParser().parseFromString(graph.svg, "image/svg+xml");
  const svg = document.importNode(doc.documentElement, true);
  $("graph").replaceChildren(svg);
  state.boxes = graph.stateIds.map((id) => document.getElementById("xw-s:" + id));
  state.edgeLabels = new Map();
  $("machine-title").textContent = name + (graph.pipeline ? " (pipeline)" : "");
  $("detail").hidden = false;
  $("failure-detail").hidden = true;
  $("failures").replaceChildren();
  $("failures-panel").hidden = !graph.pipeline;
  $("try-result").hidden = true;
  if (state.overview) drawOverview(state.overview);
  document.body.dataset.graphFor = name;
  // A poll that fails now is made again at the next tick.
  await pollDetail().catch(() => {});
}

function drawCounts(counts) {
  counts.forEach((c, i) => {
    const g = state.boxes[i];
    if (!g) return;
    EVENTS.forEach((e, k) => g.setAttribute("data-" + e, String(c[k])));
    let text = g.querySelector(":scope > text.xw-count");
    if (!text) {
      const box = g.querySelector(":scope > .xw-box").getBBox();
      text = document.createElementNS(SVG_NS, "text");
      text.setAttribute("class", "xw-count");
      text.setAttribute("x", String(box.x + box.width));
      text.setAttribute("y", String(box.y + box.height + 10));
      text.setAttribute("text-anchor", "end");
      text.setAttribute("stroke", "#fff");
      text.setAttribute("stroke-width", "3");
      text.setAttribute("paint-order", "stroke");
      g.appendChild(text);
    }
    const parts = c.map((n, k) => (n > 0 || k < 2 ? SIGNS[k] + compact(n) : "")).filter(Boolean);
    text.textContent = parts.join(" ");
    g.classList.toggle("xw-active", c[0] > 0);
  });
}

// Edge counts: [[from, to, caught, count], …] by state index, drawn at the
// middle of the edge's first segment (its label, if any, sits elsewhere).
function drawEdges(edges) {
  for (const [from, to, caught, count] of edges) {
    const kind = caught ? "xw-catch" : "xw-next";
    const key = `${from}|${to}|${kind}`;
    let text = state.edgeLabels.get(key);
    if (!text) {
      const fromId = state.stateIds[from];
      const toId = state.stateIds[to];
      if (fromId === undefined || toId === undefined) continue;
      const selector = `#graph g.xw-edge[data-from="${CSS.escape(fromId)}"][data-to="${CSS.escape(toId)}"]`;
      const candidates = [...document.querySelectorAll(selector)];
      // A Choice's branches are drawn as choice edges; a catcher's as catch edges.
      const g = candidates.find((c) => c.classList.contains(kind)) ||
        candidates.find((c) => !caught && !c.classList.contains("xw-catch") && !c.classList.contains("xw-retry"));
      const path = g && g.querySelector("path");
      if (!path) continue;
      const at = path.getPointAtLength(path.getTotalLength() / 2);
      text = document.createElementNS(SVG_NS, "text");
      text.setAttribute("class", "xw-edge-count");
      text.setAttribute("x", String(at.x + 4));
      text.setAttribute("y", String(at.y));
      text.setAttribute("stroke", "#fff");
      text.setAttribute("stroke-width", "3");
      text.setAttribute("paint-order", "stroke");
      g.appendChild(text);
      state.edgeLabels.set(key, text);
    }
    text.textContent = compact(count);
    text.parentNode.dataset.count = String(count);
  }
}

function drawFailures(failures) {
  const list = $("failures");
  const shown = [...failures].reverse();
  if (list.dataset.latest === String(shown.length ? shown[0].seq : 0)) return;
  list.dataset.latest = String(shown.length ? shown[0].seq : 0);
  list.replaceChildren();
  for (const f of shown) {
    const item = document.createElement("li");
    item.dataset.seq = String(f.seq);
    item.textContent = `${new Date(f.at).toLocaleTimeString()} ${f.error}${f.name ? " — " + f.name : ""}`;
    if (state.selectedFailure === f.seq) item.classList.add("selected");
    item.addEventListener("click", () => showFailure(f));
    list.appendChild(item);
  }
}

// Highlight the boxes of `path` ([[state index, event], …]) on the graph;
// the states it entered, in order, as text.
function highlightPath(path) {
  for (const g of state.boxes) if (g) g.classList.remove("xw-path", "xw-failed");
  const names = [];
  for (const [index, event] of path) {
    const g = state.boxes[index];
    if (!g) continue;
    g.classList.add("xw-path");
    if (event === "failed") g.classList.add("xw-failed");
    if (event === "entered" || event === "failed") names.push(state.stateIds[index] + (event === "failed" ? " ✗" : ""));
  }
  return names.length ? names.join(" → ") : "(never started)";
}

function showFailure(f) {
  state.selectedFailure = f.seq;
  for (const item of $("failures").children) item.classList.toggle("selected", item.dataset.seq === String(f.seq));
  const path = highlightPath(f.path);
  $("f-error").textContent = f.error;
  $("f-cause").textContent = f.cause;
  $("f-source").textContent = f.source;
  $("f-path").textContent = path;
  $("f-input").textContent = f.input + (f.inputCut ? " …(cut)" : "");
  $("failure-detail").hidden = false;
}

async function pollDetail() {
  if (!state.machine || !state.pipeline) return;
  const machine = state.machine;
  const q = new URLSearchParams({ pipeline: machine });
  const [counts, failures] = await Promise.all([
    getJson("/console/api/counts?" + q),
    getJson("/console/api/failures?" + q),
  ]);
  // Another machine was selected meanwhile: these belong to its predecessor.
  if (state.machine !== machine) return;
  drawCounts(counts.counts);
  drawEdges(counts.edges);
  state.failures = failures.failures;
  drawFailures(failures.failures);
}

async function tryIt() {
  const button = $("try-run");
  const machine = state.machine;
  button.disabled = true;
  try {
    const response = await fetch("/console/api/start", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ machine, input: $("try-input").value }),
    });
    const answer = response.ok ? await response.json() : { status: "REFUSED", cause: await response.text() };
    if (state.machine !== machine) return;
    $("try-status").textContent = answer.status;
    $("try-output").textContent =
      answer.status === "SUCCEEDED" ? answer.output : `${answer.error || ""}\n${answer.cause || ""}`.trim();
    state.selectedFailure = null;
    for (const item of $("failures").children) item.classList.remove("selected");
    $("failure-detail").hidden = true;
    $("try-path").textContent = answer.path ? highlightPath(answer.path) : "–";
    $("try-result").hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function tick() {
  try {
    state.overview = await getJson("/console/api/overview");
    drawOverview(state.overview);
    await pollDetail();
    $("status").textContent = "live · updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("status").textContent = "disconnected: " + e.message;
  }
}

async function start() {
  $("try-run").addEventListener("click", tryIt);
  await tick();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("machine");
  const first = state.overview && (state.overview.pipelines[0] || state.overview.machines[0]);
  const name = wanted || (first && first.name);
  if (name) await select(name);
  window.addEventListener("hashchange", () => {
    const machine = new URLSearchParams(location.hash.slice(1)).get("machine");
    if (machine && machine !== state.machine) select(machine);
  });
  document.body.dataset.ready = "true";
  setInterval(tick, 1000);
}

start();
