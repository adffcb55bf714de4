// The jobs page: renders the queue from /api/jobs, refreshes it every few seconds, and cancels
// or retries a job (after a confirm dialog) with a POST whose answer refreshes the tables.
"use strict";

(() => {
  const POLL_MS = 2000;
  const initial = JSON.parse(document.getElementById("jobs-data").textContent);
  const canAct = initial.can_act;
  const BADGE = { succeeded: "succeeded", failed: "failed", cancelled: "cancelled", running: "running", queued: "queued" };
  let changed = new Set(); // job ids to highlight after the next render

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  const ago = (now, ts) => (ts ? Daybreak.formatDuration(now - ts) : "—");

  function jobCell(job) {
    return el("td", {}, el("a", { class: "job-name", href: `/jobs/${encodeURIComponent(job.id)}`, text: job.name, title: job.command }),
      el("span", { class: "job-id", text: `${job.id} · ${job.project}` }));
  }

  const runLink = (job) => el("a", { class: "mono", href: `/runs/${encodeURIComponent(job.run_id)}`, text: job.run_id.slice(0, 8) });

  function actionCell(job, kind) {
    if (!canAct) return null;
    const td = el("td");
    if (kind === "cancel") {
      const stopping = job.cancel_requested;
      td.append(el("button", { class: "cancel", type: "button", text: stopping ? "Stopping…" : "Cancel", disabled: stopping, "data-action": "cancel", "data-job": job.id }));
    } else if (kind === "retry") {
      td.append(el("button", { class: "retry", type: "button", text: "Retry", "data-action": "retry", "data-job": job.id }));
    }
    return td;
  }

  function resources(job) {
    const r = job.resources, parts = [];
    if (r.gpus) parts.push(`${r.gpus} GPU`);
    parts.push(`${r.cpus} CPU`);
    if (r.memory_mb) parts.push(r.memory_mb >= 1024 ? `${(r.memory_mb / 1024).toFixed(1)} GiB` : `${r.memory_mb} MiB`);
    if (job.spec.timeout) parts.push(`timeout ${Daybreak.formatDuration(job.spec.timeout)}`);
    return parts.join(" · ");
  }

  function sparkline(points) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 120 28");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.dataset.points = String(points.length);
    if (points.length < 2) return svg;
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const sx = (x) => (x1 === x0 ? 60 : ((x - x0) / (x1 - x0)) * 118 + 1);
    const sy = (y) => (y1 === y0 ? 14 : 27 - ((y - y0) / (y1 - y0)) * 26);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "));
    svg.append(line);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `last ${Daybreak.formatNumber(ys[ys.length - 1])} · min ${Daybreak.formatNumber(y0)}`;
    svg.append(title);
    return svg;
  }

  function progressCell(p) {
    const td = el("td", { class: "progress" });
    if (!p || p.step === null) {
      td.append(el("div", { class: "text", text: "no steps logged yet" }));
      return td;
    }
    const pct = p.fraction === null ? null : Math.round(p.fraction * 100);
    const filled = el("span");
    filled.style.width = `${pct === null ? 100 : pct}%`;
    if (pct === null) filled.style.opacity = ".25"; // no planned steps: a full, faint bar
    td.append(el("div", { class: "bar" }, filled));
    const planned = p.planned_steps ? ` / ${p.planned_steps}` : "";
    td.append(el("div", { class: "text", text: `step ${p.step + 1}${planned}${pct === null ? "" : ` · ${pct}%`}` }));
    td.dataset.step = String(p.step);
    return td;
  }

  function runningRow(job, now) {
    const p = job.progress || {};
    const where = job.devices && job.devices.length ? `${job.worker || ""} · GPU ${job.devices.join(",")}` : job.worker || "—";
    return el("tr", { "data-job": job.id, "data-status": job.status },
      jobCell(job),
      el("td", {}, runLink(job)),
      progressCell(job.progress),
      el("td", { class: "num", text: p.steps_per_s ? Daybreak.formatNumber(p.steps_per_s) : "—" }),
      el("td", { class: "eta", text: p.eta_s === null || p.eta_s === undefined ? "—" : Daybreak.formatDuration(p.eta_s) }),
      el("td", { title: p.key || "" }, sparkline(p.spark || [])),
      el("td", { class: "small", text: where }),
      el("td", { class: "num", text: `${job.attempt} / ${job.attempts_allowed}` }),
      el("td", { text: ago(now, job.started_at) }),
      actionCell(job, "cancel"));
  }

  function queuedRow(job, now) {
    return el("tr", { "data-job": job.id, "data-status": job.status },
      el("td", { class: "num", text: String(job.position) }),
      jobCell(job),
      el("td", { class: "num", text: String(job.priority) }),
      el("td", { text: `${job.slots} ${job.slot_kind}` }),
      el("td", { class: "small", text: resources(job) }),
      el("td", { text: ago(now, job.created_at) }),
      el("td", { class: "num", text: `${job.attempt} / ${job.attempts_allowed}` }),
      el("td", { class: "reason", text: job.reason || "" }),
      actionCell(job, "cancel"));
  }

  function endedRow(job) {
    const took = job.started_at && job.ended_at ? Daybreak.formatDuration(job.ended_at - job.started_at) : "—";
    const reason = el("td", { class: "reason", text: job.reason || "" });
    if (job.error) reason.title = job.error.slice(-2000);
    return el("tr", { "data-job": job.id, "data-status": job.status },
      jobCell(job),
      el("td", {}, el("span", { class: `badge ${BADGE[job.status] || ""}`, text: job.status })),
      el("td", { text: job.ended_at ? Daybreak.formatTime(job.ended_at) : "—" }),
      el("td", { text: took }),
      el("td", { class: "num", text: job.exit_code === null ? "—" : String(job.exit_code) }),
      reason,
      el("td", { class: "num", text: String(job.attempt) }),
      el("td", {}, runLink(job)),
      actionCell(job, job.status === "failed" || job.status === "cancelled" ? "retry" : null));
  }

  function fill(id, rows, empty) {
    const table = document.getElementById(id);
    const body = table.querySelector("tbody");
    const width = table.querySelectorAll("thead th").length;
    const content = rows.length ? rows : [el("tr", {}, el("td", { class: "empty-row", colSpan: width, text: empty }))];
    for (const row of rows) if (changed.has(row.dataset.job)) row.classList.add("flash-row");
    body.replaceChildren(...content);
    table.dataset.rows = String(rows.length);
    document.getElementById(`${id}-count`).textContent = rows.length ? `(${rows.length})` : "";
  }

  function render(board) {
    const now = board.now;
    fill("running", board.running.map((j) => runningRow(j, now)), "nothing is running");
    fill("queued", board.queued.map((j) => queuedRow(j, now)), "the queue is empty");
    fill("ended", board.ended.map((j) => endedRow(j)), "no job has ended yet");
    const agents = board.agents;
    document.getElementById("agents").textContent = agents.length
      ? `${agents.length} agent${agents.length === 1 ? "" : "s"}: ` + agents.map((a) => `${a.host} (${a.executor}, ${a.slots} CPU slots, ${a.gpus} GPUs)`).join("; ")
      : "no agent is running: start one with `daybreak agent` or `daybreak up`";
    changed = new Set();
    document.body.dataset.jobsReady = "true";
  }

  async function refresh() {
    render(await Daybreak.getJSON("/api/jobs"));
  }

  function flash(text, ok) {
    const box = document.getElementById("jobs-flash");
    box.textContent = text;
    box.className = ok ? "flash ok" : "flash";
    box.hidden = false;
  }

  async function act(button) {
    const { action, job } = button.dataset;
    const question = action === "cancel"
      ? `Cancel job ${job}? A running job is stopped (its process group gets SIGTERM).`
      : `Retry job ${job}? It goes back in the queue and resumes its run from the last checkpoint.`;
    if (!window.confirm(question)) return;
    button.disabled = true;
    const response = await fetch(`/api/jobs/${encodeURIComponent(job)}/${action}`, {
      method: "POST", headers: { Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      flash(`${action === "cancel" ? "Cancel" : "Retry"}: job ${job} is now ${body.status}${body.cancel_requested ? " (stopping)" : ""}.`, true);
    } else {
      const error = body.error || {};
      flash(`${error.message || `HTTP ${response.status}`}${error.hint ? ` — ${error.hint}` : ""}`, false);
    }
    changed.add(job);
    await refresh();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) act(button).catch((err) => flash(`could not ${button.dataset.action}: ${err.message || err}`, false));
  });

  render(initial.board);
  Daybreak.poll(async () => {
    await refresh();
    return true;
  }, POLL_MS);
})();
