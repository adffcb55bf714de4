// The home page: swap in the live parts every few seconds and draw GPU use with uPlot.
"use strict";

(() => {
  const home = document.getElementById("home");
  if (!home) return;
  const LIVE_MS = 5000;
  const GPU_MS = 60000;
  const COLORS = ["#1d6fd8", "#e07b00", "#1f8a4c", "#c62828", "#8e24aa", "#00838f", "#6d4c41", "#5c6bc0"];

  // Every element of /home/live that has an id and data-live replaces the page's element.
  async function refreshLive() {
    const html = await Daybreak.getText(home.dataset.liveSrc);
    const fresh = document.createElement("template");
    fresh.innerHTML = html;
    for (const part of fresh.content.querySelectorAll("[data-live][id]")) {
      const old = document.getElementById(part.id);
      if (old) old.replaceWith(part);
    }
    Daybreak.localiseTimes(home);
    home.dataset.refreshed = String(Number(home.dataset.refreshed || 0) + 1);
  }

  const figure = document.getElementById("gpu-chart");
  let plot = null;

  function options(data, width) {
    return {
      width,
      height: 180,
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [{}, { values: (u, splits) => splits.map((v) => `${v}%`), size: 54 }],
      legend: { live: false },
      series: [
        {},
        ...data.series.map((s, i) => ({
          label: s.gpu,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: false,
          value: (u, v) => (v == null ? "—" : `${Math.round(v)}%`),
        })),
      ],
    };
  }

  async function drawGpu() {
    const data = await Daybreak.getJSON(figure.dataset.src);
    const box = figure.querySelector(".plot");
    const columns = [data.times, ...data.series.map((s) => s.values)];
    figure.dataset.series = String(data.series.length);
    if (!data.series.length) {
      if (plot) plot.destroy();
      plot = null;
      box.innerHTML = '<p class="muted nothing">No run reported GPU metrics in the last 6 hours.</p>';
    } else if (plot && plot.series.length === columns.length) {
      plot.setData(columns);
    } else {
      if (plot) plot.destroy();
      box.replaceChildren();
      plot = new uPlot(options(data, box.clientWidth || 480), columns, box);
    }
    figure.dataset.ready = "true";
  }

  new ResizeObserver(() => {
    const box = figure.querySelector(".plot");
    if (plot && box.clientWidth) plot.setSize({ width: box.clientWidth, height: 180 });
  }).observe(figure);

  drawGpu().catch((err) => console.warn("daybreak: GPU chart:", err.message || err));
  Daybreak.poll(refreshLive, LIVE_MS);
  Daybreak.poll(drawGpu, GPU_MS);
})();
