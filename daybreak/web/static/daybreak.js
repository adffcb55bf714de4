// Helpers shared by the pages: JSON fetches, number and time formatting, polling.
"use strict";

window.Daybreak = (() => {
  const pad = (n) => String(n).padStart(2, "0");

  function formatTime(seconds) {
    const d = new Date(seconds * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // Server-rendered times are in the server's zone; show them in the reader's.
  function localiseTimes(root) {
    for (const el of (root || document).querySelectorAll("time[data-ts]")) {
      const ts = Number(el.dataset.ts);
      if (Number.isFinite(ts) && ts > 0) el.textContent = formatTime(ts);
    }
  }

  function formatNumber(v) {
    if (v === null || v === undefined) return "—";
    if (Number.isNaN(v)) return "NaN";
    if (v === Infinity) return "+Inf";
    if (v === -Infinity) return "-Inf";
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    return String(Number(v.toPrecision(5)));
  }

  function formatDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return `${h}h ${pad(m)}m`;
    return m ? `${m}m ${pad(r)}s` : `${r}s`;
  }

  // Digits after the point that `step` needs (0.25 -> 2, 5 -> 0).
  function decimalsOf(step) {
    let d = 0;
    while (d < 12 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-6) d++;
    return d;
  }

  // uPlot axis labels that stay distinct and short for tiny (1e-4) and huge (1e7) values.
  function axisValues(u, splits, axisIdx, space, incr) {
    const mag = Math.max(...splits.map((v) => Math.abs(v)));
    const fixed = decimalsOf(incr);
    if (mag === 0 || (mag < 1e6 && mag >= 1e-3 && fixed <= 6)) {
      return splits.map((v) => v.toFixed(fixed));
    }
    const exp = Math.floor(Math.log10(mag));
    const digits = Math.min(6, decimalsOf(incr / 10 ** exp));
    return splits.map((v) => (v === 0 ? "0" : v.toExponential(digits)));
  }

  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  async function getText(url) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.text();
  }

  // Calls `tick` every `ms` (skipped while the tab is hidden) until it returns false.
  function poll(tick, ms) {
    const loop = async () => {
      let again = true;
      if (!document.hidden) {
        try {
          again = (await tick()) !== false;
        } catch (err) {
          console.warn("daybreak: refresh failed, retrying:", err.message || err);
        }
      }
      if (again) setTimeout(loop, ms);
    };
    setTimeout(loop, ms);
  }

  document.addEventListener("DOMContentLoaded", () => localiseTimes(document));
  return {
    formatTime, localiseTimes, formatNumber, formatDuration, axisValues, getJSON, getText, poll,
  };
})();

// Cookie sessions must send their CSRF token with every request that changes something: add
// it to same-origin fetch() and htmx requests, and to POST forms that lack the field.
(() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta) return;
  const token = meta.content;
  const safe = new Set(["GET", "HEAD", "OPTIONS"]);
  const plainFetch = window.fetch.bind(window);
  window.fetch = (input, init = {}) => {
    const request = input instanceof Request ? input : null;
    const method = (init.method || (request ? request.method : "GET")).toUpperCase();
    const url = new URL(request ? request.url : String(input), location.href);
    if (safe.has(method) || url.origin !== location.origin) return plainFetch(input, init);
    const headers = new Headers(init.headers || (request ? request.headers : undefined));
    headers.set("X-CSRF-Token", token);
    return plainFetch(input, { ...init, headers });
  };
  document.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-CSRF-Token"] = token;
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (form.elements.namedItem("csrf_token")) return;
    const field = Object.assign(document.createElement("input"), {
      type: "hidden", name: "csrf_token", value: token,
    });
    form.appendChild(field);
  }, true);
  window.Daybreak.csrfToken = token;
})();
