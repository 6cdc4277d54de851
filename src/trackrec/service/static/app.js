// trackrec dashboard: plain JavaScript, no external assets. Every text from the API is inserted
// with textContent (never as HTML). The user token lives in sessionStorage of this tab only.
"use strict";

const COLUMNS = [
  ["affinity-lr", "Predictive (affinity-lr)"],
  ["similarity", "Similar (content)"],
  ["popularity", "Popular"],
  ["affinity-ranker", "Ranker"],
];
const state = { token: sessionStorage.getItem("trackrec-token"), user: null, strategies: [] };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function showError(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }

async function api(path, opts = {}) {
  const headers = Object.assign({ "Authorization": "Bearer " + state.token }, opts.body ? { "Content-Type": "application/json" } : {});
  const r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body ? JSON.stringify(opts.body) : undefined });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data && data.detail) || ("HTTP " + r.status));
  return data;
}

const u = () => "/v1/users/" + encodeURIComponent(state.user);

async function login(token) {
  state.token = token;
  try {
    const me = await api("/v1/me");
    if (me.kind !== "user") throw new Error("log in with a user token (the admin key does not belong in a browser)");
    state.user = me.user_id;
    sessionStorage.setItem("trackrec-token", token);
    $("whoami").textContent = me.user_id;
    $("login-form").hidden = true; $("session").hidden = false; $("app").hidden = false;
    showError("");
    const model = await api("/v1/model");
    state.strategies = model.strategies;
    $("model-version").textContent = "model " + model.version;
    await refreshAll();
  } catch (err) {
    state.token = null; sessionStorage.removeItem("trackrec-token");
    showError("Login failed: " + err.message);
  }
}

function logout() {
  sessionStorage.removeItem("trackrec-token");
  state.token = null; state.user = null;
  $("login-form").hidden = false; $("session").hidden = true; $("app").hidden = true;
  $("token").value = "";
}

function trackLabel(t) {
  return el("span", {}, el("span", { class: "t-title" }, t.title || t.track_id), " ",
    el("span", { class: "t-meta" }, [t.artist, t.genre, t.mood].filter(Boolean).join(" · ")));
}

async function play(trackId, opts = {}) {
  const body = { track_id: trackId, ms_played: opts.skipped ? 4000 : (opts.duration || 200000), skipped: !!opts.skipped };
  if (opts.recId) body.rec_id = opts.recId;
  try {
    await api(u() + "/listens", { method: "POST", body });
    await refreshAll(true);
  } catch (err) { showError("Could not log the play: " + err.message); }
}

function playButtons(t, recId) {
  return el("span", {},
    el("button", { class: "play", title: "play (logs a listen)", "data-track": t.track_id,
      onclick: () => play(t.track_id, { recId, duration: t.duration_ms }) }, "▶ play"), " ",
    el("button", { class: "skip", title: "skip (logs a skipped play)", onclick: () => play(t.track_id, { recId, skipped: true }) }, "skip"));
}

async function search(ev) {
  if (ev) ev.preventDefault();
  try {
    const q = $("search").value.trim();
    const data = await api("/v1/tracks?limit=20" + (q ? "&q=" + encodeURIComponent(q) : ""));
    const ul = $("results"); ul.replaceChildren();
    if (!data.items.length) ul.append(el("li", { class: "muted" }, "no tracks match"));
    for (const t of data.items) ul.append(el("li", { "data-track": t.track_id }, trackLabel(t), playButtons(t)));
  } catch (err) { showError("Search failed: " + err.message); }
}

async function loadHistory() {
  const data = await api(u() + "/history?limit=30");
  $("history-count").textContent = "(" + data.total + " plays)";
  const ul = $("history"); ul.replaceChildren();
  if (!data.items.length) ul.append(el("li", { class: "muted" }, "no plays yet — play something"));
  for (const e of data.items) {
    ul.append(el("li", { "data-track": e.track_id }, trackLabel(e),
      el("span", { class: "t-meta" }, (e.skipped ? "skipped · " : "") + (e.played_at || "").slice(0, 16).replace("T", " "))));
  }
}

