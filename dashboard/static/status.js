// The status page: members, the task stream, progress per task group and
// Raft. Live through /api/v1/events?stream=1 ("status" and "taskstream"
// events, every ~500 ms); leader changes from /api/v1/logs?kind=leader.
"use strict";

const STATES = ["waiting", "queued", "processing", "memory", "erred", "released"];
let lastStatus = null;

function renderSummary(st) {
  $("#leader").textContent = st.leader ? nameOf(st, st.leader) : "none";
  $("#leader").title = st.leader || "no leader: an election is under way or there is no quorum";
  $("#term").textContent = st.term;
  $("#commit").textContent = st.commit_index;
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
  $("#tasks-total").textContent = total ? "(" + total + " tasks)" : "";
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
      el("td", { class: "num" }, n)));
  }
}

// progressBar is a stacked bar of one group: done (in memory, released),
// processing, erred, waiting (and queued).
function progressBar(g) {
  const bar = el("div", { class: "progress" });
  const total = g.total || 0;
  for (const [k, n] of [["memory", g.memory], ["released", g.released], ["processing", g.processing], ["erred", g.erred], ["waiting", g.waiting + g.queued]]) {
    if (n > 0) bar.append(el("div", { style: `width:${(100 * n) / total}%;background:var(--${k})`, title: `${k}: ${n}` }));
  }
  return bar;
}

function renderGroups(st) {
  const body = $("#groups tbody");
  body.replaceChildren();
  for (const g of st.groups || []) {
    const done = (g.memory || 0) + (g.released || 0);
    body.append(el("tr", {
      class: "group", "data-group": g.name, "data-done": done, "data-processing": g.processing || 0,
      "data-erred": g.erred || 0, "data-waiting": (g.waiting || 0) + (g.queued || 0), "data-total": g.total,
    },
    el("td", { class: "group-name" }, el("span", { class: "swatch", style: `background:${groupColor(g.name)}` }), g.name),
    el("td", {}, progressBar(g)),
    el("td", { class: "num" }, (g.waiting || 0) + (g.queued || 0)),
    el("td", { class: "num" }, g.processing || 0),
    el("td", { class: "num" }, g.memory || 0),
    el("td", { class: "num" }, g.erred || 0),
    el("td", { class: "num" }, g.total)));
  }
  if (st.groups_omitted) body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, `and ${st.groups_omitted} more groups`)));
}

function memCell(m) {
  const used = m.store_bytes || 0;
  const limit = m.memory_limit || 0;
  const cell = el("td", { class: "mem" });
  cell.append(el("span", {}, bytes(used) + " / " + (limit ? bytes(limit) : "no limit")));
  if (limit) {
    const pct = Math.min(100, (100 * used) / limit);
    cell.append(el("div", { class: "bar small" }, el("div", { style: `width:${pct}%;background:${pct > 90 ? "var(--erred)" : "var(--memory)"}` })));
  }
  return cell;
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
      el("td", { class: "num cpu" }, (m.cpu || 0).toFixed(0) + " %"),
      memCell(m),
      el("td", { class: "num" }, bytes(m.spilled_bytes)),
      el("td", { class: "num" }, bytes(m.rss)),
      el("td", { class: "num" }, m.cores || 0),
      el("td", { class: "num" }, bytes(m.memory))));
  }
}

function render(st) {
  lastStatus = st;
  renderSummary(st);
  renderMembers(st);
  renderGroups(st);
  renderTasks(st);
  document.body.dataset.updated = String(Date.now());
}

// --- The task stream: a canvas, one row per worker thread. ---

const WINDOW = 20e6; // µs shown
const stream = { workers: [], entries: [], seen: new Set(), offset: 0 };

function onTaskStream(ts) {
  stream.workers = ts.workers || [];
  stream.offset = Date.now() * 1000 - ts.now; // the answering node's clock vs ours
  for (const e of ts.entries || []) {
    const id = e.worker + "\u0000" + e.key + "\u0000" + e.start;
    if (stream.seen.has(id)) continue;
    stream.seen.add(id);
    stream.entries.push(e);
  }
  const cut = ts.now - WINDOW - 2e6;
  if (stream.entries.length && stream.entries[0].stop < cut) {
    const keep = stream.entries.filter((e) => e.stop >= cut);
    stream.entries = keep;
    stream.seen = new Set(keep.map((e) => e.worker + "\u0000" + e.key + "\u0000" + e.start));
  }
}

