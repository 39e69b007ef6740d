/// The `/docs` page: reads `/openapi.json` and shows every operation, grouped by plugin, with a
/// form to try it. Self-contained (no CDN: nothing outside the machine is reachable). Text from
/// plugins is only ever set as `textContent`, never parsed as HTML.
enum DocsPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard — API</title>
<style>
  :root { --fg:#1d2330; --muted:#5d6778; --line:#d9dee7; --bg:#f6f7f9; --get:#2b7a4b; --post:#2357b5; --put:#9a6a00; --patch:#7b4bb5; --delete:#b53a2b; --other:#555; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
  header { padding:18px 28px; background:#fff; border-bottom:1px solid var(--line); display:flex; gap:16px; align-items:baseline; flex-wrap:wrap; }
  header h1 { margin:0; font-size:20px; }
  header .meta { color:var(--muted); font-size:13px; }
  header input { margin-left:auto; padding:6px 10px; border:1px solid var(--line); border-radius:6px; min-width:240px; }
  main { max-width:1100px; margin:0 auto; padding:20px 28px 60px; }
  section.tag { margin-bottom:28px; }
  section.tag > h2 { font-size:17px; margin:0 0 2px; }
  section.tag > p { margin:0 0 10px; color:var(--muted); font-size:13px; }
  details.op { background:#fff; border:1px solid var(--line); border-radius:8px; margin:8px 0; }
  details.op > summary { cursor:pointer; padding:9px 12px; display:flex; gap:12px; align-items:center; list-style:none; }
  details.op > summary::-webkit-details-marker { display:none; }
  .method { font:600 12px/1 ui-monospace, monospace; color:#fff; padding:5px 8px; border-radius:4px; min-width:64px; text-align:center; text-transform:uppercase; }
  .path { font:14px ui-monospace, SFMono-Regular, Menlo, monospace; }
  .summary { color:var(--muted); margin-left:auto; font-size:13px; text-align:right; }
  .body { padding:4px 14px 14px; border-top:1px solid var(--line); }
  table { border-collapse:collapse; width:100%; margin:8px 0; font-size:13px; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { color:var(--muted); font-weight:600; }
  code, .mono { font-family:ui-monospace, monospace; font-size:12.5px; }
  .req { color:#b53a2b; font-size:11px; margin-left:4px; }
  .try { display:flex; gap:8px; align-items:center; margin-top:10px; }
  .try button { padding:6px 14px; border:1px solid var(--post); background:var(--post); color:#fff; border-radius:6px; cursor:pointer; }
  td input, td select { width:100%; padding:4px 6px; border:1px solid var(--line); border-radius:4px; font:inherit; }
  pre.result { background:#1d2330; color:#e8ecf3; padding:10px 12px; border-radius:6px; overflow:auto; max-height:360px; white-space:pre-wrap; word-break:break-all; }
  .empty { color:var(--muted); padding:40px 0; text-align:center; }
  .error { color:#b53a2b; }
</style>
</head>
<body>
<header>
  <h1>Switchboard API</h1>
  <span class="meta" id="meta">loading /openapi.json…</span>
  <a class="meta" href="/openapi.json">openapi.json</a>
  <input id="filter" type="search" placeholder="Filter by path, plugin or summary" aria-label="Filter operations">
</header>
<main id="content"></main>
<script>
"use strict";
const colors = { get:"--get", post:"--post", put:"--put", patch:"--patch", delete:"--delete" };
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child instanceof Node ? child : String(child));
  return node;
}
function constraints(schema) {
  const parts = [];
  const pairs = [["minimum","≥"],["exclusiveMinimum",">"],["maximum","≤"],["exclusiveMaximum","<"],["minLength","length ≥"],["maxLength","length ≤"],["pattern","matches"]];
  for (const [key, word] of pairs) if (schema[key] !== undefined) parts.push(word + " " + schema[key]);
  if (schema.enum) parts.push("one of " + schema.enum.join(", "));
  return parts.join("; ");
}
function operationView(path, method, op) {
  const params = op.parameters || [];
  const inputs = new Map();
  const rows = params.map(p => {
    const s = p.schema || {};
    let input;
    if (s.enum) { input = el("select", {}, el("option", { value:"" }, "")); for (const v of s.enum) input.append(el("option", { value:v }, v)); }
    else if (s.type === "boolean") { input = el("select", {}, el("option", { value:"" }, ""), el("option", { value:"true" }, "true"), el("option", { value:"false" }, "false")); }
    else input = el("input", { placeholder: s.default !== undefined ? String(s.default) : "" });
    inputs.set(p, input);
    return el("tr", {},
      el("td", {}, el("code", {}, p.name), p.required ? el("span", { class:"req" }, "required") : null),
      el("td", {}, p.in), el("td", {}, s.type || ""), el("td", {}, constraints(s)),
      el("td", {}, s.default !== undefined ? JSON.stringify(s.default) : ""), el("td", {}, p.description || ""), el("td", {}, input));
  });
  const result = el("pre", { class:"result", hidden:"" });
  const send = el("button", { type:"button" }, "Send");
  send.addEventListener("click", async () => {
    let url = path;
    const query = new URLSearchParams();
    const headers = {};
    for (const [p, input] of inputs) {
      const v = input.value;
      if (v === "") continue;
      if (p.in === "path") url = url.replace("{" + p.name + "}", encodeURIComponent(v));
      else if (p.in === "query") query.append(p.name, v);
      else if (p.in === "header") headers[p.name] = v;
    }
    if (String(query)) url += "?" + query;
    result.hidden = false;
    result.textContent = method.toUpperCase() + " " + url + "\n…";
    try {
      const started = performance.now();
      const response = await fetch(url, { method: method.toUpperCase(), headers });
      const text = await response.text();
      const took = (performance.now() - started).toFixed(1);
      const head = [...response.headers].map(([k, v]) => k + ": " + v).join("\n");
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) {}
      result.textContent = method.toUpperCase() + " " + url + "\n" + response.status + " " + response.statusText + " (" + took + " ms)\n" + head + "\n\n" + shown.slice(0, 20000);
    } catch (e) { result.textContent = "request failed: " + e; }
  });
  const responses = Object.entries(op.responses || {}).map(([code, r]) =>
    el("tr", {}, el("td", {}, el("code", {}, code)), el("td", {}, r.description || ""), el("td", {}, Object.keys(r.content || {}).join(", "))));
  const body = el("div", { class:"body" },
    op.description ? el("p", {}, op.description) : null,
    params.length ? el("table", {}, el("tr", {}, ...["Parameter","In","Type","Constraints","Default","Description","Value"].map(h => el("th", {}, h))), ...rows) : el("p", { class:"meta" }, "No parameters."),
    el("table", {}, el("tr", {}, el("th", {}, "Status"), el("th", {}, "Description"), el("th", {}, "Media type")), ...responses),
    el("div", { class:"try" }, send, el("span", { class:"meta" }, "sends the request from this page")), result);
  const badge = el("span", { class:"method", style:"background:var(" + (colors[method] || "--other") + ")" }, method);
  const details = el("details", { class:"op" }, el("summary", {}, badge, el("span", { class:"path" }, path), el("span", { class:"summary" }, op.summary || "")), body);
  details.dataset.search = (method + " " + path + " " + (op.summary || "") + " " + (op.tags || []).join(" ")).toLowerCase();
  return details;
}
async function load() {
  const content = document.getElementById("content");
  let doc;
  try {
    const response = await fetch("/openapi.json", { cache: "no-store" });
    doc = await response.json();
  } catch (e) {
    content.replaceChildren(el("p", { class:"empty error" }, "Could not read /openapi.json: " + e));
    return;
  }
  const tags = new Map((doc.tags || []).map(t => [t.name, { info:t, ops:[] }]));
  let count = 0;
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      if (!tags.has(tag)) tags.set(tag, { info:{ name:tag }, ops:[] });
      tags.get(tag).ops.push(operationView(path, method, op));
      count++;
    }
  }
  document.getElementById("meta").textContent = doc.info.title + " " + doc.info.version + " · " + count + " operations from " + tags.size + " plugins · OpenAPI " + doc.openapi;
  const sections = [...tags.values()].map(t => el("section", { class:"tag" }, el("h2", {}, t.info.name), t.info.description ? el("p", {}, t.info.description) : null, ...t.ops));
  content.replaceChildren(...(sections.length ? sections : [el("p", { class:"empty" }, "No plugin is loaded.")]));
  applyFilter();
}
function applyFilter() {
  const q = document.getElementById("filter").value.trim().toLowerCase();
  for (const d of document.querySelectorAll("details.op")) d.hidden = q !== "" && !d.dataset.search.includes(q);
  for (const s of document.querySelectorAll("section.tag")) s.hidden = [...s.querySelectorAll("details.op")].every(d => d.hidden);
}
document.getElementById("filter").addEventListener("input", applyFilter);
load();
</script>
</body>
</html>
"""#
}
