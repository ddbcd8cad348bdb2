// EventLoop dashboard: polls /api/snapshot every second (the reactor publishes a new one every 250 ms)
// and posts changes to /api/...; no framework, no build step.
"use strict";

const POLL_MS = 1000;
const HISTORY = 60; // points kept in the charts: one minute
const CHANGE_HEADER = { "X-EventLoop-Dashboard": "1" };

const history = { t: [], ops: [], succeeded: [], failed: [], latency: [] };
let previous = null;
let charts = null;

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// null: a figure this store does not count (PostgreSQL's totals since start, which no one node sees).
const number = value => value === null ? "–" : Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 });
const time = ms => ms ? new Date(ms).toLocaleString() : "–";
function inSeconds(ms, now) {
  if (!ms) return "never";
  const seconds = Math.round((ms - now) / 1000);
  return `${time(ms)} (in ${seconds < 0 ? 0 : seconds} s)`;
}

function fill(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows);
  document.getElementById(`${id}-empty`).hidden = rows.length > 0;
}

async function change(path) {
  const response = await fetch(path, { method: "POST", headers: CHANGE_HEADER });
  setStatus(response.ok ? "" : `${path}: ${response.status}`, !response.ok);
  await poll();
}

function setStatus(text, error) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = error ? "status error" : "status";
}

// The queue's figures come from the store: PostgreSQL's are read on a thread of their own, so they may be unread yet
// or, with the database down, as of its last good read. Say so rather than show old or empty figures as current.
function renderQueueFreshness(snapshot) {
  const banner = document.getElementById("queue-stale");
  const read = snapshot.queueReadAtMs === 0 ? "Queue figures not read yet" : `Queue figures as of ${time(snapshot.queueReadAtMs)}`;
  banner.textContent = snapshot.queueError !== null ? `${read}: the store could not be read: ${snapshot.queueError}`
    : snapshot.queueReadAtMs === 0 ? `${read}: reading them from the store…` : "";
  banner.hidden = banner.textContent === "";
}

function renderQueues(snapshot) {
  fill("queues", snapshot.queues.map(queue => el("tr", { "data-queue": queue.name },
    el("td", {}, queue.name),
    el("td", { className: "n", "data-col": "queued" }, queue.queued),
    el("td", { className: "n", "data-col": "running" }, queue.running),
    el("td", { className: "n", "data-col": "scheduled" }, queue.scheduled),
    el("td", { "data-col": "state", className: queue.paused ? "paused" : "" }, queue.paused ? "paused" : "running"),
    el("td", {}, queue.paused
      ? el("button", { className: "resume", onclick: () => change(`/api/queues/${encodeURIComponent(queue.name)}/resume`) }, "Resume")
      : el("button", { className: "pause", onclick: () => change(`/api/queues/${encodeURIComponent(queue.name)}/pause`) }, "Pause")))));
}

function renderDead(snapshot) {
  const shown = snapshot.dead.length;
  document.getElementById("dead-count").textContent = snapshot.deadCount > shown
    ? `${snapshot.deadCount} tasks, the oldest ${shown} shown` : `${snapshot.deadCount} task${snapshot.deadCount === 1 ? "" : "s"}`;
  fill("dead", snapshot.dead.map(task => el("tr", { "data-id": task.id },
    el("td", { className: "id" }, task.id),
    el("td", {}, task.task),
    el("td", {}, task.queue),
    el("td", { className: "error" }, task.error || ""),
    el("td", {}, time(task.finishedAtMs)),
    el("td", {},
      el("button", { className: "retry", onclick: () => change(`/api/dead/${encodeURIComponent(task.id)}/retry`) }, "Retry"),
      el("button", { className: "drop danger", onclick: () => change(`/api/dead/${encodeURIComponent(task.id)}/drop`) }, "Drop")))));
}

function renderSchedules(snapshot) {
  fill("schedules", snapshot.schedules.map(schedule => el("tr", { "data-schedule": schedule.name },
    el("td", {}, schedule.name), el("td", { className: "id" }, schedule.spec), el("td", {}, schedule.task),
    el("td", {}, schedule.queue), el("td", {}, inSeconds(schedule.nextFireMs, snapshot.takenAtMs)))));
}

