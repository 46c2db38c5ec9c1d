// Glint emoji dashboard: renders the server's View (see dashboard.View) pushed over SSE.
"use strict";

const POSITIVE = new Set(["🔥", "😂", "👏", "❤️", "🎉", "🏏", "💯"]);
const NEGATIVE = new Set(["😢", "😡", "😱"]);
const moodClass = (e) => (POSITIVE.has(e) ? "positive" : NEGATIVE.has(e) ? "negative" : "neutral");

const $ = (id) => document.getElementById(id);
const fmtInt = (n) => Math.round(n).toLocaleString("en-US");
const fmtRate = (n) => (n >= 10000 ? (n / 1000).toFixed(1) + "k" : fmtInt(n));
const fmtMs = (ms) => {
  if (ms == null || !isFinite(ms)) return "—";
  const a = Math.abs(ms);
  if (a < 1000) return Math.round(ms) + " ms";
  if (a < 60000) return (ms / 1000).toFixed(2) + " s";
  if (a < 3600000) return (ms / 60000).toFixed(1) + " min";
  return (ms / 3600000).toFixed(1) + " h";
};
const hhmmss = (iso) => (iso ? iso.slice(11, 19) : "");
const pct = (part, n) => (n > 0 ? Math.round((part * 100) / n) : 0);

const cards = new Map(); // match id -> {el, parts, rows: Map(emoji -> row parts), hero}

function card(id) {
  let c = cards.get(id);
  if (c) return c;
  const el = $("match-tpl").content.firstElementChild.cloneNode(true);
  el.dataset.match = id;
  const parts = {};
  el.querySelectorAll("[data-role]").forEach((n) => { parts[n.dataset.role] = n; });
  parts.name.textContent = "Match " + id;
  for (const k of ["window", "rate", "mood", "pos", "neg"]) parts[k].dataset.match = id;
  c = { el, parts, rows: new Map(), hero: "" };
  cards.set(id, c);
  $("empty").hidden = true;
  $("matches").appendChild(el);
  return c;
}

function barRow(c, emoji) {
  let r = c.rows.get(emoji);
  if (r) return r;
  const row = document.createElement("div");
  row.className = "bar-row " + moodClass(emoji);
  row.dataset.emoji = emoji;
  row.innerHTML = '<span class="emo"></span><div class="track"><div class="fill"></div></div><span class="n"><span class="v" data-testid="count"></span><small></small></span>';
  row.querySelector(".emo").textContent = emoji;
  const n = row.querySelector(".v");
  n.dataset.match = c.el.dataset.match;
  n.dataset.emoji = emoji;
  r = { row, fill: row.querySelector(".fill"), n, rev: row.querySelector("small") };
  c.rows.set(emoji, r);
  c.parts.bars.appendChild(row);
  return r;
}

function renderMatch(m) {
  const c = card(m.match_id);
  const p = c.parts;
  const w = m.latest;
  if (w) {
    p.window.textContent = hhmmss(w.window_start) + " – " + hhmmss(w.window_end) + " UTC · " + fmtInt(w.total) + " reactions";
    p.window.dataset.start = w.window_start;
    p.window.dataset.total = w.total;
    p.rate.textContent = fmtRate(m.rate);
    p.rate.dataset.value = m.rate;
    const max = w.emoji.length ? w.emoji[0].n : 0;
    const shown = new Set();
    w.emoji.forEach((e, i) => {
      const r = barRow(c, e.emoji);
      shown.add(e.emoji);
      r.row.hidden = false;
      r.row.style.order = i;
      r.fill.style.width = (max > 0 ? (e.n / max) * 100 : 0).toFixed(2) + "%";
      r.n.textContent = fmtInt(e.n);
      r.n.dataset.n = e.n;
      r.n.dataset.revision = e.revision;
      r.rev.textContent = e.revision > 0 ? "rev " + e.revision : "";
    });
    for (const [emoji, r] of c.rows) if (!shown.has(emoji)) r.row.hidden = true;
    const top = w.emoji.length ? w.emoji[0].emoji : "";
    if (top !== c.hero) {
      c.hero = top;
      p.hero.textContent = top;
      p.hero.classList.add("pop");
      setTimeout(() => p.hero.classList.remove("pop"), 250);
    }
  }
  renderMood(c, m.mood || []);
}