function drawStream() {
  const canvas = $("#task-stream");
  const ROW = 16, LABEL = 150, AXIS = 18;
  const rows = [];
  for (const w of stream.workers) for (let t = 0; t < Math.max(1, w.threads); t++) rows.push({ w, t });
  const width = canvas.parentElement.clientWidth || 900;
  const height = Math.max(1, rows.length) * ROW + AXIS;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const now = Date.now() * 1000 - stream.offset;
  const t0 = now - WINDOW;
  const plot = width - LABEL - 4;
  const x = (t) => LABEL + ((t - t0) / WINDOW) * plot;
  const rowOf = new Map();
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  rows.forEach((r, i) => {
    rowOf.set(r.w.id + "/" + r.t, i);
    ctx.fillStyle = i % 2 ? "#f6f7f9" : "#fff";
    ctx.fillRect(LABEL, i * ROW, plot, ROW);
    ctx.fillStyle = "#6b7280";
    ctx.fillText(`${r.w.name} #${r.t}`, 4, i * ROW + ROW / 2);
  });
  let boxes = 0;
  const drawn = [];
  for (const e of stream.entries) {
    if (e.stop < t0) continue;
    const row = rowOf.get(e.worker + "/" + e.thread);
    if (row === undefined) continue;
    const y = row * ROW + 2, h = ROW - 4;
    const xs = Math.max(LABEL, x(e.start)), xc = Math.max(LABEL, x(e.compute)), xe = x(e.stop);
    if (e.fetch_bytes > 0 && xc > xs) {
      ctx.fillStyle = "#dc2626"; // transfer: fetching inputs
      ctx.fillRect(xs, y + h / 4, Math.max(1, xc - xs), h / 2);
    }
    ctx.fillStyle = e.outcome === "ok" ? groupColor(e.group) : e.outcome === "error" ? "#111" : "#9ca3af";
    ctx.fillRect(xc, y, Math.max(1.5, xe - xc), h);
    drawn.push({ e, x0: xs, x1: Math.max(xe, xs + 1.5), y0: y, y1: y + h });
    boxes++;
  }
  // Time axis: a tick every 5 s.
  ctx.fillStyle = "#6b7280";
  ctx.strokeStyle = "#e3e6ea";
  const yAxis = rows.length * ROW;
  for (let s = 0; s <= WINDOW / 1e6; s += 5) {
    const xt = LABEL + plot - (s * 1e6 / WINDOW) * plot;
    ctx.beginPath(); ctx.moveTo(xt, 0); ctx.lineTo(xt, yAxis); ctx.stroke();
    ctx.fillText(s === 0 ? "now" : `-${s}s`, Math.min(xt - 12, width - 30), yAxis + AXIS / 2);
  }
  canvas.dataset.boxes = String(boxes);
  canvas.dataset.rows = String(rows.length);
  stream.drawn = drawn;
  renderLegend();
}

function renderLegend() {
  const groups = new Set(stream.entries.map((e) => e.group));
  const key = [...groups].sort().join("\u0000");
  const legend = $("#stream-legend");
  if (legend.dataset.key === key) return;
  legend.dataset.key = key;
  legend.replaceChildren(...[...groups].sort().map((g) =>
    el("span", { class: "legend-item" }, el("span", { class: "swatch", style: `background:${groupColor(g)}` }), g)));
}

$("#task-stream").addEventListener("mousemove", (ev) => {
  const r = ev.target.getBoundingClientRect();
  const px = ev.clientX - r.left, py = ev.clientY - r.top;
  const hit = (stream.drawn || []).find((d) => px >= d.x0 && px <= d.x1 && py >= d.y0 && py <= d.y1);
  ev.target.title = hit ? `${hit.e.key}\n${hit.e.outcome}, ${((hit.e.stop - hit.e.compute) / 1000).toFixed(1)} ms` +
    (hit.e.fetch_bytes ? `, fetched ${bytes(hit.e.fetch_bytes)} in ${((hit.e.compute - hit.e.start) / 1000).toFixed(1)} ms` : "") : "";
});

// --- Raft: recent leader changes. ---

function renderLeaders(logs) {
  const list = $("#leader-changes");
  list.replaceChildren(...(logs.events || []).map((e) =>
    el("li", { class: "event", "data-kind": e.kind }, el("span", { class: "when" }, clock(e.time)), " ", eventText(lastStatus, e))));
  if (!list.children.length) list.append(el("li", { class: "muted" }, "none recorded"));
}

function pollLeaders() {
  getJSON("api/v1/logs?kind=leader&limit=5").then(renderLeaders).catch(() => {});
}

getJSON("api/v1/status").then(render).catch(() => {});
live("stream=1", { status: render, taskstream: onTaskStream });
pollLeaders();
setInterval(pollLeaders, 3000);
setInterval(drawStream, 250);
drawStream();