async function loadRecs(flash) {
  const box = $("recs"); box.replaceChildren();
  for (const [strategy, label] of COLUMNS) {
    const col = el("div", { class: "rec-col" + (flash ? " flash" : ""), id: "recs-" + strategy }, el("h3", {}, label));
    box.append(col);
    if (!state.strategies.includes(strategy)) {
      col.append(el("p", { class: "muted" }, "not in the loaded model yet"));
      continue;
    }
    try {
      const r = await api(u() + "/recommendations?k=10&strategy=" + strategy);
      if (r.cold_start) col.append(el("p", { class: "muted" }, "new here: popular picks until you play something"));
      const ol = el("ol", {});
      for (const it of r.items) {
        const score = it.probability !== undefined ? "P=" + it.probability.toFixed(2) : it.score.toFixed(3);
        ol.append(el("li", { "data-track": it.track_id }, el("span", { class: "score" }, score), trackLabel(it), " ",
          playButtons(it, r.recommendation_id), el("span", { class: "reason" }, it.reason)));
      }
      col.append(ol);
    } catch (err) { col.append(el("p", { class: "muted" }, err.message)); }
  }
}

function bars(title, rows, cls) {
  const w = 260, rowH = 18, pad = 90, h = 22 + rows.length * rowH;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", w); svg.setAttribute("height", h); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const t = document.createElementNS(NS, "text"); t.setAttribute("x", 0); t.setAttribute("y", 13); t.textContent = title; svg.append(t);
  rows.forEach((r, i) => {
    const y = 20 + i * rowH;
    const lab = document.createElementNS(NS, "text"); lab.setAttribute("x", 0); lab.setAttribute("y", y + 12); lab.textContent = r.label; svg.append(lab);
    const bar = document.createElementNS(NS, "rect");
    bar.setAttribute("x", pad); bar.setAttribute("y", y + 2); bar.setAttribute("height", rowH - 6);
    bar.setAttribute("width", Math.max(1, (w - pad - 40) * r.value)); bar.setAttribute("class", "bar " + cls); svg.append(bar);
    const v = document.createElementNS(NS, "text"); v.setAttribute("x", pad + Math.max(1, (w - pad - 40) * r.value) + 4); v.setAttribute("y", y + 12);
    v.textContent = r.text; svg.append(v);
  });
  return svg;
}

async function loadTaste() {
  const box = $("taste"); box.replaceChildren();
  try {
    const p = await api(u() + "/profile");
    const s = p.summary;
    if (p.cold_start) { box.append(el("p", { class: "muted" }, "no taste profile yet")); return; }
    box.append(bars("top genres", s.top_genres.map((g) => ({ label: g.label, value: g.share, text: Math.round(g.share * 100) + "%" })), "genre"));
    box.append(bars("top moods", s.top_moods.map((g) => ({ label: g.label, value: g.share, text: Math.round(g.share * 100) + "%" })), "mood"));
    const scaled = [];
    for (const [k, v] of Object.entries(s.means)) {
      const value = k === "tempo" ? Math.min(1, v / 200) : Math.min(1, Math.max(0, v));
      scaled.push({ label: k, value, text: k === "tempo" ? Math.round(v) + " bpm" : v.toFixed(2) });
    }
    box.append(bars("sound (mean)", scaled, "genre"));
  } catch (err) { box.append(el("p", { class: "muted" }, err.message)); }
}

async function loadStats() {
  const data = await api("/v1/stats/strategies");
  const tb = $("stats").querySelector("tbody"); tb.replaceChildren();
  for (const s of data.strategies) {
    tb.append(el("tr", {}, el("td", {}, s.strategy), el("td", {}, s.listens),
      el("td", {}, Math.round(s.play_through_rate * 100) + "%"), el("td", {}, Math.round(s.skip_rate * 100) + "%")));
  }
  if (!data.strategies.length) tb.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "play something from a list to see this")));
}

async function refreshAll(flash) {
  try {
    await Promise.all([loadHistory(), loadTaste(), loadStats()]);
    await loadRecs(flash);
    document.body.dataset.refreshed = String(Date.now());
  } catch (err) { showError(err.message); }
}

$("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value.trim()); });
$("logout").addEventListener("click", logout);
$("search-form").addEventListener("submit", search);
if (state.token) login(state.token);
