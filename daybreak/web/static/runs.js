// The runs table: filter, sort, group, page and pick columns without reloading the page. The
// server renders the table (the same fragment the page was built with); every state lives in
// the URL, so the back button and a shared link show the same view. Running rows refresh live.
"use strict";

(() => {
  const root = document.getElementById("runs");
  if (!root) return;
  const box = document.getElementById("runs-table");
  const errorBox = document.getElementById("runs-error");
  const form = root.querySelector("form.runs-controls");
  const filterInput = document.getElementById("runs-filter");
  const groupSelect = document.getElementById("runs-group");
  const picker = document.getElementById("column-picker");
  const LIVE_MS = 3000;
  let generation = 0;
  let liveTimer = null;
  let columns = null; // what the column picker offers, fetched the first time it opens

  const currentParams = () => new URLSearchParams(location.search);
  const table = () => box.querySelector(".runs-table");
  const collapsed = (params) => new Set((params.get("collapsed") || "").split(",").filter(Boolean));

  function pageUrl(params) {
    const text = params.toString();
    return root.dataset.base + (text ? `?${text}` : "");
  }

  function showError(html) {
    errorBox.innerHTML = html;
    errorBox.hidden = !html;
  }

  // Fetch the table for `params`, swap it in and record the state in the URL.
  async function load(params, { push = true, quiet = false } = {}) {
    const mine = ++generation;
    const response = await fetch(`${root.dataset.fragment}?${params}`, { cache: "no-store" });
    const text = await response.text();
    if (mine !== generation) return; // a newer request won
    if (!response.ok) {
      if (response.status >= 500 || quiet) throw new Error(`runs table: HTTP ${response.status}`);
      showError(text);
      root.dataset.state = "error";
      return;
    }
    showError("");
    box.innerHTML = text;
    Daybreak.localiseTimes(box);
    if (push) history.pushState(null, "", pageUrl(params));
    else history.replaceState(null, "", pageUrl(params));
    syncControls(params);
    root.dataset.state = "ready";
    scheduleLive();
  }

  function syncControls(params) {
    if (document.activeElement !== filterInput) filterInput.value = params.get("q") || "";
    for (const name of ["sort", "desc", "size", "cols"]) {
      let field = form.querySelector(`input[type=hidden][name="${name}"]`);
      const value = params.get(name);
      if (!value) {
        if (field) field.remove();
        continue;
      }
      if (!field) {
        field = Object.assign(document.createElement("input"), { type: "hidden", name });
        form.appendChild(field);
      }
      field.value = value;
    }
    const group = params.get("group") || "";
    if (group && ![...groupSelect.options].some((o) => o.value === group)) {
      groupSelect.add(new Option(group, group));
    }
    groupSelect.value = group;
    if (picker.open) renderPicker();
  }

  function change(updates) {
    const params = currentParams();
    for (const [key, value] of Object.entries(updates)) {
      if (value === null || value === "") params.delete(key);
      else params.set(key, value);
    }
    return load(params).catch(report);
  }

  function report(err) {
    console.warn("daybreak: runs table:", err.message || err);
  }

  // Live: while the visible page has running rows, fetch it again every few seconds.
  function scheduleLive() {
    clearTimeout(liveTimer);
    const current = table();
    if (!current || current.dataset.running !== "true") return;
    liveTimer = setTimeout(async () => {
      if (document.hidden) return scheduleLive();
      try {
        await load(currentParams(), { push: false, quiet: true });
      } catch (err) {
        report(err);
        scheduleLive();
      }
    }, LIVE_MS);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    columns = null; // the picker offers the keys of the runs the new filter selects
    change({ q: filterInput.value.trim(), page: null, collapsed: null });
  });

  groupSelect.addEventListener("change", () => change({ group: groupSelect.value, page: null, collapsed: null }));
  groupSelect.addEventListener("focus", () => loadColumns().catch(report), { once: true });

  box.addEventListener("click", (event) => {
    const toggle = event.target.closest(".group-toggle");
    if (toggle) return toggleGroup(toggle.closest("tr.group-row"));
    const link = event.target.closest("a[data-nav]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || !link.href) return;
    event.preventDefault();
    load(new URL(link.href).searchParams).catch(report);
  });

  window.addEventListener("popstate", () => load(currentParams(), { push: false }).catch(report));

  function toggleGroup(row) {
    const params = currentParams();
    const closed = collapsed(params);
    const key = row.dataset.group;
    const hide = !closed.has(key);
    if (hide) closed.add(key);
    else closed.delete(key);
    row.classList.toggle("collapsed", hide);
    row.querySelector(".group-toggle").setAttribute("aria-expanded", String(!hide));
    for (const tr of box.querySelectorAll("tr[data-run-id]")) {
      if (tr.dataset.group === key) tr.hidden = hide;
    }
    if (closed.size) params.set("collapsed", [...closed].join(","));
    else params.delete("collapsed");
    history.replaceState(null, "", pageUrl(params));
  }

  async function loadColumns() {
    if (columns) return columns;
    const params = new URLSearchParams();
    const q = currentParams().get("q");
    if (q) params.set("q", q);
    if (root.dataset.project) params.set("project", root.dataset.project);
    columns = await Daybreak.getJSON(`/api/runs-columns?${params}`);
    for (const kind of ["config", "summary"]) {
      for (const key of columns[kind]) {
        const id = `${kind}.${key}`;
        if (![...groupSelect.options].some((o) => o.value === id)) groupSelect.add(new Option(id, id));
      }
    }
    return columns;
  }

  const shownColumns = () => (table() ? table().dataset.columns.split(",").filter(Boolean) : []);

  function renderPicker() {
    const list = picker.querySelector(".picker-list");
    if (!columns) return;
    const shown = new Set(shownColumns());
    const find = picker.querySelector(".picker-find").value.trim().toLowerCase();
    const sections = [
      ["Run", columns.run.filter((k) => k !== "name")],
      ["Metrics", columns.metric.map((k) => `metric.${k}`)],
      ["Config", columns.config.map((k) => `config.${k}`)],
      ["Summary", columns.summary.map((k) => `summary.${k}`)],
    ];
    list.replaceChildren();
    for (const [title, ids] of sections) {
      const wanted = ids.filter((id) => !find || id.toLowerCase().includes(find));
      if (!wanted.length) continue;
      const group = document.createElement("fieldset");
      group.append(Object.assign(document.createElement("legend"), { textContent: title }));
      for (const id of wanted) {
        const label = document.createElement("label");
        const box = Object.assign(document.createElement("input"), {
          type: "checkbox", value: id, checked: shown.has(id),
        });
        label.append(box, document.createTextNode(` ${id.replace(/^metric\./, "")}`));
        group.append(label);
      }
      list.append(group);
    }
    list.dataset.loaded = "true";
    if (!list.children.length) list.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "No column matches." }));
  }

  picker.addEventListener("toggle", async () => {
    if (!picker.open) return;
    try {
      await loadColumns();
      renderPicker();
    } catch (err) {
      picker.querySelector(".picker-list").textContent = "Could not load the columns.";
      report(err);
    }
  });
  picker.querySelector(".picker-find").addEventListener("input", renderPicker);
  picker.querySelector(".picker-list").addEventListener("change", (event) => {
    const input = event.target;
    let shown = shownColumns();
    if (input.checked && !shown.includes(input.value)) shown.push(input.value);
    if (!input.checked) shown = shown.filter((id) => id !== input.value);
    if (!shown.includes("name")) shown.unshift("name");
    change({ cols: shown.join(",") });
  });
  picker.querySelector(".picker-reset").addEventListener("click", () => change({ cols: null }));

  root.dataset.state = "ready";
  scheduleLive();
})();
