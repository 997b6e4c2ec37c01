/* okrflow charts: burn-up of a key result, metric values by version, sparklines, and the flow charts
 * (cumulative flow, cycle-time scatter, aging WIP, Monte Carlo histogram) and the realization rate per team.
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
    var filled = pts.filter(function (p) { return p[1] !== null && p[1] !== undefined; }).length;
    var color = d.status === "red" ? C.red : d.status === "amber" ? C.amber : d.status === "green" ? C.green : C.brand;
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: [{ data: xy(pts), borderColor: color, borderWidth: 1.6, pointRadius: filled < 4 ? 2.5 : 0,
        pointBackgroundColor: color, spanGaps: true, tension: 0.2, fill: true, backgroundColor: color + "1a" }] },
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

  // ---------------------------------------------------------------- flow charts (web/flow_routes.py)

  var STEP_COLORS = {
    backlog: "#94a3b8", planning: "#0891b2", development: "#4338ca", testing: "#d97706",
    deployment: "#9333ea", verification: "#0d9488", done: "#15803d"
  };
  var TYPE_COLORS = { feature: "#4338ca", defect: "#b91c1c", risk: "#ca8a04", debt: "#0e7490" };
  var AGE_COLORS = { "0-30": "#15803d", "30-60": "#ca8a04", "60-90": "#ea580c", ">90": "#b91c1c" };
  var PCT_COLORS = { "50": "#0e7490", "85": "#c2410c", "95": "#b91c1c" };

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + ", " + ((n >> 8) & 255) + ", " + (n & 255) + ", " + a + ")";
  }

  function legend() {
    return { display: true, position: "top", align: "end", labels: { boxWidth: 12, boxHeight: 10, color: C.text } };
  }

  // Horizontal dashed lines (percentiles) labelled at the right edge: opts.lines = [[label, y, color], ...].
  var hLines = {
    id: "okrflowHLines",
    afterDatasetsDraw: function (chart, args, opts) {
      var area = chart.chartArea, ctx = chart.ctx, y = chart.scales.y;
      (opts && opts.lines || []).forEach(function (l) {
        if (l[1] === null || l[1] === undefined) { return; }
        var py = y.getPixelForValue(l[1]);
        if (py < area.top || py > area.bottom) { return; }
        ctx.save();
        ctx.strokeStyle = l[2]; ctx.lineWidth = 1.5; ctx.setLineDash([6, 4]);
        ctx.beginPath(); ctx.moveTo(area.left, py); ctx.lineTo(area.right, py); ctx.stroke();
        ctx.setLineDash([]); ctx.fillStyle = l[2]; ctx.font = "600 11px system-ui, sans-serif";
        ctx.textAlign = "right"; ctx.fillText(l[0], area.right - 4, py - 4);
        ctx.restore();
      });
    }
  };

  // A shaded band from opts.from upwards (aging: the > 90 days waste zone).
  var wasteBand = {
    id: "okrflowWaste",
    beforeDatasetsDraw: function (chart, args, opts) {
      if (!opts || opts.from === undefined) { return; }
      var area = chart.chartArea, y = chart.scales.y, ctx = chart.ctx;
      var top = area.top, bottom = Math.min(area.bottom, y.getPixelForValue(opts.from));
      if (bottom <= top) { return; }
      ctx.save();
      ctx.fillStyle = "rgba(185, 28, 28, 0.08)";
      ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
      ctx.strokeStyle = "rgba(185, 28, 28, 0.5)"; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(area.left, bottom); ctx.lineTo(area.right, bottom); ctx.stroke();
      ctx.fillStyle = "#991b1b"; ctx.font = "600 11px system-ui, sans-serif";
      ctx.fillText("waste: older than " + opts.from + " days", area.left + 6, top + 13);
      ctx.restore();
    }
  };

  // Vertical markers on a category axis (forecast percentiles): opts.marks = [[label, categoryIndex, color], ...].
  var vMarks = {
    id: "okrflowVMarks",
    afterDatasetsDraw: function (chart, args, opts) {
      var area = chart.chartArea, ctx = chart.ctx, x = chart.scales.x;
      (opts && opts.marks || []).forEach(function (m, i) {
        if (m[1] < 0) { return; }
        var px = x.getPixelForValue(m[1]);
        ctx.save();
        ctx.strokeStyle = m[2]; ctx.lineWidth = 2; ctx.setLineDash([5, 3]);
        ctx.beginPath(); ctx.moveTo(px, area.top + 4); ctx.lineTo(px, area.bottom); ctx.stroke();
        ctx.setLineDash([]); ctx.fillStyle = m[2]; ctx.font = "700 11px system-ui, sans-serif";
        ctx.textAlign = "left"; ctx.fillText(m[0], px + 4, area.top + 12 + i * 14);
        ctx.restore();
      });
    }
  };

  function cfd(canvas, d) {
    var datasets = (d.series || []).map(function (s, i) {
      var color = STEP_COLORS[s.step] || "#64748b";
      return { label: s.step, data: xy(s.points), borderColor: color, backgroundColor: alpha(color, 0.6),
        borderWidth: 1, pointRadius: 0, fill: i === 0 ? "origin" : "-1", tension: 0 };
    });
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        animation: false, maintainAspectRatio: false, parsing: false, normalized: true,
        interaction: { mode: "index", intersect: false },
        scales: { x: timeAxis(d.start, d.end), y: Object.assign(valueAxis("items"), { stacked: true, beginAtZero: true }) },
        plugins: {
          legend: Object.assign(legend(), { reverse: true }),
          tooltip: { mode: "index", intersect: false, itemSort: function (a, b) { return a.datasetIndex - b.datasetIndex; },
            callbacks: { title: function (items) { return items.length ? fmtDate(items[0].parsed.x, true) : ""; },
              label: function (item) { return item.dataset.label + ": " + item.raw.y; } } },
          filler: { propagate: false }
        }
      }
    });
  }

  function pctLines(p) {
    var out = [];
    ["50", "85", "95"].forEach(function (k) {
      if (p && p[k] !== null && p[k] !== undefined) { out.push(["p" + k + " " + fmtNum(p[k], "d"), p[k], PCT_COLORS[k]]); }
    });
    return out;
  }

  function scatter(canvas, d) {
    var byType = {};
    (d.points || []).forEach(function (p) {
      var t = p[3] || "unclassified";
      (byType[t] = byType[t] || []).push({ x: p[0], y: p[1], key: p[2] });
    });
    var names = Object.keys(byType).sort();
    var all = [];
    names.forEach(function (t) { all = all.concat(byType[t]); });
    var datasets = [{ label: "items", data: all, hidden: true }];  // first dataset: every point (tests count it)
    names.forEach(function (t) {
      var color = TYPE_COLORS[t] || "#64748b";
      datasets.push({ label: t, data: byType[t], backgroundColor: alpha(color, 0.55), borderColor: color,
        borderWidth: 1, pointRadius: 3.5, pointHoverRadius: 5 });
    });
    return new window.Chart(canvas, {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        scales: { x: timeAxis(d.start, d.end), y: Object.assign(valueAxis("d"), { beginAtZero: true,
          title: { display: true, text: "flow time (days)", color: C.text } }) },
        plugins: {
          legend: Object.assign(legend(), { labels: { boxWidth: 10, boxHeight: 10, color: C.text,
            filter: function (item) { return item.datasetIndex > 0; } } }),
          tooltip: { callbacks: {
            title: function (items) { return items.length ? (items[0].raw.key || "") : ""; },
            label: function (item) { return fmtNum(item.raw.y, "days") + ", done " + fmtDate(item.raw.x, true); } } },
          okrflowHLines: { lines: pctLines(d.percentiles) }
        }
      },
      plugins: [hLines]
    });
  }

  function aging(canvas, d) {
    var steps = d.steps || [];
    var byBucket = {};
    (d.points || []).forEach(function (p) { (byBucket[p[3]] = byBucket[p[3]] || []).push({ x: p[0], y: p[1], key: p[2] }); });
    var all = [];
    Object.keys(byBucket).forEach(function (b) { all = all.concat(byBucket[b]); });
    var datasets = [{ label: "items", data: all, hidden: true }];
    ["0-30", "30-60", "60-90", ">90"].forEach(function (b) {
      if (!byBucket[b]) { return; }
      var color = AGE_COLORS[b];
      datasets.push({ label: b + " days", data: byBucket[b], backgroundColor: alpha(color, 0.7), borderColor: color,
        borderWidth: 1, pointRadius: b === ">90" ? 5 : 4, pointStyle: b === ">90" ? "rectRot" : "circle" });
    });
    return new window.Chart(canvas, {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        scales: {
          x: { type: "linear", min: -0.5, max: steps.length - 0.5, grid: { color: C.grid, offset: false },
            border: { display: false },
            ticks: { stepSize: 1, color: C.text, font: { weight: "600" },
              callback: function (v) { return Number.isInteger(v) && steps[v] ? steps[v] : ""; } } },
          y: Object.assign(valueAxis("d"), { beginAtZero: true, title: { display: true, text: "age (days since work start)", color: C.text } })
        },
        plugins: {
          legend: Object.assign(legend(), { labels: { boxWidth: 10, boxHeight: 10, color: C.text,
            filter: function (item) { return item.datasetIndex > 0; } } }),
          tooltip: { callbacks: {
            title: function (items) { return items.length ? (items[0].raw.key || "") : ""; },
            label: function (item) { return steps[Math.round(item.raw.x)] + ": " + fmtNum(item.raw.y, "days"); } } },
          okrflowHLines: { lines: pctLines(d.percentiles) },
          okrflowWaste: { from: 90 }
        }
      },
      plugins: [wasteBand, hLines]
    });
  }

  function histogram(canvas, d) {
    var bars = d.bars || [];
    var labels = bars.map(function (b) { return String(b[0]); });
    var m = d.markers || {};
    var when = d.kind === "when";
    var colors = bars.map(function (b) {
      var v = b[0];
      var p85 = m["85"];
      var inside = p85 === null || p85 === undefined ? true : (when ? v <= p85 : v >= p85);
      return inside ? alpha(C.brand, 0.75) : alpha(C.brand, 0.3);
    });
    var marks = [];
    ["50", "85", "95"].forEach(function (k) {
      if (m[k] === null || m[k] === undefined) { return; }
      marks.push(["p" + k + ": " + m[k] + (when ? " days" : " items"), labels.indexOf(String(m[k])), PCT_COLORS[k]]);
    });
    return new window.Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "trials", data: bars.map(function (b) { return b[1]; }),
        backgroundColor: colors, borderWidth: 0, barPercentage: 1, categoryPercentage: 0.92 }] },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: {
          x: { grid: { display: false }, ticks: { color: C.text, autoSkipPadding: 8, maxRotation: 0 },
            title: { display: true, text: when ? "days until done (day 1 = today)" : "items done", color: C.text } },
          y: Object.assign(valueAxis(""), { beginAtZero: true, title: { display: true, text: "trials", color: C.text } })
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) { return items.length ? items[0].label + (when ? " days" : " items") : ""; },
            label: function (item) { return item.raw + " of " + d.trials + " trials"; } } },
          okrflowVMarks: { marks: marks }
        }
      },
      plugins: [vMarks]
    });
  }

  // ---------------------------------------------------------------- learning (web/learning_routes.py)

  var RESULT_COLORS = { achieved: "#15803d", partially: "#ca8a04", not_achieved: "#b91c1c", pending: "#cbd5e1" };

  // A text right of each horizontal bar (the realization rate), under a small header: opts.notes, opts.header.
  var barNotes = {
    id: "okrflowBarNotes",
    afterDatasetsDraw: function (chart, args, opts) {
      var notes = (opts && opts.notes) || [];
      var area = chart.chartArea, ctx = chart.ctx;
      ctx.save();
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      if (opts && opts.header) {
        ctx.font = "600 11px system-ui, sans-serif";
        ctx.fillStyle = C.text;
        ctx.fillText(opts.header, area.right + 10, area.top - 9);
      }
      ctx.font = "700 13px system-ui, sans-serif";
      ctx.fillStyle = "#0f172a";
      chart.getDatasetMeta(0).data.forEach(function (bar, i) {
        if (notes[i]) { ctx.fillText(notes[i], area.right + 10, bar.y); }
      });
      ctx.restore();
    }
  };

  // Per team, the shares of delivered initiatives/epics that achieved, partially achieved or did not achieve their
  // anticipated outcome, and those pending (stacked to 100%); the realization rate (achieved share) at the right.
  // d.rows = [[team, achieved, partially, not_achieved, pending, delivered], ...]
  function realization(canvas, d) {
    var rows = d.rows || [];
    var series = [["achieved", "Achieved", 1], ["partially", "Partially", 2], ["not_achieved", "Not achieved", 3],
      ["pending", "Pending", 4]];
    var datasets = series.map(function (s) {
      return {
        label: s[1],
        data: rows.map(function (r) { return r[5] ? Math.round(r[s[2]] / r[5] * 1000) / 10 : 0; }),
        counts: rows.map(function (r) { return r[s[2]]; }),
        backgroundColor: RESULT_COLORS[s[0]], borderWidth: 0, barPercentage: 0.72, categoryPercentage: 0.9
      };
    });
    if (canvas.parentNode && canvas.parentNode.style) {
      canvas.parentNode.style.height = (96 + rows.length * 40) + "px";  // CSSOM, allowed by the CSP
    }
    return new window.Chart(canvas, {
      type: "bar",
      data: { labels: rows.map(function (r) { return r[0]; }), datasets: datasets },
      options: {
        indexAxis: "y", animation: false, maintainAspectRatio: false,
        layout: { padding: { right: 56, top: 18 } },
        scales: {
          x: { stacked: true, min: 0, max: 100, grid: { color: C.grid }, border: { display: false },
            ticks: { color: C.text, stepSize: 25, callback: function (v) { return v + "%"; } } },
          y: { stacked: true, grid: { display: false }, border: { display: false },
            ticks: { color: "#0f172a", font: { weight: "600" } } }
        },
        plugins: {
          legend: Object.assign(legend(), { position: "bottom", align: "start" }),
          tooltip: { callbacks: { label: function (item) {
            var r = rows[item.dataIndex];
            return item.dataset.label + ": " + item.dataset.counts[item.dataIndex] + " of " + r[5] + " (" + fmtNum(item.raw, "%") + ")";
          } } },
          okrflowBarNotes: {
            header: "rate",
            notes: rows.map(function (r) { return r[5] ? Math.round(r[1] / r[5] * 100) + "%" : "—"; })
          }
        }
      },
      plugins: [barNotes]
    });
  }

  // ---------------------------------------------------------------- pilot effect charts (web/pilot_routes.py)

  var REF_COLORS = { zero: "#475569", expected: "#15803d", threshold: "#0e7490", limit: "#b91c1c" };

  function effectColor(r) {
    return r.low > 0 ? C.green : r.high < 0 ? C.red : C.brand;
  }

  // One row per treatment: the improvement (positive = better) as a dot with its confidence interval as
  // whiskers; reference lines at 0 (solid) and, dashed, the expected effect, the scale threshold or the accepted
  // regression. opts.rows = [{label, estimate, low, high}], opts.refs = [{label, x, tone}].
  var effectMarks = {
    id: "okrflowEffect",
    beforeDatasetsDraw: function (chart, args, opts) {
      var area = chart.chartArea, ctx = chart.ctx, x = chart.scales.x, y = chart.scales.y;
      (opts && opts.refs || []).forEach(function (r, i) {
        var px = x.getPixelForValue(r.x);
        if (px < area.left - 1 || px > area.right + 1) { return; }
        var color = REF_COLORS[r.tone] || C.text;
        ctx.save();
        ctx.strokeStyle = color; ctx.lineWidth = 1.5;
        ctx.setLineDash(r.tone === "zero" ? [] : [5, 4]);
        ctx.beginPath(); ctx.moveTo(px, area.top); ctx.lineTo(px, area.bottom); ctx.stroke();
        ctx.setLineDash([]); ctx.fillStyle = color; ctx.font = "600 11px system-ui, sans-serif";
        var right = px > area.left + (area.right - area.left) * 0.7;
        ctx.textAlign = right ? "right" : "left";
        ctx.fillText(r.label, px + (right ? -4 : 4), area.top - 6 - (i % 2) * 13);
        ctx.restore();
      });
      (opts && opts.rows || []).forEach(function (r, i) {
        var py = y.getPixelForValue(i), x0 = x.getPixelForValue(r.low), x1 = x.getPixelForValue(r.high);
        var color = effectColor(r);
        ctx.save();
        ctx.fillStyle = alpha(color, 0.12);
        ctx.fillRect(x0, py - 9, x1 - x0, 18);
        ctx.strokeStyle = color; ctx.lineWidth = 2.5;
        ctx.beginPath();
        ctx.moveTo(x0, py); ctx.lineTo(x1, py);
        ctx.moveTo(x0, py - 9); ctx.lineTo(x0, py + 9);
        ctx.moveTo(x1, py - 9); ctx.lineTo(x1, py + 9);
        ctx.stroke();
        ctx.restore();
      });
    }
  };

  function effect(canvas, d) {
    var rows = d.rows || [];
    var unit = d.unit || "";
    var values = [0];
    rows.forEach(function (r) { values.push(r.low, r.high, r.estimate); });
    (d.refs || []).forEach(function (r) { values.push(r.x); });
    var min = Math.min.apply(null, values), max = Math.max.apply(null, values);
    var pad = (max - min) * 0.1 || 1;
    var labels = rows.map(function (r) { return r.label; });
    return new window.Chart(canvas, {
      type: "scatter",
      data: { datasets: [{
        label: "effect",
        data: rows.map(function (r, i) { return { x: r.estimate, y: i, low: r.low, high: r.high, name: r.label }; }),
        pointRadius: 6, pointHoverRadius: 7, borderWidth: 2, borderColor: "#fff",
        pointBackgroundColor: rows.map(effectColor)
      }] },
      options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        layout: { padding: { top: 30, right: 8 } },
        scales: {
          x: { type: "linear", min: min - pad, max: max + pad, grid: { color: C.grid }, border: { display: false },
            ticks: { color: C.text, maxTicksLimit: 8, includeBounds: false,
              callback: function (v) { return fmtNum(v, unit); } },
            title: { display: true, text: d.axis || "", color: C.text } },
          y: { type: "linear", min: -0.6, max: rows.length - 0.4, reverse: true, grid: { display: false },
            border: { display: false },
            afterBuildTicks: function (axis) { axis.ticks = labels.map(function (l, i) { return { value: i }; }); },
            ticks: { color: C.text, font: { weight: "600" }, callback: function (v) { return labels[v] || ""; } } }
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) { return items.length ? items[0].raw.name : ""; },
            label: function (item) {
              return "improvement " + fmtNum(item.raw.x, unit) + " (95% CI " + fmtNum(item.raw.low, unit) + " … " +
                fmtNum(item.raw.high, unit) + ")";
            } } },
          okrflowEffect: { rows: rows, refs: d.refs || [] }
        }
      },
      plugins: [effectMarks]
    });
  }

  var KINDS = { burnup: burnup, metric: metricChart, spark: spark, cfd: cfd, scatter: scatter, aging: aging,
    histogram: histogram, realization: realization };
  KINDS.effect = effect;

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
