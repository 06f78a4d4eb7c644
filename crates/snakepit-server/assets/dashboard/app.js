// The snakepit dashboard: one page, live over Server-Sent Events from /v1/events.
// Every value is written with textContent (never HTML), so worker output cannot inject markup.
"use strict";

const HISTORY = 120; // snapshots kept per chart (one every 500 ms: one minute)
const pools = new Map(); // name -> { root, history: [{rate, p50, p99}] }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(value, digits) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number" && digits !== undefined) return value.toFixed(digits);
  return String(value);
}

function megabytes(bytes) {
  return bytes === null || bytes === undefined ? "–" : (bytes / 1048576).toFixed(1) + " MB";
}

const STATS = [
  ["workers", "workers"], ["busy", "busy"], ["available", "idle"], ["queued", "queue depth"],
  ["requests", "requests"], ["errors", "errors"], ["timeouts", "timeouts"],
  ["restarts", "restarts"], ["retries", "retries"], ["recycled", "recycled"],
];

function poolCard(name) {
  const stats = el("div", { class: "stats" });
  for (const [key, label] of STATS) {
    stats.append(el("div", { class: "stat" },
      el("div", { class: "value", "data-stat": key }, "–"),
      el("div", { class: "label" }, label)));
  }
  stats.append(el("div", { class: "stat" },
    el("div", { class: "value", "data-stat": "sessions" }, "–"),
    el("div", { class: "label" }, "sessions")));
  stats.append(el("div", { class: "stat" },
    el("div", { class: "value", "data-stat": "calls_per_s" }, "–"),
    el("div", { class: "label" }, "calls/s")));
  const rateChart = el("canvas", { width: "600", height: "110", "data-chart": "rate" });
  const latencyChart = el("canvas", { width: "600", height: "110", "data-chart": "latency" });
  const root = el("article", { class: "card", "data-pool": name },
    el("h2", {}, "pool ", el("span", { class: "name" }, name), " ",
      el("span", { class: "badge", "data-field": "circuit" }, "circuit ?"), " ",
      el("span", { class: "muted", "data-field": "adapter" }, "")),
    stats,
    el("div", { class: "charts" },
      el("div", {}, el("h3", {}, "calls/s ", el("span", { class: "muted", "data-field": "rate-now" }, "")), rateChart),
      el("div", {}, el("h3", { class: "legend" }, "latency ms ",
        el("span", { class: "p50", "data-field": "p50" }, "p50 –"),
        el("span", { class: "p99", "data-field": "p99" }, "p99 –")), latencyChart)),
    el("h3", {}, "workers"),
    el("table", { "data-table": "workers" },
      el("thead", {}, el("tr", {}, ...["pid", "state", "current command", "calls served", "RSS", "age"].map((h) => el("th", {}, h)))),
      el("tbody", {})),
    el("h3", {}, "recent errors"),
    el("div", { "data-list": "errors" }, el("p", { class: "muted" }, "none")));
  document.getElementById("pools").append(root);
  const entry = { root, history: [] };
  pools.set(name, entry);
  return entry;
}

function field(root, selector) {
  return root.querySelector(selector);
}

function drawChart(canvas, series, colors) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  let max = 0;
  for (const line of series) for (const v of line) if (v !== null && v > max) max = v;
  if (max <= 0) max = 1;
  ctx.fillStyle = "#8a96a3";
  ctx.font = "11px sans-serif";
  ctx.fillText(max.toFixed(max < 10 ? 2 : 0), 4, 12);
  series.forEach((line, index) => {
    ctx.strokeStyle = colors[index];
    ctx.lineWidth = 2;
    ctx.beginPath();
    let started = false;
    line.forEach((v, i) => {
      if (v === null) return;
      const x = (i / Math.max(HISTORY - 1, 1)) * width;
      const y = height - 4 - (v / max) * (height - 20);
      if (started) ctx.lineTo(x, y);
      else { ctx.moveTo(x, y); started = true; }
    });
    ctx.stroke();
  });
}

function renderWorkers(root, workers) {
  const body = field(root, "[data-table=workers] tbody");
  body.replaceChildren(...workers.map((w) => el("tr", { "data-pid": String(w.pid), "data-state": fmt(w.state) },
    el("td", { "data-cell": "pid" }, w.pid), el("td", { "data-cell": "state" }, fmt(w.state)),
    el("td", { "data-cell": "command" }, fmt(w.current_command)),
    el("td", { "data-cell": "served" }, fmt(w.calls_served)),
    el("td", { "data-cell": "rss" }, megabytes(w.rss_bytes)),
    el("td", { "data-cell": "age" }, w.age_s === null || w.age_s === undefined ? "–" : w.age_s.toFixed(0) + " s"))));
}

