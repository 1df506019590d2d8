// Interactive time charts: each <figure class="plot"> holds the server-drawn SVG (the
// no-JavaScript fallback) and the same data as JSON (kpiscope_charts::plot). This script
// replaces the SVG with a uPlot chart: hover values in the KPI's unit, markers that open the
// step's root causes, drag to zoom, range and horizon buttons, width that follows the page.
// Written by hand because it only maps our JSON onto uPlot's options.
(function () {
  "use strict";
  const plots = [];
  window.kpiscopePlots = plots; // for tests and the console

  // Axis ticks only: hover texts come formatted from the server (one formatting layer).
  function tick(unit, v) {
    if (v == null || !isFinite(v)) return "";
    if (unit === "percent") return (v * 100).toFixed(Math.abs(v) < 0.1 ? 1 : 0) + "%";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 100) return v.toFixed(0);
    return String(Number(v.toPrecision(3)));
  }

  function build(figure) {
    const spec = JSON.parse(figure.querySelector("script.plot-data").textContent);
    if (!spec || !window.uPlot) return;
    const n = spec.times.length;
    const xs = spec.times.map((_, i) => i);
    const series = [{
      label: "Time",
      value: (u, v) => (v == null ? "–" : spec.times[Math.round(v)] || "–"),
    }];
    spec.series.forEach((s) => {
      const points = s.style === "points";
      series.push({
        label: s.name,
        stroke: s.color,
        width: points ? 0 : s.style === "band" ? 0.5 : 1.5,
        dash: s.style === "dashed" ? [5, 4] : undefined,
        paths: points ? () => null : undefined,
        points: points ? { show: true, size: 9, fill: s.color, stroke: s.color } : { show: false },
        value: (u, v, si, idx) => (idx == null || s.texts[idx] == null ? "–" : s.texts[idx]),
      });
    });
    const bands = spec.band
      ? [{ series: [spec.band[1] + 1, spec.band[0] + 1], fill: "rgba(37, 99, 235, 0.12)" }]
      : [];
    const wrap = document.createElement("div");
    wrap.className = "plot-area";
    const width = () => Math.max(200, figure.clientWidth);
    const options = {
      title: spec.title,
      width: width(),
      height: spec.height,
      series: series,
      bands: bands,
      scales: { x: { time: false } },
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      axes: [
        { space: 90, values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? spec.times[v] || "" : "")) },
        { size: 60, values: (u, splits) => splits.map((v) => tick(spec.unit, v)) },
      ],
      hooks: { draw: [(u) => drawNow(u, spec)] },
    };
    const data = [xs].concat(spec.series.map((s) => s.values));
    const svg = figure.querySelector("svg");
    const u = new window.uPlot(options, data, wrap);
    if (svg) svg.style.display = "none";
    figure.appendChild(wrap);
    figure.insertBefore(buttons(u, spec, n), wrap);
    markerClicks(u, spec);
    new ResizeObserver(() => u.setSize({ width: width(), height: spec.height })).observe(figure);
    plots.push({ uplot: u, spec: spec, figure: figure });
  }

  // A dashed "now" line where the forecast starts.
  function drawNow(u, spec) {
    if (spec.now == null) return;
    const x = u.valToPos(spec.now, "x", true);
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#9ca3af";
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  function buttons(u, spec, n) {
    const bar = document.createElement("div");
    bar.className = "plot-ranges";
    const last = spec.now == null ? n - 1 : spec.now;
    spec.ranges.forEach((r) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = r.label;
      b.addEventListener("click", () => {
        if (r.future) {
          // The horizon with four times as much history before it.
          u.setScale("x", { min: Math.max(0, last - 4 * r.steps), max: Math.min(n - 1, last + r.steps) });
        } else if (r.steps >= n) {
          u.setScale("x", { min: 0, max: n - 1 });
        } else {
          u.setScale("x", { min: Math.max(0, last - r.steps + 1), max: last });
        }
      });
      bar.appendChild(b);
    });
    return bar;
  }

  // A click within a few pixels of a marker that has a link follows it.
  function markerClicks(u, spec) {
    const near = () => {
      const left = u.cursor.left, top = u.cursor.top;
      if (left == null || left < 0) return null;
      let best = null, bestDistance = 8;
      spec.series.forEach((s, k) => {
        if (s.style !== "points" || !u.series[k + 1].show) return;
        s.values.forEach((v, i) => {
          if (v == null || !s.links[i]) return;
          const dx = u.valToPos(i, "x") - left, dy = u.valToPos(v, "y") - top;
          const d = Math.hypot(dx, dy);
          if (d < bestDistance) { best = s.links[i]; bestDistance = d; }
        });
      });
      return best;
    };
    u.over.addEventListener("mousemove", () => { u.over.style.cursor = near() ? "pointer" : ""; });
    u.over.addEventListener("click", () => {
      const link = near();
      if (link) window.location.href = link;
    });
  }

  function start() {
    document.querySelectorAll("figure.plot").forEach((f) => {
      try { build(f); } catch (e) { console.error("kpiscope chart", e); } // the SVG stays
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
