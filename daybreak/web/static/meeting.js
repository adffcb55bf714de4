// The meeting view: every <section> of the log (plus the live action items) is a slide.
(function () {
  const root = document.getElementById("meeting");
  if (!root) return;
  const article = root.querySelector("article.dailylog");
  const header = document.createElement("section");
  header.className = "dl-title";
  for (const el of Array.from(article.children)) {
    if (el.tagName !== "SECTION" && el.tagName !== "STYLE") header.appendChild(el);
  }
  article.prepend(header);
  const carried = article.querySelector(":scope > section.dl-action_items");
  if (carried) carried.remove(); // the live slide below shows the same items, editable
  const slides = [header, ...article.querySelectorAll(":scope > section:not(.dl-title)"),
    document.getElementById("live-items")];
  const agenda = document.getElementById("agenda");
  const position = document.getElementById("position");
  let current = 0;

  slides.forEach((slide, i) => {
    const button = document.createElement("button");
    const title = i === 0 ? "Overview" : (slide.querySelector("h2") || {}).textContent;
    // (the live action items come last: decisions are taken after the review)
    button.textContent = title || `Part ${i + 1}`;
    button.addEventListener("click", () => show(i));
    agenda.appendChild(button);
  });
  root.dataset.slides = String(slides.length);

  function show(i) {
    current = Math.max(0, Math.min(slides.length - 1, i));
    slides.forEach((slide, j) => slide.classList.toggle("slide-hidden", j !== current));
    agenda.querySelectorAll("button").forEach((b, j) => b.classList.toggle("current", j === current));
    position.textContent = `${current + 1} / ${slides.length}`;
    root.dataset.current = String(current);
    history.replaceState(null, "", `#${current + 1}`);
  }

  document.getElementById("next").addEventListener("click", () => show(current + 1));
  document.getElementById("prev").addEventListener("click", () => show(current - 1));
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea")) return;
    if (["ArrowRight", "PageDown", " "].includes(event.key)) { event.preventDefault(); show(current + 1); }
    if (["ArrowLeft", "PageUp"].includes(event.key)) { event.preventDefault(); show(current - 1); }
    if (event.key === "Home") show(0);
    if (event.key === "End") show(slides.length - 1);
  });
  show((parseInt(location.hash.slice(1), 10) || 1) - 1);

  const list = document.getElementById("items");
  const problem = document.getElementById("items-error");

  async function call(url, body) {
    const response = await fetch(url, {
      method: body ? "POST" : "GET",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json();
    if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
    return data;
  }

  function itemRow(item) {
    const li = document.createElement("li");
    li.dataset.id = item.id;
    const owner = item.owner ? ` — ${item.owner}` : " — nobody yet";
    const run = item.run_name ? ` (run ${item.run_name})` : "";
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = `#${item.id} ${item.title}${run}${owner}`;
    li.appendChild(title);
    li.appendChild(form("assign", "owner", "who takes it", item.owner || "", "Assign"));
    li.appendChild(form("resolve", "note", "what was done", "", "Resolve"));
    return li;
  }

  function form(action, field, placeholder, value, label) {
    const f = document.createElement("form");
    f.className = action;
    f.innerHTML = `<input name="${field}" required maxlength="500"><button type="submit"></button>`;
    f.querySelector("input").placeholder = placeholder;
    f.querySelector("input").value = value;
    f.querySelector("button").textContent = label;
    f.addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = f.closest("li").dataset.id;
      try {
        await call(`/api/action-items/${id}/${action}`, { [field]: f.querySelector("input").value });
        await refresh();
      } catch (err) { say(err.message); }
    });
    return f;
  }

  function say(message) {
    problem.hidden = !message;
    problem.textContent = message || "";
  }

  async function refresh() {
    try {
      const items = await call("/api/action-items?status=open");
      list.replaceChildren(...items.map(itemRow));
      if (!items.length) list.innerHTML = '<li class="resolved">No open action items.</li>';
      root.dataset.openItems = String(items.length);
      say("");
    } catch (err) { say(err.message); }
  }

  document.getElementById("new-item").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = event.target;
    try {
      await call("/api/action-items", { title: f.title.value, owner: f.owner.value });
      f.reset();
      await refresh();
    } catch (err) { say(err.message); }
  });
  refresh();
})();
