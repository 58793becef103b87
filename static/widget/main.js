// The visitor widget: choose a helpline, read what it is, chat, leave. See README "Embedding
// the widget" for the query parameters.
import { io } from "../vendor/socket.io.esm.min.js";
import { savedChat, VisitorChat } from "./chat.js";
import { deviceTimeZone, openingPhrase, waitMinutes } from "./format.js";
import { applyTexts, chooseLanguage, textsFor } from "./i18n.js";
import { IdleWatch, QuickExit } from "./safety.js";
import {
  byId,
  downloadText,
  MessageLog,
  renderAlternatives,
  renderHelplineList,
  renderWeek,
  setLines,
  setText,
  showScreen,
} from "./view.js";

const DEFAULT_EXIT_URL = "https://www.google.com/";
const TYPING_PAUSE_MS = 3000;
const COUNSELOR_TYPING_MAX_MS = 15000;
const MAX_RECHECK_MS = 6 * 3600 * 1000;
const LONG_WAIT_S = 3600; // past this, no number: a calm sentence and the alternatives
const MIN_IDLE_GRACE_S = 20; // WCAG 2.2.1: at least 20 s to say "I'm still here"

const params = new URLSearchParams(location.search);
const lang = chooseLanguage(params.get("lang"), navigator.languages);
const t = textsFor(lang);
const transports = params.get("transport") === "polling" ? ["websocket", "polling"] : ["websocket"];
const idleSeconds = seconds(params.get("idle"), 20 * 60, 1);
const graceSeconds = Math.max(MIN_IDLE_GRACE_S, seconds(params.get("idle_grace"), 60, 1));

function seconds(value, fallback, minimum) {
  const number = Number.parseInt(value ?? "", 10);
  return Number.isFinite(number) && number >= minimum ? number : fallback;
}

const state = {
  helplines: [],
  helpline: null, // the chosen helpline from /api/helplines
  helplineId: params.get("helpline"),
  chat: null,
  phase: "loading", // loading | choose | intro | closed | notice | chat | ended | error
  chatting: false,
  counselor: null,
  typingSent: false,
  recheck: null,
};

const ui = {
  connection: byId("connection"),
  chatTitle: byId("chat-title"),
  chatStatus: byId("chat-status"),
  typing: byId("typing"),
  composer: byId("composer"),
  message: byId("message"),
  confirmEnd: byId("confirm-end"),
  idleDialog: byId("idle-dialog"),
};
const log = new MessageLog(byId("log"), byId("log-empty"), t);

const quickExit = new QuickExit(DEFAULT_EXIT_URL, () => (state.chat ? state.chat.abandon() : undefined));

const idle = new IdleWatch({
  idleMs: idleSeconds * 1000,
  graceMs: graceSeconds * 1000,
  onWarn: () => openDialog(ui.idleDialog),
  onExpire: async () => {
    closeDialog(ui.idleDialog);
    await endChat("idle");
  },
});

// --- helplines -------------------------------------------------------------------------------

