// The graph page: the leader scheduler's graph from /api/v1/graph, drawn
// as SVG, refreshed every 2 s. Up to the limit every task is a dot coloured
// by its state, an input's edge leading to it; past the limit the server
// sends a summary per task group, drawn as one box (with its progress) per
// group and the groups' edges.
"use strict";

// The tasks drawn one by one at most (the page's ?limit=, else 1000).
const LIMIT = Number(new URLSearchParams(location.search).get("limit")) || 1000;
const STATE_VAR = (s) => `var(--${s})`;

// layered assigns each node a column: one more than its deepest input.
function layered(n, depsOf) {
  const depth = new Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    if (depth[i] >= 0) continue;
    const stack = [i];
    while (stack.length) {
      const v = stack[stack.length - 1];
      let ready = true, d = 0;
      for (const u of depsOf(v)) {
        if (depth[u] < 0 && u !== v) {
          if (stack.includes(u)) continue; // a cycle: should not happen
          stack.push(u);
          ready = false;
        } else d = Math.max(d, depth[u] + 1);
      }
      if (ready) { depth[v] = d; stack.pop(); }
    }
  }
  return depth;
}

function place(depth, width, minRow, maxRow) {
  const cols = [];
  depth.forEach((d, i) => { (cols[d] = cols[d] || []).push(i); });
  const ncols = cols.length || 1;
  const tallest = Math.max(1, ...cols.map((c) => (c ? c.length : 0)));
  const colW = Math.max(40, (width - 80) / Math.max(1, ncols - 1 || 1));
  const rowH = Math.max(minRow, Math.min(maxRow, 700 / tallest));
  const pos = new Array(depth.length);
  cols.forEach((c, x) => (c || []).forEach((i, y) => {
    pos[i] = { x: 40 + (ncols === 1 ? (width - 80) / 2 : x * colW), y: 20 + y * rowH + (tallest - c.length) * rowH / 2 };
  }));
  return { pos, height: 40 + tallest * rowH };
}

// placeTasks lays the layers out top to bottom, each wrapped into rows
// that fit the width, a layer's nodes in the order of their inputs'
// positions (fewer crossings).
function placeTasks(tasks, depth, width) {
  const layers = [];
  depth.forEach((d, i) => { (layers[d] = layers[d] || []).push(i); });
  const widest = Math.max(1, ...layers.map((l) => (l ? l.length : 0)));
  const step = Math.max(9, Math.min(40, (width - 40) / widest));
  const perRow = Math.max(1, Math.floor((width - 40) / step));
  const pos = new Array(tasks.length);
  let y = 20;
  for (const layer of layers) {
    if (!layer) continue;
    const key = (i) => {
      const ds = tasks[i].deps || [];
      return ds.length ? ds.reduce((s, d) => s + pos[d].x + pos[d].y * 1e-3, 0) / ds.length : i;
    };
    const keyed = layer.map((i) => [key(i), i]).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
    const rows = Math.ceil(keyed.length / perRow);
    keyed.forEach((i, k) => {
      const row = Math.floor(k / perRow), inRow = Math.min(perRow, keyed.length - row * perRow);
      pos[i] = { x: (width - inRow * step) / 2 + (k % perRow) * step + step / 2, y: y + row * 12 };
    });
    y += (rows - 1) * 12 + 70;
  }
  return { pos, height: y - 30, r: Math.max(2, Math.min(7, step / 2 - 1)) };
}

function drawTasks(svg, gv, width) {
  const tasks = gv.tasks;
  const depth = layered(tasks.length, (i) => tasks[i].deps || []);
  const { pos, height, r } = placeTasks(tasks, depth, width);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", height);
  const edges = svgEl("g", { class: "edges" });
  const nodes = svgEl("g", { class: "nodes" });
  tasks.forEach((t, i) => {
    for (const d of t.deps || []) {
      edges.append(svgEl("line", { x1: pos[d].x, y1: pos[d].y, x2: pos[i].x, y2: pos[i].y }));
    }
    nodes.append(svgEl("circle", { cx: pos[i].x, cy: pos[i].y, r, fill: STATE_VAR(t.state), class: "task", "data-state": t.state, "data-group": t.group },
      svgEl("title", {}, `${t.key}\n${t.group}: ${t.state}`)));
  });
  svg.replaceChildren(edges, nodes);
  svg.dataset.mode = "tasks";
  svg.dataset.nodes = String(tasks.length);
}