function renderExternal(snapshot) {
  const external = snapshot.external;
  document.getElementById("external-summary").textContent =
    `${external.fetchers} fetching, ${external.blockedFetches} blocked, ${external.leasedTasks} leased, ${external.leaseExpiries} leases expired`;
  const rows = [];
  for (const worker of external.workers)
    for (const lease of worker.leases)
      rows.push(el("tr", {}, el("td", {}, worker.clientId), el("td", {}, worker.name || ""), el("td", { className: "id" }, lease.taskId),
        el("td", {}, lease.task), el("td", {}, lease.queue), el("td", { className: "n" }, lease.attempt),
        el("td", { className: "n" }, `${(lease.expiresInMs / 1000).toFixed(1)} s`)));
  fill("leases", rows);
}

function renderReactor(snapshot) {
  const r = snapshot.reactor, w = snapshot.workers, t = snapshot.totals;
  const set = (id, text) => { document.getElementById(id).textContent = text; };
  set("server", `v${snapshot.version} · port ${snapshot.port} · up ${number(snapshot.uptimeSeconds)} s`);
  set("r-backend", snapshot.backend);
  set("r-connections", `${number(snapshot.connections)} / ${number(snapshot.maxClients)}`);
  set("r-ops", number(snapshot.opsPerSecond));
  set("r-events", number(r.eventsPerWait));
  set("r-syscalls", number(r.syscallsPerRequest));
  set("r-iterations", number(r.iterations));
  set("r-ring", `${number(r.ringDepth)} / ${number(r.ringCapacity)}`);
  set("r-workers", `${w.busy} / ${w.count}`);
  set("r-tasks", number(t.tasks));
  set("r-totals", `${number(t.submitted)} / ${number(t.succeeded)} / ${number(t.failed)}`);
}

function makeChart(id, series) {
  const target = document.getElementById(id);
  const options = {
    width: Math.max(300, target.clientWidth), height: 200,
    scales: { x: { time: true, range: (u, min, max) => [max - 60, max] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5, points: { show: false } }))],
    axes: [{}, { size: 60 }],
    legend: { live: true },
  };
  return new uPlot(options, [[], ...series.map(() => [])], target);
}

function record(snapshot) {
  const seconds = snapshot.takenAtMs / 1000;
  if (previous && snapshot.takenAtMs <= previous.takenAtMs) return;
  const span = previous ? (snapshot.takenAtMs - previous.takenAtMs) / 1000 : 0;
  const rate = key => snapshot.totals[key] === null ? null
    : previous && span > 0 ? Math.max(0, (snapshot.totals[key] - previous.totals[key]) / span) : 0;
  history.t.push(seconds);
  history.ops.push(snapshot.opsPerSecond);
  history.succeeded.push(rate("succeeded"));
  history.failed.push(rate("failed"));
  history.latency.push(snapshot.totals.oldestQueuedAgeMs);
  for (const values of Object.values(history)) if (values.length > HISTORY) values.shift();
  previous = snapshot;
  if (typeof uPlot === "undefined") return;
  charts ??= {
    throughput: makeChart("throughput-chart", [["commands/s", "#2563eb"], ["tasks succeeded/s", "#059669"], ["tasks failed/s", "#b91c1c"]]),
    latency: makeChart("latency-chart", [["oldest ready task age (ms)", "#b45309"]]),
  };
  charts.throughput.setData([history.t, history.ops, history.succeeded, history.failed]);
  charts.latency.setData([history.t, history.latency]);
}

async function poll() {
  try {
    const response = await fetch("/api/snapshot", { cache: "no-store" });
    if (!response.ok) throw new Error(`snapshot: ${response.status}`);
    const snapshot = await response.json();
    renderReactor(snapshot);
    renderQueueFreshness(snapshot);
    renderQueues(snapshot);
    renderDead(snapshot);
    renderSchedules(snapshot);
    renderExternal(snapshot);
    record(snapshot);
    document.body.dataset.snapshotAt = snapshot.takenAtMs;
    document.body.dataset.points = history.t.length;
    if (document.getElementById("status").className !== "status error") setStatus(`updated ${new Date(snapshot.takenAtMs).toLocaleTimeString()}`);
  } catch (failure) {
    setStatus(`not reachable: ${failure.message}`, true);
  }
}

window.addEventListener("resize", () => {
  if (!charts) return;
  for (const [name, chart] of Object.entries(charts))
    chart.setSize({ width: Math.max(300, document.getElementById(`${name}-chart`).clientWidth), height: 200 });
});

poll();
setInterval(poll, POLL_MS);