function renderMood(c, mood) {
  const p = c.parts;
  const last = mood.length ? mood[mood.length - 1] : null;
  if (last) {
    const pp = pct(last.positive, last.n), np = pct(last.negative, last.n);
    p.pos.textContent = pp + "%";
    p.neg.textContent = np + "%";
    p.mood.dataset.n = last.n;
    p.mood.dataset.positive = last.positive;
    p.mood.dataset.negative = last.negative;
    p.mood.dataset.start = last.window_start;
    p["mood-n"].textContent = "last 10 s · " + fmtInt(last.n) + " reactions";
    const share = (x) => (last.n > 0 ? (x * 100) / last.n : 0);
    p["pos-bar"].style.width = share(last.positive) + "%";
    p["neg-bar"].style.width = share(last.negative) + "%";
    p["neu-bar"].style.width = share(last.n - last.positive - last.negative) + "%";
  }
  if (mood.length < 2) {
    for (const k of ["pos-line", "neg-line", "pos-area", "neg-area"]) p[k].setAttribute("d", "");
    p.span.textContent = "";
    return;
  }
  const t0 = Date.parse(mood[0].window_end), t1 = Date.parse(mood[mood.length - 1].window_end);
  const W = 600, H = 120;
  const x = (r) => (t1 > t0 ? ((Date.parse(r.window_end) - t0) / (t1 - t0)) * W : 0);
  const y = (v, n) => H - (n > 0 ? (v / n) * H : 0);
  const line = (f) => mood.map((r, i) => (i ? "L" : "M") + x(r).toFixed(1) + " " + y(f(r), r.n).toFixed(1)).join(" ");
  const posLine = line((r) => r.positive), negLine = line((r) => r.negative);
  p["pos-line"].setAttribute("d", posLine);
  p["neg-line"].setAttribute("d", negLine);
  const close = " L" + W + " " + H + " L0 " + H + " Z";
  p["pos-area"].setAttribute("d", posLine + close);
  p["neg-area"].setAttribute("d", negLine + close);
  p.span.textContent = fmtMs(t1 - t0);
}

// setTile shows value (with its raw number in data-value) and a subtitle; with a target, the
// value is coloured by whether it is within it (higher is better for rates, lower for latency).
function setTile(id, text, raw, sub, target, higherIsBetter) {
  const e = $(id);
  e.textContent = text;
  if (raw != null && isFinite(raw)) e.dataset.value = raw;
  else delete e.dataset.value;
  e.classList.remove("ok", "over");
  if (target != null && raw != null && isFinite(raw)) e.classList.add((higherIsBetter ? raw >= target : raw <= target) ? "ok" : "over");
  $(id + "-sub").innerHTML = sub;
}

const esc = (t) => String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function renderTiles(v) {
  const s = v.stats || {};
  const engineRate = s.input_rate;
  const target = s.target_rate;
  const rate = engineRate != null ? engineRate : v.input_rate;
  setTile("t-rate", fmtRate(rate), rate,
    engineRate != null
      ? "reactions / s into Kafka" + (target ? " · target <b>" + fmtRate(target) + "</b>" : "")
      : "reactions / s in the latest windows",
    target ? 0.95 * target : null, true);
  if (s.processed_rate != null) {
    setTile("t-proc", fmtRate(s.processed_rate), s.processed_rate,
      "records / s read by the job" + (s.input_lag != null ? " · lag <b>" + fmtInt(s.input_lag) + "</b>" : ""),
      target ? 0.95 * target : null, true);
  } else {
    setTile("t-proc", "—", null, fmtRate(v.input_rate) + " / s counted in the latest windows");
  }
  const lat = v.latency;
  const ooo = lat.max_out_of_orderness_ms || 0;
  const goal = s.latency_target_ms;
  if (lat.samples > 0) {
    const a = lat.after_watermark_ms, d = lat.delivery_ms, e = lat.arrival_ms;
    setTile("t-awm", fmtMs(a.p50), a.p50,
      "p99 <b>" + fmtMs(a.p99) + "</b> · window end + " + esc(fmtMs(ooo)) + " → dashboard" + (goal ? " · target ≤ " + esc(fmtMs(goal)) : ""),
      goal, false);
    $("t-awm").dataset.p99 = a.p99;
    setTile("t-del", fmtMs(d.p50), d.p50, "p99 <b>" + fmtMs(d.p99) + "</b> · fired (Kafka timestamp) → dashboard", goal, false);
    $("t-del").dataset.p99 = d.p99;
    setTile("t-lat", fmtMs(e.p50), e.p50, "p99 <b>" + fmtMs(e.p99) + "</b> · end → Kafka " + fmtMs(lat.kafka_ms.p50) + " · " + fmtInt(lat.samples) + " windows");
  }
  if (s.watermark_lag_ms != null) {
    $("t-wm").textContent = fmtMs(s.watermark_lag_ms);
    $("t-wm").dataset.value = s.watermark_lag_ms;
  }
  $("t-wm-sub").textContent = v.output_lag_ms != null ? "newest window closed " + fmtMs(v.output_lag_ms) + " ago" : "engine";
  const lateEvents = s.late_events;
  $("t-late").textContent = fmtInt(lateEvents != null ? lateEvents : v.late_updates);
  $("t-late").dataset.value = lateEvents != null ? lateEvents : v.late_updates;
  $("t-late-sub").textContent = lateEvents != null
    ? "late events · " + fmtInt(v.late_updates) + " rows revised"
    : "revised rows (late updates)";
  $("t-dlq").textContent = fmtInt(v.dlq.total);
  $("t-dlq").dataset.value = v.dlq.total;
  const reasons = Object.entries(v.dlq.by_reason || {}).sort((a, b) => b[1] - a[1]);
  $("t-dlq-sub").textContent = reasons.length ? "top: " + reasons[0][0] : "emoji.dlq";
}