async function getJson(path) {
  const response = await fetch(path, { credentials: "omit", cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function loadHelplines({ quiet = false } = {}) {
  try {
    state.helplines = await getJson("/api/helplines");
  } catch {
    if (!quiet) showError();
    return false;
  }
  const chosen = state.helplines.find((h) => h.id === state.helplineId);
  setHelpline(chosen || (state.helplines.length === 1 ? state.helplines[0] : null));
  if (!state.helpline && state.helplines[0]) quickExit.url = state.helplines[0].quick_exit_url;
  return true;
}

function setHelpline(helpline) {
  state.helpline = helpline;
  if (helpline) {
    state.helplineId = helpline.id;
    quickExit.url = helpline.quick_exit_url || DEFAULT_EXIT_URL;
  }
}

async function home() {
  if (!(await loadHelplines())) return;
  if (state.helpline) openHelpline(state.helpline);
  else showChoose();
}

function showChoose() {
  state.phase = "choose";
  renderHelplineList(byId("helpline-list"), state.helplines, t, (helpline) => {
    setHelpline(helpline);
    openHelpline(helpline);
  });
  showScreen("choose");
}

function openHelpline(helpline) {
  if (!helpline.accepting) {
    reportClosedVisit(helpline.id);
    showClosed(helpline.accepting_from);
    return;
  }
  state.phase = "intro";
  byId("intro-title").textContent = helpline.name;
  byId("intro-text").textContent = helpline.intro[lang] || helpline.intro.nl || helpline.intro.en || "";
  byId("choose-other").hidden = state.helplines.length < 2;
  showScreen("intro");
}

async function showClosed(opensAt) {
  state.phase = "closed";
  const helpline = state.helpline;
  byId("closed-title").textContent = t.closedTitle(helpline.name);
  let schedule = null;
  try {
    schedule = await getJson(`/api/helplines/${encodeURIComponent(helpline.id)}/schedule?days=7`);
  } catch {
    // The next opening time alone still helps.
  }
  const zone = schedule ? schedule.timezone : deviceTimeZone();
  byId("closed-next").textContent = opensAt
    ? t.nextOpening(openingPhrase(opensAt, zone, schedule && schedule.from, t))
    : t.noOpening;
  const table = byId("closed-week").closest("table");
  table.hidden = !schedule;
  if (schedule) renderWeek(byId("closed-week"), schedule, t);
  const note = byId("closed-timezone");
  note.hidden = !schedule || schedule.timezone === deviceTimeZone();
  if (schedule) note.textContent = t.timeZoneNote(schedule.timezone);
  renderAlternatives(byId("closed-alternatives"), helpline.alternatives, t);
  showScreen("closed");
  scheduleRecheck(opensAt);
}

// Closed-hours demand (issue 11): tell the server once per visit that this tab met the line
// closed; the server decides from its own clock whether it counts. A reload is the same visit,
// so the helplines already reported are kept in this tab's sessionStorage.
const CLOSED_VISIT_KEY = "chatserver.closedVisits";

function closedVisits() {
  try {
    const seen = JSON.parse(sessionStorage.getItem(CLOSED_VISIT_KEY));
    return Array.isArray(seen) ? seen : [];
  } catch {
    return [];
  }
}

function markClosedVisit(helplineId) {
  try {
    const seen = closedVisits();
    if (!seen.includes(helplineId)) seen.push(helplineId);
    sessionStorage.setItem(CLOSED_VISIT_KEY, JSON.stringify(seen));
    return true;
  } catch {
    return false; // storage blocked: do not report, or every reload would count again
  }
}

function reportClosedVisit(helplineId) {
  if (closedVisits().includes(helplineId) || !markClosedVisit(helplineId)) return;
  const socket = io("/visitor", { transports, auth: { protocol: 2 }, reconnection: false });
  socket.timeout(5000).emit("closed_visit", { helpline: helplineId }, () => socket.disconnect());
}

// Come back to the start screen by itself when the helpline opens.
function scheduleRecheck(opensAt) {
  clearTimeout(state.recheck);
  if (!opensAt) return;
  const wait = Date.parse(opensAt) - Date.now();
  if (wait > 0 && wait < MAX_RECHECK_MS) {
    state.recheck = setTimeout(() => state.phase === "closed" && home(), wait + 2000);
  }
}

// Full queue, or this tab may not start a chat now.
function showNotice(title, text, canRetry) {
  state.phase = "notice";
  byId("notice-title").textContent = title;
  byId("notice-text").textContent = text;
  byId("notice-retry").hidden = !canRetry;
  renderAlternatives(byId("notice-alternatives"), state.helpline && state.helpline.alternatives, t);
  showScreen("notice");
}

function showError() {
  state.phase = "error";
  showScreen("error");
}

// --- the chat --------------------------------------------------------------------------------

function newChat() {
  log.clear();
  state.chatting = false;
  state.counselor = null;
  state.typingSent = false;
  setText(ui.typing, "");
  const chat = new VisitorChat({
    transports,
    events: {
      onQueue: (data) => queued(data),
      onAssigned: (name) => assigned(name),
      onMessage: (message) => {
        log.add(message, state.counselor);
        if (message.from === "counselor") counselorTyping(false);
        activity();
      },
      onOwn: (entry) => log.own(entry, (id) => chat.retry(id)),
      onTyping: (typing) => counselorTyping(typing),
      onConnection: (online) => setText(ui.connection, online ? "" : t.reconnecting),
      onEnded: (reason, data) => showEnded(reason, data),
      onRefused: (ack) => {
        if (ack.status === "closed") {
          markClosedVisit(state.helpline.id); // `start` counted this visit already
          showClosed(ack.opens_at);
        }
        else if (ack.status === "blocked") showNotice(t.blockedTitle, t.blockedText, false);
        else showNotice(t.fullTitle, t.fullText, true);
      },
      onFailed: (code) => (code === "unknown_helpline" ? home() : showError()),
    },
  });
  state.chat = chat;
  return chat;
}

function showChat() {
  state.phase = "chat";
  setText(ui.chatTitle, t.waitingTitle);
  setText(ui.chatStatus, t.connecting);
  showScreen("chat");
}

function startChat() {
  showChat();
  newChat().begin(state.helpline.id, lang);
}

function queued({ position, estimated_wait_s: wait }) {
  if (state.chatting) {
    // Back in the queue: the counselor was lost, or passed the chat on.
    state.chatting = false;
    idle.stop();
    counselorTyping(false);
  }
  setText(ui.chatTitle, t.waitingTitle);
  // Past an hour an estimate means little: say so calmly and show the other ways to reach us.
  const long = wait >= LONG_WAIT_S;
  const estimate = long ? t.waitLong : wait > 0 ? t.waitAbout(waitMinutes(wait)) : t.waitSoon;
  setLines(ui.chatStatus, [t.queuePosition(position), estimate]);
  showWaitingAlternatives(long);
}

function showWaitingAlternatives(show) {
  const box = byId("waiting-alternatives");
  const alternatives = show && state.helpline ? state.helpline.alternatives : [];
  renderAlternatives(box, alternatives, t);
  box.hidden = !alternatives || alternatives.length === 0;
}

function assigned(name) {
  showWaitingAlternatives(false);
  const changed = name !== state.counselor;
  state.counselor = name;
  setText(ui.chatTitle, t.chatWith(name));
  if (changed) setText(ui.chatStatus, t.chatStarted(name));
  if (!state.chatting) {
    state.chatting = true;
    idle.start();
  }
}

let counselorTypingTimer = null;
function counselorTyping(typing) {
  clearTimeout(counselorTypingTimer);
  setText(ui.typing, typing && state.counselor ? t.typing(state.counselor) : "");
  if (typing) counselorTypingTimer = setTimeout(() => setText(ui.typing, ""), COUNSELOR_TYPING_MAX_MS);
}

function activity() {
  idle.activity();
  if (ui.idleDialog.open) closeDialog(ui.idleDialog);
}

let typingTimer = null;
function visitorTyping(typing) {
  clearTimeout(typingTimer);
  if (!state.chat || !state.chatting) return;
  if (typing !== state.typingSent) {
    state.typingSent = typing;
    state.chat.typing(typing);
  }
  if (typing) typingTimer = setTimeout(() => visitorTyping(false), TYPING_PAUSE_MS);
}

function send() {
  const text = ui.message.value;
  if (!text.trim() || !state.chat) return;
  visitorTyping(false);
  state.chat.send(text);
  ui.message.value = "";
  activity();
}

async function endChat(reason) {
  const chat = state.chat;
  if (!chat) return;
  idle.stop();
  await chat.end();
  if (state.phase !== "ended") showEnded(reason, {}); // unless the counselor ended it first
}

function showEnded(reason, data) {
  state.phase = "ended";
  idle.stop();
  clearTimeout(typingTimer);
  counselorTyping(false);
  closeDialog(ui.idleDialog);
  closeDialog(ui.confirmEnd);
  setText(ui.connection, "");
  const reasons = t.endedReasons;
  byId("ended-reason").textContent = reasons[reason] || reasons.other;
  const next = byId("ended-next");
  next.hidden = !(reason === "closed" && data.opens_at);
  if (!next.hidden) next.textContent = t.nextOpening(openingPhrase(data.opens_at, deviceTimeZone(), null, t));
  byId("transcript-panel").hidden = log.length === 0;
  renderAlternatives(byId("ended-alternatives"), state.helpline && state.helpline.alternatives, t);
  showScreen("ended");
}

function downloadTranscript() {
  const name = state.helpline ? state.helpline.name : t.chatService;
  const now = new Date();
  const date = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
  const text = log.transcript(t.transcriptTitle(name, date), t.transcriptNote);
  downloadText(t.transcriptFile(state.helplineId || "chat", date), text);
}

// --- dialogs ---------------------------------------------------------------------------------

let focusBeforeDialog = null;
function openDialog(dialog) {
  if (dialog.open) return;
  focusBeforeDialog = document.activeElement;
  dialog.showModal();
}

function closeDialog(dialog) {
  if (!dialog.open) return;
  dialog.close();
  if (focusBeforeDialog && focusBeforeDialog.isConnected) focusBeforeDialog.focus();
  focusBeforeDialog = null;
}

// --- wiring ----------------------------------------------------------------------------------

function wire() {
  byId("start").addEventListener("click", startChat);
  byId("choose-other").addEventListener("click", showChoose);
  byId("notice-retry").addEventListener("click", () => openHelpline(state.helpline));
  byId("error-retry").addEventListener("click", () => (savedChat() ? resumeSaved(savedChat()) : home()));
  byId("new-chat").addEventListener("click", () => {
    log.clear(); // nothing of the last chat stays in the page
    home();
  });
  byId("download").addEventListener("click", downloadTranscript);
  byId("end-chat").addEventListener("click", () => openDialog(ui.confirmEnd));
  byId("confirm-end-no").addEventListener("click", () => closeDialog(ui.confirmEnd));
  byId("confirm-end-yes").addEventListener("click", () => {
    closeDialog(ui.confirmEnd);
    endChat("visitor");
  });
  byId("idle-stay").addEventListener("click", activity);
  ui.idleDialog.addEventListener("cancel", (event) => {
    event.preventDefault(); // Escape is activity too
    activity();
  });
  byId("idle-text").textContent = t.idleText(graceSeconds);

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  const touchOnly = window.matchMedia("(hover: none) and (pointer: coarse)").matches;
  ui.message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !touchOnly) {
      event.preventDefault();
      send();
    }
  });
  ui.message.addEventListener("input", () => visitorTyping(ui.message.value.length > 0));
  ui.message.addEventListener("blur", () => visitorTyping(false));
}

async function resumeSaved(saved) {
  state.helplineId = saved.helpline;
  showChat();
  newChat().reattach(saved);
  // Only for the name, the alternatives and the quick exit address; the chat goes on without.
  loadHelplines({ quiet: true });
}

document.documentElement.lang = lang;
applyTexts(document, t);
wire();
const saved = savedChat();
if (saved) resumeSaved(saved);
else home();
