// Load-test run page: the per-second chart (live over a websocket while
// the run is going, from the stored windows once it is over) and the
// progress bar with elapsed and remaining time.
import uPlot from "uplot";

const root = document.getElementById("loadtest");
const chartEl = document.getElementById("lt-chart");

// series holds the chart's columns: second, requests, throughput, p50, p95, p99 (ms).
function emptySeries() {
  return [[], [], [], [], [], []];
}

// total is the planned duration in seconds: the last window of a run often
// holds only the stragglers answered after it, and drawn as a second of
// its own it would look like a collapse of throughput at the end.
const total = Number(root && root.dataset.duration) || 0;

function push(series, w) {
  if (total > 0 && w.second >= total) return false;
  series[0].push(w.second + 1);
  series[1].push(w.requests);
  series[2].push(w.throughput);
  series[3].push(w.p50);
  series[4].push(w.p95);
  series[5].push(w.p99);
  return true;
}

function makeChart(series) {
  const width = Math.max(chartEl.clientWidth, 320);
  const opts = {
    width,
    height: 280,
    // Both axes start at zero so a small wobble does not fill the chart.
    scales: {
      x: { time: false },
      rps: { range: (u, min, max) => [0, Math.max(max * 1.1, 1)] },
      ms: { range: (u, min, max) => [0, Math.max(max * 1.1, 1)] },
    },
    // The legend names the series; values show on hover only.
    legend: { live: false },
    axes: [
      { label: "second", incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600] },
      { scale: "rps", label: "requests/s" },
      { scale: "ms", side: 1, label: "latency (ms)", grid: { show: false } },
    ],
    series: [
      { label: "second" },
      { label: "requests", scale: "rps", stroke: "#64748b", width: 1.5 },
      { label: "throughput", scale: "rps", stroke: "#059669", width: 2 },
      { label: "p50 ms", scale: "ms", stroke: "#0284c7", width: 1.5 },
      { label: "p95 ms", scale: "ms", stroke: "#d97706", width: 1.5, dash: [6, 3] },
      { label: "p99 ms", scale: "ms", stroke: "#dc2626", width: 1.5, dash: [2, 3] },
    ],
  };
  const plot = new uPlot(opts, series, chartEl);
  window.addEventListener("resize", () => plot.setSize({ width: Math.max(chartEl.clientWidth, 320), height: 280 }));
  return plot;
}

function fmtTime(s) {
  s = Math.max(0, Math.round(s));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function progress(elapsed, total) {
  const bar = document.getElementById("lt-progress-bar");
  const pb = document.getElementById("lt-progress");
  if (!bar || !pb || total <= 0) return;
  const done = Math.min(elapsed, total);
  bar.style.width = `${(done * 100) / total}%`;
  pb.setAttribute("aria-valuenow", String(done));
  document.getElementById("lt-elapsed").textContent = `Elapsed ${fmtTime(done)} of ${fmtTime(total)}`;
  document.getElementById("lt-remaining").textContent = `${fmtTime(total - done)} remaining`;
}

function live() {
  const id = root.dataset.id;
  const status = document.getElementById("lt-live-status");
  const series = emptySeries();
  const plot = makeChart(series);
  let line = 1;
  let ended = false;
  let retries = 0;

  const connect = () => {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/loadtests/${id}/live?from=${line}`);
    ws.onopen = () => {
      retries = 0;
      status.textContent = "Connected: one point per second.";
    };
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === "window") {
        line = f.line + 1;
        markRunning();
        progress(f.window.second + 1, total);
        if (push(series, f.window)) plot.setData(series);
      } else if (f.type === "end") {
        ended = true;
        status.textContent = `Run ${f.status}. Loading the result…`;
        // The result page is drawn by the server once the run is over.
        setTimeout(() => location.reload(), 500);
      }
    };
    ws.onclose = () => {
      if (ended) return;
      retries++;
      status.textContent = "Connection lost; reconnecting…";
      setTimeout(connect, Math.min(1000 * retries, 5000));
    };
  };
  connect();
}

function result() {
  const series = emptySeries();
  for (const w of JSON.parse(chartEl.dataset.windows || "[]")) push(series, w);
  makeChart(series);
}

// markRunning turns the queued badge into a running one when the first
// window arrives (the server drew the page before the run started).
function markRunning() {
  const el = document.getElementById("lt-status");
  const badge = el && el.querySelector("[data-status]");
  if (!badge || badge.dataset.status !== "queued") return;
  badge.dataset.status = "running";
  badge.className = badge.className.replace(/bg-amber-50 text-amber-900 ring-amber-600\/30/, "bg-sky-50 text-sky-800 ring-sky-600/30");
  badge.innerHTML = '<span aria-hidden="true">◌</span> running';
  const started = document.getElementById("lt-started");
  if (started) started.textContent = "just now";
}

if (root && chartEl) {
  if (root.dataset.running === "true") live();
  else result();
}
