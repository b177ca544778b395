// gym view: a small hash-routed page over the JSON API of package view.
"use strict";

const app = document.getElementById("app");
const nav = document.getElementById("nav");
let keyHandler = null;

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "html") el.innerHTML = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

async function api(path) {
  const res = await fetch(path);
  let body;
  try { body = await res.json(); } catch (e) { throw new Error(`${path}: the server sent no JSON (${res.status})`); }
  if (!res.ok) throw new Error(body.error || `${path}: ${res.status}`);
  return body;
}

function notices(list) {
  if (!list || !list.length) return null;
  return h("div", { class: "notices" }, list.map(n => h("div", { class: "notice " + n.level }, n.text)));
}

function badge(text, cls) { return h("span", { class: "badge " + (cls || text) }, text); }
function fmt(x, d = 3) { return typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toFixed(d)) : String(x ?? ""); }
function statusBadges(counts) {
  return Object.entries(counts || {}).filter(([, n]) => n > 0).sort()
    .map(([s, n]) => badge(`${s} ${n}`, s));
}
// fill replaces el's children, skipping the nulls optional parts leave.
function fill(el, ...nodes) { el.replaceChildren(...nodes.flat(Infinity).filter(n => n !== null && n !== undefined && n !== false)); }
function show(...nodes) { fill(app, ...nodes); window.scrollTo(0, 0); }
function fail(err) { show(notices([{ level: "error", text: String(err.message || err) }])); }

let runsCache = null;
async function runs() {
  runsCache = await api("/api/runs");
  return runsCache;
}

function setNav(data) {
  fill(nav,
    h("a", { href: "#/" }, "Runs"),
    data.runs.length >= 2 ? h("a", { href: `#/compare/${data.runs[0].id}/${data.runs[1].id}` }, "Compare") : null,
    data.trains.map(t => h("a", { href: `#/train/${t.id}` }, `Training: ${t.name}`)));
}

// ---------- home: the runs ----------
async function home() {
  const data = await runs();
  setNav(data);
  const all = data.runs.flatMap(r => r.notices.map(n => ({ level: n.level, text: `${r.name}: ${n.text}` })));
  const cards = data.runs.map(r => h("div", { class: "card run", "data-run": r.id },
    h("h3", {}, h("a", { href: `#/run/${r.id}` }, r.name)),
    h("div", { class: "meta" }, r.path),
    h("div", {}, `${r.envs.join(", ")}`),
    h("div", {}, h("b", { class: "episodes" }, r.episodes), " episodes · ",
      h("b", { class: "successes" }, r.successes), " successful · ",
      h("span", { class: "infra" }, r.infra_episodes), " with infra failures · ",
      r.steps, " steps · mean return ", fmt(r.mean_return)),
    r.indexed ? null : h("div", { class: "meta" }, `indexing steps… ${r.step_lines} so far`),
    r.group ? h("div", { class: "meta" }, "recorded by training run ", h("a", { href: `#/train/${r.group}` }, r.group)) : null));
  const trains = data.trains.map(t => h("div", { class: "card train" },
    h("h3", {}, h("a", { href: `#/train/${t.id}` }, `Training run ${t.name}`)),
    h("div", { class: "meta" }, t.dir), h("div", {}, `${t.iters} iterations`)));
  let compare = null;
  if (data.runs.length >= 2) {
    const selA = h("select", { id: "cmp-a" }, data.runs.map(r => h("option", { value: r.id }, r.name)));
    const selB = h("select", { id: "cmp-b" }, data.runs.map(r => h("option", { value: r.id }, r.name)));
    selB.selectedIndex = 1;
    compare = h("div", { class: "filters" }, "Compare ", selA, " with ", selB,
      h("button", { onclick: () => { location.hash = `#/compare/${selA.value}/${selB.value}`; } }, "Compare"));
  }
  show(h("h1", {}, "Runs"), notices(all), h("div", { class: "cards" }, cards, trains), compare);
  if (data.runs.some(r => !r.indexed)) setTimeout(() => { if (location.hash === "" || location.hash === "#/") route(); }, 1000);
}

// ---------- a run's episodes ----------
const columns = [
  ["index", "#"], ["env", "env"], ["task", "task"], ["seed", "seed"], ["policy", "policy"],
  ["return", "return"], ["success", "success"], ["steps", "steps"], [null, "statuses"], ["duration", "duration"],
];

