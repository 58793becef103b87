// The managers' dashboard: the live supervisor view and the counts (stats.js).
// Never any chat content: the server gives only counts and load.
import { api } from "../console/api.js";
import en from "./i18n/en.js";
import nl from "./i18n/nl.js";
import { Stats } from "./stats.js";

const TEXTS = { nl, en };
const params = new URLSearchParams(location.search);
const lang = pickLanguage(params.get("lang"), navigator.languages);
const t = TEXTS[lang];
const POLL_MS = 5000;
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
  const stats = new Stats({ t, lang, $, el, onAuth: (status) => show(status === 403 ? "no-access" : "login-screen") });
  if (await stats.start()) poll();
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
for (const button of document.querySelectorAll("[data-logout]")) button.addEventListener("click", logout);
start();
