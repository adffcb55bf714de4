// The run page: metric and system charts (MetricCharts) with smoothing, log scale, x axis,
// zoom and overlaid runs; the config search; the live log; live updates while running.
"use strict";

(() => {
  const run = JSON.parse(document.getElementById("run-data").textContent);
  const choices = JSON.parse(document.getElementById("run-choices").textContent);
  const api = `/api/runs/${encodeURIComponent(run.id)}`;
  const POLL_MS = 2500;
  const FULL_REFRESH_EVERY = 5; // polls; catches series the index has not caught up with
  const ATTACHMENTS_EVERY = 4; // polls
  const MAX_LOG_CHARS = 500000;
  const SYSTEM_COLOR = "#0f8a7e";
  const params = new URLSearchParams(location.search);
  const view = {
    smoothing: clamp(Number(params.get("smooth")) || 0, 0, 0.99),
    log: params.get("log") === "1",
    x: ["step", "time", "relative"].includes(params.get("x")) ? params.get("x") : "step",
  };
  const known = new Map(choices.map((c) => [c.id, c]));
  known.set(run.id, run);
  let overlay = (params.get("overlay") || "").split(",").filter((id) => id && id !== run.id);
  const charts = new Map(); // key -> MetricCharts.Chart
  let indexCounts = new Map(); // key -> [count, last_ts] at the last load
  let status = run.status;
  let polls = 0;

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  // ---- the runs drawn -------------------------------------------------------------------
  function drawnRuns() {
    return [run.id, ...overlay].map((id, i) => {
      const info = known.get(id) || { id, name: id.slice(0, 8), started_at: 0 };
      return { id, name: info.name, started_at: info.started_at, color: MetricCharts.colorOf(i) };
    });
  }

  function runsFor(chart) {
    const runs = drawnRuns();
    if (chart.system && runs.length === 1) runs[0].color = SYSTEM_COLOR;
    return runs;
  }

  async function learn(id) {
    if (known.has(id)) return known.get(id);
    const info = await Daybreak.getJSON(`/api/runs/${encodeURIComponent(id)}`);
    known.set(info.id, info);
    return info;
  }

  // ---- charts ---------------------------------------------------------------------------
  function register(el) {
    const system = el.dataset.system === "true";
    const chart = new MetricCharts.Chart(el, { system, runs: [], view, onZoom: zoomChanged });
    chart.runs = runsFor(chart);
    charts.set(chart.key, chart);
    resizer.observe(chart.plotEl);
    return chart;
  }

  function figure(key, system) {
    const el = document.createElement("figure");
    el.className = "chart";
    el.dataset.key = key;
    el.dataset.system = String(system);
    el.innerHTML =
      '<figcaption><span class="key"></span>' +
      '<span class="nonfinite-flag" hidden title="NaN and ±Infinity are not drawn: they show as gaps">' +
      '⚠ <span class="nonfinite-text">non-finite values</span></span>' +
      '<span class="stat">last <b class="last mono">…</b> · <span class="total">…</span> pts' +
      '<span class="shown"></span></span></figcaption><div class="plot"></div>';
    el.querySelector(".key").textContent = key;
    el.querySelector(".key").title = key;
    return el;
  }

  function systemGrid(key) {
    const rest = key.slice(4);
    const group = rest.includes("/") ? rest.split("/")[0] : rest.split("_")[0];
    let box = document.querySelector(`.system-group[data-group="${CSS.escape(group)}"]`);
    if (!box) {
      box = document.createElement("div");
      box.className = "system-group";
      box.dataset.group = group;
      box.innerHTML = '<h3></h3><div class="charts"></div>';
      box.querySelector("h3").textContent = group;
      document.getElementById("system-charts").appendChild(box);
    }
    return box.querySelector(".charts");
  }

  function addChart(key) {
    const system = key.startsWith("sys/");
    const el = figure(key, system);
    const grid = system ? systemGrid(key) : document.getElementById("charts");
    const after = [...grid.children].find((c) => c.dataset.key > key);
    grid.insertBefore(el, after || null);
    document.getElementById(system ? "system" : "metrics").hidden = false;
    if (!system) document.querySelector(".empty-charts").hidden = true;
    return register(el);
  }

  async function loadAll(which) {
    await Promise.all([...(which || charts.values())].map((c) => c.load()));
  }

  function redrawAll() {
    for (const chart of charts.values()) if (chart.plot) chart.draw();
  }

  function zoomChanged() {
    document.getElementById("reset-zoom").disabled = ![...charts.values()].some((c) => c.zoom);
  }

  const resizer = new ResizeObserver((items) => {
    for (const item of items) {
      const chart = charts.get(item.target.closest(".chart").dataset.key);
      if (chart) chart.resize();
    }
  });

  // ---- toolbar ----------------------------------------------------------------------------
  function remember() {
    const next = new URLSearchParams(location.search);
    const set = (name, value, fallback) => (value === fallback ? next.delete(name) : next.set(name, value));
    set("smooth", String(view.smoothing), "0");
    set("log", view.log ? "1" : "0", "0");
    set("x", view.x, "step");
    set("overlay", overlay.join(","), "");
    const query = next.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
  }

  function setOverlay(ids) {
    overlay = ids.filter((id, i) => id !== run.id && ids.indexOf(id) === i);
    for (const chart of charts.values()) chart.runs = runsFor(chart);
    for (const box of document.querySelectorAll("#overlay-choices input")) box.checked = overlay.includes(box.value);
    document.getElementById("overlay-count").textContent = String(overlay.length);
    MetricCharts.legend(document.getElementById("run-legend"), drawnRuns());
    const link = document.getElementById("compare-link");
    link.href = `/compare?runs=${[run.id, ...overlay].map(encodeURIComponent).join(",")}`;
    link.hidden = overlay.length === 0;
    remember();
  }

  async function overlayChanged(ids) {
    setOverlay(ids);
    document.body.dataset.chartsReady = "false";
    await loadAll();
    document.body.dataset.chartsReady = "true";
  }

  function wireToolbar() {
    const smoothing = document.getElementById("smoothing");
    const shown = document.getElementById("smoothing-value");
    smoothing.value = String(view.smoothing);
    shown.textContent = String(view.smoothing);
    smoothing.addEventListener("input", () => {
      view.smoothing = Number(smoothing.value);
      shown.textContent = smoothing.value;
      redrawAll();
      remember();
    });
    const log = document.getElementById("log-scale");
    log.checked = view.log;
    log.addEventListener("change", () => { view.log = log.checked; redrawAll(); remember(); });
    const xAxis = document.getElementById("x-axis");
    xAxis.value = view.x;
    xAxis.addEventListener("change", async () => {
      view.x = xAxis.value;
      for (const chart of charts.values()) chart.zoom = null;
      zoomChanged();
      remember();
      await loadAll();
    });
    document.getElementById("reset-zoom").addEventListener("click", async () => {
      await Promise.all([...charts.values()].map((c) => c.resetZoom()));
    });
    wireOverlay();
    const compareWith = document.getElementById("compare-with");
    if (compareWith) {
      compareWith.addEventListener("change", () => {
        if (compareWith.value) location.href = `/compare?runs=${encodeURIComponent(run.id)},${encodeURIComponent(compareWith.value)}`;
      });
    }
  }

  function wireOverlay() {
    const list = document.getElementById("overlay-choices");
    list.addEventListener("change", () => {
      // keep the order runs were picked in, so each keeps its colour
      const picked = new Set([...list.querySelectorAll("input:checked")].map((b) => b.value));
      const listed = new Set(choices.map((c) => c.id));
      const kept = overlay.filter((id) => picked.has(id) || !listed.has(id));
      overlayChanged([...kept, ...[...picked].filter((id) => !kept.includes(id))]).catch(report);
    });
    const filter = document.getElementById("overlay-filter");
    filter.addEventListener("input", () => {
      const text = filter.value.trim().toLowerCase();
      for (const item of list.querySelectorAll("li[data-name]")) item.hidden = !item.dataset.name.includes(text);
    });
    const error = document.getElementById("overlay-error");
    document.getElementById("overlay-add").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = document.getElementById("overlay-id");
      const id = input.value.trim();
      if (!id) return;
      error.hidden = true;
      try {
        const info = await learn(id);
        input.value = "";
        await overlayChanged([...overlay, info.id]);
      } catch (err) {
        error.textContent = `no run ${id}: check the id`;
        error.hidden = false;
      }
    });
  }

  // ---- config search ------------------------------------------------------------------
  function wireConfigSearch() {
    const search = document.getElementById("config-search");
    if (!search) return;
    const rows = [...document.querySelectorAll("#config tr")];
    const count = document.getElementById("config-count");
    search.addEventListener("input", () => {
      const text = search.value.trim().toLowerCase();
      let shown = 0;
      for (const row of rows) {
        row.hidden = Boolean(text) && !row.textContent.toLowerCase().includes(text);
        if (!row.hidden) shown += 1;
      }
      count.textContent = text ? `${shown} of ${rows.length} keys` : `${rows.length} keys`;
    });
  }

  // ---- live updates ---------------------------------------------------------------------
  async function refreshCharts(full) {
    const index = (await Daybreak.getJSON(`${api}/metrics`)).keys;
    const stale = [];
    for (const [key, stats] of Object.entries(index)) {
      const chart = charts.get(key) || addChart(key);
      const seen = stats ? `${stats.count}:${stats.last_ts}` : "";
      if (full || !chart.plot || !stats || indexCounts.get(key) !== seen) stale.push(chart);
      indexCounts.set(key, seen);
    }
    await loadAll(stale);
  }

  const log = document.getElementById("output");
  const follow = document.getElementById("output-follow");
  let offset = 0;

  async function refreshOutput() {
    for (;;) {
      const chunk = await Daybreak.getJSON(`${api}/output?offset=${offset}`);
      if (!chunk.text || chunk.next_offset === offset) return;
      let text = log.textContent + chunk.text;
      if (text.length > MAX_LOG_CHARS) text = "… (earlier output trimmed)\n" + text.slice(-MAX_LOG_CHARS);
      log.textContent = text;
      offset = chunk.next_offset;
      if (follow.checked) log.scrollTop = log.scrollHeight;
    }
  }

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
      location.reload(); // the run ended: once more for the summary, error and final header
      return false;
    }
    return true;
  }

  function report(err) {
    console.error("daybreak: could not load the run's data:", err);
  }

  async function start() {
    for (const el of document.querySelectorAll(".chart")) register(el);
    wireToolbar();
    wireConfigSearch();
    const found = await Promise.all(overlay.map((id) => learn(id).then((i) => i.id, () => null)));
    setOverlay(found.filter(Boolean));
    await Promise.all([refreshCharts(true), refreshOutput()]);
    document.body.dataset.chartsReady = "true";
    const state = document.getElementById("output-state");
    if (status === "running") {
      state.textContent = "· live";
      Daybreak.poll(tick, POLL_MS);
    }
  }

  start().catch(report);
})();
