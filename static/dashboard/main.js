// The managers' dashboard: daily counts (table, chart, CSV) and the live supervisor view.
// Never any chat content: the server gives only counts and load.
import { api } from "../console/api.js";
import en from "./i18n/en.js";
import nl from "./i18n/nl.js";

const TEXTS = { nl, en };
const params = new URLSearchParams(location.search);
const lang = pickLanguage(params.get("lang"), navigator.languages);
const t = TEXTS[lang];
const POLL_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let pollTimer = null;

function pickLanguage(param, languages) {
  if (param in TEXTS) return param;
  for (const tag of languages || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in TEXTS) return base;
  }
  return "nl";
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function show(id) {
  for (const other of ["login-screen", "no-access", "app"]) $(other).hidden = other !== id;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min`;
}

// --- login -----------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const body = { username: $("login-username").value.trim(), password: $("login-password").value };
  if (!$("otp-row").hidden && $("login-otp").value.trim()) body.otp = $("login-otp").value.trim();
  const result = await api("/api/login", { method: "POST", body: JSON.stringify(body) }).catch(() => null);
  const code = result?.body?.error?.code;
  if (result?.status === 200) {
    $("login-password").value = "";
    await start();
  } else if (code === "otp_required") {
    $("otp-row").hidden = false;
    $("login-error").textContent = t.otpNeeded;
    $("login-otp").focus();
  } else if (result?.status === 429) {
    $("login-error").textContent = t.rateLimited(Number(result.body?.error?.retry_after_s) || 60);
  } else {
    $("login-error").textContent = t.loginWrong;
  }
}

async function logout() {
  clearTimeout(pollTimer);
  await api("/api/logout", { method: "POST" }).catch(() => null);
  location.reload();
}

// --- daily counts ----------------------------------------------------------------------------

function rangeQuery() {
  const query = new URLSearchParams();
  if ($("from").value) query.set("from", $("from").value);
  if ($("to").value) query.set("to", $("to").value);
  return query.toString();
}

async function loadDaily(event) {
  event?.preventDefault();
  const query = rangeQuery();
  $("csv").href = `/api/stats/daily.csv${query ? `?${query}` : ""}`;
  const result = await api(`/api/stats/daily${query ? `?${query}` : ""}`).catch(() => null);
  if (result?.status === 403 || result?.status === 401) {
    show(result.status === 403 ? "no-access" : "login-screen");
    return false;
  }
  if (result?.status !== 200) {
    $("daily-error").textContent = result?.status === 400 ? t.badRange : t.error;
    return true;
  }
  $("daily-error").textContent = "";
  renderDaily(result.body.days || []);
  return true;
}

function renderDaily(rows) {
  const counters = [];
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      if (key !== "date" && key !== "helpline" && !counters.includes(key)) counters.push(key);
    }
  }
  const head = $("daily").tHead;
  const body = $("daily").tBodies[0];
  head.replaceChildren();
  body.replaceChildren();
  const headRow = el("tr");
  for (const name of [t.date, t.helpline, ...counters]) {
    const th = el("th", name);
    th.scope = "col";
    headRow.append(th);
  }
  head.append(headRow);
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", t.noRows);
    td.colSpan = 2 + counters.length;
    tr.append(td);
    body.append(tr);
  }
  for (const row of rows) {
    const tr = el("tr");
    const th = el("th", row.date);
    th.scope = "row";
    tr.append(th, el("td", row.helpline));
    for (const key of counters) tr.append(el("td", String(row[key] ?? 0)));
    body.append(tr);
  }
  renderChart(rows);
}

function renderChart(rows) {
  const perDay = new Map();
  for (const row of rows) {
    const day = perDay.get(row.date) || { requested: 0, answered: 0 };
    day.requested += row.requested || 0;
    day.answered += row.answered || 0;
    perDay.set(row.date, day);
  }
  const days = [...perDay.keys()].sort();
  const max = Math.max(1, ...[...perDay.values()].map((d) => d.requested));
  const slot = 48;
  const height = 160;
  const top = 20;
  const width = Math.max(240, days.length * slot + 20);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + top + 30}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", "chart-title chart-desc");
  const desc = document.createElementNS(SVG, "desc");
  desc.id = "chart-desc";
  desc.textContent = days.length
    ? days.map((d) => `${d}: ${perDay.get(d).requested} ${t.requested}, ${perDay.get(d).answered} ${t.answered}`).join("; ")
    : t.noRows;
  svg.append(desc);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  days.forEach((date, i) => {
    const day = perDay.get(date);
    const x = 10 + i * slot;
    const hr = (day.requested / max) * height;
    const ha = (day.answered / max) * height;
    add("rect", { x, y: top + height - hr, width: 18, height: hr, class: "bar-requested" });
    add("rect", { x: x + 20, y: top + height - ha, width: 18, height: ha, class: "bar-answered" });
    add("text", { x: x + 19, y: top + height - Math.max(hr, ha) - 4, "text-anchor": "middle" }, `${day.requested}/${day.answered}`);
    add("text", { x: x + 19, y: top + height + 16, "text-anchor": "middle" }, date.slice(5));
  });
  add("text", { x: 10, y: 12 }, `▮ ${t.requested}   ▮ ${t.answered}`).classList.add("legend");
  $("chart").replaceChildren(svg);
}

// --- live supervisor view --------------------------------------------------------------------

async function poll() {
  clearTimeout(pollTimer);
  const result = await api("/api/supervisor").catch(() => null);
  if (result?.status === 403) {
    show("no-access");
    return;
  }
  if (result?.status === 401) {
    show("login-screen");
    return;
  }
  if (result?.status === 200) renderLive(result.body);
  else $("live-updated").textContent = result?.status === 404 ? t.liveMissing : t.error;
  pollTimer = setTimeout(poll, POLL_MS);
}

function renderLive(data) {
  const queues = $("live-queues").tBodies[0];
  queues.replaceChildren();
  for (const line of data.helplines || []) {
    const tr = el("tr");
    const th = el("th", line.name || line.id);
    th.scope = "row";
    tr.append(
      th,
      el("td", line.open ? t.yes : t.no),
      el("td", String(line.waiting ?? 0)),
      el("td", line.waiting ? duration(line.longest_wait_s) : "–"),
      el("td", String(line.counselors_online ?? 0)),
      el("td", String(line.counselors_available ?? 0)),
      el("td", String(line.chats_active ?? 0)),
    );
    queues.append(tr);
  }
  const people = $("live-counselors").tBodies[0];
  people.replaceChildren();
  if (!(data.counselors || []).length) {
    const tr = el("tr");
    const td = el("td", t.noCounselors);
    td.colSpan = 4;
    tr.append(td);
    people.append(tr);
  }
  for (const person of data.counselors || []) {
    const tr = el("tr");
    const th = el("th", person.display_name || person.username);
    th.scope = "row";
    tr.append(
      th,
      el("td", (person.helplines || []).join(", ")),
      el("td", person.available ? t.yes : t.no),
      el("td", String(person.active_chats ?? 0)),
    );
    people.append(tr);
  }
  $("live-updated").textContent = t.liveUpdated(
    new Date().toLocaleTimeString(t.locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
  );
}

// --- start -----------------------------------------------------------------------------------

async function start() {
  const me = await api("/api/me").catch(() => null);
  if (me?.status !== 200) {
    show("login-screen");
    $("login-username").focus();
    return;
  }
  if (me.body.role === "counselor") {
    // Ask anyway, so the page reflects what the server decides (403).
    const probe = await api("/api/stats/daily").catch(() => null);
    if (probe?.status !== 200) {
      show("no-access");
      return;
    }
  }
  show("app");
  if (await loadDaily()) poll();
}

document.documentElement.lang = lang;
for (const node of document.querySelectorAll("[data-t]")) {
  const text = t[node.dataset.t];
  if (typeof text === "string") node.textContent = text;
}
for (const node of document.querySelectorAll("[data-label]")) {
  node.setAttribute("aria-label", t[node.dataset.label]);
}
document.title = t.title;
$("login-form").addEventListener("submit", login);
$("range").addEventListener("submit", loadDaily);
for (const button of document.querySelectorAll("[data-logout]")) button.addEventListener("click", logout);
start();
