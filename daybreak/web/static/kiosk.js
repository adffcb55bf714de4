// The demo-day kiosk: rotates through its screens on a timer and refreshes each one from
// /api/kiosk/... when it is shown (the training screen every few seconds while shown), and runs
// the live demo through the serving layer. Built to run for days: cards and their uPlot charts
// are reused (or destroyed when their data goes), stale fetches are aborted, and the camera
// stops when the demo screen is left.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("kiosk-config").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const body = document.body;
  const COLORS = ["#38bdf8", "#f472b6", "#4ade80", "#fbbf24", "#a78bfa", "#fb923c", "#2dd4bf", "#e2e8f0"];
  const TRAINING_REFRESH_MS = 5000;
  const DEMO_HOLD_MS = 90000; // a visitor's turn on the demo pauses the rotation this long
  const MAX_SIDE = 1280; // photos are shrunk to this many pixels a side before they are sent
  const MASK_RGBA = [244, 63, 94, 120];

  // ---- helpers ---------------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node[key] = value;
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return v.toLocaleString("en");
    return String(Number(v.toPrecision(4)));
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h}h ${String(m).padStart(2, "0")}m` : m ? `${m}m` : `${s}s`;
  }

  async function getJSON(url, signal) {
    const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" }, signal });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  const isAbort = (err) => err && err.name === "AbortError";
  const fontPx = () => parseFloat(getComputedStyle(body).fontSize) || 24;

  function legend(holder, names) {
    holder.replaceChildren(...names.map((name, i) =>
      el("span", { class: "k-key" }, el("i", { style: `background:${COLORS[i % COLORS.length]}` }), name)));
  }

  // ---- cards: one per item, reused by key; each may hold one uPlot chart ----------------
  class Card {
    constructor(withChart) {
      this.title = el("h2");
      this.sub = el("div", { class: "k-sub" });
      this.extra = el("div");
      this.keys = el("div", { class: "k-keys" });
      this.holder = withChart ? el("div", { class: "k-chart" }) : null;
      this.node = el("article", { class: "k-card" }, this.title, this.sub, this.extra, this.keys, this.holder);
      this.plot = null;
      this.shape = "";
    }

    // Draws `data`: setData on the chart it has when `shape` (its series) is the same.
    draw(shape, options, data) {
      const size = { width: Math.max(120, this.holder.clientWidth), height: Math.max(80, this.holder.clientHeight) };
      if (this.plot && this.shape !== shape) this.destroy();
      if (!this.plot) {
        this.plot = new uPlot({ ...options(), ...size }, data, this.holder);
        this.shape = shape;
        return;
      }
      this.plot.setData(data);
      this.resize(size);
    }

    resize(size) {
      if (!this.plot || !this.holder.clientWidth) return;
      size = size || { width: this.holder.clientWidth, height: this.holder.clientHeight };
      if (size.width !== this.plot.width || size.height !== this.plot.height) this.plot.setSize(size);
    }

    destroy() {
      if (this.plot) this.plot.destroy();
      this.plot = null;
    }
  }

  class Cards {
    constructor(grid, withChart) {
      this.grid = grid;
      this.withChart = withChart;
      this.byKey = new Map();
    }

    // The cards for `items` in order (new ones made, gone ones destroyed), as [card, item].
    sync(items, keyOf) {
      const pairs = items.map((item) => {
        const key = keyOf(item);
        if (!this.byKey.has(key)) this.byKey.set(key, new Card(this.withChart));
        return [this.byKey.get(key), item];
      });
      const kept = new Set(pairs.map(([card]) => card));
      for (const [key, card] of this.byKey) {
        if (!kept.has(card)) {
          card.destroy();
          this.byKey.delete(key);
        }
      }
      this.grid.replaceChildren(...pairs.map(([card]) => card.node));
      const n = items.length;
      this.grid.style.setProperty("--k-columns", n <= 1 ? 1 : n <= 4 ? 2 : 3);
      return pairs;
    }

    resize() {
      for (const card of this.byKey.values()) card.resize();
    }
  }

  function chartOptions(series, xTime, stepped) {
    const px = fontPx();
    const font = `${Math.round(px * 0.75)}px system-ui, sans-serif`;
    const axis = { stroke: "#cbd5e1", font, grid: { stroke: "rgba(255,255,255,0.10)" }, ticks: { stroke: "rgba(255,255,255,0.2)" } };
    const x = { ...axis, size: px * (xTime ? 3.2 : 2), space: px * 5 };
    const path = stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
    return {
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: xTime } },
      axes: [x, { ...axis, size: px * 3.8, space: px * 2.2 }],
      series: [{}, ...series.map((label, i) => ({
        label, stroke: COLORS[i % COLORS.length], width: 4, spanGaps: true, points: { show: false }, paths: path,
      }))],
    };
  }

  // ---- screen: progress over the months ---------------------------------------------------
  function bestOverTime(models, now) {
    const xs = [...new Set(models.flatMap((m) => m.points.map((p) => p.at)))].sort((a, b) => a - b);
    xs.push(Math.max(now, (xs[xs.length - 1] || now) + 1));
    const ys = models.map((m) => {
      let at = 0, best = null;
      return xs.map((x) => {
        while (at < m.points.length && m.points[at].at <= x) best = m.points[at++].best;
        return best;
      });
    });
    return [xs, ...ys];
  }

  function progressScreen(section) {
    const cards = new Cards(section.querySelector("[data-role=cards]"), true);
    return {
      async load(signal) {
        const found = await getJSON("/api/kiosk/progress", signal);
        section.querySelector("[data-role=empty]").hidden = found.length > 0;
        for (const [card, cat] of cards.sync(found, (c) => c.category)) {
          const names = cat.models.map((m) => m.model);
          card.title.textContent = cat.category;
          card.sub.textContent = `best ${cat.metric} so far · ${cat.goal === "min" ? "lower" : "higher"} is better`;
          legend(card.keys, names);
          card.draw(names.join("\n"), () => chartOptions(names, true, true), bestOverTime(cat.models, Date.now() / 1000));
        }
      },
      resize: () => cards.resize(),
    };
  }

  // ---- screen: training right now ---------------------------------------------------------
  function curvesData(curves) {
    const steps = [...new Set(curves.flatMap((c) => c.steps))].sort((a, b) => a - b);
    const ys = curves.map((c) => {
      const byStep = new Map(c.steps.map((s, i) => [s, c.values[i]]));
      return steps.map((s) => (byStep.has(s) ? byStep.get(s) : null));
    });
    return [steps, ...ys];
  }

  function trainingScreen(section) {
    const cards = new Cards(section.querySelector("[data-role=cards]"), true);
    return {
      every: TRAINING_REFRESH_MS,
      async load(signal) {
        const found = await getJSON("/api/kiosk/training", signal);
        section.querySelector("[data-role=empty]").hidden = found.runs.length > 0;
        section.dataset.running = String(found.running);
        for (const [card, run] of cards.sync(found.runs, (r) => r.id)) {
          card.title.textContent = `${run.project} / ${run.name}`;
          const facts = [`step ${fmt(run.step)}${run.total_steps ? ` of ${fmt(run.total_steps)}` : ""}`];
          if (run.metric) facts.push(`${run.metric} ${fmt(run.value)}`);
          facts.push(run.eta !== null && run.eta !== undefined ? `done in ${duration(run.eta)}` : `for ${duration(run.duration)}`);
          card.sub.textContent = facts.join(" · ");
          const bar = el("div", { class: "k-progress" }, el("div", { style: `width:${Math.round((run.progress || 0) * 100)}%` }));
          card.extra.replaceChildren(...(run.progress !== null && run.progress !== undefined ? [bar] : []));
          const keys = run.curves.map((c) => c.key);
          legend(card.keys, keys);
          card.draw(keys.join("\n"), () => chartOptions(keys, false, false), curvesData(run.curves));
        }
      },
      resize: () => cards.resize(),
    };
  }

  // ---- screen: the latest Daily Log ---------------------------------------------------------
  function column(title, lines) {
    return el("div", { class: "k-column" }, el("h2", {}, title), el("ul", {}, ...lines));
  }

  function line(text, level) {
    return el("li", { class: `k-line ${level || ""}` }, text);
  }

  function dailylogScreen(section) {
    const holder = section.querySelector("[data-role=log]");
    return {
      async load(signal) {
        const { log } = await getJSON("/api/kiosk/dailylog", signal);
        section.querySelector("[data-role=empty]").hidden = Boolean(log);
        if (!log) {
          holder.replaceChildren();
          return;
        }
        const glance = log.glance.map((g) =>
          el("li", { class: g.value && ["Failed", "Crashed", "Stalled"].includes(g.label) ? "bad" : "" }, el("b", {}, fmt(g.value)), g.label));
        const problems = log.problems.map((p) => line(`${p.kind} in ${p.run}: ${p.message}`, p.severity));
        if (log.more_problems) problems.push(line(`and ${log.more_problems} more`, ""));
        const bests = log.bests.map((b) => line(b, "good"));
        const did = log.watchdog.map((w) => line(w, ""));
        holder.replaceChildren(
          el("p", { class: "k-headline" }, `${log.day}: ${log.headline}`),
          el("ul", { class: "k-glance" }, ...glance),
          column("Problems", problems.length ? problems : [line("None — a clean night.", "good")]),
          el("div", { class: "k-column" },
            column("New bests", bests.length ? bests : [line("No new best this time.", "")]),
            column("What the watchdog did", did.length ? did : [line("Nothing needed doing.", "")])),
        );
      },
    };
  }

  // ---- screen: leaderboards ----------------------------------------------------------------
  function leaderboardScreen(section) {
    const cards = new Cards(section.querySelector("[data-role=cards]"), false);
    return {
      async load(signal) {
        const found = await getJSON("/api/kiosk/leaderboard", signal);
        section.querySelector("[data-role=empty]").hidden = found.length > 0;
        for (const [card, cat] of cards.sync(found, (c) => c.category)) {
          card.title.textContent = cat.category;
          card.sub.textContent = cat.metric ? `by best ${cat.metric} · ${cat.goal === "min" ? "lower" : "higher"} is better` : "no metric yet";
          const rows = cat.models.map((m, i) => {
            const badges = Object.entries(m.aliases).map(([alias, v]) =>
              el("span", { class: `k-badge ${alias}`, title: `${alias} → v${v}` }, `${alias} v${v}`));
            return el("li", { dataset: { model: m.model } },
              el("span", { class: "k-rank" }, String(i + 1)),
              el("span", { class: "k-name" }, m.model, ...badges),
              el("span", { class: "k-value" }, m.best === null ? "—" : `${fmt(m.best)} (v${m.version})`));
          });
          card.extra.replaceChildren(el("ol", { class: "k-board" }, ...rows));
        }
      },
    };
  }

  // ---- screen: the live demo ---------------------------------------------------------------
  const FRIENDLY = {
    413: "That photo is too big.",
    415: "That is not a photo.",
    422: "The model cannot read that file.",
    404: "That model is not on show any more.",
    409: "The model is not ready yet — try again in a moment.",
  };

  function demoScreen(section, hold) {
    const buttons = section.querySelector("[data-role=models]");
    const drop = section.querySelector("#k-drop");
    const canvas = section.querySelector("#k-canvas");
    const video = section.querySelector("#k-video");
    const hint = section.querySelector("#k-drop-hint");
    const result = section.querySelector("#k-result");
    const label = section.querySelector("#k-label");
    const bars = section.querySelector("#k-bars");
    const message = section.querySelector("#k-message");
    const facts = section.querySelector("#k-facts");
    const fileInput = section.querySelector("#k-file");
    const cameraButton = section.querySelector("#k-camera");
    const snapButton = section.querySelector("#k-snap");
    const photo = document.createElement("canvas"); // the last photo sent, at the size sent
    const maskCanvas = document.createElement("canvas");
    let models = [], chosen = null, signature = "", stream = null, sending = null;
    let maxBytes = config.max_upload_bytes;

    const camera = navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
    if (!camera) {
      cameraButton.disabled = true;
      cameraButton.title = "the camera needs https (or localhost) and a browser that allows it";
    }

    function choose(name) {
      chosen = models.find((m) => m.name === name) || models[0] || null;
      for (const b of buttons.children) b.setAttribute("aria-pressed", String(chosen !== null && b.dataset.model === chosen.name));
      result.dataset.model = chosen ? chosen.name : "";
    }

    function showModels(found) {
      models = found;
      section.querySelector("[data-role=empty]").hidden = found.length > 0;
      const next = found.map((m) => `${m.name}:${m.category}`).join(",");
      if (next === signature) return;
      signature = next;
      buttons.replaceChildren(...found.map((m) =>
        el("button", { type: "button", class: "k-button", dataset: { model: m.name } }, m.name, el("small", {}, m.category))));
      choose(chosen ? chosen.name : "");
    }

    function say(status, detail) {
      result.dataset.state = "error";
      result.dataset.status = String(status || "");
      label.textContent = "";
      bars.replaceChildren();
      facts.textContent = "";
      canvas.width = canvas.height = 0; // an old answer beside a new error would mislead
      hint.hidden = Boolean(stream);
      const limit = `Photos up to ${Math.round(maxBytes / 1048576)} MB.`;
      const text = FRIENDLY[status] || "Something went wrong — please try again.";
      message.replaceChildren(text, el("small", {}, status === 413 ? `${limit} ${detail || ""}` : detail || ""));
    }

    async function photoFrom(file) {
      let bitmap = null;
      if (file.type.startsWith("image/")) {
        try {
          bitmap = await createImageBitmap(file);
        } catch {
          bitmap = null; // not decodable here: send it as it is and let the server say why
        }
      }
      if (!bitmap) return file;
      try {
        return await fitPhoto(bitmap, bitmap.width, bitmap.height);
      } finally {
        bitmap.close();
      }
    }

    // Draws `source` into the photo canvas at most MAX_SIDE a side; the JPEG to send.
    function fitPhoto(source, width, height) {
      const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
      photo.width = Math.max(1, Math.round(width * scale));
      photo.height = Math.max(1, Math.round(height * scale));
      photo.getContext("2d").drawImage(source, 0, 0, photo.width, photo.height);
      return new Promise((resolve) => photo.toBlob(resolve, "image/jpeg", 0.9));
    }

    async function send(blob) {
      if (!chosen) return say(0, "Pick a model first.");
      if (blob.size > maxBytes) return say(413, `This one is ${(blob.size / 1048576).toFixed(1)} MB.`);
      sending?.abort();
      const controller = new AbortController();
      sending = controller;
      result.dataset.state = "working";
      message.replaceChildren();
      label.textContent = "Thinking…";
      try {
        const response = await fetch(`/api/kiosk/predict/${encodeURIComponent(chosen.name)}`, {
          method: "POST",
          body: blob,
          headers: { "Content-Type": blob.type || "application/octet-stream", "X-CSRF-Token": csrf, Accept: "application/json" },
          signal: controller.signal,
        });
        const answer = await response.json().catch(() => null);
        if (!response.ok) return say(response.status, answer && answer.error ? answer.error.message : "");
        await draw(answer);
      } catch (err) {
        if (!isAbort(err)) say(0, String(err.message || err));
      } finally {
        if (sending === controller) sending = null;
      }
    }

    async function take(file) {
      hold();
      stopCamera();
      if (!file) return;
      if (file.size > maxBytes) return say(413, `This one is ${(file.size / 1048576).toFixed(1)} MB.`);
      const made = await photoFrom(file);
      if (made === file) photo.width = 0; // not drawn here: only the answer is shown
      await send(made);
    }

    // ---- drawing the answer on the photo ----
    async function draw(answer) {
      const prediction = (answer.predictions || [])[0] || {};
      const box = { width: drop.clientWidth - 8, height: drop.clientHeight - 8 };
      const scale = photo.width ? Math.min(box.width / photo.width, box.height / photo.height) : 0;
      canvas.width = Math.floor(photo.width * scale);
      canvas.height = Math.floor(photo.height * scale);
      const ctx = canvas.getContext("2d");
      if (canvas.width) ctx.drawImage(photo, 0, 0, canvas.width, canvas.height);
      hint.hidden = Boolean(canvas.width);
      const text = headlineOf(answer.category, prediction);
      if (canvas.width) {
        if (prediction.mask_png) await drawMask(ctx, prediction.mask_png);
        if (prediction.keypoints) drawSkeleton(ctx, prediction.keypoints);
        if (prediction.boxes) drawBoxes(ctx, prediction);
        banner(ctx, text);
      }
      label.textContent = text;
      bars.replaceChildren(...barsOf(prediction).map(([name, value]) =>
        el("li", {}, el("div", { class: "k-bar-name" }, el("span", {}, name), el("b", {}, `${Math.round(value * 100)}%`)),
          el("div", { class: "k-bar" }, el("div", { style: `width:${Math.max(0, Math.min(100, value * 100))}%` })))));
      facts.textContent = `${answer.ref} · ${answer.export.target} ${answer.export.precision} · ${Math.round(answer.timings.total_ms)} ms`;
      Object.assign(result.dataset, {
        state: "done",
        status: "200",
        label: prediction.label || "",
        probabilities: String(Object.keys(prediction.probabilities || {}).length),
        keypoints: String((prediction.keypoints || []).length),
        boxes: String((prediction.boxes || []).length),
        mask: String(Boolean(prediction.mask_png)),
        drawn: String(canvas.width > 0),
      });
    }

    function headlineOf(category, p) {
      if (p.label) return `${p.label} · ${Math.round(p.score * 100)}%`;
      if (p.keypoints) return `${p.keypoints.length} ${category === "face" ? "landmarks" : "keypoints"}`;
      if (p.coverage) {
        const [name, value] = Object.entries(p.coverage).filter(([n]) => n !== "background").sort((a, b) => b[1] - a[1])[0] || ["", 0];
        return name ? `${name}: ${Math.round(value * 100)}% of the photo` : "nothing found";
      }
      if (p.boxes) return p.boxes.length ? `${p.boxes.length} found: ${[...new Set(p.boxes.map((b) => b.label))].join(", ")}` : "nothing found";
      return "done";
    }

    function barsOf(p) {
      const pairs = p.probabilities ? Object.entries(p.probabilities)
        : p.coverage ? Object.entries(p.coverage)
          : p.boxes ? p.boxes.map((b) => [b.label, b.score]) : [];
      return pairs.sort((a, b) => b[1] - a[1]).slice(0, 6);
    }

    function banner(ctx, text) {
      const size = Math.max(16, Math.round(canvas.height / 14));
      ctx.font = `700 ${size}px system-ui, sans-serif`;
      const width = ctx.measureText(text).width + size;
      ctx.fillStyle = "rgba(11, 16, 32, 0.8)";
      ctx.fillRect(0, canvas.height - size * 1.6, width, size * 1.6);
      ctx.fillStyle = "#f8fafc";
      ctx.fillText(text, size / 2, canvas.height - size * 0.5);
    }

    function drawSkeleton(ctx, points) {
      const xy = points.map((p) => [p.fx * canvas.width, p.fy * canvas.height]);
      const pairs = (chosen && chosen.drawing.skeleton) || [];
      const base = pairs.some((pair) => pair.includes(0)) ? 0 : 1; // COCO pairs count from 1
      ctx.lineWidth = Math.max(3, canvas.width / 120);
      ctx.strokeStyle = "#4ade80";
      ctx.lineCap = "round";
      for (const [a, b] of pairs) {
        const p = xy[a - base], q = xy[b - base];
        if (!p || !q) continue;
        ctx.beginPath();
        ctx.moveTo(p[0], p[1]);
        ctx.lineTo(q[0], q[1]);
        ctx.stroke();
      }
      const r = Math.max(4, canvas.width / 90);
      ctx.fillStyle = "#fbbf24";
      for (const [x, y] of xy) {
        ctx.beginPath();
        ctx.arc(x, y, r, 0, 2 * Math.PI);
        ctx.fill();
      }
    }

    function drawBoxes(ctx, p) {
      const sx = canvas.width / (p.width || photo.width), sy = canvas.height / (p.height || photo.height);
      const size = Math.max(14, Math.round(canvas.height / 28));
      ctx.font = `700 ${size}px system-ui, sans-serif`;
      ctx.lineWidth = Math.max(3, canvas.width / 200);
      p.boxes.forEach((b, i) => {
        const color = COLORS[i % COLORS.length];
        ctx.strokeStyle = color;
        ctx.strokeRect(b.x * sx, b.y * sy, b.w * sx, b.h * sy);
        const text = `${b.label} ${Math.round(b.score * 100)}%`;
        ctx.fillStyle = color;
        ctx.fillRect(b.x * sx, b.y * sy - size * 1.3, ctx.measureText(text).width + size * 0.6, size * 1.3);
        ctx.fillStyle = "#0b1020";
        ctx.fillText(text, b.x * sx + size * 0.3, b.y * sy - size * 0.3);
      });
    }

    async function drawMask(ctx, base64) {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      try {
        maskCanvas.width = canvas.width;
        maskCanvas.height = canvas.height;
        const mctx = maskCanvas.getContext("2d", { willReadFrequently: true });
        mctx.imageSmoothingEnabled = false;
        mctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        const pixels = mctx.getImageData(0, 0, canvas.width, canvas.height);
        const d = pixels.data;
        for (let i = 0; i < d.length; i += 4) {
          const background = d[i] === 0 && d[i + 1] === 0 && d[i + 2] === 0;
          const white = d[i] === 255 && d[i + 1] === 255 && d[i + 2] === 255;
          if (white) [d[i], d[i + 1], d[i + 2]] = MASK_RGBA;
          d[i + 3] = background ? 0 : MASK_RGBA[3];
        }
        mctx.putImageData(pixels, 0, 0);
        ctx.drawImage(maskCanvas, 0, 0);
      } finally {
        bitmap.close();
      }
    }

    // ---- the camera ----
    async function startCamera() {
      hold();
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
      } catch (err) {
        return say(0, `No camera here (${err.name || err}). Upload a photo instead.`);
      }
      video.srcObject = stream;
      video.hidden = false;
      snapButton.hidden = false;
      hint.hidden = true;
      await video.play().catch(() => {});
    }

    function stopCamera() {
      if (stream) for (const track of stream.getTracks()) track.stop();
      stream = null;
      video.srcObject = null;
      video.hidden = true;
      snapButton.hidden = true;
    }

    async function snap() {
      hold();
      if (!stream || !video.videoWidth) return;
      const blob = await fitPhoto(video, video.videoWidth, video.videoHeight);
      stopCamera();
      await send(blob);
    }

    // ---- wiring ----
    buttons.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-model]");
      if (button) choose(button.dataset.model);
    });
    section.addEventListener("pointerdown", hold);
    fileInput.addEventListener("change", () => {
      const file = fileInput.files[0];
      fileInput.value = "";
      take(file);
    });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      take(event.dataTransfer.files[0]);
    });
    cameraButton.addEventListener("click", startCamera);
    snapButton.addEventListener("click", snap);

    return {
      async load(signal) {
        const found = await getJSON("/api/kiosk/demo", signal);
        maxBytes = found.max_upload_bytes;
        showModels(found.models);
      },
      leave() {
        stopCamera();
        sending?.abort();
      },
    };
  }

  // ---- rotation ----------------------------------------------------------------------------
  const makers = { progress: progressScreen, training: trainingScreen, dailylog: dailylogScreen, leaderboard: leaderboardScreen, demo: demoScreen };
  const title = document.getElementById("k-title");
  const status = document.getElementById("k-status");
  const timerBar = document.getElementById("k-timer-bar");
  const dots = [...document.querySelectorAll(".k-dots li")];
  const screens = config.screens.map((name) => {
    const section = document.querySelector(`.k-screen[data-screen="${name}"]`);
    return { name, section, ...makers[name](section, hold) };
  });
  let current = -1, rotation = 0, refreshing = 0, inflight = null, changes = 0, refreshes = 0;

  function go(index) {
    const leaving = screens[current];
    if (leaving) {
      leaving.section.hidden = true;
      if (leaving.leave) leaving.leave();
    }
    if (inflight) inflight.abort();
    clearInterval(refreshing);
    current = ((index % screens.length) + screens.length) % screens.length;
    const screen = screens[current];
    screen.section.hidden = false;
    title.textContent = screen.section.dataset.title;
    dots.forEach((dot) => dot.classList.toggle("current", dot.dataset.screen === screen.name));
    body.dataset.current = screen.name;
    body.dataset.changes = String(++changes);
    status.textContent = "";
    refresh(screen);
    if (screen.every) refreshing = setInterval(() => refresh(screen), screen.every);
    schedule(config.interval * 1000);
  }

  function schedule(ms) {
    clearTimeout(rotation);
    timerBar.style.transition = "none";
    timerBar.style.width = "0";
    if (!ms || screens.length < 2) return;
    rotation = setTimeout(() => go(current + 1), ms);
    void timerBar.offsetWidth; // restart the bar's transition from zero
    timerBar.style.transition = `width ${ms}ms linear`;
    timerBar.style.width = "100%";
  }

  // A visitor is using the demo: stay on it a while longer.
  function hold() {
    if (!config.interval || screens[current]?.name !== "demo") return;
    schedule(Math.max(DEMO_HOLD_MS, config.interval * 1000));
    status.textContent = "paused while you try the demo";
  }

  async function refresh(screen) {
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    try {
      await screen.load(controller.signal);
      body.dataset.refreshes = String(++refreshes);
      performance.clearResourceTimings(); // every fetch leaves an entry; a kiosk fetches for days
      if (status.textContent.startsWith("Cannot")) status.textContent = "";
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "Cannot reach the server — retrying";
      console.warn("kiosk: refresh failed:", err.message || err);
    } finally {
      if (inflight === controller) inflight = null;
    }
  }

  function tick() {
    const now = new Date();
    document.getElementById("k-clock").textContent =
      `${String(now.getHours()).padStart(2, "0")}:${String(now.getMinutes()).padStart(2, "0")}`;
  }

  let resizing = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => screens[current]?.resize?.(), 150);
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest && event.target.closest("input, button")) return;
    if (event.key === "ArrowRight") go(current + 1);
    if (event.key === "ArrowLeft") go(current - 1);
  });
  tick();
  setInterval(tick, 10000);
  go(config.start);
})();