function renderDLQ(v) {
  const reasons = Object.entries(v.dlq.by_reason || {}).sort((a, b) => b[1] - a[1]);
  $("dlq-count").textContent = v.dlq.total ? "· " + fmtInt(v.dlq.total) : "";
  const box = $("dlq-reasons");
  box.replaceChildren(...reasons.map(([r, n]) => {
    const s = document.createElement("span");
    s.className = "chip";
    s.dataset.testid = "dlq-reason";
    s.dataset.reason = r;
    s.dataset.n = n;
    s.textContent = r;
    const b = document.createElement("b");
    b.textContent = fmtInt(n);
    s.appendChild(b);
    return s;
  }));
  const body = $("dlq-recent");
  body.replaceChildren(...v.dlq.recent.slice().reverse().map((d) => {
    const tr = document.createElement("tr");
    for (const [text, cls] of [[d.reason, ""], [d.topic + "/" + d.partition + "@" + d.offset, ""], [d.value, "bytes"]]) {
      const td = document.createElement("td");
      td.textContent = text;
      td.title = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function renderEngine(v) {
  const rows = [
    ["count rows", fmtInt(v.rows.counts)],
    ["mood rows", fmtInt(v.rows.mood)],
    ["revised rows", fmtInt(v.late_updates)],
    ["stale rows ignored", fmtInt(v.stale_rows)],
    ["bad rows", fmtInt(v.bad_rows)],
    ["fetch errors", fmtInt(v.fetch_errors)],
    ["latency samples", fmtInt(v.latency.samples)],
    ["latency max", fmtMs(v.latency.arrival_ms.max)],
  ];
  for (const [k, val] of Object.entries(v.stats || {}).sort()) rows.push([k.replace(/_/g, " "), Number.isInteger(val) ? fmtInt(val) : val.toFixed(2)]);
  $("engine").replaceChildren(...rows.flatMap(([k, val]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = val;
    return [dt, dd];
  }));
}

let lastVersion = -1;
function render(v) {
  document.body.dataset.version = v.version;
  renderTiles(v);
  if (v.version !== lastVersion) {
    v.matches.forEach(renderMatch);
    renderDLQ(v);
    lastVersion = v.version;
  }
  renderEngine(v);
}

function setConn(state, label) {
  $("conn").dataset.state = state;
  $("conn-label").textContent = label;
}

function connect() {
  const es = new EventSource("events");
  es.addEventListener("open", () => setConn("live", "live"));
  es.addEventListener("state", (e) => {
    setConn("live", "live");
    render(JSON.parse(e.data));
  });
  es.addEventListener("error", () => setConn(es.readyState === EventSource.CLOSED ? "down" : "connecting", "reconnecting"));
}

fetch("api/state").then((r) => r.json()).then(render).catch(() => {});
connect();
