// The logs page: the mesh's recent events, newest first, live through
// /api/v1/events?logs=1 ("logs" events carry the new ones).
"use strict";

let events = [];
let lastStatus = null;
const seen = new Set();

function eventKey(e) {
  if (e.kind === "leader") return e.kind + "\u0000" + e.subject + "\u0000" + e.term;
  return e.kind + "\u0000" + e.subject + "\u0000" + e.time + "\u0000" + e.message;
}

function onLogs(logs) {
  for (const e of logs.events || []) {
    const k = eventKey(e);
    if (seen.has(k)) continue;
    seen.add(k);
    events.push(e);
  }
  events.sort((a, b) => b.time - a.time);
  if (events.length > 2000) events = events.slice(0, 2000);
  renderLogs();
}

function renderLogs() {
  const kind = $("#kind").value;
  const shown = events.filter((e) => !kind || e.kind === kind);
  $("#no-logs").hidden = shown.length > 0;
  $("#logs tbody").replaceChildren(...shown.map((e) => el("tr", { class: "event kind-" + e.kind, "data-kind": e.kind },
    el("td", { class: "when" }, new Date(e.time / 1000).toLocaleDateString() + " " + clock(e.time)),
    el("td", {}, e.kind),
    el("td", { class: "message", title: e.subject || "" }, eventText(lastStatus, e)),
    el("td", { class: "id", title: e.node }, nameOf(lastStatus, e.node)))));
  document.body.dataset.updated = String(Date.now());
}

$("#kind").addEventListener("change", renderLogs);
live("logs=1", { logs: onLogs, status: (st) => { const first = !lastStatus; lastStatus = st; if (first) renderLogs(); } });