async function runPage(runID, params) {
  const data = runsCache || await runs();
  setNav(data);
  const r = data.runs.find(x => x.id === runID);
  if (!r) return fail(new Error(`no run ${runID}`));
  const q = new URLSearchParams(params);
  const offset = +(q.get("offset") || 0), limit = 100;
  const page = await api(`/api/runs/${runID}/episodes?${q}&limit=${limit}`);
  const go = (changes) => {
    const n = new URLSearchParams(q);
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null) n.delete(k); else n.set(k, v); }
    if (!("offset" in changes)) n.delete("offset");
    location.hash = `#/run/${runID}?${n}`;
  };
  const sel = (name, opts, label) => h("label", {}, label + " ",
    h("select", { name, onchange: e => go({ [name]: e.target.value }) },
      h("option", { value: "" }, "any"), opts.map(o => h("option", { value: o, selected: q.get(name) === o }, o))));
  const filters = h("div", { class: "filters" },
    sel("success", ["yes", "no"], "success"), sel("status", page.statuses, "status"), sel("task", page.tasks, "task"),
    h("input", { type: "search", placeholder: "episode id, env, policy…", value: q.get("q") || "",
      onchange: e => go({ q: e.target.value }) }));
  const head = h("tr", {}, columns.map(([key, label]) => {
    if (!key) return h("th", {}, label);
    const sorted = q.get("sort") === key || (!q.get("sort") && key === "index");
    const desc = q.get("desc") === "1";
    return h("th", { class: `sortable${sorted ? " sorted" : ""}${sorted && desc ? " desc" : ""}`, "data-col": key,
      onclick: () => go({ sort: key, desc: sorted && !desc ? "1" : "" }) }, label);
  }));
  const rows = page.episodes.map(ep => h("tr", { class: "row", "data-episode": ep.id,
    onclick: () => { location.hash = `#/run/${runID}/ep/${encodeURIComponent(ep.id)}`; } },
    h("td", { class: "num" }, ep.index), h("td", {}, ep.env_id, ep.env_version ? h("span", { class: "meta" }, " " + ep.env_version) : null),
    h("td", {}, ep.task_id || ""), h("td", { class: "num" }, ep.seed), h("td", {}, ep.policy || ""),
    h("td", { class: "num" }, fmt(ep.return)), h("td", {}, badge(ep.success ? "yes" : "no")),
    h("td", { class: "num" }, ep.steps), h("td", {}, statusBadges(ep.status_counts)),
    h("td", { class: "num" }, ep.duration_ms ? `${fmt(ep.duration_ms / 1000, 2)} s` : "")));
  const pager = () => h("div", { class: "pager" },
    h("button", { disabled: offset <= 0, onclick: () => go({ offset: Math.max(0, offset - limit) }) }, "← previous"),
    h("span", { class: "count" }, `${page.total ? offset + 1 : 0}–${Math.min(offset + limit, page.total)} of ${page.total} episodes`),
    h("button", { disabled: offset + limit >= page.total, onclick: () => go({ offset: offset + limit }) }, "next →"));
  show(h("h1", {}, r.name), h("div", { class: "meta" }, r.path), notices(r.notices), filters, pager(),
    h("table", { class: "episodes" }, h("thead", {}, head), h("tbody", {}, rows)), pager());
}

