// The status page: renders /api/v1/status, then each "status" event of
// /api/v1/events (server-sent, every ~500 ms).
"use strict";

const STATES = ["waiting", "queued", "processing", "memory", "erred", "released"];

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function bytes(b) {
  if (!b) return "0 B";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i === 0 ? b : b.toFixed(1)) + " " + units[i];
}

function shortID(id) { return id && id.length > 12 ? "…" + id.slice(-8) : (id || ""); }

function nameOf(st, id) {
  const m = (st.members || []).find((m) => m.id === id);
  return m ? m.name : shortID(id);
}

function renderSummary(st) {
  $("#leader").textContent = st.leader ? nameOf(st, st.leader) : "none";
  $("#leader").title = st.leader || "no leader: an election is under way or there is no quorum";
  $("#term").textContent = st.term;
  const alive = (st.members || []).filter((m) => m.state === "alive").length;
  $("#member-count").textContent = alive + " alive / " + (st.members || []).length;
  $("#answered").textContent = nameOf(st, st.answered_by);
  const notice = $("#notice");
  if (st.stale) {
    notice.textContent = "The leader could not be reached: this is node " + nameOf(st, st.answered_by) + "'s own view.";
    notice.hidden = false;
  } else if (!st.leader) {
    notice.textContent = "No leader: an election is under way or a majority of voters is unreachable.";
    notice.hidden = false;
  } else {
    notice.hidden = true;
  }
}

function renderTasks(st) {
  const tasks = st.tasks || {};
  const total = STATES.reduce((s, k) => s + (tasks[k] || 0), 0);
  $("#tasks-total").textContent = total ? "(" + total + ")" : "";
  $("#no-tasks").hidden = total > 0;
  const stacked = $("#tasks-bar");
  stacked.replaceChildren();
  const body = $("#tasks tbody");
  body.replaceChildren();
  for (const k of STATES) {
    const n = tasks[k] || 0;
    const pct = total ? (100 * n) / total : 0;
    if (n > 0) stacked.append(el("div", { style: `width:${pct}%;background:var(--${k})`, title: `${k}: ${n}` }));
    body.append(el("tr", { class: "task-state", "data-state": k },
      el("td", {}, el("span", { class: "swatch", style: `background:var(--${k})` }), k),
      el("td", { class: "num" }, n),
      el("td", {}, el("div", { class: "bar" }, el("div", { style: `width:${pct}%;background:var(--${k})` })))));
  }
}

function renderMembers(st) {
  const body = $("#members tbody");
  body.replaceChildren();
  for (const m of st.members || []) {
    const name = el("td", {}, m.name);
    if (m.leader) name.append(el("span", { class: "leader-mark", title: "Raft leader" }, "★ leader"));
    body.append(el("tr", { class: "member", "data-id": m.id, "data-state": m.state, "data-role": m.role },
      name,
      el("td", { class: "id", title: m.id }, shortID(m.id)),
      el("td", {}, m.role),
      el("td", { class: "state-" + m.state }, m.state),
      el("td", { class: "num" }, m.threads || 0),
      el("td", { class: "num" }, m.running || 0),
      el("td", { class: "num" }, bytes(m.store_bytes)),
      el("td", { class: "num" }, bytes(m.spilled_bytes)),
      el("td", { class: "num" }, m.cores || 0),
      el("td", { class: "num" }, bytes(m.memory)),
      el("td", { class: "num" }, bytes(m.rss))));
  }
}

function render(st) {
  renderSummary(st);
  renderTasks(st);
  renderMembers(st);
  document.body.dataset.updated = String(Date.now());
}

function setConn(on, text) {
  const c = $("#conn");
  c.className = "conn " + (on ? "on" : "off");
  c.textContent = text;
}

fetch("api/v1/status").then((r) => r.ok ? r.json() : Promise.reject(r.statusText)).then(render).catch(() => {});

const events = new EventSource("api/v1/events");
events.addEventListener("status", (e) => { setConn(true, "live"); render(JSON.parse(e.data)); });
events.addEventListener("error", (e) => {
  if (e.data) setConn(false, JSON.parse(e.data).error);
  else setConn(false, "disconnected: retrying");
});