function renderErrors(root, errors) {
  const list = field(root, "[data-list=errors]");
  if (!errors.length) {
    list.replaceChildren(el("p", { class: "muted" }, "none"));
    return;
  }
  // Redrawn every snapshot: keep open the tracebacks the reader opened.
  const open = new Set([...list.querySelectorAll("details[open]")].map((d) => d.dataset.key));
  list.replaceChildren(...errors.slice().reverse().map((e) => {
    const when = new Date(e.at_ms).toLocaleTimeString();
    const title = `${when} · ${e.command} · ${e.kind}${e.type ? " · " + e.type : ""}: ${e.message}`;
    const key = `${e.at_ms}|${e.command}|${e.kind}`;
    const details = el("details", { "data-error": e.kind, "data-key": key }, el("summary", {}, title));
    if (open.has(key)) details.open = true;
    if (e.traceback) details.append(el("pre", {}, e.traceback));
    return details;
  }));
}

function renderPool(snapshot) {
  const entry = pools.get(snapshot.name) || poolCard(snapshot.name);
  const { root } = entry;
  const stats = snapshot.stats;
  for (const [key] of STATS) field(root, `[data-stat=${key}]`).textContent = fmt(stats[key]);
  field(root, "[data-stat=sessions]").textContent = fmt(snapshot.sessions);
  field(root, "[data-stat=calls_per_s]").textContent = fmt(snapshot.latency.calls_per_s, 1);
  const circuit = field(root, "[data-field=circuit]");
  circuit.textContent = "circuit " + stats.circuit;
  circuit.className = "badge " + (stats.circuit === "closed" ? "ok" : stats.circuit === "open" ? "bad" : "warn");
  field(root, "[data-field=adapter]").textContent = `${snapshot.adapter} · size ${snapshot.size}${stats.degraded ? " · degraded" : ""}`;
  entry.history.push({ rate: snapshot.latency.calls_per_s, p50: snapshot.latency.p50_ms, p99: snapshot.latency.p99_ms });
  if (entry.history.length > HISTORY) entry.history.shift();
  field(root, "[data-field=rate-now]").textContent = fmt(snapshot.latency.calls_per_s, 1);
  field(root, "[data-field=p50]").textContent = "p50 " + fmt(snapshot.latency.p50_ms, 2);
  field(root, "[data-field=p99]").textContent = "p99 " + fmt(snapshot.latency.p99_ms, 2);
  drawChart(field(root, "[data-chart=rate]"), [entry.history.map((h) => h.rate)], ["#3fb950"]);
  drawChart(field(root, "[data-chart=latency]"),
    [entry.history.map((h) => h.p50), entry.history.map((h) => h.p99)], ["#58a6ff", "#d2a8ff"]);
  renderWorkers(root, snapshot.workers);
  renderErrors(root, snapshot.recent_errors);
}

function onSnapshot(data) {
  const seen = new Set();
  for (const pool of data.pools) {
    renderPool(pool);
    seen.add(pool.name);
  }
  for (const [name, entry] of pools) {
    if (!seen.has(name)) {
      entry.root.remove();
      pools.delete(name);
    }
  }
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function onWorker(data) {
  const verb = data.change === "started" ? "started" : "exited";
  const item = el("li", { "data-worker-event": verb, "data-pid": String(data.pid) },
    `${new Date().toLocaleTimeString()} · pool ${data.pool} · worker ${data.pid} ${verb}`);
  const list = document.getElementById("worker-events");
  list.prepend(item);
  while (list.children.length > 50) list.lastElementChild.remove();
}

function connect() {
  const status = document.getElementById("connection");
  const source = new EventSource("/v1/events");
  source.addEventListener("open", () => {
    status.textContent = "live";
    status.className = "badge ok";
  });
  source.addEventListener("error", () => {
    status.textContent = "reconnecting…";
    status.className = "badge bad";
  });
  source.addEventListener("snapshot", (event) => onSnapshot(JSON.parse(event.data)));
  source.addEventListener("worker", (event) => onWorker(JSON.parse(event.data)));
}

connect();