// ---------- an episode ----------
// target reads what an action points at: an element id ([12] in the
// observation) or screen coordinates (two leading numbers).
function target(action) {
  const m = /^\s*[A-Za-z_][\w.]*\s*\((.*)\)\s*$/s.exec(action || "");
  if (!m) return {};
  const args = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,]+)\s*(?:,|$)/gy;
  let a;
  while ((a = re.exec(m[1])) && a[0] !== "") args.push(a[1].trim());
  const unq = s => (s || "").replace(/^["']|["']$/g, "");
  const nums = args.map(x => Number(unq(x)));
  if (args.length >= 2 && !isNaN(nums[0]) && !isNaN(nums[1]) && /^[-\d.]+$/.test(args[0]) && /^[-\d.]+$/.test(args[1]) && !/id=/.test(args[0])) {
    return { x: nums[0], y: nums[1], id: null };
  }
  if (args.length >= 1 && /^["']?[\w-]+["']?$/.test(args[0])) return { id: unq(args[0]) };
  return {};
}

function obsBlock(text, id) {
  const pre = h("pre", { class: "obs" });
  const needle = id ? `[${id}]` : null;
  for (const line of (text || "").split("\n")) {
    if (needle && line.includes(needle)) pre.append(h("span", { class: "hl", "data-target": id }, line), "\n");
    else pre.append(line + "\n");
  }
  return pre;
}

function shot(runID, path, t) {
  if (!path) return null;
  const img = h("img", { src: `/api/runs/${runID}/files/${path.split("/").map(encodeURIComponent).join("/")}`, alt: "screenshot " + path });
  const box = h("div", { class: "shot" }, img);
  img.addEventListener("error", () => box.replaceWith(h("div", { class: "notice" }, `screenshot ${path} is missing`)));
  if (t && t.x !== undefined) {
    img.addEventListener("load", () => {
      const m = h("div", { class: "marker" });
      m.style.left = (100 * t.x / img.naturalWidth) + "%";
      m.style.top = (100 * t.y / img.naturalHeight) + "%";
      box.append(m);
    });
  }
  return box;
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(p => p[1] !== undefined && p[1] !== null && p[1] !== "").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function policyInfo(pi) {
  if (!pi || !Object.keys(pi).length) return null;
  const rest = Object.assign({}, pi);
  const reasoning = rest.reasoning || rest.thought || rest.reply || rest.raw;
  delete rest.reasoning; delete rest.thought; delete rest.reply; delete rest.raw;
  return h("div", {}, h("h2", {}, "Policy"),
    reasoning ? h("div", { class: "reasoning" }, String(reasoning)) : null,
    Object.keys(rest).length ? h("pre", { class: "info" }, JSON.stringify(rest, null, 2)) : null);
}

async function episodePage(runID, epID, stepArg) {
  const data = runsCache || await runs();
  setNav(data);
  const d = await api(`/api/runs/${runID}/episodes/${encodeURIComponent(epID)}`);
  const ep = d.episode, steps = d.steps;
  // One entry per step, then the final observation.
  const n = steps.length;
  let cur = Math.min(Math.max(0, stepArg === undefined ? 0 : +stepArg), n);
  const list = h("div", { class: "steps" }, steps.map((s, i) => h("div", {
    class: "steplink" + (s.status !== "OK" ? (["ENV_ERROR", "TIMEOUT", "CRASHED"].includes(s.status) ? " infra" : " invalid") : ""),
    "data-step": i, onclick: () => select(i) },
    h("span", { class: "n" }, i), h("span", { class: "act" }, s.action), badge(s.status), h("span", { class: "meta" }, fmt(s.reward, 2)))),
    n ? h("div", { class: "steplink", "data-step": n, onclick: () => select(n) }, h("span", { class: "n" }, "end"), h("span", { class: "act" }, "final observation")) : null);
  const detail = h("div", { class: "detail" });
  function select(i) {
    cur = Math.min(Math.max(0, i), n);
    history.replaceState(null, "", `#/run/${runID}/ep/${encodeURIComponent(epID)}/${cur}`);
    list.querySelectorAll(".steplink").forEach(el => el.classList.toggle("current", +el.dataset.step === cur));
    const el = list.querySelector(`[data-step="${cur}"]`);
    if (el) el.scrollIntoView({ block: "nearest" });
    if (!n) { fill(detail, h("p", {}, "This episode has no recorded steps.")); return; }
    if (cur === n) {
      const last = steps[n - 1];
      fill(detail, h("h2", {}, "Final observation"),
        kv([["terminated", String(last.terminated)], ["truncated", String(last.truncated)], ["return", fmt(ep.return)], ["success", badge(ep.success ? "yes" : "no")]]),
        shot(runID, last.next_screenshot), obsBlock(last.next_obs));
      return;
    }
    const s = steps[cur];
    const t = target(s.action);
    fill(detail, 
      h("h2", {}, `Step ${cur} of ${n}`),
      kv([["action", h("code", { class: "action" }, s.action)], ["status", badge(s.status)], ["reward", fmt(s.reward)],
        ["done", s.terminated ? "terminated" : s.truncated ? "truncated" : ""], ["step time", s.step_ms !== undefined ? `${fmt(s.step_ms, 1)} ms` : ""]]),
      policyInfo(s.policy_info),
      h("h2", {}, "Observation the action was chosen on"),
      shot(runID, s.screenshot, t), obsBlock(s.obs, t.id),
      s.valid_actions && s.valid_actions.length ? h("details", {}, h("summary", {}, `${s.valid_actions.length} valid actions`), h("pre", { class: "info" }, s.valid_actions.join("\n"))) : null,
      s.info && Object.keys(s.info).length ? h("div", {}, h("h2", {}, "Info"), h("pre", { class: "info" }, JSON.stringify(s.info, null, 2))) : null);
  }
  keyHandler = e => {
    if (e.key === "ArrowRight" || e.key === "j") { select(cur + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft" || e.key === "k") { select(cur - 1); e.preventDefault(); }
    else if (e.key === "Escape") { location.hash = `#/run/${runID}`; }
  };
  show(h("h1", {}, `Episode ${ep.id}`),
    h("div", { class: "meta" }, h("a", { href: `#/run/${runID}` }, "← episodes of this run")),
    kv([["env", `${ep.env_id} ${ep.env_version || ""}`], ["task", ep.task_id], ["seed", String(ep.seed)], ["policy", ep.policy],
      ["return", fmt(ep.return)], ["success", badge(ep.success ? "yes" : "no")], ["statuses", h("span", {}, statusBadges(ep.status_counts))]]),
    notices(d.notices), h("div", { class: "episode" }, list, detail));
  select(cur);
}

// ---------- compare ----------
async function comparePage(a, b) {
  const data = runsCache || await runs();
  setNav(data);
  const c = await api(`/api/compare?a=${a}&b=${b}`);
  const pick = (name, val) => h("select", { onchange: e => { location.hash = name === "a" ? `#/compare/${e.target.value}/${b}` : `#/compare/${a}/${e.target.value}`; } },
    data.runs.map(r => h("option", { value: r.id, selected: r.id === val }, r.name)));
  const cell = ep => ep ? [h("td", {}, badge(ep.success ? "yes" : "no")), h("td", { class: "num" }, fmt(ep.return)), h("td", { class: "num" }, ep.steps)]
    : [h("td", { colspan: 3, class: "meta" }, "not played")];
  const rows = c.rows.map(r => h("tr", { class: "row" + (r.differs ? " differs" : ""), "data-seed": r.seed,
    onclick: () => { if (r.a && r.b) location.hash = `#/compare/${a}/${b}/${encodeURIComponent(r.a.id)}/${encodeURIComponent(r.b.id)}`; } },
    h("td", {}, r.env_id), h("td", {}, r.task_id || ""), h("td", { class: "num" }, r.seed), ...cell(r.a), ...cell(r.b),
    h("td", {}, r.differs ? badge("differs", "no") : "")));
  show(h("h1", {}, "Compare runs"), h("div", { class: "filters" }, "A ", pick("a", a), " B ", pick("b", b)),
    h("p", { class: "summary" }, `${c.paired} seeds played by both · success A ${c.success_a}, B ${c.success_b} · ${c.differing} seeds with a different outcome`,
      c.only_one ? ` · ${c.only_one} seeds played by one run only` : ""),
    h("table", { class: "compare" }, h("thead", {}, h("tr", {}, h("th", {}, "env"), h("th", {}, "task"), h("th", {}, "seed"),
      h("th", {}, "A success"), h("th", {}, "A return"), h("th", {}, "A steps"), h("th", {}, "B success"), h("th", {}, "B return"), h("th", {}, "B steps"), h("th", {}, ""))),
      h("tbody", {}, rows)));
}

async function compareEpisodesPage(a, b, ea, eb) {
  const data = runsCache || await runs();
  setNav(data);
  const c = await api(`/api/compare/episodes?a=${a}&b=${b}&ea=${encodeURIComponent(ea)}&eb=${encodeURIComponent(eb)}`);
  const fd = c.first_difference;
  const n = Math.max(c.a.steps.length, c.b.steps.length);
  const side = (run, s) => s ? h("div", {}, h("code", { class: "action" }, s.action), " ", badge(s.status), " reward ", fmt(s.reward),
    h("details", { open: fd.step >= 0 && s.step === fd.step }, h("summary", {}, "observation"), obsBlock(s.obs, target(s.action).id))) : h("div", { class: "meta" }, "(episode over)");
  const rows = [];
  for (let i = 0; i < n; i++) {
    const cls = "cmpstep" + (i === fd.step ? " first-diff" : fd.step < 0 || i < fd.step ? " same" : "");
    rows.push(h("div", { class: cls, "data-step": i }, h("div", { class: "meta" }, `step ${i}`, i === fd.step ? ` — first difference (${fd.field})` : ""),
      h("div", { class: "panes" }, side(a, c.a.steps[i]), side(b, c.b.steps[i]))));
  }
  const banner = fd.step >= 0
    ? h("div", { class: "diffbanner" }, `The episodes first differ at step ${fd.step} (${fd.field}).`)
    : h("div", { class: "samebanner" }, "The two episodes are identical step for step.");
  show(h("h1", {}, `Seed ${c.a.episode.seed}: A against B`), h("div", { class: "meta" }, h("a", { href: `#/compare/${a}/${b}` }, "← all seeds")),
    h("div", { class: "two" }, kv([["A", `${c.a.episode.id} · return ${fmt(c.a.episode.return)}`], ["success", badge(c.a.episode.success ? "yes" : "no")]]),
      kv([["B", `${c.b.episode.id} · return ${fmt(c.b.episode.return)}`], ["success", badge(c.b.episode.success ? "yes" : "no")]])),
    notices([...c.a.notices, ...c.b.notices]), banner, rows);
  const first = app.querySelector(".first-diff");
  if (first) first.scrollIntoView({ block: "center" });
}

// ---------- training ----------
const preferred = ["success", "return", "entropy", "approx_kl", "loss", "value_loss", "progress_mse", "progress_held_mse", "outcome_var", "invalid", "clip_frac", "steps_per_s"];
const titles = { approx_kl: "KL (approx.)", progress_mse: "SPA fit: sum-MSE (train)", progress_held_mse: "SPA fit: sum-MSE (held out)", outcome_var: "SPA: constant's MSE" };

function chart(name, pts, xlabel) {
  const W = 380, H = 190, L = 44, R = 10, T = 10, B = 28;
  const xs = pts.map(p => p.x), ys = pts.map(p => p.y);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(0, ...ys), y1 = Math.max(...ys);
  if (x1 === x0) x1 = x0 + 1; if (y1 === y0) y1 = y0 + 1;
  const X = x => L + (W - L - R) * (x - x0) / (x1 - x0), Y = y => H - B - (H - T - B) * (y - y0) / (y1 - y0);
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; };
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-metric": name, "data-points": pts.length });
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    svg.append(s("line", { class: "grid", x1: L, x2: W - R, y1: Y(y), y2: Y(y) }));
    const t = s("text", { x: L - 4, y: Y(y) + 3, "text-anchor": "end" }); t.textContent = fmt(y, 2); svg.append(t);
  }
  svg.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const tl = s("text", { x: L, y: H - 8 }); tl.textContent = fmt(x0, 0); svg.append(tl);
  const tr = s("text", { x: W - R, y: H - 8, "text-anchor": "end" }); tr.textContent = `${fmt(x1, 0)} ${xlabel}`; svg.append(tr);
  svg.append(s("path", { class: "line", d: pts.map((p, i) => `${i ? "L" : "M"}${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join("") }));
  for (const p of pts) svg.append(s("circle", { class: "dot", cx: X(p.x), cy: Y(p.y), r: 2.5 }));
  return h("div", { class: "chart" }, h("h3", {}, titles[name] || name), svg);
}

async function trainPage(id) {
  const data = runsCache || await runs();
  setNav(data);
  const t = await api(`/api/trains/${id}`);
  const names = Object.keys(t.series).filter(k => k !== "iter" && t.series[k].length > 0 && t.series[k].some(p => p.y !== 0));
  names.sort((a, b) => (preferred.indexOf(a) + 1 || 99) - (preferred.indexOf(b) + 1 || 99) || a.localeCompare(b));
  const rep = t.report || {};
  const headline = ["device", "env_steps", "success_untrained", "success_before", "success_after", "infra_episodes"]
    .filter(k => rep[k] !== undefined).map(k => [k.replace(/_/g, " "), fmt(rep[k])]);
  show(h("h1", {}, `Training run ${t.name}`), h("div", { class: "meta" }, t.dir), notices(t.notices), kv(headline),
    h("div", { class: "charts" }, names.map(n => chart(n, t.series[n], t.x === "env_steps" ? "env steps" : "iterations"))),
    h("h2", {}, "Evaluation episodes recorded in this folder"),
    t.runs.length ? h("ul", {}, t.runs.map(r => h("li", {}, h("a", { href: `#/run/${r.id}` }, r.name), ` — ${r.episodes} episodes, ${r.successes} successful`)))
      : h("p", { class: "meta" }, "none (record some with gym run --policy checkpoint:DIR --out DIR/eval.jsonl)"));
}

// ---------- routing ----------
async function route() {
  keyHandler = null;
  const routed = location.hash || "#/";
  const hash = routed.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const p = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (p[0] === "run" && p[2] === "ep") await episodePage(p[1], p[3], p[4]);
    else if (p[0] === "run") await runPage(p[1], query || "");
    else if (p[0] === "compare" && p.length >= 5) await compareEpisodesPage(p[1], p[2], p[3], p[4]);
    else if (p[0] === "compare") await comparePage(p[1], p[2]);
    else if (p[0] === "train") await trainPage(p[1]);
    else await home();
  } catch (err) { fail(err); }
  document.body.dataset.ready = routed;
}

document.addEventListener("keydown", e => { if (keyHandler && !/INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) keyHandler(e); });
window.addEventListener("hashchange", route);
route();
