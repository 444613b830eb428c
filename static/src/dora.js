// DORA page: one small daily chart per metric, from the JSON the server
// put in #dora-data. Days without a value (no deployment, no recovery)
// are gaps, not zeros.
import uPlot from "uplot";

const dataEl = document.getElementById("dora-data");

const colours = {
  deployment_frequency: "#059669",
  lead_time_for_changes: "#0284c7",
  change_failure_rate: "#dc2626",
  time_to_restore_service: "#d97706",
  rework_rate: "#7c3aed",
};

function draw(data) {
  const xs = data.dates.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
  const charts = [];
  for (const s of data.series) {
    const el = document.getElementById("dora-chart-" + s.key);
    if (!el) continue;
    const width = () => Math.max(el.clientWidth, 200);
    const bars = s.key === "deployment_frequency";
    const opts = {
      width: width(),
      height: 160,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      legend: { show: false },
      cursor: { points: { size: 6 } },
      scales: { y: { range: (u, min, max) => [0, Math.max((max || 0) * 1.15, 1)] } },
      axes: [
        { space: 50, values: (u, ts) => ts.map((t) => new Date(t * 1000).toISOString().slice(5, 10)) },
        { label: s.unit, size: 50, labelSize: 16 },
      ],
      series: [
        {},
        {
          label: s.label,
          stroke: colours[s.key] || "#334155",
          width: 2,
          fill: bars ? colours[s.key] + "55" : undefined,
          paths: bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
          points: { show: !bars, size: 5 },
          spanGaps: false,
        },
      ],
    };
    const plot = new uPlot(opts, [xs, s.values], el);
    el.dataset.drawn = "true";
    charts.push([plot, el, width]);
  }
  window.addEventListener("resize", () => {
    for (const [plot, , width] of charts) plot.setSize({ width: width(), height: 160 });
  });
}

if (dataEl) {
  try {
    draw(JSON.parse(dataEl.textContent));
  } catch (e) {
    console.error("dora charts:", e);
  }
}
