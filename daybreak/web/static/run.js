// The run page: one uPlot chart per metric key, the output log, and live updates while running.
"use strict";

(() => {
  const run = JSON.parse(document.getElementById("run-data").textContent);
  const api = `/api/runs/${encodeURIComponent(run.id)}`;
  const POLL_MS = 2500;
  const POINTS = 1000;
  const FULL_REFRESH_EVERY = 5; // polls; catches series the index has not caught up with
  const ATTACHMENTS_EVERY = 4; // polls
  const MAX_LOG_CHARS = 500000;
  const COLORS = { train: "#2457c5", system: "#0f8a7e" };
  const charts = new Map(); // key -> {key, system, el, plotEl, plot, count, lastTs}
  let status = run.status;
  let polls = 0;

  const metricUrl = (key) =>
    `${api}/metrics/${key.split("/").map(encodeURIComponent).join("/")}?points=${POINTS}`;

  // ---- charts ---------------------------------------------------------------------------
  function register(el) {
    const entry = {
      key: el.dataset.key,
      system: el.dataset.system === "true",
      el,
      plotEl: el.querySelector(".plot"),
      plot: null,
      count: null,
      lastTs: null,
    };
    charts.set(entry.key, entry);
    return entry;
  }

  function addChart(key) {
    const system = key.startsWith("sys/");
    const el = document.createElement("figure");
    el.className = "chart";
    el.dataset.key = key;
    el.dataset.system = String(system);
    el.innerHTML =
      '<figcaption><span class="key"></span>' +
      '<span class="nonfinite-flag" hidden title="NaN and ±Infinity are not drawn: they show as gaps">' +
      '⚠ <span class="nonfinite-text">non-finite values</span></span>' +
      '<span class="stat">last <b class="last mono">…</b> · <span class="total">…</span> pts</span>' +
      '</figcaption><div class="plot"></div>';
    el.querySelector(".key").textContent = key;
    el.querySelector(".key").title = key;
    const grid = document.getElementById(system ? "system-charts" : "charts");
    const after = [...grid.children].find((c) => c.dataset.key > key);
    grid.insertBefore(el, after || null);
    document.getElementById(system ? "system" : "metrics").hidden = false;
    if (!system) document.querySelector(".empty-charts").hidden = true;
    return register(el);
  }

  // uPlot stretches a single point's time axis over years: keep it to a minute (or 2 steps).
  function xRange(entry, min, max) {
    if (min === null || max === null) return [0, 1];
    const pad = entry.system ? 30 : 1;
    return min === max ? [min - pad, max + pad] : [min, max];
  }

  function plotOptions(entry, width) {
    const stroke = entry.system ? COLORS.system : COLORS.train;
    const axis = { stroke: "#5b6577", grid: { stroke: "#eceff3" }, ticks: { stroke: "#d5dae1" } };
    return {
      width,
      height: 200,
      scales: { x: { time: entry.system, range: (u, min, max) => xRange(entry, min, max) } },
      series: [
        { label: entry.system ? "time" : "step" },
        { label: entry.key, stroke, width: 1.5, fill: stroke + "14", spanGaps: false,
          value: (u, v) => Daybreak.formatNumber(v) },
      ],
      axes: [{ ...axis }, { ...axis, size: 64, values: Daybreak.axisValues }],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
    };
  }

  function draw(entry, series) {
    const xs = entry.system ? series.timestamps : series.steps;
    const raw = series.values.map(Number); // "NaN", "Infinity", "-Infinity" arrive as strings
    const ys = raw.map((v) => (Number.isFinite(v) ? v : null)); // null draws a gap
    const bad = raw.length - ys.filter((v) => v !== null).length;
    const width = Math.max(200, entry.plotEl.clientWidth);
    if (entry.plot) entry.plot.setData([xs, ys]);
    else entry.plot = new uPlot(plotOptions(entry, width), [xs, ys], entry.plotEl);
    entry.el.uplot = entry.plot; // for debugging from the console and for the browser tests
    const last = raw.length ? raw[raw.length - 1] : null;
    entry.el.querySelector(".last").textContent = Daybreak.formatNumber(last);
    entry.el.querySelector(".total").textContent = String(series.total);
    entry.el.dataset.total = String(series.total);
    entry.el.dataset.returned = String(raw.length);
    entry.el.dataset.last = Daybreak.formatNumber(last);
    if (bad) flagNonFinite(entry, raw);
  }

  function flagNonFinite(entry, raw) {
    const kinds = [];
    if (raw.some(Number.isNaN)) kinds.push("NaN");
    if (raw.some((v) => v === Infinity)) kinds.push("+Inf");
    if (raw.some((v) => v === -Infinity)) kinds.push("-Inf");
    entry.el.classList.add("has-nonfinite");
    entry.el.dataset.nonfinite = "true";
    const flag = entry.el.querySelector(".nonfinite-flag");
    flag.querySelector(".nonfinite-text").textContent = `non-finite values: ${kinds.join(", ")}`;
    flag.hidden = false;
  }

  async function load(entry, stats) {
    const series = await Daybreak.getJSON(metricUrl(entry.key));
    draw(entry, series);
    entry.count = stats ? stats.count : null;
    entry.lastTs = stats ? stats.last_ts : null;
    if (stats && stats.nonfinite) entry.el.classList.add("has-nonfinite");
  }

  function stale(entry, stats, full) {
    return full || !entry.plot || !stats || stats.count !== entry.count || stats.last_ts !== entry.lastTs;
  }

  async function refreshCharts(full) {
    const index = (await Daybreak.getJSON(`${api}/metrics`)).keys;
    for (const key of Object.keys(index)) if (!charts.has(key)) addChart(key);
    const jobs = [...charts.values()]
      .filter((e) => stale(e, index[e.key], full))
      .map((e) => load(e, index[e.key]));
    await Promise.all(jobs);
  }

  const resizer = new ResizeObserver((items) => {
    for (const item of items) {
      const entry = charts.get(item.target.closest(".chart").dataset.key);
      const width = Math.floor(item.contentRect.width);
      if (entry && entry.plot && width > 0 && width !== entry.plot.width) {
        entry.plot.setSize({ width, height: 200 });
      }
    }
  });

  // ---- output log ---------------------------------------------------------------------
  const log = document.getElementById("output");
  let offset = 0;

  async function refreshOutput() {
    for (;;) {
      const chunk = await Daybreak.getJSON(`${api}/output?offset=${offset}`);
      if (!chunk.text || chunk.next_offset === offset) return;
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      let text = log.textContent + chunk.text;
      if (text.length > MAX_LOG_CHARS) text = "… (earlier output trimmed)\n" + text.slice(-MAX_LOG_CHARS);
      log.textContent = text;
      offset = chunk.next_offset;
      if (atBottom) log.scrollTop = log.scrollHeight;
    }
  }

  // ---- status, attachments ------------------------------------------------------------
  async function refreshAttachments() {
    const box = document.getElementById("attachments");
    box.innerHTML = await Daybreak.getText(box.dataset.src);
    Daybreak.localiseTimes(box);
  }

  async function refreshStatus() {
    const info = await Daybreak.getJSON(api);
    document.getElementById("run-duration").textContent =
      Daybreak.formatDuration((info.ended_at || Date.now() / 1000) - info.started_at);
    return info.status;
  }

  async function tick() {
    polls += 1;
    const next = await refreshStatus();
    await Promise.all([refreshCharts(polls % FULL_REFRESH_EVERY === 0 || next !== "running"), refreshOutput()]);
    if (polls % ATTACHMENTS_EVERY === 0) await refreshAttachments();
    if (next !== status) {
      // the run ended: reload once for the summary, error and final header
      location.reload();
      return false;
    }
    return true;
  }

  async function start() {
    for (const el of document.querySelectorAll(".chart")) register(el);
    const state = document.getElementById("output-state");
    await Promise.all([refreshCharts(true), refreshOutput()]);
    for (const entry of charts.values()) resizer.observe(entry.plotEl);
    document.body.dataset.chartsReady = "true";
    if (status === "running") {
      state.textContent = "· live";
      Daybreak.poll(async () => {
        const again = await tick();
        for (const entry of charts.values()) resizer.observe(entry.plotEl);
        return again;
      }, POLL_MS);
    }
  }

  start().catch((err) => console.error("daybreak: could not load the run's data:", err));
})();
