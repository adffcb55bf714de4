// The compare page: one chart per metric key with a line per run (MetricCharts), the runs'
// colours on every swatch, and the "only differences" toggle of the config table.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("compare-data").textContent);
  const runs = data.runs.map((r, i) => ({ ...r, color: MetricCharts.colorOf(i) }));
  const view = { smoothing: 0, log: false, x: "step" };
  const charts = [];

  function paintSwatches() {
    for (const swatch of document.querySelectorAll(".swatch[data-index]")) {
      swatch.style.background = runs[Number(swatch.dataset.index)].color;
    }
    MetricCharts.legend(document.getElementById("run-legend"), runs);
  }

  function zoomChanged() {
    document.getElementById("reset-zoom").disabled = !charts.some((c) => c.zoom);
  }

  function describePresence(chart) {
    const present = runs.filter((r) => chart.data.has(r.id)).length;
    chart.el.querySelector(".present").textContent = `${present} of ${runs.length} runs`;
  }

  async function loadAll() {
    await Promise.all(charts.map(async (chart) => {
      await chart.load();
      describePresence(chart);
    }));
  }

  function wireToolbar() {
    const smoothing = document.getElementById("smoothing");
    smoothing.addEventListener("input", () => {
      view.smoothing = Number(smoothing.value);
      document.getElementById("smoothing-value").textContent = smoothing.value;
      for (const chart of charts) chart.draw();
    });
    const log = document.getElementById("log-scale");
    log.addEventListener("change", () => {
      view.log = log.checked;
      for (const chart of charts) chart.draw();
    });
    const xAxis = document.getElementById("x-axis");
    xAxis.addEventListener("change", async () => {
      view.x = xAxis.value;
      for (const chart of charts) chart.zoom = null;
      zoomChanged();
      await loadAll();
    });
    document.getElementById("reset-zoom").addEventListener("click", async () => {
      await Promise.all(charts.map((c) => c.resetZoom()));
    });
    const only = document.getElementById("only-differences");
    if (only) {
      only.addEventListener("change", () => {
        document.getElementById("config-table").classList.toggle("only-differences", only.checked);
      });
    }
  }

  const resizer = new ResizeObserver(() => { for (const chart of charts) chart.resize(); });

  async function start() {
    paintSwatches();
    for (const el of document.querySelectorAll(".chart")) {
      const system = el.dataset.system === "true";
      const chart = new MetricCharts.Chart(el, { runs, system, view, onZoom: zoomChanged });
      charts.push(chart);
      resizer.observe(chart.plotEl);
    }
    wireToolbar();
    await loadAll();
    document.body.dataset.chartsReady = "true";
  }

  start().catch((err) => console.error("daybreak: could not load the compared runs:", err));
})();
