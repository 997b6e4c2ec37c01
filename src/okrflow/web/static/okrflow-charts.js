/* okrflow charts: burn-up of a key result, metric values by version, sparklines.
 * Data comes from data-chart='{...}' on <canvas data-chart-kind="...">; the CSP forbids inline scripts.
 * The x axis is linear in epoch milliseconds with a date tick formatter (no date adapter is vendored).
 * Charts inside content swapped by HTMX are destroyed before the swap and drawn again after it. */
(function () {
  "use strict";

  var DAY = 86400000;
  var C = {
    brand: "#4338ca",
    brandSoft: "rgba(67, 56, 202, 0.12)",
    target: "#15803d",
    targetSoft: "rgba(21, 128, 61, 0.08)",
    expected: "#94a3b8",
    forecast: "#c2410c",
    cone: "rgba(194, 65, 12, 0.14)",
    grid: "#eef2f7",
    text: "#64748b",
    red: "#b91c1c",
    amber: "#ca8a04",
    green: "#15803d"
  };
  var VERSION_COLORS = ["#4338ca", "#c2410c", "#0e7490", "#a21caf", "#15803d", "#b45309"];

  function fmtDate(ms, withYear) {
    var opts = withYear ? { month: "short", day: "numeric", year: "numeric" } : { month: "short", day: "numeric" };
    return new Date(ms).toLocaleDateString("en-GB", opts);
  }

  function fmtNum(v, unit) {
    if (v === null || v === undefined || isNaN(v)) { return "—"; }
    var a = Math.abs(v);
    var text = a >= 1000 ? Math.round(v).toLocaleString("en-US")
      : a >= 100 ? (Math.round(v * 10) / 10).toString()
      : (Math.round(v * 100) / 100).toString();
    if (!unit) { return text; }
    if (unit === "%") { return text + "%"; }
    if (unit === "€" || unit === "$" || unit === "£") { return unit + text; }
    return text + " " + unit;
  }

  function xy(pairs) {
    return (pairs || []).map(function (p) { return { x: p[0], y: p[1] }; });
  }

  function timeAxis(min, max) {
    var span = max - min;
    var step = span > 400 * DAY ? 60 * DAY : span > 120 * DAY ? 30 * DAY : span > 40 * DAY ? 14 * DAY : 7 * DAY;
    return {
      type: "linear",
      min: min,
      max: max,
      grid: { color: C.grid },
      border: { display: false },
      ticks: {
        color: C.text,
        stepSize: step,
        maxRotation: 0,
        autoSkipPadding: 16,
        callback: function (v) { return fmtDate(v, span > 400 * DAY); }
      }
    };
  }

  function valueAxis(unit) {
    return {
      grid: { color: C.grid },
      border: { display: false },
      grace: "5%",
      ticks: { color: C.text, callback: function (v) { return fmtNum(v, unit); } }
    };
  }

  // A dashed vertical line at data.now ("today").
  var todayLine = {
    id: "okrflowToday",
    afterDatasetsDraw: function (chart, args, opts) {
      if (!opts || opts.at === undefined || opts.at === null) { return; }
      var x = chart.scales.x.getPixelForValue(opts.at);
      var area = chart.chartArea;
      if (x < area.left || x > area.right) { return; }
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#94a3b8";
      ctx.setLineDash([3, 3]);
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x, area.top);
      ctx.lineTo(x, area.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = C.text;
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillText("today", x + 4, area.top + 11);
      ctx.restore();
    }
  };

  function tooltip(unit) {
    return {
      mode: "nearest",
      intersect: false,
      callbacks: {
        title: function (items) { return items.length ? fmtDate(items[0].parsed.x, true) : ""; },
        label: function (item) { return item.dataset.label + ": " + fmtNum(item.parsed.y, unit); }
      }
    };
  }

  function burnup(canvas, d) {
    var unit = d.unit || "";
    var many = d.actual.length > 40;
    var datasets = [];
    datasets.push({
      label: "Actual", data: xy(d.actual), borderColor: C.brand, backgroundColor: C.brand,
      borderWidth: 2.5, pointRadius: many ? 0 : 4, pointHoverRadius: 5, tension: 0, order: 1
    });
    if (d.target.low !== undefined) {
      datasets.push({ label: "Band high", data: [{ x: d.start, y: d.target.high }, { x: d.end, y: d.target.high }],
        borderColor: C.target, borderWidth: 1.5, borderDash: [6, 4], pointRadius: 0, order: 4 });
      datasets.push({ label: "Band low", data: [{ x: d.start, y: d.target.low }, { x: d.end, y: d.target.low }],
        borderColor: C.target, borderWidth: 1.5, borderDash: [6, 4], pointRadius: 0, fill: "-1",
        backgroundColor: C.targetSoft, order: 4 });
    } else {
      datasets.push({ label: "Target", data: [{ x: d.start, y: d.target.value }, { x: d.end, y: d.target.value }],
        borderColor: C.target, borderWidth: 1.5, borderDash: [6, 4], pointRadius: 0, order: 4 });
    }
    datasets.push({ label: "Expected", data: xy(d.expected), borderColor: C.expected, borderWidth: 1.5,
      borderDash: [2, 3], pointRadius: 0, order: 5 });
    var f = d.forecast || {};
    if (f.high && f.low) {
      datasets.push({ label: "Forecast high", data: xy(f.high), borderColor: "rgba(0,0,0,0)", pointRadius: 0, order: 3 });
      datasets.push({ label: "Forecast low", data: xy(f.low), borderColor: "rgba(0,0,0,0)", pointRadius: 0,
        fill: "-1", backgroundColor: C.cone, order: 3 });
    }
    if (f.line) {
      datasets.push({ label: "Forecast", data: xy(f.line), borderColor: C.forecast, borderWidth: 2,
        borderDash: [6, 4], pointRadius: [0, 4], pointBackgroundColor: C.forecast, order: 2 });
    }
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: "nearest", intersect: false },
        scales: { x: timeAxis(d.start, d.end), y: valueAxis(unit) },
        plugins: {
          legend: { display: false },
          tooltip: tooltip(unit),
          okrflowToday: { at: d.now },
          filler: { propagate: false }
        }
      },
      plugins: [todayLine]
    });
  }

  function metricChart(canvas, d) {
    var unit = d.unit || "";
    var datasets = [];
    var min = Infinity, max = -Infinity;
    (d.series || []).forEach(function (s, i) {
      var color = VERSION_COLORS[(s.version - 1) % VERSION_COLORS.length];
      s.points.forEach(function (p) { if (p[0] < min) { min = p[0]; } if (p[0] > max) { max = p[0]; } });
      datasets.push({
        label: "v" + s.version, data: xy(s.points), borderColor: color, backgroundColor: color,
        borderWidth: 1.8, pointRadius: s.points.length > 60 ? 0 : 2.5, tension: 0.15
      });
    });
    if (!isFinite(min)) { min = Date.now() - 30 * DAY; max = Date.now(); }
    var t = d.thresholds || {};
    var lines = [];
    if (t.green !== undefined) { lines.push(["green", t.green, C.green], ["red", t.red, C.red]); }
    if (t.low !== undefined) { lines.push(["low", t.low, C.green], ["high", t.high, C.green]); }
    lines.forEach(function (l) {
      datasets.push({ label: "threshold " + l[0], data: [{ x: min, y: l[1] }, { x: max, y: l[1] }],
        borderColor: l[2], borderWidth: 1, borderDash: [5, 4], pointRadius: 0 });
    });
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: "nearest", intersect: false },
        scales: { x: timeAxis(min, max), y: valueAxis(unit) },
        plugins: {
          legend: {
            display: true, position: "top", align: "end",
            labels: { boxWidth: 12, boxHeight: 2, color: C.text }
          },
          tooltip: tooltip(unit)
        }
      }
    });
  }

  function spark(canvas, d) {
    var pts = d.points || [];
    var color = d.status === "red" ? C.red : d.status === "amber" ? C.amber : d.status === "green" ? C.green : C.brand;
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: [{ data: xy(pts), borderColor: color, borderWidth: 1.6, pointRadius: 0, tension: 0.2,
        fill: true, backgroundColor: color + "1a" }] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        events: [],
        scales: { x: { type: "linear", display: false }, y: { display: false, grace: "8%" } },
        plugins: { legend: { display: false }, tooltip: { enabled: false } }
      }
    });
  }

  var KINDS = { burnup: burnup, metric: metricChart, spark: spark };

  function draw(root) {
    if (!window.Chart) { return; }
    (root || document).querySelectorAll("canvas[data-chart-kind]").forEach(function (canvas) {
      if (window.Chart.getChart(canvas)) { return; }
      var make = KINDS[canvas.getAttribute("data-chart-kind")];
      if (!make) { return; }
      var data;
      try { data = JSON.parse(canvas.getAttribute("data-chart")); } catch (e) { return; }
      var chart = make(canvas, data);
      var first = chart.data.datasets[0];
      canvas.setAttribute("data-rendered-points", String(first ? first.data.length : 0));
    });
  }

  function destroy(root) {
    if (!window.Chart || !root) { return; }
    root.querySelectorAll("canvas[data-chart-kind]").forEach(function (canvas) {
      var chart = window.Chart.getChart(canvas);
      if (chart) { chart.destroy(); }
    });
  }

  if (window.Chart) {
    window.Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    window.Chart.defaults.color = C.text;
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.shouldSwap) { destroy(event.detail.target); }
  });
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
})();
