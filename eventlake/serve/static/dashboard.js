/* eventlake dashboard: draws the YAML-declared dashboard embedded in the page.
 *
 * Filters (date range + dimension multi-selects) live in the URL query string, so a view
 * can be shared; changing one redraws every chart without a reload. Each chart asks the
 * data API only for the filters its metric declares (the others are listed as "not
 * filtered by"), sums rows client-side per x/series key and recomputes ratios from sums.
 * Text from data or YAML is always set with textContent, never innerHTML.
 */
(function () {
  "use strict";

  const spec = JSON.parse(document.getElementById("dashboard-spec").textContent);
  const app = document.getElementById("app");
  const COLORS = ["#2563eb", "#f97316", "#10b981", "#a855f7", "#ef4444", "#0ea5e9", "#eab308"];
  const state = { start: "", end: "", dims: {} };
  let catalog = {};
  let generation = 0;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function readUrl() {
    const q = new URLSearchParams(location.search);
    state.start = q.get("start") || "";
    state.end = q.get("end") || "";
    state.dims = {};
    for (const d of spec.filters.dimensions) state.dims[d.name] = q.getAll(d.name);
  }

  function writeUrl() {
    const q = new URLSearchParams();
    if (state.start) q.set("start", state.start);
    if (state.end) q.set("end", state.end);
    for (const [name, values] of Object.entries(state.dims)) for (const v of values) q.append(name, v);
    const qs = q.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  async function getJson(url) {
    const resp = await fetch(url, { credentials: "same-origin" });
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) {
      const err = new Error((body && body.error) || resp.status + " " + resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  // ---- layout --------------------------------------------------------------------------
  function banner(text, kind) {
    const b = el("div", { class: "banner " + (kind || "info"), role: "status" }, text);
    app.insertBefore(b, app.children[1] || null);
    return b;
  }

  function buildFilters() {
    const bar = el("section", { class: "filters", "aria-label": "Filters" });
    if (spec.filters.date) {
      for (const [key, label] of [["start", "From"], ["end", "To"]]) {
        const wrap = el("div", { class: "filter-date" });
        const input = el("input", { type: "date", id: "filter-" + key, name: key });
        input.value = state[key];
        input.addEventListener("change", () => { state[key] = input.value; changed(); });
        wrap.append(el("label", { for: "filter-" + key }, label), input);
        bar.append(wrap);
      }
    }
    const known = new Set(Object.keys(catalogDimensions()));
    const widgets = {};
    for (const d of spec.filters.dimensions) {
      if (!known.has(d.name)) continue;
      const ms = widgets[d.name] = new window.MultiSelect(bar, {
        name: d.name, label: d.label, selected: state.dims[d.name] || [],
        onChange: (values) => { state.dims[d.name] = values; changed(); },
      });
      getJson("/api/dimensions/" + encodeURIComponent(d.name) + "/values")
        .then((r) => ms.setOptions(r.values))
        .catch(() => ms.setOptions([]));
    }
    const reset = el("button", { type: "button", class: "reset" }, "Reset filters");
    reset.addEventListener("click", () => {
      state.start = state.end = "";
      for (const input of bar.querySelectorAll("input[type=date]")) input.value = "";
      for (const [name, ms] of Object.entries(widgets)) { state.dims[name] = []; ms.setValue([]); }
      changed();
    });
    bar.append(reset);
    app.append(bar);
  }

  function catalogDimensions() {
    const out = {};
    for (const m of Object.values(catalog)) for (const d of m.dimensions) out[d] = true;
    return out;
  }

  function buildPanels() {
    const grid = el("section", { class: "grid" });
    const kpis = el("section", { class: "kpis" });
    for (const chart of spec.charts) {
      const panel = el("article", {
        class: "panel panel-" + chart.type + " w" + chart.width, id: "chart-" + chart.id,
        "data-chart": chart.id, "data-type": chart.type, "data-state": "loading",
        "data-metric": chart.metric,
      });
      const head = el("header", { class: "panel-head" });
      head.append(el("h2", {}, chart.title));
      const csv = el("a", { class: "csv", href: "#", download: chart.metric + ".csv" }, "CSV");
      csv.title = "Download this chart's data as CSV";
      head.append(csv);
      panel.append(head);
      panel.append(el("p", { class: "note" }));
      panel.append(el("div", { class: "plot" }));
      panel.append(el("p", { class: "status" }, "Loading…"));
      (chart.type === "kpi" ? kpis : grid).append(panel);
    }
    app.append(kpis, grid);
  }

  // ---- data ----------------------------------------------------------------------------
  function isGroupable(metric, col) {
    return col === metric.date_column || metric.dimensions.includes(col);
  }

  function baseColumns(items) {
    const cols = [];
    for (const it of items) for (const c of it.ratio || [it.column]) if (!cols.includes(c)) cols.push(c);
    return cols;
  }

  function value(row, item) {
    let v;
    if (item.ratio) {
      const den = Number(row[item.ratio[1]]);
      v = den ? Number(row[item.ratio[0]]) / den : null;
    } else {
      v = row[item.column] === null || row[item.column] === undefined ? null : Number(row[item.column]);
    }
    return v === null || !isFinite(v) ? null : v * (item.scale || 1);
  }

  function aggregate(rows, keys, sums) {
    const out = new Map();
    for (const r of rows) {
      const k = JSON.stringify(keys.map((c) => r[c]));
      let acc = out.get(k);
      if (!acc) {
        acc = {};
        for (const c of keys) acc[c] = r[c];
        for (const c of sums) acc[c] = 0;
        out.set(k, acc);
      }
      for (const c of sums) acc[c] += Number(r[c]) || 0;
    }
    return Array.from(out.values());
  }

  function requestFor(chart, metric) {
    const q = new URLSearchParams();
    const notFiltered = [];
    if (metric.date_column) {
      if (state.start) q.set("start", state.start);
      if (state.end) q.set("end", state.end);
    }
    for (const d of spec.filters.dimensions) {
      const values = state.dims[d.name] || [];
      if (metric.dimensions.includes(d.name)) for (const v of values) q.append(d.name, v);
      else if (values.length) notFiltered.push(d.label);
    }
    let keys = [];
    if (chart.type === "line" || chart.type === "bar" || chart.type === "heatmap") {
      keys = [chart.x, chart.type === "heatmap" ? chart.y : chart.series].filter(Boolean);
    } else if (chart.type === "table") {
      keys = chart.group_by || [];
    } else if (metric.date_column) {
      keys = [metric.date_column];
    }
    if (keys.length && keys.every((k) => isGroupable(metric, k))) for (const k of keys) q.append("group_by", k);
    if (chart.sort) q.append("sort", chart.sort);
    q.set("limit", String(chart.limit || 100000));
    return { query: q.toString(), keys: keys, notFiltered: notFiltered };
  }

  // ---- drawing -------------------------------------------------------------------------
  const LAYOUT = {
    margin: { l: 48, r: 12, t: 8, b: 40 }, autosize: true, height: 300,
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: "system-ui, sans-serif", size: 12, color: "#334155" },
    legend: { orientation: "h", y: -0.2 }, colorway: COLORS,
  };
  const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function fmt(v, format) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (format === "currency") return v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    if (format === "percent") return (v * 100).toFixed(1) + " %";
    if (format === "integer") return Math.round(v).toLocaleString();
    return v.toLocaleString(undefined, { maximumFractionDigits: 2 });
  }

  function kpiValue(chart, rows, dateCol) {
    const item = chart.value;
    const cols = baseColumns([item]);
    if (dateCol) rows = aggregate(rows, [dateCol], cols).sort((a, b) => (a[dateCol] < b[dateCol] ? -1 : 1));
    if (!rows.length) return null;
    if (chart.agg === "last") return value(rows[rows.length - 1], item);
    if (item.ratio) return value(aggregate(rows, [], cols)[0], item);
    const vals = rows.map((r) => value(r, item)).filter((v) => v !== null);
    if (!vals.length) return null;
    if (chart.agg === "avg") return vals.reduce((a, b) => a + b, 0) / vals.length;
    if (chart.agg === "max") return Math.max(...vals);
    if (chart.agg === "min") return Math.min(...vals);
    return vals.reduce((a, b) => a + b, 0);
  }

  function draw(chart, metric, rows, keys, plot) {
    if (chart.type === "kpi") {
      const v = kpiValue(chart, rows, metric.date_column);
      plot.replaceChildren(el("div", { class: "kpi-value", "data-value": v === null ? "" : String(v) }, fmt(v, chart.format)));
      return;
    }
    if (chart.type === "table") {
      const cols = chart.columns || (rows.length ? Object.keys(rows[0]) : []);
      const table = el("table", { class: "data" });
      const head = el("tr");
      for (const c of cols) head.append(el("th", { scope: "col" }, c));
      const thead = el("thead");
      thead.append(head);
      table.append(thead);
      const body = el("tbody");
      for (const r of rows.slice(0, 200)) {
        const tr = el("tr");
        for (const c of cols) {
          const v = r[c];
          tr.append(el("td", { class: typeof v === "number" ? "num" : "" }, typeof v === "number" ? fmt(v) : String(v ?? "")));
        }
        body.append(tr);
      }
      table.append(body);
      plot.replaceChildren(table);
      return;
    }
    let traces = [];
    const layout = Object.assign({}, LAYOUT);
    if (chart.type === "line" || chart.type === "bar") {
      const sums = baseColumns(chart.y);
      const agg = aggregate(rows, keys.length ? keys : [chart.x], sums);
      if (!chart.sort && isGroupable(metric, chart.x)) agg.sort((a, b) => (a[chart.x] < b[chart.x] ? -1 : a[chart.x] > b[chart.x] ? 1 : 0));
      const seriesValues = chart.series ? Array.from(new Set(agg.map((r) => r[chart.series]))) : [null];
      for (const item of chart.y) {
        for (const s of seriesValues) {
          const part = s === null ? agg : agg.filter((r) => r[chart.series] === s);
          const xs = part.map((r) => r[chart.x]);
          const ys = part.map((r) => value(r, item));
          const horizontal = chart.type === "bar" && chart.orientation === "h";
          traces.push({
            type: chart.type === "line" ? "scatter" : "bar", mode: "lines",
            name: s === null ? item.label : item.label + " · " + s,
            x: horizontal ? ys : xs, y: horizontal ? xs : ys,
            orientation: horizontal ? "h" : "v",
          });
        }
      }
      if (chart.orientation === "h") {
        layout.yaxis = { autorange: "reversed", automargin: true, type: "category" };
        layout.margin = Object.assign({}, LAYOUT.margin, { l: 110 });
      } else if (chart.x !== metric.date_column) {
        layout.xaxis = { type: "category", automargin: true };
      } else {
        // Days, never hours: few points would otherwise get 12-hour ticks.
        const days = new Set(agg.map((r) => r[chart.x])).size;
        layout.xaxis = { type: "date", tickformat: "%b %-d\n%Y", dtick: days <= 14 ? 86400000 : undefined };
      }
      layout.showlegend = traces.length > 1;
    } else if (chart.type === "heatmap") {
      const sums = baseColumns([chart.z]);
      const agg = aggregate(rows, [chart.x, chart.y], sums);
      const xs = Array.from(new Set(agg.map((r) => r[chart.x]))).sort((a, b) => a - b);
      const ys = Array.from(new Set(agg.map((r) => r[chart.y]))).sort();
      const z = ys.map(() => xs.map(() => null));
      for (const r of agg) z[ys.indexOf(r[chart.y])][xs.indexOf(r[chart.x])] = value(r, chart.z);
      traces = [{ type: "heatmap", x: xs.map(String), y: ys.map(String), z: z, colorscale: "Blues", reversescale: true, hoverongaps: false, colorbar: { title: { text: chart.z.label } } }];
      layout.xaxis = { type: "category", title: { text: chart.x } };
      layout.yaxis = { type: "category", automargin: true, autorange: "reversed" };
      layout.height = 340;
    } else if (chart.type === "funnel") {
      const sums = baseColumns(chart.stages);
      const total = aggregate(rows, [], sums)[0] || {};
      traces = [{ type: "funnel", y: chart.stages.map((s) => s.label), x: chart.stages.map((s) => value(total, s) || 0), textinfo: "value+percent initial", marker: { color: COLORS.slice(0, chart.stages.length) } }];
      layout.yaxis = { automargin: true };
      layout.margin = Object.assign({}, LAYOUT.margin, { l: 130 });
    }
    window.Plotly.react(plot, traces, layout, CONFIG);
  }

  async function renderChart(chart, gen) {
    const panel = document.getElementById("chart-" + chart.id);
    const plot = panel.querySelector(".plot");
    const status = panel.querySelector(".status");
    const note = panel.querySelector(".note");
    const csv = panel.querySelector(".csv");
    const metric = catalog[chart.metric];
    const setState = (s, text) => {
      panel.dataset.state = s;
      status.textContent = text || "";
      status.hidden = !text;
    };
    if (!metric) {
      csv.hidden = true;
      plot.replaceChildren();
      setState("missing", "Metric “" + chart.metric + "” is not in the warehouse yet (run `eventlake build`).");
      return;
    }
    const req = requestFor(chart, metric);
    note.textContent = req.notFiltered.length ? "Not filtered by " + req.notFiltered.join(", ") + " (the metric has no such dimension)." : "";
    note.hidden = !req.notFiltered.length;
    csv.hidden = false;
    csv.href = "/api/metrics/" + encodeURIComponent(chart.metric) + ".csv?" + req.query;
    panel.dataset.query = req.query;
    try {
      const data = await getJson("/api/metrics/" + encodeURIComponent(chart.metric) + ".json?" + req.query);
      if (gen !== generation) return;
      if (!data.rows.length) {
        if (window.Plotly) window.Plotly.purge(plot);
        plot.replaceChildren();
        setState("empty", "No data for these filters yet.");
        return;
      }
      setState("ready", "");
      draw(chart, metric, data.rows, req.keys, plot);
    } catch (err) {
      if (gen !== generation) return;
      plot.replaceChildren();
      setState(err.status === 503 ? "empty" : "error", err.status === 503 ? "No warehouse yet: " + err.message : "Could not load: " + err.message);
    }
  }

  async function renderAll() {
    const gen = ++generation;
    document.body.dataset.rendering = "true";
    await Promise.all(spec.charts.map((c) => renderChart(c, gen)));
    if (gen === generation) {
      document.body.dataset.rendering = "false";
      document.body.dataset.renderGeneration = String(gen);
    }
  }

  function changed() {
    writeUrl();
    renderAll();
  }

  async function main() {
    if (spec.error) {
      banner("This dashboard's YAML is invalid: " + spec.error, "error");
      document.body.dataset.rendering = "false";
      return;
    }
    if (spec.description) app.append(el("p", { class: "dash-description" }, spec.description));
    readUrl();
    try {
      const res = await getJson("/api/metrics");
      for (const m of res.metrics) catalog[m.name] = m;
      if (!res.metrics.length || !res.warehouse_ready) {
        banner("No data yet: the warehouse has not been built. Run `eventlake demo` for sample data, or `eventlake build` after landing events; this page fills in when it is ready.", "empty");
      }
    } catch (err) {
      banner("Could not read the metrics catalog: " + err.message, "error");
    }
    buildFilters();
    buildPanels();
    window.addEventListener("popstate", () => { readUrl(); renderAll(); });
    await renderAll();
  }

  main();
})();
