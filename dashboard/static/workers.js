// The workers page: a table of /api/v1/workers, live through the status
// events; a click on a header sorts by that column.
"use strict";

let rows = [];
let sortKey = "name", sortDir = 1;

function sortBy(key) {
  if (key === sortKey) sortDir = -sortDir;
  else { sortKey = key; sortDir = 1; }
  renderWorkers();
}

function cmpRows(a, b) {
  const x = a[sortKey], y = b[sortKey];
  const c = typeof x === "number" && typeof y === "number" ? x - y : String(x ?? "").localeCompare(String(y ?? ""), undefined, { numeric: true });
  return (c || a.name.localeCompare(b.name)) * sortDir;
}

function renderWorkers() {
  rows.sort(cmpRows);
  for (const th of document.querySelectorAll("#workers th")) {
    const on = th.dataset.key === sortKey;
    th.setAttribute("aria-sort", on ? (sortDir > 0 ? "ascending" : "descending") : "none");
    th.classList.toggle("sorted", on);
  }
  $("#worker-count").textContent = "(" + rows.length + ")";
  $("#workers tbody").replaceChildren(...rows.map((w) => {
    const name = el("td", {}, w.name);
    if (w.leader) name.append(el("span", { class: "leader-mark", title: "Raft leader" }, "★"));
    return el("tr", { class: "worker", "data-id": w.id, "data-name": w.name },
      name,
      el("td", { class: "id", title: w.id }, shortID(w.id)),
      el("td", { class: "state-" + w.state }, w.state),
      el("td", {}, w.role),
      el("td", { class: "num" }, w.threads),
      el("td", { class: "num" }, w.running),
      el("td", { class: "num" }, w.assigned),
      el("td", { class: "num" }, w.cpu.toFixed(0) + " %"),
      el("td", { class: "num" }, bytes(w.store_bytes)),
      el("td", { class: "num" }, w.memory_limit ? bytes(w.memory_limit) : "none"),
      el("td", { class: "num" }, bytes(w.spilled_bytes)),
      el("td", { class: "num" }, bytes(w.rss)),
      el("td", { class: "num" }, w.cores),
      el("td", { class: "num" }, bytes(w.memory)));
  }));
  document.body.dataset.updated = String(Date.now());
}

// The status event's members, as /api/v1/workers has them.
function fromStatus(st) {
  rows = (st.members || []).filter((m) => m.state !== "left").map((m) => ({
    id: m.id, name: m.name, state: m.state, role: m.role, leader: !!m.leader, threads: m.threads || 0, running: m.running || 0,
    assigned: m.assigned || 0, cpu: m.cpu || 0, store_bytes: m.store_bytes || 0, memory_limit: m.memory_limit || 0,
    spilled_bytes: m.spilled_bytes || 0, rss: m.rss || 0, cores: m.cores || 0, memory: m.memory || 0,
  }));
  renderWorkers();
}

for (const th of document.querySelectorAll("#workers th")) th.addEventListener("click", () => sortBy(th.dataset.key));
getJSON("api/v1/workers").then((ws) => { rows = ws.workers; renderWorkers(); }).catch(() => {});
live("", { status: fromStatus });
