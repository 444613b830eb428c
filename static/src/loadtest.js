// Load-test charts: a run's per-second chart (live over a websocket while
// the run is going, from the stored windows once it is over) with its
// thresholds drawn as horizontal lines, the progress bar with elapsed and
// remaining time, and the comparison page's chart that overlays two runs.
import uPlot from "uplot";

const root = document.getElementById("loadtest");
const chartEl = document.getElementById("lt-chart");

const HEIGHT = 280;

// A run's series, in column order after the x column (second). `get`
// reads the value from a window.
const RUN_SERIES = [
  { label: "requests", scale: "rps", stroke: "#64748b", width: 1.5, get: (w) => w.requests },
  { label: "throughput", scale: "rps", stroke: "#059669", width: 2, get: (w) => w.throughput },
  { label: "p50 ms", scale: "ms", stroke: "#0284c7", width: 1.5, get: (w) => w.p50 },
  { label: "p95 ms", scale: "ms", stroke: "#d97706", width: 1.5, dash: [6, 3], get: (w) => w.p95 },
  { label: "p99 ms", scale: "ms", stroke: "#dc2626", width: 1.5, dash: [2, 3], get: (w) => w.p99 },
  { label: "errors %", scale: "pct", stroke: "#9333ea", width: 1.5, get: errorPct },
];

function errorPct(w) {
  return w.requests > 0 ? ((w.requests - w.successes) * 100) / w.requests : 0;
}

// thresholdSeries turns a run's thresholds into constant series: uPlot
// draws each as a horizontal line, the legend names it, and the scale
// stretches to keep it in view.
function thresholdSeries(t) {
  const out = [];
  const line = (label, scale, stroke, value) =>
    out.push({ label, scale, stroke, width: 1, dash: [10, 4], points: { show: false }, value, threshold: true });
  if (t.p95 > 0) line(`p95 limit ${t.p95} ms`, "ms", "#d97706", t.p95);
  if (t.p99 > 0) line(`p99 limit ${t.p99} ms`, "ms", "#dc2626", t.p99);
  if (t.has_error_pct) line(`error limit ${round(t.max_error_pct || 0)} %`, "pct", "#9333ea", t.max_error_pct || 0);
  if (t.min_throughput > 0) line(`throughput floor ${t.min_throughput}/s`, "rps", "#059669", t.min_throughput);
  return out;
}

function round(x) {
  return Math.round(x * 100) / 100;
}

// total is a run's planned duration in seconds: the last window of a run
// often holds only the stragglers answered after it, and drawn as a second
// of its own it would look like a collapse of throughput at the end.
function keep(w, total) {
  return !(total > 0 && w.second >= total);
}

// zeroRange starts an axis at zero so a small wobble does not fill the
// chart.
const zeroRange = (u, min, max) => [0, Math.max(max * 1.1, 1)];

function baseOpts(el, series, withPct) {
  const axes = [
    { label: "second", incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600] },
    { scale: "rps", label: "requests/s" },
    { scale: "ms", side: 1, label: "latency (ms)", grid: { show: false } },
  ];
  const scales = { x: { time: false }, rps: { range: zeroRange }, ms: { range: zeroRange } };
  if (withPct) {
    scales.pct = { range: (u, min, max) => [0, Math.min(Math.max(max * 1.1, 5), 100)] };
    axes.push({ scale: "pct", side: 1, label: "errors %", grid: { show: false }, size: 40 });
  }
  return {
    width: Math.max(el.clientWidth, 320),
    height: HEIGHT,
    scales,
    // The legend names the series; values show on hover only.
    legend: { live: false },
    axes,
    series: [{ label: "second" }, ...series.map(({ get, value, threshold, run, ...s }) => s)],
  };
}

function mount(opts, data, el) {
  const plot = new uPlot(opts, data, el);
  window.addEventListener("resize", () => plot.setSize({ width: Math.max(el.clientWidth, 320), height: HEIGHT }));
  return plot;
}

// runChart draws one run: its series and its threshold lines. It returns
// push(window) → whether the window was drawn.
function runChart(thresholds, total) {
  const series = [...RUN_SERIES, ...thresholdSeries(thresholds)];
  const data = [[], ...series.map(() => [])];
  const plot = mount(baseOpts(chartEl, series, true), data, chartEl);
  chartEl.dataset.thresholdLines = String(series.filter((s) => s.threshold).length);
  return (w) => {
    if (!keep(w, total)) return false;
    data[0].push(w.second + 1);
    series.forEach((s, i) => data[i + 1].push(s.threshold ? s.value : s.get(w)));
    plot.setData(data);
    return true;
  };
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

function parse(raw, fallback) {
  try {
    return JSON.parse(raw || "") || fallback;
  } catch {
    return fallback;
  }
}

function live(push, total) {
  const id = root.dataset.id;
  const status = document.getElementById("lt-live-status");
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
        push(f.window);
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

// compareChart overlays two runs second by second from each one's start:
// A (the older) in solid lines first, B (the newer) dashed.
function compareChart(el) {
  const runs = ["a", "b"].map((k) => {
    const total = Number(el.dataset[`${k}Duration`]) || 0;
    return { label: el.dataset[`${k}Label`], windows: parse(el.dataset[k], []).filter((w) => keep(w, total)) };
  });
  const styles = [
    { throughput: "#0284c7", p95: "#7c3aed", dash: undefined },
    { throughput: "#059669", p95: "#d97706", dash: [6, 3] },
  ];
  const series = [];
  runs.forEach((r, i) => {
    const st = styles[i];
    series.push({ label: `${r.label} throughput`, scale: "rps", stroke: st.throughput, width: 2, dash: st.dash, run: r, get: (w) => w.throughput });
    series.push({ label: `${r.label} p95 ms`, scale: "ms", stroke: st.p95, width: 1.5, dash: st.dash, run: r, get: (w) => w.p95 });
  });
  // One x column for both: the shorter run's columns end in nulls.
  const n = Math.max(...runs.map((r) => r.windows.length), 0);
  const data = [Array.from({ length: n }, (_, i) => i + 1)];
  for (const s of series) {
    data.push(Array.from({ length: n }, (_, i) => (i < s.run.windows.length ? s.get(s.run.windows[i]) : null)));
  }
  const opts = baseOpts(el, series, false);
  mount(opts, data, el);
}

if (root && chartEl) {
  const total = Number(root.dataset.duration) || 0;
  const push = runChart(parse(root.dataset.thresholds, {}), total);
  if (root.dataset.running === "true") live(push, total);
  else for (const w of parse(chartEl.dataset.windows, [])) push(w);
}

const compareEl = document.getElementById("lt-compare-chart");
if (compareEl) compareChart(compareEl);
