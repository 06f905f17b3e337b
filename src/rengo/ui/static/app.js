/* rengo dashboard: a small single-page app over the read-only JSON API.
 *
 * Routes (in the URL hash): #/ runs list, #/run/<id> one run, #/compare?ids=a,b runs side
 * by side. The server pushes "change" events (server-sent events) whenever the run store
 * changes; the current view then refetches and updates in place, without a reload.
 * Every string from the store is inserted as text, never as HTML.
 */
"use strict";

(function () {
  // Okabe & Ito's colour-blind-safe palette (its yellow left out: too light on white), and a
  // dash pattern per series, so that two curves differ in more than colour.
  const PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];
  const DASHES = [[], [6, 3], [2, 3], [10, 3, 2, 3], [1, 2], [6, 2, 2, 2, 2, 2], [12, 4]];
  const styleOf = (i) => ({ color: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length] });
  const reducedMotion = () => window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const app = document.getElementById("app");
  const rengo = (window.rengo = { charts: {}, refreshes: 0, view: null });

  // -- small helpers -------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "style") el.setAttribute("style", value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const svgNS = "http://www.w3.org/2000/svg";

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function api(path) {
    const response = await fetch(path, { headers: { accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new ApiError(response.status, detail);
    }
    return response.json();
  }

  // An epsilon as rengo runs show prints it: 4 significant digits, rounded up, so the page never
  // shows a privacy bound below the one the accountant certified (8.38542 is 8.386, 1.11 is 1.11).
  function fmtEpsilon(v) {
    if (!Number.isFinite(v) || v <= 0) return String(v);
    let shown = Number(v.toPrecision(4));
    if (shown < v) shown = Number((shown + Math.pow(10, Math.floor(Math.log10(shown)) - 3)).toPrecision(4));
    // the text Python's "{:.4g}" (from 10,000 up "{:.4e}") gives, as the terminal prints it
    const exponent = (t) => t.replace(/e([+-])(\d)$/, "e$10$2");
    if (shown >= 10000) return exponent(shown.toExponential(4));
    if (shown < 1e-4) return exponent(shown.toExponential(3).replace(/\.?0+e/, "e"));
    return String(Number(shown.toPrecision(4)));
  }
  // The metrics that are epsilons, by exact name, also after a client metric's phase ("fit
  // dp_epsilon"): rengo.privacy.epsilon_text.is_epsilon_metric (a test holds the two equal).
  // A metric or participant whose name merely ends so is none.
  function isEpsilonMetric(key) {
    if (typeof key !== "string") return false;
    const at = key.lastIndexOf(" "), phase = key.slice(0, Math.max(at, 0)), metric = key.slice(at + 1);
    return ["", "fit", "evaluate"].includes(phase) && ["dp_epsilon", "train_dp_epsilon"].includes(metric);
  }
  // The metric a chart series' numbers are: the chart's own, else the series' label where
  // the series are metrics (a family of a run's curves), else none (participants, parties).
  function seriesMetric(options, label) {
    return options.metric || (options.seriesAreMetrics ? label : null);
  }
  function fmtMetric(v, key) {
    if (v === null || v === undefined) return "—";
    if (isEpsilonMetric(key)) return fmtEpsilon(v);
    if (Number.isInteger(v) && Math.abs(v) >= 1000) return v.toLocaleString("en-US");
    if (Math.abs(v) >= 10000) return v.toLocaleString("en-US", { maximumFractionDigits: 1 });
    return v.toFixed(4);
  }
  function fmtInt(v) { return v === null || v === undefined ? "—" : Number(v).toLocaleString("en-US"); }
  function fmtCount(n, noun) { return `${fmtInt(n)} ${noun}${n === 1 ? "" : "s"}`; }  // 1 failure, 2 failures
  function fmtBytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let size = n, unit = 0;
    while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit += 1; }
    return unit === 0 ? `${size} B` : `${size.toFixed(1)} ${units[unit]}`;
  }
  function fmtDuration(s) {
    if (s === null || s === undefined) return "—";
    if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
    if (s < 60) return `${s.toFixed(1)} s`;
    const m = Math.floor(s / 60), sec = Math.floor(s % 60);
    if (m < 60) return `${m}m ${String(sec).padStart(2, "0")}s`;
    return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
  }
  function fmtTime(iso) {
    // the viewer's local time with its UTC offset, as `rengo runs show` prints it: a time
    // copied from the page into a report for partners in another zone still says which moment
    if (!iso) return "—";
    const d = new Date(iso);
    const pad = (x) => String(x).padStart(2, "0");
    const east = -d.getTimezoneOffset(), away = Math.abs(east);
    const offset = `${east < 0 ? "-" : "+"}${pad(Math.floor(away / 60))}:${pad(away % 60)}`;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${offset}`;
  }
  function fmtAgo(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 1.5) return "just now";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    return `${Math.round(seconds / 3600)} h ago`;
  }
  function elapsed(run) {
    if (run.duration_s !== null && run.duration_s !== undefined) return run.duration_s;
    // taken on the server: this browser's clock may disagree with the coordinator's
    return run.running_s === null || run.running_s === undefined ? null : run.running_s;
  }
  function statusBadge(status) { return h("span", { class: `badge ${status}`, "data-testid": "status" }, status); }
  function qs(params) {
    const parts = Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "");
    return parts.length ? "?" + parts.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&") : "";
  }
  function section(id, title, hint, ...body) {
    return h("section", { class: "section", id: `sec-${id}`, "data-section": id, "aria-labelledby": `head-${id}` },
      h("div", { class: "section-head" }, h("h2", { id: `head-${id}`, tabindex: "-1" }, title), hint ? h("span", { class: "hint" }, hint) : null),
      ...body);
  }
  // A data table a screen reader can walk: column headers with scope, a caption naming it (read,
  // not shown), and its scrolling box reachable with Tab so that a keyboard can scroll it too.
  function table(columns, rows, attrs, caption) {
    const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null },
      c.hidden ? h("span", { class: "sr-only" }, c.label) : c.label)));
    const body = h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => {
      const value = c.render(row);
      return h("td", { class: c.num ? "num" : null }, value);
    }))));
    return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
      h("table", Object.assign({ class: "grid" }, attrs || {}), h("caption", { class: "sr-only" }, caption), h("thead", {}, head), body));
  }
  // Numbers as ranges, for reading aloud: [1, 2, 3, 5] -> "1-3, 5".
  function ranges(numbers) {
    const out = [];
    for (const n of numbers) {
      const last = out[out.length - 1];
      if (last && n === last[1] + 1) last[1] = n; else out.push([n, n]);
    }
    return out.map(([a, b]) => (a === b ? String(a) : `${a}\u2013${b}`)).join(", ");
  }
  // A run's line in the compare charts, as a key: its colour and its dash pattern.
  function lineKey(style) {
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("width", "22"); svg.setAttribute("height", "10"); svg.setAttribute("class", "line-key"); svg.setAttribute("aria-hidden", "true");
    const line = document.createElementNS(svgNS, "line");
    for (const [k, v] of Object.entries({ x1: 1, y1: 5, x2: 21, y2: 5, stroke: style.color, "stroke-width": 2.5 })) line.setAttribute(k, v);
    if (style.dash.length) line.setAttribute("stroke-dasharray", style.dash.join(" "));
    svg.append(line);
    return svg;
  }
  function replace(el, ...children) { el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined)); }

  function sparkline(values, width = 120, height = 28) {
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("width", width); svg.setAttribute("height", height); svg.setAttribute("class", "spark");
    svg.setAttribute("aria-hidden", "true");  // a picture of the numbers beside it
    const pts = values.map((v, i) => [i, v]).filter(([, v]) => v !== null);
    if (pts.length < 2) return svg;
    const ys = pts.map(([, v]) => v), lo = Math.min(...ys), hi = Math.max(...ys);
    const x = (i) => 2 + (i / (values.length - 1)) * (width - 4);
    const y = (v) => (hi === lo ? height / 2 : height - 3 - ((v - lo) / (hi - lo)) * (height - 6));
    const line = document.createElementNS(svgNS, "polyline");
    line.setAttribute("points", pts.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", "#4338ca"); line.setAttribute("stroke-width", "1.6");
    svg.append(line);
    const [li, lv] = pts[pts.length - 1];
    const dot = document.createElementNS(svgNS, "circle");
    dot.setAttribute("cx", x(li)); dot.setAttribute("cy", y(lv)); dot.setAttribute("r", "2.4"); dot.setAttribute("fill", "#4338ca");
    svg.append(dot);
    return svg;
  }

  // -- charts (uPlot) ------------------------------------------------------------------
  // A chart is drawn from named series of [x, y] points; x values are aligned across series
  // (missing points are gaps). The latest data of every chart is kept in window.rengo.charts
  // so tests can check that a curve carries the run's numbers.
  class LineChart {
    constructor(id, container, options) {
      this.id = id; this.container = container; this.options = options; this.plot = null; this.labels = null;
      this.observer = new ResizeObserver(() => this.resize());
      this.observer.observe(container);
    }
    static align(series) {
      const xs = Array.from(new Set(series.flatMap((s) => s.points.map((p) => p[0])))).sort((a, b) => a - b);
      const index = new Map(xs.map((x, i) => [x, i]));
      const columns = series.map((s) => {
        const col = new Array(xs.length).fill(null);
        for (const [x, y] of s.points) col[index.get(x)] = y;
        return col;
      });
      return [xs, ...columns];
    }
    update(series) {
      series = series.map((s, i) => Object.assign({}, styleOf(i), s));  // a series' own colour or dash wins
      const data = LineChart.align(series);
      const labels = series.map((s) => s.label).join("\u0000");
      rengo.charts[this.id] = { labels: series.map((s) => s.label), data, styles: series.map((s) => ({ color: s.color, dash: s.dash })) };
      this.describe(series, data);
      if (this.plot && labels === this.labels) { this.plot.setData(data); this.showState(); return; }
      if (this.plot) this.plot.destroy();
      this.labels = labels;
      const width = Math.max(this.container.clientWidth, 240);
      const many = data[0].length > 60;
      const opts = {
        width, height: this.options.height || 220,
        // A single point (a final test AUC) gets a narrow axis instead of uPlot's default span.
        scales: { x: data[0].length === 1 ? { time: false, range: [data[0][0] - 1, data[0][0] + 1] } : { time: false } },
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        // The legend's clicks and the drag-zoom are the mouse's; the keyboard's are the
        // controls beside the data table, kept in step with them here.
        hooks: { setSeries: [() => this.showState()], setScale: [(u, key) => { if (key === "x") this.showState(); }] },
        axes: [
          { label: this.options.xLabel || "round", labelSize: 18, size: 34, stroke: "#6b7280", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6eb" },
            incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000], space: 36 },
          { label: this.options.yLabel || "", labelSize: this.options.yLabel ? 18 : 0, size: 58, stroke: "#6b7280", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6eb" },
            values: (u, vals) => vals.map((v) => (this.options.yFormat ? this.options.yFormat(v) : fmtTick(v))) },
        ],
        series: [
          { label: this.options.xLabel || "round", value: (u, v) => (v === null || v === undefined ? "—" : this.xName(v)) },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: s.color,
            width: s.width || 2,
            dash: s.dash.length ? s.dash : undefined,
            fill: s.fill,
            spanGaps: true,
            points: { show: !many, size: 5 },
            value: (u, v) => (v === null || v === undefined ? "—" : (this.options.yFormat ? this.options.yFormat(v) : fmtMetric(v, seriesMetric(this.options, s.label)))),
          })),
        ],
      };
      this.plot = new uPlot(opts, data, this.container);
      this.buildControls(series);
      this.showState();
    }
    // Keyboard controls for what the mouse does on the canvas: a checkbox per series (the
    // legend's click) and the range of the x axis (the drag-zoom), in the chart's disclosure.
    // Rebuilt only when the series change, so a live refresh leaves the focus where it was.
    buildControls(series) {
      const box = this.options.controlBox;
      if (!box) return;
      const unit = this.options.xLabel || "round";
      this.boxes = series.map((s, i) => h("input", { type: "checkbox", checked: true,
        onchange: (event) => this.plot.setSeries(i + 1, { show: event.currentTarget.checked }) }));
      const bound = () => h("input", { type: "number", class: "range-bound", onchange: () => this.zoomTo() });
      this.from = bound(); this.to = bound();
      const all = h("button", { type: "button", class: "button", onclick: () => this.zoomTo(true) }, `All ${unit}s`);
      replace(box,
        h("fieldset", { class: "chart-controls" }, h("legend", {}, "Series shown"),
          series.map((s, i) => h("label", {}, this.boxes[i], ` ${s.label}`))),
        h("fieldset", { class: "chart-controls" }, h("legend", {}, `${unit[0].toUpperCase()}${unit.slice(1)}s shown`),
          h("label", {}, "from ", this.from), h("label", {}, " to ", this.to), " ", all));
    }
    // Show the x axis from the two boxes' values (either left empty: the data's own end), or
    // all of it.
    zoomTo(all) {
      const xs = this.plot.data[0];
      if (!xs.length) return;
      const read = (input, fallback) => (all || input.value === "" || !Number.isFinite(Number(input.value)) ? fallback : Number(input.value));
      let lo = read(this.from, xs[0]), hi = read(this.to, xs[xs.length - 1]);
      if (lo > hi) [lo, hi] = [hi, lo];
      if (lo === hi) { lo -= 0.5; hi += 0.5; }
      this.plot.setScale("x", { min: lo, max: hi });
    }
    // What the chart shows now (the controls follow it, and tests read it).
    showState() {
      const plot = this.plot, entry = rengo.charts[this.id];
      if (!plot || !entry) return;
      entry.shown = plot.series.slice(1).map((s) => s.show);
      const x = plot.scales.x;
      entry.range = [x.min, x.max];
      if (!this.boxes) return;
      this.boxes.forEach((box, i) => { box.checked = entry.shown[i]; });
      const round = (v) => (v === null || v === undefined ? "" : String(Math.round(v * 100) / 100));
      if (document.activeElement !== this.from) this.from.value = round(x.min);
      if (document.activeElement !== this.to) this.to.value = round(x.max);
    }
    // The canvas says nothing to a screen reader: name what it shows, and put each series'
    // numbers in a table beside it (in a disclosure, so the page looks as before).
    describe(series, data) {
      const xs = data[0], unit = this.options.xLabel || "round";
      const fmt = (v, k) => (v === null || v === undefined ? "\u2014" : this.options.yFormat ? this.options.yFormat(v) : fmtMetric(v, seriesMetric(this.options, k)));
      const span = xs.length ? (xs.length === 1 ? this.xName(xs[0]) : `${unit}s ${this.xName(xs[0], false)} to ${this.xName(xs[xs.length - 1], false)}`) : "no data yet";
      this.container.setAttribute("role", "img");
      this.container.setAttribute("aria-label", `Chart: ${this.options.title || this.id}, ${series.length} series over ${span}; the numbers are in the data table below it`);
      if (!this.options.dataBox) return;
      const rows = series.map((s, i) => {
        const pts = xs.map((x, j) => [x, data[i + 1][j]]).filter(([, v]) => v !== null && v !== undefined);
        const ys = pts.map(([, v]) => v);
        const last = pts[pts.length - 1];
        return { label: s.label, count: pts.length, first: pts.length ? pts[0][1] : null,
                 latest: last ? last[1] : null, at: last ? last[0] : null,
                 low: ys.length ? Math.min(...ys) : null, high: ys.length ? Math.max(...ys) : null };
      });
      replace(this.options.dataBox, table([
        { label: "Series", render: (r) => r.label },
        { label: "Points", num: true, render: (r) => String(r.count) },
        { label: "First", num: true, render: (r) => fmt(r.first, r.label) },
        { label: "Latest", num: true, render: (r) => r.at === null ? "\u2014" : `${fmt(r.latest, r.label)} (${this.xName(r.at)})` },
        { label: "Lowest", num: true, render: (r) => fmt(r.low, r.label) },
        { label: "Highest", num: true, render: (r) => fmt(r.high, r.label) },
      ], rows, { "data-testid": `chart-data-${this.id}` }, `${this.options.title || this.id}: each series' numbers`));
    }
    // An x value as a reader names it: "round 3" by default, or the chart's own name for it
    // (options.xName: the tournament's eras are "round 2 era1", plotted at their position);
    // withUnit false leaves the unit out where the sentence already says it ("rounds 1 to 4").
    xName(x, withUnit = true) {
      if (this.options.xName) return this.options.xName(x);
      return withUnit ? `${this.options.xLabel || "round"} ${x}` : String(x);
    }
    resize() {
      if (!this.plot) return;
      const width = Math.max(this.container.clientWidth, 240);
      if (Math.abs(width - this.plot.width) > 2) this.plot.setSize({ width, height: this.plot.height });
    }
    destroy() { this.observer.disconnect(); if (this.plot) this.plot.destroy(); delete rengo.charts[this.id]; }
  }
  function fmtTick(v) {
    if (v === null) return "";
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    if (a >= 10 || v === 0) return String(Math.round(v * 100) / 100);
    return String(Math.round(v * 1e4) / 1e4);
  }

  // Escape closes an open disclosure and gives the focus back to its summary.
  function closeOnEscape(event) {
    const details = event.currentTarget;
    if (event.key !== "Escape" || !details.open) return;
    details.open = false;
    details.querySelector("summary").focus();
    event.stopPropagation();
  }

  // Charts of the current view, by id: created on first update, updated in place after.
  class ChartSet {
    constructor() { this.charts = new Map(); }
    card(id, title, options) {
      let entry = this.charts.get(id);
      if (!entry) {
        const latest = h("span", { class: "latest" });
        const holder = h("div", { class: "chart", "data-chart": id });
        const dataBox = h("div", { class: "chart-data-body" });
        const controlBox = h("div", { class: "chart-data-controls" });
        const details = h("details", { class: "chart-data", onkeydown: closeOnEscape }, h("summary", {}, "Data table"), controlBox, dataBox);
        const card = h("div", { class: "card chart-card", "data-testid": `chart-${id}` }, h("h3", {}, h("span", {}, title), latest), holder, details);
        entry = { card, latest, chart: new LineChart(id, holder, Object.assign({ title, dataBox, controlBox }, options || {})) };
        this.charts.set(id, entry);
      }
      return entry;
    }
    keep(ids) {
      for (const [id, entry] of this.charts) if (!ids.has(id)) { entry.chart.destroy(); this.charts.delete(id); }
    }
    destroy() { this.keep(new Set()); }
  }

  // A refresh rebuilds the view's tables and lists (every second or so on a live run): a
  // keyboard user's focus in one of them fell back to the top of the page each time. Put it
  // back on the same control: the same run's checkbox or link, else the same place.
  function keepingFocus(root, rebuild) {
    const before = document.activeElement;
    if (!before || before === document.body || !root.contains(before)) { rebuild(); return; }
    const path = [];
    for (let el = before; el !== root; el = el.parentElement) path.unshift(Array.prototype.indexOf.call(el.parentElement.children, el));
    const run = before.dataset.run, href = before.getAttribute("href"), text = before.textContent;
    rebuild();
    if (document.activeElement === before) return;  // it was never taken out
    let after = null;
    if (root.contains(before)) after = before;  // taken out and put back: focus it again
    else if (run) after = root.querySelector(`${before.tagName}[data-run="${CSS.escape(run)}"]`);
    else if (href) after = Array.from(root.querySelectorAll("a")).find((a) => a.getAttribute("href") === href && a.textContent === text) || null;
    else { after = root; for (const i of path) after = after && after.children[i]; }
    if (after && after.focus) after.focus({ preventScroll: true });
  }

  // -- live updates --------------------------------------------------------------------
  const live = {
    el: document.getElementById("live"),
    source: null, failures: 0, timer: null, pending: false, running: false,
    set(state, text) { this.el.dataset.state = state; this.el.querySelector(".live-text").textContent = text; },
    connect() {
      if (!window.EventSource) { this.poll(); return; }
      this.source = new EventSource("/api/stream");
      this.source.addEventListener("open", () => { this.failures = 0; this.set("live", "live"); });
      this.source.addEventListener("change", () => this.schedule());
      this.source.addEventListener("error", () => {
        this.failures += 1;
        this.set("offline", "reconnecting");
        if (this.failures >= 5) { this.source.close(); this.poll(); }
      });
    },
    poll() {
      this.set("polling", "polling every 3 s");
      clearInterval(this.timer);
      this.timer = setInterval(() => this.schedule(), 3000);
    },
    // One refresh at a time, at most about once a second: a coordinator commits many small
    // writes per round, and the page only needs to keep up with rounds.
    last: 0,
    schedule() {
      if (this.running) { this.pending = true; return; }
      this.running = true;
      const wait = Math.max(150, 1000 - (Date.now() - this.last));
      setTimeout(async () => {
        try { if (rengo.view && rengo.view.refresh) await rengo.view.refresh(); }
        catch (e) { console.warn("refresh failed", e); }
        finally {
          rengo.refreshes += 1;
          this.last = Date.now();
          this.running = false;
          if (this.pending) { this.pending = false; this.schedule(); }
        }
      }, wait);
    },
  };

  // A jump link moves the focus with the view: a screen reader reads on from the section's
  // heading, and the next Tab continues from there rather than from the top of the page.
  function jumpTo(sectionEl) {
    sectionEl.scrollIntoView({ behavior: reducedMotion() ? "auto" : "smooth" });
    const heading = sectionEl.querySelector("h2");
    if (heading) heading.focus({ preventScroll: true });
  }

  // What a screen reader should hear of a live run: its status (at once) and its round (at
  // most once every 10 s). The view re-renders on every store change; the region around it
  // stays silent, and this one says a changed sentence only.
  const announcer = {
    el: document.getElementById("announcer"), said: "", pending: null, at: 0, timer: null, gap: 10000,
    say(text, urgent) {
      if (text === this.said) { this.quiet(); this.pending = null; return; }
      this.pending = text;
      const wait = this.gap - (Date.now() - this.at);
      if (urgent || wait <= 0) this.flush();
      else if (this.timer === null) this.timer = setTimeout(() => this.flush(), wait);
    },
    flush() {
      this.quiet();
      if (this.pending === null) return;
      this.el.textContent = this.pending; this.said = this.pending; this.pending = null; this.at = Date.now();
    },
    // what the page shows now, without saying it (a view just opened reads as a page)
    settle(text) { this.quiet(); this.pending = null; this.said = text; },
    quiet() { clearTimeout(this.timer); this.timer = null; },
  };
  // what one recorded round is called: "round", a vertical run's "epoch" or SecureBoost's "tree"
  const unitOf = (run) => run.unit;

  function showError(error) {
    return h("div", { class: "error-box", role: "alert" },
      error.status === 404 ? "Not found: " : error.status === 401 ? "Not signed in: " : "Could not load: ",
      error.message || String(error));
  }

  // -- runs list -----------------------------------------------------------------------
  class RunsView {
    constructor(params) {
      this.filters = { q: params.get("q") || "", kind: params.get("kind") || "", status: params.get("status") || "",
                       since: params.get("since") || "", until: params.get("until") || "" };
      this.selected = new Set();
      this.kindSelect = h("select", { "aria-label": "kind", "data-testid": "filter-kind", onchange: (e) => this.setFilter("kind", e.target.value) });
      this.statusSelect = h("select", { "aria-label": "status", "data-testid": "filter-status", onchange: (e) => this.setFilter("status", e.target.value) });
      this.search = h("input", { type: "search", placeholder: "Search name or run id", "aria-label": "Search runs by name or run id", value: this.filters.q, "data-testid": "filter-q",
                                 oninput: (e) => { clearTimeout(this.typing); this.typing = setTimeout(() => this.setFilter("q", e.target.value), 250); } });
      this.since = h("input", { type: "date", value: this.filters.since, "aria-label": "started on or after", onchange: (e) => this.setFilter("since", e.target.value) });
      this.until = h("input", { type: "date", value: this.filters.until, "aria-label": "started on or before", onchange: (e) => this.setFilter("until", e.target.value) });
      this.count = h("span", { class: "muted", "data-testid": "runs-count" });
      this.body = h("div", { class: "card" }, h("div", { class: "loading" }, "Loading runs…"));
      this.compareButton = h("a", { class: "button primary", "data-testid": "compare-selected" }, "Compare");
      this.compareBar = h("div", { class: "compare-bar", hidden: true }, h("span", { class: "muted" }), this.compareButton);
    }
    render() {
      replace(app,
        h("div", { class: "section-head" }, h("h1", {}, "Runs"), this.count),
        h("div", { class: "toolbar" }, this.search, h("label", {}, "Kind", this.kindSelect), h("label", {}, "Status", this.statusSelect),
          h("label", {}, "From", this.since), h("label", {}, "To", this.until),
          h("button", { class: "button", onclick: () => this.clear() }, "Clear")),
        this.body, this.compareBar);
      return this.refresh();
    }
    setFilter(key, value) {
      this.filters[key] = value;
      history.replaceState(null, "", "#/" + qs(this.filters));
      this.refresh();
    }
    clear() {
      this.filters = { q: "", kind: "", status: "", since: "", until: "" };
      this.search.value = ""; this.since.value = ""; this.until.value = "";
      history.replaceState(null, "", "#/");
      this.refresh();
    }
    options(select, values, current, everything) {
      replace(select, h("option", { value: "" }, everything), values.map((v) => h("option", { value: v, selected: v === current }, v)));
    }
    async refresh() {
      let data;
      // From/To are days as this page shows start times: in the browser's time zone
      const zone = (window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone) || "";
      try { data = await api("/api/runs" + qs(Object.assign({ tz: zone }, this.filters))); }
      catch (e) { if (rengo.view === this) replace(this.body, showError(e)); return; }
      if (rengo.view !== this) return;  // left while the data was on its way
      keepingFocus(app, () => this.draw(data));
    }
    draw(data) {
      this.options(this.kindSelect, data.kinds, this.filters.kind, "all kinds");
      this.options(this.statusSelect, data.statuses, this.filters.status, "any status");
      this.count.textContent = data.total === data.runs.length ? fmtCount(data.total, "run") : `${data.runs.length} of ${fmtCount(data.total, "run")}`;
      if (!data.runs.length) {
        replace(this.body, h("div", { class: "empty", style: "padding:24px" },
          data.kinds.length ? "No run matches these filters." : "No runs yet. Run `rengo demo` or `rengo run JOB.toml`, and they appear here."));
        this.updateCompare(); return;
      }
      const columns = [
        { label: "Select", hidden: true, render: (r) => h("input", { type: "checkbox", "aria-label": `select ${r.label}`, "data-run": r.run_id, checked: this.selected.has(r.run_id),
                                                 onchange: (e) => { e.target.checked ? this.selected.add(r.run_id) : this.selected.delete(r.run_id); this.updateCompare(); } }) },
        { label: "Run", render: (r) => h("div", {}, h("a", { class: "run-name", href: `#/run/${encodeURIComponent(r.run_id)}`, "data-testid": "run-link" }, r.label), h("div", { class: "run-id" }, r.run_id)) },
        { label: "Kind", render: (r) => h("span", { class: "pill" }, r.kind) },
        { label: "Status", render: (r) => statusBadge(r.status) },
        { label: "Started", render: (r) => h("span", { class: "mono" }, fmtTime(r.started_at)) },
        { label: "Duration", num: true, render: (r) => fmtDuration(elapsed(r)) },
        { label: "Rounds", num: true, render: (r) => r.planned_rounds ? `${fmtInt(r.rounds)} / ${fmtInt(r.planned_rounds)}` : fmtInt(r.rounds) },
        { label: "Headline metric", num: true, render: (r) => r.headline ? h("div", { class: "headline" },
            h("div", {}, h("div", { class: "metric" }, r.headline.metric), h("div", {}, fmtMetric(r.headline.value, r.headline.metric))), sparkline(r.headline.spark)) : h("span", { class: "muted" }, "—") },
      ];
      replace(this.body, table(columns, data.runs, { "data-testid": "runs-table" }, "Runs"));
      this.updateCompare();
    }
    updateCompare() {
      const ids = Array.from(this.selected);
      this.compareBar.hidden = ids.length < 2;
      this.compareBar.firstChild.textContent = `${ids.length} runs selected`;
      this.compareButton.setAttribute("href", `#/compare?ids=${ids.map(encodeURIComponent).join(",")}`);
    }
    destroy() {}
  }

  // -- one run -------------------------------------------------------------------------
  class RunView {
    constructor(runId) {
      this.runId = runId;
      this.charts = new ChartSet();
      this.sections = {};
      this.head = h("div");
      this.kpis = h("div", { class: "kpis" });
      this.jump = h("nav", { class: "jump", "aria-label": "Sections of this run" });
      this.main = h("div");
    }
    render() {
      replace(app, this.head, this.kpis, this.jump, this.main);
      return this.refresh();
    }
    sectionEl(id, title, hint) {
      if (!this.sections[id]) {
        const body = h("div");
        const el = section(id, title, hint, body);
        this.sections[id] = { el, body, title, hintEl: el.querySelector(".hint") };
      }
      return this.sections[id];
    }
    async refresh() {
      const base = `/api/runs/${encodeURIComponent(this.runId)}`;
      let run, clients, presence, rewards, events, tournament = null;
      try {
        [run, clients, presence, rewards, events] = await Promise.all([
          api(base), api(base + "/clients"), api(base + "/presence"), api(base + "/rewards"), api(base + "/events?limit=300"),
        ]);
        if (run.run.kind === "tournament") tournament = await api(base + "/tournament");
      } catch (e) { if (rengo.view === this) replace(app, showError(e)); return; }
      // left while the data was on its way: the page (and its title) is another view's now
      if (rengo.view !== this) return;
      this.data = { run, clients, presence, rewards, events, tournament };
      keepingFocus(app, () => this.draw(this.data));
    }
    draw({ run, clients, presence, rewards, events, tournament }) {
      document.title = `${run.run.label} · rengo`;
      this.renderHead(run.run);
      this.renderKpis(run, clients, presence);
      this.announce(run);
      const order = [];
      const add = (id, title, hint, fill) => { const s = this.sectionEl(id, title, hint); if (hint !== undefined && s.hintEl) s.hintEl.textContent = hint; fill(s.body); order.push(s); };
      const used = new Set();
      if (Object.keys(run.families).length) add("curves", "Training curves", "per round, every metric the run logged", (b) => this.curves(b, run, used));
      if (run.rounds.length) add("rounds", "Rounds", "time, participation and traffic", (b) => this.rounds(b, run, clients, used));
      if (presence.parties.length) add("parties", "Parties", `${presence.online} online · from the coordinator's joins, leaves and heartbeats`, (b) => this.parties(b, presence));
      if (clients.clients.length) add("clients", "Clients", `${clients.clients.length} clients`, (b) => this.clientsSection(b, clients));
      if (Object.keys(clients.spread).length) add("spread", "Client metric spread", "mean over clients, and the mean of the worst and best 10 %", (b) => this.spread(b, clients, used));
      if (clients.failures.length) add("failures", "Dropped and failed", fmtCount(clients.failures.length, "failure"), (b) => this.failures(b, clients));
      if (tournament && tournament.leaderboard.length) add("tournament", "Tournament", "combined score per round; CORR per era", (b) => this.tournament(b, tournament, used));
      if (rewards.contributions || rewards.ledger.length) add("rewards", "Contribution and payouts", rewards.contributions ? `method: ${rewards.contributions.method}` : "", (b) => this.rewards(b, rewards));
      if (events.events.length) add("events", "Events", `${events.total} logged`, (b) => this.eventsSection(b, events));
      add("config", "Configuration", "as recorded when the run started", (b) => this.config(b, run.run));
      this.charts.keep(used);
      replace(this.main, order.map((s) => s.el));
      replace(this.jump, order.map((s) => h("a", { href: `#/run/${encodeURIComponent(this.runId)}`, onclick: (e) => { e.preventDefault(); jumpTo(s.el); } }, s.title)));
    }
    announce(run) {
      const r = run.run, last = run.rounds.length ? run.rounds[run.rounds.length - 1].round : null;
      const text = `${r.label}: ${r.status}` + (last === null ? "" : `, ${unitOf(r)} ${last}` + (r.planned_rounds ? ` of ${r.planned_rounds}` : ""));
      if (this.status === undefined) announcer.settle(text);
      else announcer.say(text, r.status !== this.status);
      this.status = r.status;
    }
    renderHead(r) {
      replace(this.head,
        h("div", { class: "crumbs" }, h("a", { href: "#/" }, "← All runs")),
        h("div", { class: "run-title" }, h("h1", { "data-testid": "run-title" }, r.label), h("span", { class: "pill" }, r.kind), statusBadge(r.status)),
        r.why ? h("div", { class: "why", "data-testid": "run-why" }, r.why) : null,
        h("div", { class: "meta" },
          r.privacy ? h("span", {}, h("b", {}, "privacy"), h("span", { "data-testid": "run-privacy" }, r.privacy)) : null,
          h("span", {}, h("b", {}, "run"), h("span", { class: "mono", "data-testid": "run-id" }, r.run_id)),
          h("span", {}, h("b", {}, "started"), fmtTime(r.started_at)),
          h("span", {}, h("b", {}, r.finished_at ? "took" : "running for"), fmtDuration(elapsed(r))),
          r.seed !== null ? h("span", {}, h("b", {}, "seed"), String(r.seed)) : null,
          h("span", {}, h("b", {}, "host"), r.hostname),
          h("span", {}, h("b", {}, "rengo"), r.rengo_version)));
    }
    renderKpis(run, clients, presence) {
      const r = run.run, rounds = run.rounds;
      const last = rounds.length ? rounds[rounds.length - 1] : null;
      const cards = [];
      const planned = r.planned_rounds;
      const unit = unitOf(r);
      const roundValue = last ? last.round : 0;
      if (!rounds.length && r.kind === "tournament" && this.data.tournament) {
        const scored = new Set(Object.values(this.data.tournament.scores).flatMap((pts) => pts.map((p) => p[0])));
        cards.push(h("div", { class: "card kpi" }, h("div", { class: "label" }, "Rounds scored"),
          h("div", { class: "value" }, String(scored.size)), h("div", { class: "sub" }, `${this.data.tournament.leaderboard.length} participants`)));
      } else if (rounds.length || planned) cards.push(h("div", { class: "card kpi" }, h("div", { class: "label" }, unit.charAt(0).toUpperCase() + unit.slice(1)),
        h("div", { class: "value" }, h("span", { "data-testid": "round-value" }, String(roundValue)), planned ? h("small", {}, ` / ${planned}`) : null),
        planned ? h("div", { class: "progress" }, h("span", { style: `width:${Math.min(100, (100 * roundValue) / planned).toFixed(1)}%` })) : h("div", { class: "sub" }, `${fmtInt(run.rounds_total ?? rounds.length)} logged`)));
      if (run.headline) {
        const key = run.headline.metric, series = run.series[key] || [];
        const latest = series.length ? series[series.length - 1][1] : null;
        const best = run.headline.best;
        cards.push(h("div", { class: "card kpi" }, h("div", { class: "label" }, key.replace(/_/g, " ")),
          h("div", { class: "value", "data-testid": "headline-value" }, fmtMetric(latest, key)),
          h("div", { class: "sub" }, best ? `best ${fmtMetric(best.value, key)} at ${unit} ${best.round}` : "")));
      }
      const failures = clients.failures.length;
      if (last) cards.push(h("div", { class: "card kpi" }, h("div", { class: "label" }, "Clients"),
        h("div", { class: "value" }, String(last.num_clients - last.fit_failures), h("small", {}, ` / ${last.num_clients}`)),
        h("div", { class: "sub" }, `reported in ${unit} ${last.round}` + (clients.clients.length ? ` · ${clients.clients.length} seen` : ""))));
      // a run that failed before any round completed still shows who failed
      if (last || failures) {
        cards.push(h("div", { class: "card kpi" }, h("div", { class: "label" }, "Failures"),
          h("div", { class: "value", "data-testid": "failures-value" }, String(failures)),
          h("div", { class: "sub" }, failures ? `${fmtCount(new Set(clients.failures.map((f) => f.client)).size, "client")} affected` : "no client dropped")));
      }
      const sent = clients.traffic.reduce((a, t) => a + t.bytes_sent, 0), received = clients.traffic.reduce((a, t) => a + t.bytes_received, 0);
      if (sent || received) cards.push(h("div", { class: "card kpi" }, h("div", { class: "label" }, "Traffic"),
        h("div", { class: "value" }, fmtBytes(sent + received)), h("div", { class: "sub" }, `${fmtBytes(sent)} out · ${fmtBytes(received)} in`)));
      if (presence.parties.length) cards.push(h("div", { class: "card kpi" }, h("div", { class: "label" }, "Parties online"),
        h("div", { class: "value", "data-testid": "online-value" }, String(presence.online), h("small", {}, ` / ${presence.parties.length}`)),
        h("div", { class: "sub" }, r.status === "running" ? "live from heartbeats" : "run is " + r.status)));
      replace(this.kpis, cards);
    }
    curves(body, run, used) {
      const grid = h("div", { class: "charts" });
      for (const [family, keys] of Object.entries(run.families)) {
        const id = `metric-${family}`; used.add(id);
        const entry = this.charts.card(id, family.replace(/_/g, " "), { yLabel: "", seriesAreMetrics: true });
        grid.append(entry.card);
        const series = keys.map((k) => ({ label: k, points: run.series[k].filter((p) => p[1] !== null) }));
        const lastKey = keys[0], pts = run.series[lastKey];
        entry.latest.textContent = pts.length ? `${lastKey}: ${fmtMetric(pts[pts.length - 1][1], lastKey)}` : "";
        requestAnimationFrame(() => entry.chart.update(series));
      }
      replace(body, grid);
    }
    rounds(body, run, clients, used) {
      const grid = h("div", { class: "charts" });
      const time = this.charts.card("round-time", "Round time", { yFormat: (v) => fmtDuration(v) });
      used.add("round-time"); grid.append(time.card);
      const timeSeries = [{ label: "whole round", points: run.rounds.map((r) => [r.round, r.duration_s]) }];
      if (clients.traffic.length) {
        timeSeries.push({ label: "slowest client fit", points: clients.traffic.filter((t) => t.max_fit_s !== null).map((t) => [t.round, t.max_fit_s]) });
        timeSeries.push({ label: "mean client fit", points: clients.traffic.filter((t) => t.mean_fit_s !== null).map((t) => [t.round, t.mean_fit_s]) });
      }
      requestAnimationFrame(() => time.chart.update(timeSeries));
      if (clients.traffic.length) {
        const peak = Math.max(...clients.traffic.map((t) => Math.max(t.bytes_sent, t.bytes_received)), 1);
        const [unit, scale] = peak >= 2 ** 30 ? ["GiB", 2 ** 30] : peak >= 2 ** 20 ? ["MiB", 2 ** 20] : peak >= 1024 ? ["KiB", 1024] : ["B", 1];
        const traffic = this.charts.card("round-bytes", `Traffic per round (${unit})`, {});
        used.add("round-bytes"); grid.append(traffic.card);
        requestAnimationFrame(() => traffic.chart.update([
          { label: "sent to clients", points: clients.traffic.map((t) => [t.round, t.bytes_sent / scale]) },
          { label: "received", points: clients.traffic.map((t) => [t.round, t.bytes_received / scale]) },
        ]));
        const part = this.charts.card("round-clients", "Participation", { yFormat: (v) => String(Math.round(v)) });
        used.add("round-clients"); grid.append(part.card);
        requestAnimationFrame(() => part.chart.update([
          { label: "clients trained", points: clients.traffic.map((t) => [t.round, t.ok]) },
          { label: "clients failed", points: clients.traffic.map((t) => [t.round, t.failed]) },
        ]));
      }
      const keys = Array.from(new Set(run.rounds.flatMap((r) => Object.keys(r.metrics)))).sort();
      const shown = run.rounds.slice().reverse();
      const columns = [
        { label: "Round", num: true, render: (r) => String(r.round) },
        { label: "Time", num: true, render: (r) => fmtDuration(r.duration_s) },
        { label: "Clients", num: true, render: (r) => String(r.num_clients) },
        { label: "Fit failed", num: true, render: (r) => r.fit_failures ? h("span", { class: "reason" }, String(r.fit_failures)) : "0" },
        ...(run.rounds.some((r) => r.evaluate_failures) ? [{ label: "Eval failed", num: true, render: (r) => r.evaluate_failures ? h("span", { class: "reason" }, String(r.evaluate_failures)) : "0" }] : []),
        ...keys.map((k) => ({ label: k, num: true, render: (r) => fmtMetric(r.metrics[k] === undefined ? null : r.metrics[k], k) })),
      ];
      const partial = run.rounds_total > shown.length
        ? h("div", { class: "sub", "data-testid": "rounds-window" }, `the latest ${fmtInt(shown.length)} of ${fmtInt(run.rounds_total)} rounds (charts thin longer series; rengo runs show RUN has every round)`)
        : null;
      replace(body, grid, h("div", { class: "card", style: "margin-top:14px" }, partial, table(columns, shown, { "data-testid": "rounds-table" }, "Rounds, the latest first")));
    }
    parties(body, presence) {
      const columns = [
        { label: "Party", render: (p) => h("b", {}, p.party) },
        { label: "State", render: (p) => statusBadge(p.state) },
        { label: "Peer", render: (p) => h("span", { class: "mono" }, p.peer || "—") },
        { label: "Joined", render: (p) => fmtTime(p.joined_at) },
        { label: "Last heartbeat", render: (p) => p.state === "online" ? fmtAgo(p.last_seen_s) : fmtTime(p.last_seen) },
        { label: "Joins", num: true, render: (p) => String(p.joins) },
        { label: "In", num: true, render: (p) => fmtBytes(p.bytes_in) },
        { label: "Out", num: true, render: (p) => fmtBytes(p.bytes_out) },
        { label: "Left because", render: (p) => p.reason ? h("span", { class: "reason" }, p.reason) : "" },
      ];
      replace(body, h("div", { class: "card" }, table(columns, presence.parties, { "data-testid": "parties-table" }, "Parties")));
    }
    clientsSection(body, clients) {
      const labels = { o: "trained", e: "evaluated only", x: "failed", ".": "not selected" };
      // Each row is read as one sentence (which rounds it trained, failed, ...); the cells
      // differ in shape as well as colour: filled, outlined, hatched, blank.
      const spoken = (who, cells) => `${who}: ` + Object.entries(labels).map(([code, label]) => {
        const rounds = clients.rounds.filter((_, i) => cells[i] === code);
        return rounds.length ? `${label} in ${rounds.length === 1 ? "round" : "rounds"} ${ranges(rounds)}` : null;
      }).filter(Boolean).join("; ");
      const rows = Object.entries(clients.participation).map(([who, cells]) =>
        h("div", { class: "matrix-row", role: "img", "aria-label": spoken(who, cells) }, h("div", { class: "who", title: who }, who),
          h("div", { class: "cells" }, Array.from(cells).map((c, i) =>
            h("span", { class: `cell ${c === "." ? "" : c}`, title: `${who}, round ${clients.rounds[i]}: ${labels[c]}` })))));
      const first = clients.rounds[0], lastRound = clients.rounds[clients.rounds.length - 1];
      const matrix = h("div", { class: "card section-body" },
        h("div", { class: "legend", "aria-hidden": "true" }, Object.entries(labels).map(([code, label]) =>
          h("span", {}, h("i", { class: `cell ${code === "." ? "" : code}` }), label))),
        h("div", { class: "matrix", "data-testid": "participation" }, rows,
          h("div", { class: "matrix-axis" }, h("span", { class: "who" }, "round"), h("span", {}, `${first} … ${lastRound}` + (clients.rounds_total > clients.rounds.length ? ` (the latest ${fmtInt(clients.rounds.length)} of ${fmtInt(clients.rounds_total)} rounds; totals cover all)` : "")))));
      const columns = [
        { label: "Client", render: (c) => h("b", {}, c.client_id) },
        { label: "Rounds", num: true, render: (c) => String(c.rounds_participated) },
        { label: "Failures", num: true, render: (c) => c.failures ? h("span", { class: "reason" }, String(c.failures)) : "0" },
        { label: "Examples", num: true, render: (c) => fmtInt(c.num_examples) },
        { label: "Sent to it", num: true, render: (c) => fmtBytes(c.bytes_sent) },
        { label: "Received", num: true, render: (c) => fmtBytes(c.bytes_received) },
        { label: "Time", num: true, render: (c) => fmtDuration(c.duration_s) },
        { label: "Last failure", render: (c) => c.last_failure ? h("span", { class: "reason" }, c.last_failure) : "" },
        { label: "Last note", render: (c) => c.last_note || "" },
      ];
      replace(body, matrix, h("div", { class: "card", style: "margin-top:14px" }, table(columns, clients.clients, { "data-testid": "clients-table" }, "Clients")));
    }
    spread(body, clients, used) {
      const grid = h("div", { class: "charts" });
      for (const [name, spread] of Object.entries(clients.spread)) {
        const id = `spread-${name.replace(/\W+/g, "-")}`; used.add(id);
        const entry = this.charts.card(id, name, { metric: name });
        const rs = spread.rounds, last = rs[rs.length - 1];
        entry.latest.textContent = last ? `mean ${fmtMetric(last.mean, name)} · worst 10% ${fmtMetric(last.worst_decile, name)}` : "";
        grid.append(entry.card);
        requestAnimationFrame(() => entry.chart.update([
          { label: "mean", points: rs.map((s) => [s.round, s.mean]) },
          { label: "worst 10 %", points: rs.map((s) => [s.round, s.worst_decile]) },
          { label: "best 10 %", points: rs.map((s) => [s.round, s.best_decile]) },
        ]));
      }
      // a round cut short holds only the metrics of the clients that answered before: named, not charted
      const cut = (clients.cut_short || []).filter((c) => c.reported.length).map((c) =>
        `round ${c.round} did not complete: its ${c.phase} metrics, of ${c.reported.join(", ")}, are not charted as that round's`);
      replace(body, grid, cut.length ? h("p", { class: "muted", "data-testid": "spread-cut-short" }, cut.join("; ")) : null);
    }
    failures(body, clients) {
      const columns = [
        { label: "Round", num: true, render: (f) => String(f.round) },
        { label: "Client", render: (f) => h("b", {}, f.client) },
        { label: "Phase", render: (f) => f.phase },
        { label: "Reason", render: (f) => h("span", { class: "reason" }, f.reason || "—") },
      ];
      replace(body, h("div", { class: "card" }, table(columns, clients.failures.slice().reverse(), { "data-testid": "failures-table" }, "Dropped and failed clients, the latest first")));
    }
    rewards(body, rewards) {
      const parts = [];
      if (rewards.contributions) {
        const totals = Object.entries(rewards.contributions.totals).sort((a, b) => (b[1] ?? -Infinity) - (a[1] ?? -Infinity));
        parts.push(h("div", { class: "card section-body" }, h("h3", { style: "margin-bottom:12px" }, `Contribution (${rewards.contributions.method})`),
          bars(totals.map(([who, v]) => [who, v, fmtMetric(v)]), "contribution-bars")));
      }
      if (rewards.payouts.length) {
        const byWho = rewards.payouts.slice().sort((a, b) => b.amount_minor - a.amount_minor);
        parts.push(h("div", { class: "card section-body" }, h("h3", { style: "margin-bottom:12px" }, "Net payouts from the ledger"),
          bars(byWho.map((p) => [p.participant, p.amount_minor, `${p.amount} ${p.currency}`]), "payout-bars")));
      }
      const grid = h("div", { class: parts.length > 1 ? "two" : "" }, parts);
      const ledger = rewards.ledger.length ? h("div", { class: "card", style: "margin-top:14px" }, table([
        { label: "#", num: true, render: (e) => String(e.seq) },
        { label: "Round", num: true, render: (e) => e.round === null ? "run" : String(e.round) },
        { label: "Participant", render: (e) => h("b", {}, e.participant) },
        { label: "Kind", render: (e) => h("span", { class: `badge plain ${e.kind === "burn" ? "failed" : "info"}` }, e.kind) },
        { label: "Amount", num: true, render: (e) => `${e.amount} ${e.currency}` },
        { label: "Reason", render: (e) => h("span", { class: "muted" }, e.reason || "") },
      ], rewards.ledger, { "data-testid": "ledger-table" }, "Ledger")) : null;
      const cut = rewards.ledger_total > rewards.ledger.length ? h("p", { class: "muted", "data-testid": "ledger-shown" },
        `the latest ${fmtInt(rewards.ledger.length)} of ${fmtInt(rewards.ledger_total)} ledger lines (payouts add up every one; rengo rewards show RUN lists them all)`) : null;
      replace(body, grid, ledger, cut);
    }
    tournament(body, t, used) {
      const cur = t.currency || "";
      const board = h("div", { class: "card" }, table([
        { label: "Rank", num: true, render: (e) => String(t.leaderboard.indexOf(e) + 1) },
        { label: "Participant", render: (e) => h("b", {}, e.participant) },
        { label: "Rounds", num: true, render: (e) => String(e.rounds) },
        { label: "Mean score", num: true, render: (e) => fmtMetric(e.mean_score) },
        { label: "Mean CORR", num: true, render: (e) => fmtMetric(e.mean_corr) },
        { label: "Mean MMC", num: true, render: (e) => fmtMetric(e.mean_mmc) },
        { label: "Net payout", num: true, render: (e) => `${e.net_payout} ${cur}`.trim() },
      ], t.leaderboard, { "data-testid": "leaderboard-table" }, "Leaderboard"),
        (t.unpaid_rounds || []).length ? h("p", { class: "muted", "data-testid": "unpaid-rounds" },
          `round(s) ${t.unpaid_rounds.join(", ")} scored but not paid: their payouts are not in the net payout until rengo tournament pay writes them to the ledger`) : null);
      const grid = h("div", { class: "charts", style: "margin-top:14px" });
      const scores = this.charts.card("tournament-scores", "Combined score per round", {});
      used.add("tournament-scores"); grid.append(scores.card);
      requestAnimationFrame(() => scores.chart.update(Object.entries(t.scores).map(([who, pts]) => ({ label: who, points: pts }))));
      if (Object.keys(t.eras).length) {
        // x: the era's place among every scored round's eras, rounds in order (each round
        // names its eras afresh, so round 2's first era is not round 1's)
        // the card outlives this refresh: its xName reads the latest names
        this.eraNames = new Map();
        for (const list of Object.values(t.eras)) for (const e of list) this.eraNames.set(e.position, `round ${e.round} ${e.era}`);
        const eras = this.charts.card("tournament-eras", "CORR per era", { xLabel: "era", xName: (x) => this.eraNames.get(x) || `era ${x}` });
        used.add("tournament-eras"); grid.append(eras.card);
        requestAnimationFrame(() => eras.chart.update(Object.entries(t.eras).map(([who, list]) => ({ label: who, points: list.map((e) => [e.position, e.corr]) }))));
      }
      replace(body, board, grid);
    }
    eventsSection(body, events) {
      const list = h("ul", { class: "events", "data-testid": "events" }, events.events.slice().reverse().map((e) =>
        h("li", {}, h("span", { class: "mono muted" }, fmtTime(e.at)), h("span", {}, e.round === null ? "" : `round ${e.round}`),
          h("span", {}, h("span", { class: `badge plain ${e.level}` }, e.level)), h("span", { class: "event-message" }, e.message))));
      replace(body, h("div", { class: "card section-body" }, list));
    }
    config(body, r) {
      const kv = (obj) => h("dl", { class: "kv" }, Object.keys(obj || {}).sort().flatMap((k) => {
        const v = obj[k];
        return [h("dt", {}, k), h("dd", {}, typeof v === "string" ? v : JSON.stringify(v))];
      }));
      const summary = Object.assign({}, r.summary || {});
      delete summary.rounds;
      // a binary model's reliability table (rengo runs show renders it too) and the parties'
      // column names (rengo runs importance reads them) are not one-line values
      const reliability = Array.isArray(summary.reliability) ? summary.reliability : null;
      delete summary.reliability;
      delete summary.feature_names;
      const parts = [h("div", { class: "card section-body" }, h("h3", { style: "margin-bottom:8px" }, "Config"), kv(r.config))];
      if (Object.keys(summary).length) parts.push(h("div", { class: "card section-body" }, h("h3", { style: "margin-bottom:8px" }, "Summary"), kv(summary)));
      const share = (v) => v === null || v === undefined ? "-" : Number(v).toFixed(4);
      if (reliability) parts.push(h("div", { class: "card section-body" }, h("h3", { style: "margin-bottom:8px" }, "Reliability (held-out rows; calibrated: gap near 0)"), table([
        { label: "Predicted", render: (b) => `${Number(b.lower).toFixed(2)}-${Number(b.upper).toFixed(2)}` },
        { label: "Rows", num: true, render: (b) => String(b.rows) },
        { label: "Mean predicted", num: true, render: (b) => share(b.mean_probability) },
        { label: "Observed rate", num: true, render: (b) => share(b.observed_rate) },
        { label: "Gap", num: true, render: (b) => b.rows ? (b.observed_rate - b.mean_probability >= 0 ? "+" : "") + share(b.observed_rate - b.mean_probability) : "-" },
      ], reliability, { "data-testid": "reliability-table" }, "Reliability")));
      replace(body, h("div", { class: "two" }, parts));
    }
    destroy() { this.charts.destroy(); }
  }

  function bars(items, testid) {
    const values = items.map(([, v]) => v || 0);
    const pos = Math.max(0, ...values), neg = Math.max(0, ...values.map((v) => -v));
    const span = pos + neg || 1, zero = (neg / span) * 100;
    return h("div", { class: "bars", "data-testid": testid }, items.map(([who, v, text]) => {
      const width = (Math.abs(v || 0) / span) * 100;
      const left = (v || 0) >= 0 ? zero : zero - width;
      return h("div", { class: "bar-row" }, h("span", { class: "who", title: who }, who),
        h("div", { class: "bar-track" }, h("div", { class: `bar-fill ${(v || 0) < 0 ? "neg" : ""}`, style: `left:${left}%;width:${Math.max(width, 0.5)}%` }),
          neg > 0 ? h("div", { class: "bar-zero", style: `left:${zero}%` }) : null),
        h("span", { class: "num" }, text));
    }));
  }

  // -- comparison ----------------------------------------------------------------------
  class CompareView {
    constructor(params) { this.ids = (params.get("ids") || "").split(",").filter(Boolean); this.charts = new ChartSet(); this.body = h("div"); }
    async render() {
      if (this.ids.length < 2) {
        replace(app, h("h1", {}, "Compare runs"), h("p", { class: "muted" }, "Tick two or more runs in the runs list and press Compare."), h("a", { class: "button", href: "#/" }, "Go to runs"));
        return;
      }
      replace(app, this.body);
      return this.refresh();
    }
    async refresh() {
      let data;
      try { data = await api("/api/compare" + qs({ ids: this.ids.join(",") })); }
      catch (e) { if (rengo.view === this) replace(this.body, showError(e)); return; }
      if (rengo.view !== this) return;  // left while the data was on its way
      keepingFocus(app, () => this.draw(data));
    }
    draw(data) {
      const style = new Map(data.runs.map((r, i) => [r.run_id, styleOf(i)]));
      const label = new Map(data.runs.map((r) => [r.run_id, r.label]));
      const head = [h("h1", {}, `Comparing ${data.runs.length} runs`), h("div", { class: "chips" }, data.runs.map((r) =>
        h("a", { class: "chip", href: `#/run/${encodeURIComponent(r.run_id)}` }, lineKey(style.get(r.run_id)), r.label, h("span", { class: "run-id" }, r.run_id), statusBadge(r.status))))];
      const used = new Set();
      const grid = h("div", { class: "charts" });
      const keys = [...data.common, ...Object.keys(data.metrics).filter((k) => !data.common.includes(k))];
      for (const key of keys) {
        const id = `compare-${key}`; used.add(id);
        const entry = this.charts.card(id, key, { metric: key });
        grid.append(entry.card);
        const series = Object.entries(data.metrics[key]).map(([rid, pts]) => ({ label: label.get(rid), color: style.get(rid).color, dash: style.get(rid).dash, points: pts.filter((p) => p[1] !== null) }));
        requestAnimationFrame(() => entry.chart.update(series));
      }
      this.charts.keep(used);
      const finals = h("div", { class: "card" }, table([
        { label: "Metric (last round)", render: (k) => h("b", {}, k) },
        ...data.runs.map((r) => ({ label: r.label, num: true, render: (k) => {
          const vals = data.runs.map((x) => data.final[x.run_id][k]).filter((v) => v !== undefined && v !== null);
          const v = data.final[r.run_id][k];
          if (v === undefined || v === null) return "—";
          const lower = data.lower_is_better[k];  // null: an operating point, no best
          const best = lower ? Math.min(...vals) : Math.max(...vals);
          const isBest = lower !== null && vals.length > 1 && v === best;
          return h("span", { class: isBest ? "best" : "" }, fmtMetric(v, k), isBest ? h("span", { class: "sr-only" }, " (best)") : null);
        } })),
      ], keys, { "data-testid": "compare-table" }, "Final values of each run"));
      const diffs = data.config_differences.length ? h("div", { class: "card" }, table([
        { label: "Config key", render: (d) => h("b", {}, d.key) },
        ...data.runs.map((r) => ({ label: r.label, render: (d) => h("span", { class: "mono" }, d.values[r.run_id] === undefined ? "—" : JSON.stringify(d.values[r.run_id])) })),
      ], data.config_differences, {}, "Config keys with different values")) : h("p", { class: "muted" }, "Same configuration.");
      replace(this.body, head, section("compare-curves", "Curves", "each metric, every run"), grid,
        section("compare-final", "Final values", "best per metric in bold green"), finals,
        section("compare-config", "What differs", "config keys with different values"), diffs);
    }
    destroy() { this.charts.destroy(); }
  }

  // -- routing -------------------------------------------------------------------------
  function route() {
    const hash = location.hash.replace(/^#/, "") || "/";
    const [path, query] = hash.split("?");
    const params = new URLSearchParams(query || "");
    if (rengo.view && rengo.view.destroy) rengo.view.destroy();
    announcer.settle("");
    let view, nav = "runs";
    const m = /^\/run\/(.+)$/.exec(path);
    // every view names itself in the tab (a run view puts the run's name once it loaded)
    if (m) { view = new RunView(decodeURIComponent(m[1])); document.title = `Run ${decodeURIComponent(m[1])} · rengo`; }
    else if (path.startsWith("/compare")) { view = new CompareView(params); nav = "compare"; document.title = "Compare runs · rengo"; }
    else { view = new RunsView(params); document.title = "Runs · rengo"; }
    document.querySelectorAll(".topnav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
    rengo.view = view;
    window.scrollTo(0, 0);
    view.render();
  }

  window.addEventListener("hashchange", route);
  // "Skip to content" focuses the page's main region (following its #app link would route)
  document.querySelector(".skip-link").addEventListener("click", (e) => { e.preventDefault(); app.focus(); });
  api("/api/health").then((health) => { document.getElementById("store-name").textContent = `store: ${health.store} · rengo ${health.rengo_version}`; }).catch(() => {});
  route();
  live.connect();
})();
