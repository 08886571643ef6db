// kgreason web page: ask /v1/qa, list answers and paths, draw the paths as an inline SVG graph.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const KEY_STORE = "kgr.apikey";

function svgEl(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function shortName(name, max) {
  return name.length > max ? name.slice(0, max - 1) + "…" : name;
}

// Layered layout: column = fewest hops from a topic entity over the returned paths.
function layout(paths, answers) {
  const depth = new Map();
  const edges = new Map();
  for (const p of paths) {
    p.entities.forEach((e, i) => {
      if (!depth.has(e) || depth.get(e) > i) depth.set(e, i);
    });
    for (let i = 0; i < p.relations.length; i++) {
      const key = p.entities[i] + "\u0000" + p.relations[i] + "\u0000" + p.entities[i + 1];
      edges.set(key, { from: p.entities[i], rel: p.relations[i], to: p.entities[i + 1] });
    }
  }
  const columns = [];
  for (const [e, d] of depth) (columns[d] = columns[d] || []).push(e);
  const colW = 240, rowH = 70, padX = 90, padY = 40;
  const height = Math.max(...columns.map((c) => (c ? c.length : 0)), 1) * rowH + padY * 2;
  const pos = new Map();
  columns.forEach((col, ci) => {
    if (!col) return;
    col.sort();
    const offset = (height - col.length * rowH) / 2 + rowH / 2;
    col.forEach((e, ri) => pos.set(e, { x: padX + ci * colW, y: offset + ri * rowH }));
  });
  const width = padX * 2 + Math.max(columns.length - 1, 1) * colW;
  return { pos, edges: [...edges.values()], width, height, answers: new Set(answers) };
}

function drawGraph(paths, answers) {
  const box = $("graph");
  box.replaceChildren();
  if (!paths.length) {
    box.textContent = "No path to draw.";
    return;
  }
  const g = layout(paths, answers);
  const svg = svgEl("svg", { viewBox: `0 0 ${g.width} ${g.height}`, role: "img", "aria-label": "reasoning paths" });
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.appendChild(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7a8699" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const radius = 22;
  for (const e of g.edges) {
    const a = g.pos.get(e.from), b = g.pos.get(e.to);
    if (!a || !b) continue;
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
    const x1 = a.x + (dx / len) * radius, y1 = a.y + (dy / len) * radius;
    const x2 = b.x - (dx / len) * radius, y2 = b.y - (dy / len) * radius;
    svg.appendChild(svgEl("line", { x1, y1, x2, y2, stroke: "#7a8699", "stroke-width": 1.6, "marker-end": "url(#arrow)", class: "edge" }));
    svg.appendChild(svgEl("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, "text-anchor": "middle", "font-size": 11, fill: "#3f4b5e", class: "edge-label" }, shortName(e.rel, 30)));
  }
  for (const [name, p] of g.pos) {
    const isAnswer = g.answers.has(name);
    const node = svgEl("g", { class: isAnswer ? "node answer" : "node", transform: `translate(${p.x},${p.y})` });
    node.appendChild(svgEl("circle", { r: radius, fill: isAnswer ? "#ffd666" : "#cfe0ff", stroke: isAnswer ? "#b7791f" : "#2f6fde", "stroke-width": 2 }));
    node.appendChild(svgEl("title", {}, name));
    node.appendChild(svgEl("text", { y: radius + 14, "text-anchor": "middle", "font-size": 12, fill: "#1d2430" }, shortName(name, 28)));
    svg.appendChild(node);
  }
  box.appendChild(svg);
}

function listItems(target, items) {
  target.replaceChildren(...items.map((build) => { const li = document.createElement("li"); build(li); return li; }));
}

function render(data) {
  $("answer").textContent = data.answer ?? "(no answer)";
  $("method").textContent = `by ${data.answer_method}; topic entities: ${data.topic_entities.map((t) => `${t.entity} (${t.method})`).join(", ")}`;
  listItems($("answers"), data.answers.map((a) => (li) => { li.textContent = `${a.answer} — ${(a.score * 100).toFixed(1)}%`; }));
  listItems($("paths"), data.paths.map((p) => (li) => {
    li.className = p.verified ? "path-ok" : "path-bad";
    const code = document.createElement("code");
    code.textContent = p.text;
    li.append(code, ` (score ${p.score.toFixed(3)})`);
  }));
  drawGraph(data.paths, data.answers.map((a) => a.answer));
  const t = data.timings_ms || {};
  $("timings").textContent = `graph v${data.graph_version}, ${data.backend} backend; ` +
    Object.entries(t).map(([k, v]) => `${k} ${Number(v).toFixed(1)} ms`).join(", ");
  $("result").hidden = false;
}

async function ask(event) {
  event.preventDefault();
  const key = $("apikey").value.trim();
  if (key) localStorage.setItem(KEY_STORE, key);
  const body = { question: $("question").value.trim(), k: Number($("k").value), max_hops: Number($("hops").value) };
  const topics = $("topics").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (topics.length) body.topic_entities = topics;
  const headers = { "Content-Type": "application/json" };
  if (key) headers["Authorization"] = `Bearer ${key}`;
  $("submit").disabled = true;
  $("status").className = "";
  $("status").textContent = "Thinking…";
  try {
    const resp = await fetch("/v1/qa", { method: "POST", headers, body: JSON.stringify(body) });
    const data = await resp.json();
    if (!resp.ok) {
      $("status").className = "error";
      $("status").textContent = resp.status === 401 ? "An API key is needed (Options → API key)." : `${data.code}: ${data.message}`;
      if (resp.status === 401) $("ask").querySelector("details").open = true;
      return;
    }
    $("status").textContent = "";
    render(data);
  } catch (err) {
    $("status").className = "error";
    $("status").textContent = `Request failed: ${err}`;
  } finally {
    $("submit").disabled = false;
  }
}

$("apikey").value = localStorage.getItem(KEY_STORE) || "";
$("ask").addEventListener("submit", ask);
