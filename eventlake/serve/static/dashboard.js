/* eventlake dashboard: draws the YAML-declared dashboard embedded in the page.
 *
 * Filters (date range + dimension multi-selects) live in the URL query string, so a view
 * can be shared; changing one redraws every chart without a reload. Each chart asks the
 * data API only for the filters its metric declares (the others are listed as "not
 * filtered by") and for the measures it draws, grouped by its x/series keys: the API
 * aggregates each measure as the metric declares it (distinct players recounted, ratios
 * from their parts), so nothing non-additive is ever summed here. KPIs say how they were
 * computed; partial days (the first and last day of data) are shaded in daily charts.
 * Map charts (choropleths) draw outlines from eventlake's own /static/topojson/ files
 * (plotly's topojsonURL), never from plotly's CDN: the page works offline.
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

  // A month picker's value (YYYY-MM) as the range's first or last day (YYYY-MM-DD).
  function monthBound(month, key) {
    if (!month) return "";
    if (key === "start") return month + "-01";
    const [y, m] = month.split("-").map(Number);
    const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
    return month + "-" + String(last).padStart(2, "0");
  }

  function buildFilters() {
    const bar = el("section", { class: "filters", "aria-label": "Filters" });
    const monthly = spec.filters.date === "month";
    if (spec.filters.date) {
      for (const [key, label] of [["start", "From"], ["end", "To"]]) {
        const wrap = el("div", { class: "filter-date" });
        const input = el("input", { type: monthly ? "month" : "date", id: "filter-" + key, name: key });
        input.value = monthly ? state[key].slice(0, 7) : state[key];
        input.addEventListener("change", () => {
          state[key] = monthly ? monthBound(input.value, key) : input.value;
          changed();
        });
        wrap.append(el("label", { for: "filter-" + key }, label + (monthly ? " (month)" : "")), input);
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
      for (const input of bar.querySelectorAll("input[type=date], input[type=month]")) input.value = "";
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
      if (chart.description) panel.append(el("p", { class: "definition" }, chart.description));
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

  function measureOf(metric, col) {
    return (metric.measures || []).find((m) => m.name === col) || null;
  }

  function itemsOf(chart) {
    if (chart.type === "kpi" || chart.type === "map") return [chart.value];
    if (chart.type === "heatmap") return [chart.z];
    if (chart.type === "funnel") return chart.stages || [];
    if (chart.type === "table") return chart.columns || [];
    return chart.y || [];
  }

  function requestFor(chart, metric) {
    const q = new URLSearchParams();
    const notFiltered = [];
    if (metric.date_column) {
      if (state.start) q.set("start", state.start);
      if (state.end) q.set("end", state.end);
    } else if (state.start || state.end) {
      notFiltered.push(spec.filters.date === "month" ? "month" : "date");
    }
    for (const d of spec.filters.dimensions) {
      const values = state.dims[d.name] || [];
      if (metric.dimensions.includes(d.name)) for (const v of values) q.append(d.name, v);
      else if (values.length) notFiltered.push(d.label);
    }
    let keys = [];
    let total = false;
    if (metric.kind === "funnel") {
      keys = [];
    } else if (chart.type === "line" || chart.type === "bar" || chart.type === "heatmap") {
      keys = [chart.x, chart.type === "heatmap" ? chart.y : chart.series].filter(Boolean);
    } else if (chart.type === "map") {
      keys = [chart.locations, chart.text].filter(Boolean);
    } else if (chart.type === "table") {
      keys = chart.group_by || [];
    } else if (chart.type === "kpi" && chart.agg === "total") {
      total = true;
    } else if (metric.date_column) {
      keys = [metric.date_column];
    }
    if (keys.length && keys.every((k) => isGroupable(metric, k))) for (const k of keys) q.append("group_by", k);
    if (total) q.set("total", "true");
    if (metric.kind !== "funnel" && (metric.measures || []).length) {
      for (const c of baseColumns(itemsOf(chart))) if (measureOf(metric, c)) q.append("measures", c);
    }
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
  const CONFIG = {
    displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"],
    // map outlines from this server (static/topojson), never from plotly's CDN
    topojsonURL: "/static/topojson/",
  };

  function fmt(v, format, currency) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (format === "currency") {
      const text = v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      return currency ? currency + " " + text : text;
    }
    if (format === "percent") return (v * 100).toFixed(1) + " %";
    if (format === "integer") return Math.round(v).toLocaleString();
    return v.toLocaleString(undefined, { maximumFractionDigits: 2 });
  }

  function shortMonth(iso) {
    return new Date(iso + "T00:00:00Z").toLocaleDateString(undefined, { month: "short", year: "numeric", timeZone: "UTC" });
  }

  function shortDay(iso) {
    return new Date(iso + "T00:00:00Z").toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  }

  // The KPI's value and the sentence that defines it.
  function kpiValue(chart, metric, data) {
    const item = chart.value;
    const dateCol = metric.date_column;
    let rows = data.rows;
    if (!rows.length) return { value: null, definition: "" };
    if (chart.agg === "total") {
      const m = item.column ? measureOf(metric, item.column) : null;
      const how = !m ? "over the range" : m.agg === "count_distinct" ? "distinct players in the range"
        : m.agg === "ratio" ? "ratio of the range's totals" : m.agg === "last" ? (metric.time_grain === "month" ? "in the range's last month" : "on the range's last day")
        : m.agg === "average" ? "daily average over the range" : "total over the range";
      return { value: value(rows[0], item), definition: how };
    }
    if (dateCol) rows = rows.slice().sort((a, b) => (a[dateCol] < b[dateCol] ? -1 : 1));
    if (chart.agg === "last") {
      const last = rows[rows.length - 1];
      const when = !dateCol ? "last value" : metric.time_grain === "month" ? "in " + shortMonth(last[dateCol]) : "on " + shortDay(last[dateCol]);
      return { value: value(last, item), definition: when };
    }
    const partial = new Set(data.partial_days || []);
    const complete = dateCol ? rows.filter((r) => !partial.has(r[dateCol])) : rows;
    const vals = complete.map((r) => value(r, item)).filter((v) => v !== null);
    const skipped = rows.length - complete.length;
    const note = skipped ? " (" + skipped + " partial day" + (skipped > 1 ? "s" : "") + " left out)" : "";
    if (!vals.length) return { value: null, definition: "no complete day in the range" };
    const n = vals.length + " complete day" + (vals.length > 1 ? "s" : "");
    if (chart.agg === "avg") return { value: vals.reduce((a, b) => a + b, 0) / vals.length, definition: "average of " + n + note };
    if (chart.agg === "max") return { value: Math.max(...vals), definition: "highest of " + n + note };
    if (chart.agg === "min") return { value: Math.min(...vals), definition: "lowest of " + n + note };
    return { value: vals.reduce((a, b) => a + b, 0), definition: "sum of " + n + note };
  }

  function currencyOf(metric, item, data) {
    for (const c of item.ratio ? [item.ratio[0]] : [item.column]) {
      const m = measureOf(metric, c);
      if (m && m.unit === "currency") return m.currency || data.currency || "";
    }
    const m = item.column ? measureOf(metric, item.column) : null;
    return m && m.unit === "currency" ? (m.currency || data.currency || "") : "";
  }

  function draw(chart, metric, data, keys, plot, panel) {
    const rows = data.rows;
    if (chart.type === "kpi") {
      const k = kpiValue(chart, metric, data);
      const v = k.value;
      const currency = chart.format === "currency" ? currencyOf(metric, chart.value, data) : "";
      plot.replaceChildren(
        el("div", { class: "kpi-value", "data-value": v === null ? "" : String(v), "data-currency": currency }, fmt(v, chart.format, currency)),
        el("div", { class: "kpi-definition" }, k.definition),
      );
      return;
    }
    if (chart.type === "table") {
      const items = chart.columns || (rows.length ? Object.keys(rows[0]).map((c) => ({ column: c, label: c })) : []);
      const table = el("table", { class: "data" });
      const head = el("tr");
      for (const it of items) {
        const cur = currencyOf(metric, it, data);
        head.append(el("th", { scope: "col" }, it.label + (cur ? " (" + cur + ")" : "")));
      }
      const thead = el("thead");
      thead.append(head);
      table.append(thead);
      const body = el("tbody");
      for (const r of rows.slice(0, 200)) {
        const tr = el("tr");
        for (const it of items) {
          // a ratio column is computed from the row's aggregated parts
          const v = it.ratio ? value(r, it) : r[it.column];
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
      let agg = aggregate(rows, keys.length ? keys : [chart.x], sums);
      if (chart.x !== metric.date_column) {
        // a category axis cannot show "no value" (e.g. no metro area): say it is left out
        const blank = agg.filter((r) => r[chart.x] === null || r[chart.x] === undefined);
        if (blank.length) {
          agg = agg.filter((r) => !blank.includes(r));
          const note = panel.querySelector(".note");
          const text = "Rows without a " + chart.x + " are left out.";
          note.textContent = note.textContent ? note.textContent + " " + text : text;
          note.hidden = false;
        }
      }
      if (!chart.sort && isGroupable(metric, chart.x)) agg.sort((a, b) => (a[chart.x] < b[chart.x] ? -1 : a[chart.x] > b[chart.x] ? 1 : 0));
      const seriesValues = chart.series ? Array.from(new Set(agg.map((r) => r[chart.series]))) : [null];
      for (const item of chart.y) {
        for (const s of seriesValues) {
          const part = s === null ? agg : agg.filter((r) => r[chart.series] === s);
          const xs = part.map((r) => r[chart.x]);
          const ys = part.map((r) => value(r, item));
          const horizontal = chart.type === "bar" && chart.orientation === "h";
          const cur = currencyOf(metric, item, data);
          const label = item.label + (cur ? " (" + cur + ")" : "");
          traces.push({
            type: chart.type === "line" ? "scatter" : "bar", mode: "lines",
            name: s === null ? label : label + " · " + s,
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
        layout.xaxis = metric.time_grain === "month"
          ? { type: "date", tickformat: "%b\n%Y" }
          : { type: "date", tickformat: "%b %-d\n%Y", dtick: days <= 14 ? 86400000 : undefined };
        // Partial days (the first and last day of data) shaded, and said so.
        const shown = new Set(agg.map((r) => r[chart.x]));
        const partial = (data.partial_days || []).filter((d) => shown.has(d));
        panel.dataset.partialDays = partial.join(",");
        if (partial.length && (metric.time_grain || "day") === "day") {
          layout.shapes = partial.map((d) => ({
            type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1, line: { width: 0 },
            x0: new Date(Date.parse(d + "T00:00:00Z") - 43200000).toISOString(),
            x1: new Date(Date.parse(d + "T00:00:00Z") + 43200000).toISOString(),
            fillcolor: "#94a3b8", opacity: 0.18, layer: "below",
          }));
          const note = panel.querySelector(".note");
          const text = "Shaded: partial day" + (partial.length > 1 ? "s " : " ") + partial.map(shortDay).join(", ") + " (the first and last day of data are incomplete).";
          note.textContent = note.textContent ? note.textContent + " " + text : text;
          note.hidden = false;
        }
      }
      const yCur = chart.y.map((it) => currencyOf(metric, it, data)).find(Boolean);
      if (yCur) layout.yaxis = Object.assign({}, layout.yaxis || {}, { title: { text: yCur } });
      layout.showlegend = traces.length > 1;
    } else if (chart.type === "map") {
      // a choropleth: one value per place (US states or ISO-3 countries)
      const agg = aggregate(rows, keys, baseColumns([chart.value]))
        .filter((r) => r[chart.locations] !== null && r[chart.locations] !== undefined);
      const cur = currencyOf(metric, chart.value, data);
      traces = [{
        type: "choropleth", locationmode: chart.locationmode,
        locations: agg.map((r) => r[chart.locations]),
        z: agg.map((r) => value(r, chart.value)),
        text: agg.map((r) => String(chart.text ? r[chart.text] : r[chart.locations])),
        hovertemplate: "%{text}: %{z:,.4~g}<extra></extra>",
        // plotly's "Blues" runs dark to light: ours runs light (little) to dark (much)
        colorscale: chart.colorscale === "Blues" ? [[0, "#dbeafe"], [1, "#1e3a8a"]] : chart.colorscale,
        marker: { line: { color: "#ffffff", width: 0.5 } },
        colorbar: { title: { text: chart.value.label + (cur ? " (" + cur + ")" : "") }, thickness: 12 },
      }];
      layout.geo = {
        scope: chart.scope, resolution: 110, bgcolor: "rgba(0,0,0,0)", showlakes: false,
        showframe: false, projection: { type: chart.scope === "usa" ? "albers usa" : "natural earth" },
      };
      layout.margin = { l: 0, r: 0, t: 0, b: 0 };
      layout.height = 360;
      panel.dataset.places = String(agg.length);
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
      let labels, xs;
      if (metric.kind === "funnel") {
        // an ordered funnel: the API counted players per step
        const steps = new Map();
        for (const r of rows) {
          const acc = steps.get(r.step) || { label: r.step_name, users: 0 };
          acc.users += Number(r.users) || 0;
          steps.set(r.step, acc);
        }
        const ordered = Array.from(steps.entries()).sort((a, b) => a[0] - b[0]).map((e) => e[1]);
        labels = ordered.map((s) => s.label);
        xs = ordered.map((s) => s.users);
        panel.dataset.window = String(data.conversion_window_days || "");
      } else {
        const total = aggregate(rows, [], baseColumns(chart.stages))[0] || {};
        labels = chart.stages.map((s) => s.label);
        xs = chart.stages.map((s) => value(total, s) || 0);
      }
      traces = [{ type: "funnel", y: labels, x: xs, textinfo: "value+percent previous+percent initial", marker: { color: COLORS.slice(0, labels.length) } }];
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
    if (!metric || (chart.type === "funnel" && !chart.stages && metric.kind !== "funnel")) {
      csv.hidden = true;
      if (metric) {
        plot.replaceChildren();
        setState("error", "A funnel chart without stages needs a funnel metric (kind: funnel); “" + chart.metric + "” is a table.");
        return;
      }
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
      draw(chart, metric, data, req.keys, plot, panel);
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
        banner("No data yet: the warehouse has not been built. Run `eventlake run` after loading your sources or landing events (or `eventlake demo` for sample data); this page fills in when it is ready.", "empty");
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
