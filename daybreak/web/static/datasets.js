// The dataset pages: label and size charts (uPlot bars), the grid of thumbnails with their
// labels drawn over them (boxes, keypoints with their skeleton, masks, classes), and the diff.
"use strict";

window.DatasetPages = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const THUMB = 192;
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#9a6324", "#469990", "#808000", "#000075", "#dcbe00"];
  const SPLIT_COLORS = ["#2457c5", "#f08c2e", "#1f8a4c", "#8e24aa", "#c62828", "#0f8a7e"];
  let maskIds = 0;

  function colorOf(label) {
    let hash = 0;
    for (const ch of String(label || "")) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    return PALETTE[hash % PALETTE.length];
  }

  function svgEl(name, attrs) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  }

  const assetUrl = (ref, kind, sha, extra = "") => {
    const [name, version] = ref.split("@");
    return `/api/datasets/${encodeURIComponent(name)}/${encodeURIComponent(version)}/${kind}/${sha}${extra}`;
  };

  // ---- one tile: the thumbnail and an SVG in the asset's own pixel coordinates over it ----
  function tile(ref, sample, note) {
    const w = sample.width || THUMB, h = sample.height || THUMB;
    const el = document.createElement("figure");
    el.className = "sample";
    el.dataset.sha = sample.sha256;
    const frame = document.createElement("div");
    frame.className = "frame";
    frame.style.aspectRatio = `${w} / ${h}`;
    const img = document.createElement("img");
    img.alt = sample.labels.join(", ") || sample.sha256.slice(0, 12);
    img.src = assetUrl(ref, "thumbnails", sample.sha256, `?size=${THUMB}`);
    if (Math.max(w, h) < THUMB / 2) img.classList.add("pixelated");
    frame.appendChild(img);
    const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", class: "labels" });
    const counts = { boxes: 0, keypoints: 0, masks: 0, captions: 0 };
    const unit = Math.max(w, h);
    // masks first (underneath), then boxes, then skeletons and points on top
    const order = { mask: 0, box: 1, keypoints: 2 };
    const annotations = [...sample.annotations].sort((a, b) => (order[a.kind] ?? 3) - (order[b.kind] ?? 3));
    for (const a of annotations) {
      const color = colorOf(a.label);
      if (a.mask) {
        counts.masks += 1;
        drawMask(svg, ref, sample.sha256, a, w, h, color);
      }
      if (a.bbox) {
        counts.boxes += 1;
        drawBox(svg, a, color, unit);
      }
      if (a.keypoints) {
        counts.keypoints += 1;
        drawKeypoints(svg, a, color, unit);
      }
      if (a.caption) counts.captions += 1;
    }
    frame.appendChild(svg);
    el.appendChild(frame);
    for (const [k, v] of Object.entries(counts)) el.dataset[k] = String(v);
    el.appendChild(caption(sample, note));
    return el;
  }

  function drawMask(svg, ref, sha, a, w, h, color) {
    const id = `mask-${++maskIds}`;
    const defs = svgEl("defs", {});
    const mask = svgEl("mask", { id, maskUnits: "userSpaceOnUse", x: 0, y: 0, width: w, height: h });
    mask.appendChild(svgEl("image", {
      href: assetUrl(ref, "masks", sha, `/${a.index}?size=${THUMB}`),
      x: 0, y: 0, width: w, height: h, preserveAspectRatio: "none",
    }));
    defs.appendChild(mask);
    svg.appendChild(defs);
    const rect = svgEl("rect", { class: "mask", x: 0, y: 0, width: w, height: h, fill: color, "fill-opacity": 0.5, mask: `url(#${id})` });
    rect.appendChild(svgEl("title", {})).textContent = a.label || "mask";
    svg.appendChild(rect);
  }

  function drawBox(svg, a, color, unit) {
    const [x, y, bw, bh] = a.bbox;
    const rect = svgEl("rect", { class: "box", x, y, width: bw, height: bh, stroke: color, fill: "none", "stroke-width": 2, "vector-effect": "non-scaling-stroke" });
    rect.appendChild(svgEl("title", {})).textContent = a.label || "box";
    svg.appendChild(rect);
    if (a.label) {
      const size = unit / 14;
      const text = svgEl("text", { class: "box-label", x: x + size * 0.2, y: Math.max(size, y - size * 0.25), "font-size": size, fill: color });
      text.textContent = a.label;
      svg.appendChild(text);
    }
  }

  function drawKeypoints(svg, a, color, unit) {
    const pts = [];
    for (let i = 0; i + 2 < a.keypoints.length; i += 3) {
      pts.push({ x: a.keypoints[i], y: a.keypoints[i + 1], v: a.keypoints[i + 2] });
    }
    const group = svgEl("g", { class: "pose" });
    for (const [from, to] of a.skeleton || []) {
      const p = pts[from - 1], q = pts[to - 1]; // COCO skeletons count from 1
      if (!p || !q || p.v <= 0 || q.v <= 0) continue;
      group.appendChild(svgEl("line", { class: "bone", x1: p.x, y1: p.y, x2: q.x, y2: q.y, stroke: color, "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
    }
    pts.forEach((p, i) => {
      if (p.v <= 0) return;
      const dot = svgEl("circle", { class: "kp", cx: p.x, cy: p.y, r: unit / 60, fill: "#fff", stroke: color, "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" });
      dot.appendChild(svgEl("title", {})).textContent = (a.names && a.names[i]) || `point ${i + 1}`;
      group.appendChild(dot);
    });
    svg.appendChild(group);
  }

  function caption(sample, note) {
    const cap = document.createElement("figcaption");
    const split = document.createElement("span");
    split.className = "split";
    split.textContent = sample.split;
    cap.appendChild(split);
    for (const label of sample.labels) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.style.borderColor = colorOf(label);
      tag.textContent = label;
      cap.appendChild(tag);
    }
    const texts = sample.annotations.filter((a) => a.caption).map((a) => a.caption);
    if (texts.length) {
      const text = document.createElement("div");
      text.className = "caption-text";
      text.textContent = texts.join(" · ");
      cap.appendChild(text);
    }
    if (note) {
      const extra = document.createElement("div");
      extra.className = "note muted";
      extra.textContent = note;
      cap.appendChild(extra);
    }
    cap.title = `${sample.sha256}\n${sample.width}×${sample.height} ${sample.format || ""}`;
    return cap;
  }

  // ---- charts ---------------------------------------------------------------------------
  // Grouped bars: every category gets one slot per series plus a gap slot; each series has
  // values only in its own slots (nulls elsewhere), so uPlot draws the groups side by side.
  function groupedBars(el, categories, seriesNames, rows, colors) {
    const k = seriesNames.length, slot = k + 1;
    const xs = [], ys = seriesNames.map(() => []);
    categories.forEach((_, i) => {
      for (let s = 0; s < slot; s++) {
        xs.push(i * slot + s);
        ys.forEach((col, j) => col.push(s === j ? rows[j][i] : null));
      }
    });
    const centers = categories.map((_, i) => i * slot + (k - 1) / 2);
    const axis = { stroke: "#5b6577", grid: { stroke: "#eceff3" }, ticks: { stroke: "#d5dae1" } };
    const bars = uPlot.paths.bars({ size: [0.92, 60], align: 0 });
    const many = categories.length > 8;
    const options = {
      width: Math.max(280, el.clientWidth),
      height: many ? 260 : 220,
      scales: {
        x: { time: false, range: () => [-1, Math.max(1, categories.length * slot - 1)] },
        y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] },
      },
      series: [
        { label: "label", value: (u, v) => (v === null ? "" : categories[Math.round((v - (k - 1) / 2) / slot)] || "") },
        ...seriesNames.map((name, j) => ({ label: name, fill: colors[j % colors.length] + "cc", stroke: colors[j % colors.length], width: 0, paths: bars, points: { show: false } })),
      ],
      axes: [
        { ...axis, splits: () => centers, values: () => categories, rotate: many ? -40 : 0, size: many ? 80 : 40, grid: { show: false } },
        { ...axis, size: 48 },
      ],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    const plot = new uPlot(options, [xs, ...ys], el);
    el.dataset.series = String(k);
    el.dataset.categories = String(categories.length);
    el.uplot = plot;
    new ResizeObserver(() => {
      const width = Math.floor(el.clientWidth);
      if (width > 0 && width !== plot.width) plot.setSize({ width, height: options.height });
    }).observe(el);
    return plot;
  }

  function drawCharts(stats) {
    const labelsEl = document.getElementById("label-chart");
    if (labelsEl && stats.labels.length) {
      const shown = stats.labels.slice(0, 30);
      const rows = stats.splits.map((s) => stats.label_counts[s].slice(0, shown.length));
      groupedBars(labelsEl, shown, stats.splits, rows, SPLIT_COLORS);
    }
    const sizesEl = document.getElementById("size-chart");
    if (sizesEl && stats.sizes.buckets.length) {
      const names = stats.sizes.buckets.map((b) => b.size);
      groupedBars(sizesEl, names, ["images"], [stats.sizes.buckets.map((b) => b.count)], ["#0f8a7e"]);
    }
    document.body.dataset.chartsReady = "true";
  }

  // ---- the grid of a version --------------------------------------------------------------
  function startGrid(ref) {
    const grid = document.getElementById("samples");
    const form = document.getElementById("sample-filters");
    const status = document.getElementById("grid-status");
    const state = {
      split: form.elements.split.value,
      label: form.elements.label.value,
      page: Number(grid.dataset.page) || 1,
      pages: 1,
    };
    const [name, version] = ref.split("@");
    const base = `/api/datasets/${encodeURIComponent(name)}/${encodeURIComponent(version)}/samples`;

    async function load() {
      const query = new URLSearchParams({ page: state.page });
      if (state.split) query.set("split", state.split);
      if (state.label) query.set("label", state.label);
      grid.setAttribute("aria-busy", "true");
      const found = await Daybreak.getJSON(`${base}?${query}`);
      state.pages = found.pages;
      if (state.page > found.pages) {
        state.page = found.pages;
        return load();
      }
      grid.replaceChildren(...found.samples.map((s) => tile(ref, s)));
      grid.dataset.tiles = String(found.samples.length);
      grid.dataset.total = String(found.total);
      grid.dataset.page = String(found.page);
      grid.removeAttribute("aria-busy");
      status.textContent = found.total
        ? `${found.total} sample${found.total === 1 ? "" : "s"} · page ${found.page} of ${found.pages}`
        : "no samples match";
      for (const button of document.querySelectorAll("[data-step]")) {
        const next = found.page + Number(button.dataset.step);
        button.disabled = next < 1 || next > found.pages;
      }
      const url = new URL(location.href);
      for (const key of ["split", "label"]) {
        if (state[key]) url.searchParams.set(key, state[key]);
        else url.searchParams.delete(key);
      }
      if (found.page > 1) url.searchParams.set("page", found.page);
      else url.searchParams.delete("page");
      history.replaceState(null, "", url);
    }

    const reload = () => load().catch((err) => {
      status.textContent = "could not load the samples";
      console.error("daybreak: samples:", err);
    });
    form.addEventListener("change", () => {
      state.split = form.elements.split.value;
      state.label = form.elements.label.value;
      state.page = 1;
      reload();
    });
    form.addEventListener("submit", (event) => event.preventDefault());
    for (const button of document.querySelectorAll("[data-step]")) {
      button.addEventListener("click", () => {
        state.page = Math.min(state.pages, Math.max(1, state.page + Number(button.dataset.step)));
        reload();
      });
    }
    reload();
  }

  // ---- the diff: samples of each change, the old and the new side by side -------------------
  function startDiff(diff) {
    for (const [kind, changes] of Object.entries(diff.samples)) {
      const box = document.querySelector(`.diff-samples[data-kind="${kind}"]`);
      if (!box) continue;
      for (const change of changes) {
        const pair = document.createElement("div");
        pair.className = "pair";
        if (change.old) pair.appendChild(tile(diff.old, change.old, diff.old));
        if (change.new) pair.appendChild(tile(diff.new, change.new, diff.new));
        box.appendChild(pair);
      }
      box.dataset.pairs = String(changes.length);
    }
    document.body.dataset.diffReady = "true";
  }

  function start() {
    const data = document.getElementById("dataset-data");
    if (!data) return;
    const page = JSON.parse(data.textContent);
    if (page.stats) drawCharts(page.stats);
    if (page.stats && document.getElementById("samples")) startGrid(page.ref);
    if (page.diff) startDiff(page.diff);
  }

  document.addEventListener("DOMContentLoaded", () => {
    try {
      start();
    } catch (err) {
      console.error("daybreak: dataset page:", err);
    }
  });
  return { tile, colorOf };
})();
