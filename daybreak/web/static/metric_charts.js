// Metric charts shared by the run and compare pages: one uPlot per key with one line per run,
// EMA smoothing drawn over the raw line, log scale, x by step / wall time / relative time, and
// drag-to-zoom that asks the server for the window at the chart's resolution.
"use strict";

window.MetricCharts = (() => {
  const PALETTE = ["#2457c5", "#d9480f", "#2b8a3e", "#ae3ec9", "#e8590c", "#0b7285",
    "#c2255c", "#5c940d", "#1864ab", "#862e9c", "#a61e4d", "#495057"];
  const HEIGHT = 200;
  const MIN_POINTS = 400;
  const MAX_POINTS = 4000;

  const colorOf = (i) => PALETTE[i % PALETTE.length];
  const pointsFor = (width) => Math.max(MIN_POINTS, Math.min(MAX_POINTS, 2 * Math.round(width)));

  // One request for several runs × keys; the binary answer is a JSON header, then float64
  // arrays (steps, timestamps, values) per series, NaN and ±Infinity included as they are.
  async function fetchSeries({ runs, keys, points, by, start, end }) {
    const params = new URLSearchParams({
      runs: runs.join(","), keys: keys.join(","), points: String(points), by, format: "binary",
    });
    if (start !== undefined && start !== null) params.set("start", String(start));
    if (end !== undefined && end !== null) params.set("end", String(end));
    const response = await fetch(`/api/series?${params}`, { cache: "no-store" });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
      throw new Error(`could not load ${keys.join(", ")}: ${message}`);
    }
    return decode(await response.arrayBuffer());
  }

  function decode(buffer) {
    const length = new DataView(buffer).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
    const out = new Map(); // key -> Map(run id -> series)
    let offset = 4 + length;
    for (const entry of header) {
      const n = entry.returned;
      const take = () => { const a = new Float64Array(buffer, offset, n); offset += 8 * n; return a; };
      const series = { ...entry, steps: take(), timestamps: take(), values: take() };
      if (!out.has(entry.key)) out.set(entry.key, new Map());
      out.get(entry.key).set(entry.run_id, series);
    }
    return out;
  }

  // Debiased exponential moving average (TensorBoard's); non-finite points stay gaps.
  function ema(values, weight) {
    const out = new Array(values.length);
    let last = 0, n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || !Number.isFinite(v)) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v;
      n += 1;
      out[i] = last / (1 - weight ** n);
    }
    return out;
  }

  const axis = { stroke: "#5b6577", grid: { stroke: "#eceff3" }, ticks: { stroke: "#d5dae1" } };

  class Chart {
    // el: a <figure class="chart" data-key> with a .plot; options: {runs, system, view, onZoom}
    constructor(el, options) {
      this.el = el;
      this.key = el.dataset.key;
      this.system = options.system || false;
      this.plotEl = el.querySelector(".plot");
      this.runs = options.runs; // [{id, name, started_at, color}]
      this.view = options.view; // {smoothing, log, x}, shared by every chart of the page
      this.onZoom = options.onZoom || (() => {});
      this.data = new Map(); // run id -> series
      this.zoom = null; // [min, max] in the current x unit
      this.plot = null;
      this.shape = "";
      this.el.addEventListener("dblclick", () => this.resetZoom());
    }

    // What the x axis measures for this chart: system metrics have no training step.
    get by() { return this.system && this.view.x === "step" ? "time" : this.view.x; }
    get width() { return Math.max(200, this.plotEl.clientWidth || 400); }

    async load() {
      const [start, end] = this.zoom || [null, null];
      const points = pointsFor(this.width);
      const found = await fetchSeries({
        runs: this.runs.map((r) => r.id), keys: [this.key], points, by: this.by, start, end,
      });
      this.el.dataset.pointsRequested = String(points);
      this.setData(found.get(this.key) || new Map());
    }

    setData(byRun) {
      this.data = byRun;
      this.draw();
    }

    xsOf(run, series) {
      if (this.by === "step") return Array.from(series.steps);
      const shift = this.by === "relative" ? run.started_at : 0;
      return Array.from(series.timestamps, (t) => t - shift);
    }

    ysOf(series) {
      const log = this.view.log;
      return Array.from(series.values, (v) => (Number.isFinite(v) && (!log || v > 0) ? v : null));
    }

    table() {
      const smooth = this.view.smoothing > 0;
      const tables = [], lines = [];
      this.runs.forEach((run) => {
        const series = this.data.get(run.id);
        if (!series) return;
        const ys = this.ysOf(series);
        const columns = [this.xsOf(run, series), ys];
        lines.push({ run, raw: true, smooth });
        if (smooth) {
          columns.push(ema(ys, this.view.smoothing));
          lines.push({ run, raw: false, smooth });
        }
        tables.push(columns);
      });
      if (!tables.length) return { data: [[]], lines };
      const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
      return { data, lines };
    }

    seriesOptions(lines) {
      const single = new Set(lines.map((l) => l.run.id)).size === 1;
      return lines.map(({ run, raw, smooth }) => ({
        label: smooth && raw ? `${run.name} (raw)` : run.name,
        stroke: smooth && raw ? run.color + "55" : run.color,
        width: smooth && raw ? 1 : 1.5,
        fill: single && !smooth ? run.color + "14" : undefined,
        spanGaps: false,
        value: (u, v) => Daybreak.formatNumber(v),
      }));
    }

    xValues() {
      if (this.by === "relative") return (u, splits) => splits.map((s) => Daybreak.formatDuration(s));
      return undefined;
    }

    options(lines) {
      const xLabel = { step: "step", time: "time", relative: "since start" }[this.by];
      return {
        width: this.width,
        height: HEIGHT,
        scales: {
          x: { time: this.by === "time", range: (u, min, max) => this.xRange(min, max) },
          y: this.view.log ? { distr: 3 } : {},
        },
        series: [{ label: xLabel }, ...this.seriesOptions(lines)],
        axes: [
          { ...axis, ...(this.xValues() ? { values: this.xValues() } : {}) },
          { ...axis, size: 64, values: this.view.log ? undefined : Daybreak.axisValues },
        ],
        cursor: { drag: { x: true, y: false, setScale: false } },
        legend: { live: true, show: lines.length <= 2 },
        hooks: { setSelect: [(u) => this.selected(u)] },
      };
    }

    xRange(min, max) {
      if (this.zoom) return this.zoom.slice();
      if (min === null || max === null) return [0, 1];
      const pad = this.by === "step" ? 1 : 30; // a lone point: a minute (or 2 steps) wide
      return min === max ? [min - pad, max + pad] : [min, max];
    }

    draw() {
      const { data, lines } = this.table();
      const shape = JSON.stringify([lines.map((l) => [l.run.id, l.raw]), this.view, this.by, this.zoom]);
      if (this.plot && shape === this.shape) {
        this.plot.setData(data);
      } else {
        if (this.plot) this.plot.destroy();
        this.plot = new uPlot(this.options(lines), data, this.plotEl);
        this.shape = shape;
      }
      this.el.uplot = this.plot; // for the console and the browser tests
      this.describe(lines);
    }

    describe(lines) {
      const drawn = [...this.data.values()];
      const ds = this.el.dataset;
      ds.series = String(new Set(lines.map((l) => l.run.id)).size);
      ds.lines = String(lines.length);
      ds.returned = String(drawn.reduce((n, s) => n + s.returned, 0));
      ds.inWindow = String(drawn.reduce((n, s) => n + s.in_window, 0));
      ds.zoomed = this.zoom ? this.zoom.join(",") : "";
      ds.xAxis = this.by;
      const first = this.data.get(this.runs[0].id);
      if (first) {
        ds.total = String(first.total);
        const total = this.el.querySelector(".total");
        if (total) total.textContent = String(first.total);
        this.flagNonFinite(first.values);
        const n = first.values.length;
        if (!this.zoom && n) {
          const last = Daybreak.formatNumber(first.values[n - 1]);
          ds.last = last;
          const cell = this.el.querySelector(".last");
          if (cell) cell.textContent = last;
        }
        const shown = this.el.querySelector(".shown");
        if (shown) {
          shown.title = "downsampled on the server: each bucket's min, max and non-finite points kept";
          shown.textContent = first.returned < first.in_window
            ? ` · ${first.returned} drawn` : "";
        }
      }
    }

    flagNonFinite(values) {
      const kinds = [];
      if (values.some(Number.isNaN)) kinds.push("NaN");
      if (values.some((v) => v === Infinity)) kinds.push("+Inf");
      if (values.some((v) => v === -Infinity)) kinds.push("-Inf");
      if (!kinds.length) return;
      this.el.classList.add("has-nonfinite");
      this.el.dataset.nonfinite = "true";
      const flag = this.el.querySelector(".nonfinite-flag");
      if (!flag) return;
      flag.querySelector(".nonfinite-text").textContent = `non-finite values: ${kinds.join(", ")}`;
      flag.hidden = false;
    }

    selected(u) {
      if (u.select.width < 3) return;
      const min = u.posToVal(u.select.left, "x");
      const max = u.posToVal(u.select.left + u.select.width, "x");
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.zoomTo(min, max);
    }

    async zoomTo(min, max) {
      this.zoom = [min, max];
      this.el.dataset.loading = "true";
      try {
        await this.load();
      } finally {
        delete this.el.dataset.loading;
      }
      this.onZoom(this);
    }

    async resetZoom() {
      if (!this.zoom) return;
      this.zoom = null;
      await this.load();
      this.onZoom(this);
    }

    resize() {
      const width = Math.floor(this.plotEl.clientWidth);
      if (this.plot && width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
    }
  }

  // Our own legend: a coloured swatch and the name (linked) of every run drawn.
  function legend(list, runs) {
    list.replaceChildren(...runs.map((run) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = run.color;
      const link = document.createElement("a");
      link.href = `/runs/${encodeURIComponent(run.id)}`;
      link.textContent = run.name;
      item.dataset.runId = run.id;
      item.append(swatch, link);
      return item;
    }));
    list.hidden = runs.length < 2;
  }

  return { PALETTE, colorOf, pointsFor, fetchSeries, decode, ema, Chart, legend };
})();