function drawGroups(svg, gv, width) {
  const groups = gv.groups;
  const index = new Map(groups.map((g, i) => [g.name, i]));
  const deps = groups.map(() => []);
  for (const e of gv.group_edges || []) {
    if (index.has(e.from) && index.has(e.to)) deps[index.get(e.to)].push(index.get(e.from));
  }
  const depth = layered(groups.length, (i) => deps[i]);
  const { pos, height } = place(depth, width, 60, 70);
  const W = 190, H = 44;
  svg.setAttribute("viewBox", `0 0 ${width + W} ${height + H}`);
  svg.setAttribute("height", height + H);
  const edges = svgEl("g", { class: "edges" });
  const nodes = svgEl("g", { class: "nodes" });
  groups.forEach((g, i) => {
    const p = { x: pos[i].x, y: pos[i].y };
    for (const d of deps[i]) {
      edges.append(svgEl("line", { x1: pos[d].x + W, y1: pos[d].y + H / 2, x2: p.x, y2: p.y + H / 2 }));
    }
    const box = svgEl("g", { class: "group-node", "data-group": g.name, transform: `translate(${p.x},${p.y})` },
      svgEl("title", {}, `${g.name}: ${g.total} tasks (waiting ${g.waiting + g.queued}, processing ${g.processing}, in memory ${g.memory}, erred ${g.erred}, released ${g.released})`),
      svgEl("rect", { width: W, height: H, rx: 5, class: "group-box" }),
      svgEl("text", { x: 8, y: 16 }, `${g.name} (${g.total})`));
    let x = 8;
    for (const [k, n] of [["memory", g.memory], ["released", g.released], ["processing", g.processing], ["erred", g.erred], ["waiting", g.waiting + g.queued]]) {
      if (!n) continue;
      const w = ((W - 16) * n) / g.total;
      box.append(svgEl("rect", { x, y: 26, width: w, height: 9, fill: STATE_VAR(k) }));
      x += w;
    }
    nodes.append(box);
  });
  svg.replaceChildren(edges, nodes);
  svg.dataset.mode = "groups";
  svg.dataset.nodes = String(groups.length);
}

function renderGraph(gv) {
  const svg = $("#graph");
  const width = Math.max(600, svg.parentElement.clientWidth - 20);
  svg.setAttribute("width", width);
  $("#graph-total").textContent = `(${gv.total} tasks)`;
  if (gv.recovering) {
    $("#graph-note").textContent = "The leader's scheduler is rebuilding its graph.";
    svg.replaceChildren();
  } else if (gv.truncated) {
    $("#graph-note").textContent = `${gv.total} tasks: more than ${gv.limit}, so one box per task group (its tasks by state) and the groups' dependencies.`;
    drawGroups(svg, gv, width);
  } else {
    $("#graph-note").textContent = gv.total ? "Each dot a task, coloured by state; lines lead from inputs (above) to the tasks that read them." +
      (gv.edges_dropped ? ` ${gv.edges_dropped} edges left out.` : "") : "The scheduler has no tasks.";
    drawTasks(svg, gv, width);
  }
  document.body.dataset.updated = String(Date.now());
}

function poll() {
  if (document.hidden) return;
  getJSON("api/v1/graph?limit=" + LIMIT).then((gv) => { setConn(true, "live"); renderGraph(gv); }).catch((e) => setConn(false, String(e.message || e)));
}

poll();
setInterval(poll, 2000);
