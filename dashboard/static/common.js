// Shared by every page: DOM helpers, formatting, the header's connection
// mark and the live status stream (server-sent events of /api/v1/events).
"use strict";

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

function svgEl(tag, attrs, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
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
  const m = ((st && st.members) || []).find((m) => m.id === id);
  return m ? m.name : shortID(id);
}

function clock(micros) {
  const d = new Date(micros / 1000);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

// groupColor gives each task group a stable colour.
const groupColors = new Map();
function groupColor(name) {
  let c = groupColors.get(name);
  if (!c) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    c = `hsl(${h % 360}, 62%, ${48 + (h >> 9) % 14}%)`;
    groupColors.set(name, c);
  }
  return c;
}

function setConn(on, text) {
  const c = $("#conn");
  if (!c) return;
  c.className = "conn " + (on ? "on" : "off");
  c.textContent = text;
}

// live opens the event stream (query: "stream=1", "logs=1" or "") and
// calls handlers[event](data) for each event; the header shows whether
// the stream is up.
function live(query, handlers) {
  const src = new EventSource("api/v1/events" + (query ? "?" + query : ""));
  for (const [name, fn] of Object.entries(handlers)) {
    src.addEventListener(name, (e) => { setConn(true, "live"); fn(JSON.parse(e.data)); });
  }
  src.addEventListener("error", (e) => {
    if (e.data) setConn(false, JSON.parse(e.data).error);
    else setConn(false, "disconnected: retrying");
  });
  return src;
}

function getJSON(path) {
  return fetch(path).then((r) => r.ok ? r.json() : r.json().then((b) => Promise.reject(new Error(b.error || r.statusText))));
}

// eventText is an event's message, with the leader's name when the status
// knows it (a leader may be elected before its member record exists).
function eventText(st, e) {
  if (e.kind === "leader" && st) return `${nameOf(st, e.subject)} (${shortID(e.subject)}) leads in term ${e.term}`;
  return e.message;
}
