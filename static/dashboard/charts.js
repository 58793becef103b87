// Charts with uPlot (npm, vendored into /vendor by scripts/vendor.sh; never a CDN). Every
// chart has a table with the same numbers next to it, so nothing is only in the picture.
import uPlot from "../vendor/uplot.esm.js";

// Colour-blind safe (Okabe-Ito), dark enough on white.
export const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#8c6d1f"];

function width(box) {
  return Math.max(280, Math.floor(box.getBoundingClientRect().width) || 600);
}

function mount(box, opts, data) {
  box.replaceChildren();
  const chart = new uPlot({ width: width(box), height: 240, ...opts }, data, box);
  // Canvas only: the accessible numbers are in the table next to it.
  box.querySelector("canvas")?.setAttribute("aria-hidden", "true");
  return chart;
}

// Lines over days. days: ["2026-12-01", ...]; series: [{label, values}].
export function dailyChart(box, days, series) {
  const xs = days.map((d) => Date.parse(`${d}T12:00:00Z`) / 1000);
  return mount(
    box,
    {
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        {},
        ...series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true } })),
      ],
      // Whole days only: ticks at 1, 7 or 30 days, labelled "12-02".
      axes: [
        {
          incrs: [86400, 7 * 86400, 30 * 86400, 91 * 86400],
          values: (_u, ticks) => ticks.map((ts) => new Date(ts * 1000).toISOString().slice(5, 10)),
        },
        {},
      ],
      legend: { live: false },
    },
    [xs, ...series.map((s) => s.values)],
  );
}

// Bars over named buckets.
export function bucketChart(box, labels, values, label) {
  const xs = labels.map((_l, i) => i);
  const bars = uPlot.paths.bars({ size: [0.6, 80] });
  return mount(
    box,
    {
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [{}, { label, fill: COLOURS[0], stroke: COLOURS[0], paths: bars, points: { show: false } }],
      axes: [{ values: (_u, ticks) => ticks.map((i) => labels[i] ?? ""), splits: () => xs }, {}],
      legend: { live: false },
    },
    [xs, values],
  );
}
