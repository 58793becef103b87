// The counselor console: log in, be available, take several chats at once without ever losing
// or doubling a message (docs/protocol.md §6 and §7).
//
// Per chat we keep, in sessionStorage (this tab only): the messages seen (by seq), the highest
// seq, the unacked own messages (outbox, retried with the same client_msg_id), unread count,
// the handover note. A reload resumes every chat with last_seq, so nothing is lost or doubled.
import { io } from "../vendor/socket.io.esm.min.js";
import { api } from "./api.js";
import en from "./i18n/en.js";
import nl from "./i18n/nl.js";

const TEXTS = { nl, en };
const params = new URLSearchParams(location.search);
const lang = chooseLanguage(params.get("lang"), navigator.languages);
const t = TEXTS[lang];
const STORE_KEY = "chatserver.console";
const ACK_TIMEOUT_MS = 10000;
const RETRY_MS = 2000;
const TYPING_PAUSE_MS = 3000;
const TRANSIENT = new Set(["rate_limited", "internal_error", "timeout", "offline"]);
const DEFAULT_OUTCOMES = ["counselling", "information", "silent", "hang-up", "abusive", "test"];

function chooseLanguage(param, languages) {
  if (param in TEXTS) return param;
  for (const tag of languages || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in TEXTS) return base;
  }
  return "nl";
}

const $ = (id) => document.getElementById(id);

// --- state -----------------------------------------------------------------------------------

const state = {
  me: null,
  config: { helplines: [] }, // from /api/console
  socket: null,
  available: false,
  chats: new Map(), // chat_id -> chat (see newChat)
  order: [], // chat ids in the order they came
  active: null,
  lastStats: {},
  statsAt: 0,
  resumed: false,
  counter: 0,
};

function newChat(chat_id, data = {}) {
  return {
    chat_id,
    number: data.number || ++state.counter,
    helpline: data.helpline || "",
    lang: data.lang || "nl",
    waited_s: data.waited_s ?? 0,
    note: data.note ?? null, // the chat's internal notes (handover notes appended)
    handover: data.handover ?? null, // the notes as they came with the chat
    since: data.since || Date.now(), // when this console got the chat: the duration timer
    awaySince: null,
    messages: data.messages || [], // [{seq, from, text, ts}] sorted by seq
    lastSeq: data.lastSeq || 0,
    outbox: data.outbox || [], // [{id, text, state: "sending"|"failed"}]
    unread: data.unread || 0,
    ended: data.ended || null, // reason once over
    wrapUp: Boolean(data.wrapUp), // ended by the visitor: the outcome is still owed (wrap_up)
    presence: true,
    typing: false,
    typingSent: false,
    typingTimer: null,
    view: null,
  };
}

function save() {
  try {
    const chats = state.order
      .map((id) => state.chats.get(id))
      .filter((c) => c && (!c.ended || c.wrapUp)) // a chat owing its outcome survives a reload
      .map((c) => ({
        chat_id: c.chat_id, number: c.number, helpline: c.helpline, lang: c.lang,
        waited_s: c.waited_s, note: c.note, handover: c.handover, since: c.since,
        messages: c.messages, lastSeq: c.lastSeq,
        outbox: c.outbox, unread: c.unread, ended: c.ended, wrapUp: c.wrapUp,
      }));
    sessionStorage.setItem(
      STORE_KEY,
      JSON.stringify({ user: state.me?.username, counter: state.counter, active: state.active, chats }),
    );
  } catch {
    // storage full or blocked: the server still has every message; resume fills in.
  }
}

function restore() {
  let saved;
  try {
    saved = JSON.parse(sessionStorage.getItem(STORE_KEY));
  } catch {
    saved = null;
  }
  if (!saved || saved.user !== state.me.username) return;
  state.counter = saved.counter || 0;
  for (const data of saved.chats || []) {
    const chat = newChat(data.chat_id, data);
    addChat(chat, false);
    if (chat.ended) showEnded(chat);
  }
  if (saved.active && state.chats.has(saved.active)) activate(saved.active, false);
}

// --- helpers ---------------------------------------------------------------------------------

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t.seconds(s);
  if (s < 3600) return t.minutes(Math.floor(s / 60));
  return t.hours(Math.floor(s / 3600), Math.floor((s % 3600) / 60));
}

function clock(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString(t.locale, { hour: "2-digit", minute: "2-digit" });
}

function helplineName(id) {
  return state.config.helplines.find((h) => h.id === id)?.name || id;
}

function helplineConfig(id) {
  return state.config.helplines.find((h) => h.id === id);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function applyTexts(root) {
  for (const node of root.querySelectorAll("[data-t]")) {
    const text = t[node.dataset.t];
    if (typeof text === "string") node.textContent = text;
  }
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return "c-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function notice(text) {
  $("notice-text").textContent = text;
  $("notice").hidden = !text;
}

// --- login -----------------------------------------------------------------------------------

function showLogin(message = "") {
  $("app").hidden = true;
  $("login-screen").hidden = false;
  $("login-error").textContent = message;
  $("login-username").focus();
}

// Browsers play sound only after a click on this page: after a reload the header asks for
// one visibly ("Turn sound on") instead of staying silent until availability is toggled.
let audio = null;
function unlockAudio() {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume().then(renderSound, () => null);
  } catch {
    audio = null;
  }
  renderSound();
}

function renderSound() {
  const on = audio?.state === "running";
  const button = $("sound");
  button.textContent = on ? t.soundOn : t.soundOff;
  button.setAttribute("aria-pressed", String(on));
  button.classList.toggle("sound-off", !on);
  button.title = on ? "" : t.soundHint;
}

function soundClicked() {
  unlockAudio();
  beep();
}

async function login(event) {
  event.preventDefault();
  unlockAudio();
  const body = {
    username: $("login-username").value.trim(),
    password: $("login-password").value,
  };
  const otp = $("login-otp").value.trim();
  if (!$("otp-row").hidden && otp) body.otp = otp;
  let result;
  try {
    result = await api("/api/login", { method: "POST", body: JSON.stringify(body) });
  } catch {
    $("login-error").textContent = t.loginFailed;
    return;
  }
  const code = result.body?.error?.code;
  if (result.status === 200) {
    $("login-password").value = "";
    $("login-otp").value = "";
    await start();
  } else if (code === "otp_required") {
    const wasHidden = $("otp-row").hidden;
    $("otp-row").hidden = false;
    $("login-error").textContent = wasHidden ? t.otpNeeded : t.otpWrong;
    $("login-otp").focus();
  } else if (result.status === 429 || code === "rate_limited") {
    $("login-error").textContent = t.rateLimited(Number(result.body?.error?.retry_after_s) || 60);
  } else if (result.status === 401) {
    $("login-error").textContent = !$("otp-row").hidden && otp ? t.otpWrong : t.loginWrong;
  } else {
    $("login-error").textContent = t.loginFailed;
  }
}

async function logout() {
  if (state.socket) {
    try {
      await state.socket.timeout(3000).emitWithAck("availability", { available: false });
    } catch {
      // going anyway
    }
    state.socket.disconnect();
    state.socket = null;
  }
  await api("/api/logout", { method: "POST" }).catch(() => null);
  sessionStorage.removeItem(STORE_KEY);
  location.reload();
}

// --- start -----------------------------------------------------------------------------------

async function start() {
  const me = await api("/api/me").catch(() => ({ status: 0 }));
  if (me.status !== 200) {
    showLogin();
    return;
  }
  state.me = me.body;
  if (state.me.role !== "counselor") {
    showLogin(t.wrongRole);
    return;
  }
  const console_ = await api(`/api/console?lang=${lang}`).catch(() => ({ status: 0 }));
  if (console_.status === 200) {
    state.config = console_.body;
  } else {
    // An older server without /api/console: the built-in outcomes, no topics, no canned texts.
    state.config = {
      helplines: (state.me.helplines || []).map((id) => ({
        id, name: id, max_chats_per_counselor: 2,
        outcomes: DEFAULT_OUTCOMES.map((o) => ({ id: o, label: o })), topics: [], canned: [],
      })),
    };
  }
  $("login-screen").hidden = true;
  $("app").hidden = false;
  $("me").textContent = t.loggedInAs(state.me.display_name || state.me.username);
  renderCanned();
  restore();
  renderTabs();
  connect();
}

// --- socket ----------------------------------------------------------------------------------

function connect() {
  setConnection(t.connecting);
  // Protocol 2 (docs/protocol.md §1): confirm every `assigned`, answer every `heartbeat`.
  const socket = io("/counselor", { transports: ["websocket"], auth: { protocol: 2 } });
  state.socket = socket;
  socket.on("connect", () => {
    setConnection(t.connected);
    resume();
  });
  socket.on("disconnect", (reason) => {
    setConnection(t.offline);
    // A server that stops (a deploy) lets its clients go; come back, landing on another
    // process, and resume. Socket.IO itself reconnects after any other kind of drop.
    if (reason === "io server disconnect" && state.socket === socket) {
      setTimeout(() => {
        if (state.socket === socket) socket.connect();
      }, RETRY_MS);
    }
  });
  socket.on("connect_error", (error) => {
    if (error?.message === "unauthorized") {
      socket.disconnect();
      sessionStorage.removeItem(STORE_KEY);
      showLogin();
    } else {
      setConnection(t.offline);
    }
  });
  // The session ended elsewhere (logout in another tab, password changed, account removed).
  socket.on("logged_out", () => {
    socket.disconnect();
    state.socket = null;
    sessionStorage.removeItem(STORE_KEY);
    showLogin(t.loggedOut);
  });
  socket.on("availability", (data) => setAvailability(data));
  socket.on("queue_stats", (data) => {
    state.lastStats = { ...state.lastStats, ...(data?.helplines || {}) };
    state.statsAt = Date.now();
    renderQueues();
  });
  socket.on("assigned", (data) => onAssigned(data));
  socket.on("message", (data) => {
    const chat = state.chats.get(data?.chat_id);
    if (!chat) return;
    if (data.seq > chat.lastSeq + 1 && chat.lastSeq > 0) {
      // A gap: something was lost on the way. Resume fills it.
      addMessages(chat, [data]);
      resume();
      return;
    }
    addMessages(chat, [data]);
  });
  socket.on("typing", (data) => {
    const chat = state.chats.get(data?.chat_id);
    if (!chat) return;
    chat.typing = Boolean(data.typing);
    renderTyping(chat);
  });
  socket.on("visitor_presence", (data) => {
    const chat = state.chats.get(data?.chat_id);
    if (!chat) return;
    chat.presence = Boolean(data.connected);
    chat.awaySince = chat.presence ? null : Date.now();
    renderHead(chat);
    renderTimers();
  });
  socket.on("ended", (data) => {
    const chat = state.chats.get(data?.chat_id);
    if (chat) endLocally(chat, data.reason);
  });
  socket.on("resync", () => resume());
  // Another tab of ours saved the chat's internal notes.
  socket.on("note", (data) => {
    const chat = state.chats.get(data?.chat_id);
    if (!chat || typeof data.text !== "string") return;
    chat.note = data.text;
    renderNotes(chat);
    save();
  });
  socket.on("hint", (data) => {
    if (typeof data?.text === "string") notice(t.hint(String(data.from || ""), data.text));
  });
  socket.on("heartbeat", (data, ack) => {
    if (typeof ack === "function") ack({});
    onHeartbeat(data);
  });
}

// The server names the latest seq of each chat we hold; a chat we do not know, or a seq we
// have not got, means an event was lost on the way: resume fills it.
function onHeartbeat(data) {
  if (!state.resumed) return;
  for (const [chatId, seq] of Object.entries(data?.chats || {})) {
    const chat = state.chats.get(chatId);
    if (!chat || (Number.isInteger(seq) && seq > contiguousSeq(chat))) {
      resume();
      return;
    }
  }
}

// Tell the server this console has the chat; until then the visitor is still waiting.
async function accept(chatId) {
  const socket = state.socket;
  if (!socket?.connected) return; // the resume after reconnecting accepts it again
  let ack;
  try {
    ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("accept", { chat_id: chatId });
  } catch {
    ack = { error: { code: "timeout" } };
  }
  if (!ack?.error) return;
  if (ack.error.code === "not_in_chat") {
    const chat = state.chats.get(chatId);
    if (chat) endLocally(chat, "unconfirmed");
  } else if (state.chats.has(chatId)) {
    setTimeout(() => accept(chatId), RETRY_MS);
  }
}

function setConnection(text) {
  $("connection").textContent = text;
}

async function resume() {
  const socket = state.socket;
  if (!socket?.connected) return;
  const last_seq = {};
  for (const chat of state.chats.values()) if (!chat.ended) last_seq[chat.chat_id] = contiguousSeq(chat);
  let ack;
  try {
    ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("resume", { last_seq });
  } catch {
    setTimeout(resume, RETRY_MS);
    return;
  }
  if (!ack || ack.error) {
    setTimeout(resume, RETRY_MS);
    return;
  }
  const returned = new Set();
  for (const data of ack.chats || []) {
    returned.add(data.chat_id);
    let chat = state.chats.get(data.chat_id);
    if (!chat) {
      chat = newChat(data.chat_id, { helpline: data.helpline, lang: data.lang, waited_s: data.waited_s });
      addChat(chat, false);
    } else {
      chat.helpline = data.helpline || chat.helpline;
      chat.waited_s = data.waited_s ?? chat.waited_s;
      chat.lang = data.lang || chat.lang;
      if (data.handover_note !== undefined) chat.note = data.handover_note;
      renderHead(chat);
      renderNotes(chat);
    }
    addMessages(chat, data.messages || [], true);
    if (data.accepted === false) accept(data.chat_id);
  }
  const lost = [];
  for (const chat of [...state.chats.values()]) {
    if (!chat.ended && !returned.has(chat.chat_id)) {
      lost.push(t.chatLabel(chat.number, helplineName(chat.helpline)));
      removeChat(chat.chat_id);
    }
  }
  if (lost.length) notice(t.lostChats(lost.join(", ")));
  state.resumed = true;
  save();
  renderTabs();
  for (const chat of state.chats.values()) flushOutbox(chat);
  // A long log comes in pages (protocol 1.1): ask again from what we now have.
  if ((ack.chats || []).some((data) => data.more)) resume();
}

// The highest seq up to which nothing is missing (messages are kept sorted by seq).
function contiguousSeq(chat) {
  let seq = 0;
  for (const message of chat.messages) {
    if (message.seq === seq + 1) seq += 1;
    else if (message.seq > seq + 1) break;
  }
  return seq;
}

function onAssigned(data) {
  if (!data?.chat_id) return;
  let chat = state.chats.get(data.chat_id);
  const fresh = !chat;
  if (fresh) {
    chat = newChat(data.chat_id, { helpline: data.helpline, lang: data.lang, waited_s: data.waited_s });
    addChat(chat, true);
  }
  chat.helpline = data.helpline || chat.helpline;
  chat.waited_s = data.waited_s ?? chat.waited_s;
  chat.lang = data.lang || chat.lang;
  if (data.handover_note !== undefined) {
    chat.note = data.handover_note;
    if (fresh) chat.handover = data.handover_note;
  }
  renderHead(chat);
  renderNotes(chat);
  addMessages(chat, data.messages || [], true);
  if (data.accepted === false) accept(data.chat_id);
  if (fresh) alertNewChat(chat);
  if (!state.active) activate(chat.chat_id);
  renderCanned();
  save();
  renderTabs();
}

function setAvailability(data) {
  if (!data) return;
  state.available = Boolean(data.available);
  $("available").checked = state.available;
  let text = state.available ? t.availableNow : t.awayNow;
  $("availability-status").textContent = text;
  // The long explanations go to the notice bar, so the header stays on one line.
  if (!state.available && data.reason === "idle") notice(t.idleAway);
  if (!state.available && data.reason === "unconfirmed") notice(t.unconfirmedAway);
}

async function toggleAvailability() {
  const wanted = $("available").checked;
  unlockAudio();
  if (wanted && "Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().catch(() => null);
  }
  try {
    const ack = await state.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("availability", { available: wanted });
    if (ack?.error) throw new Error(ack.error.code);
    setAvailability(ack);
  } catch {
    $("available").checked = state.available;
    $("availability-status").textContent = t.error;
  }
}

// --- chats -----------------------------------------------------------------------------------

function addChat(chat, isNew) {
  state.chats.set(chat.chat_id, chat);
  state.order.push(chat.chat_id);
  buildView(chat);
  if (isNew) chat.unread = chat.unread || 0;
}

function removeChat(chatId) {
  const chat = state.chats.get(chatId);
  if (!chat) return;
  clearTimeout(chat.typingTimer);
  chat.view?.panel.remove();
  state.chats.delete(chatId);
  state.order = state.order.filter((id) => id !== chatId);
  if (state.active === chatId) {
    state.active = null;
    if (state.order.length) activate(state.order[0], false);
  }
  save();
  renderTabs();
}

// Add messages from the server: keep the highest seq, drop seqs already there, sort by seq.
function addMessages(chat, messages, quiet = false) {
  let added = 0;
  for (const message of messages) {
    if (typeof message?.seq !== "number") continue;
    if (chat.messages.some((m) => m.seq === message.seq)) continue;
    const entry = { seq: message.seq, from: message.from, text: message.text, ts: message.ts };
    chat.messages.push(entry);
    if (message.from === "visitor" && message.client_msg_id === undefined) added += 1;
    if (message.from === "visitor") chat.typing = false;
  }
  if (!messages.length) return;
  chat.messages.sort((a, b) => a.seq - b.seq);
  chat.lastSeq = Math.max(chat.lastSeq, ...chat.messages.map((m) => m.seq));
  if (added && (state.active !== chat.chat_id || document.hidden)) chat.unread += added;
  renderLog(chat);
  renderTyping(chat);
  save();
  renderTabs();
  if (!quiet) updateTitle();
}

function buildView(chat) {
  const panel = $("chat-template").content.firstElementChild.cloneNode(true);
  panel.id = `chat-${chat.chat_id}`;
  panel.hidden = true;
  const q = (sel) => panel.querySelector(sel);
  const view = {
    panel,
    title: q(".chat-title"),
    meta: q(".chat-meta"),
    presence: q(".presence"),
    handover: q(".handover"),
    log: q(".log"),
    typing: q(".typing"),
    endedBox: q(".ended-box"),
    endedText: q(".ended-text"),
    timer: q(".chat-timer"),
    countdown: q(".away-countdown"),
    notes: q(".notes-text"),
    notesStatus: q(".notes-status"),
    form: q(".composer"),
    textarea: q("textarea"),
    tab: null,
  };
  const titleId = `chat-title-${chat.chat_id}`;
  view.title.id = titleId;
  view.log.setAttribute("aria-labelledby", titleId);
  view.log.setAttribute("aria-label", `${t.logLabel}`);
  view.log.removeAttribute("aria-labelledby");
  const inputId = `message-${chat.chat_id}`;
  view.textarea.id = inputId;
  q(".composer-label").htmlFor = inputId;
  q(".composer-label").textContent = t.messageLabel;
  q(".send").textContent = t.send;
  q(".hint").textContent = t.enterHint;
  q(".handover-title").textContent = t.handover;
  q(".end").textContent = t.endChat;
  q(".transfer").textContent = t.transfer;
  q(".block").textContent = t.block;
  q(".close-chat").textContent = t.closeTab;
  q(".notes-title").textContent = t.notesTitle;
  const notesId = `notes-${chat.chat_id}`;
  view.notes.id = notesId;
  q(".notes-label").htmlFor = notesId;
  q(".notes-label").textContent = t.notesLabel;
  q(".notes-save").textContent = t.notesSave;
  q(".notes-save").addEventListener("click", () => saveNotes(chat));
  view.notes.addEventListener("input", () => (view.notesStatus.textContent = ""));
  panel.setAttribute("aria-labelledby", titleId);
  view.form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(chat);
  });
  view.textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.isComposing) {
      event.preventDefault();
      send(chat);
    }
  });
  view.textarea.addEventListener("input", () => typing(chat, view.textarea.value.length > 0));
  q(".end").addEventListener("click", () => openEnd(chat));
  q(".transfer").addEventListener("click", () => openTransfer(chat));
  q(".block").addEventListener("click", () => openBlock(chat));
  q(".close-chat").addEventListener("click", () => closeEnded(chat));
  chat.view = view;
  $("chats").append(panel);
  renderHead(chat);
  renderNotes(chat);
  renderLog(chat);
}

function renderNotes(chat) {
  const view = chat.view;
  if (!view || document.activeElement === view.notes) return; // never overwrite typing
  view.notes.value = chat.note || "";
  if (chat.note) view.panel.querySelector(".notes").open = true;
}

async function saveNotes(chat) {
  const text = chat.view.notes.value;
  const ack = await call("note", { chat_id: chat.chat_id, text });
  if (ack?.ok) {
    chat.note = text;
    chat.view.notesStatus.textContent = t.notesSaved;
    save();
  } else {
    chat.view.notesStatus.textContent = ack?.error?.code === "too_long" ? t.tooLong : t.error;
  }
}

// Once a second: how long each chat runs, and a countdown while its visitor is away.
function renderTimers() {
  const grace = Number(state.config.visitor_grace_seconds) || 0;
  for (const chat of state.chats.values()) {
    const view = chat.view;
    if (!view) continue;
    view.timer.textContent = chat.ended ? "" : t.chatDuration(duration((Date.now() - chat.since) / 1000));
    const away = !chat.ended && !chat.presence && chat.awaySince && grace;
    view.countdown.hidden = !away;
    if (away) {
      const left = grace - (Date.now() - chat.awaySince) / 1000;
      view.countdown.textContent = t.awayCountdown(duration(Math.max(0, left)));
      view.countdown.classList.toggle("urgent", left <= 30);
    }
  }
}

function renderHead(chat) {
  const view = chat.view;
  if (!view) return;
  view.title.textContent = t.chatLabel(chat.number, helplineName(chat.helpline));
  view.meta.textContent = `${t.waited(duration(chat.waited_s))} · ${t.langLabel(chat.lang)}`;
  view.presence.textContent = chat.presence ? "" : t.visitorAway;
  view.handover.hidden = !chat.handover;
  view.panel.querySelector(".handover-text").textContent = chat.handover || "";
}

function renderLog(chat) {
  const view = chat.view;
  if (!view) return;
  const log = view.log;
  const follow = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const wanted = [
    ...chat.messages.map((m) => ({ key: `s${m.seq}`, ...m, state: m.from === "counselor" ? "sent" : null })),
    ...chat.outbox.map((o) => ({ key: `o${o.id}`, from: "counselor", text: o.text, state: o.state })),
  ];
  // Rebuild only what changed: the log is append-mostly.
  const existing = new Map([...log.children].map((node) => [node.dataset.key, node]));
  let previous = null;
  for (const item of wanted) {
    let node = existing.get(item.key);
    const stateKey = item.state || "";
    if (!node || node.dataset.state !== stateKey) {
      const fresh = renderMessage(item);
      if (node) node.replaceWith(fresh);
      node = fresh;
    }
    existing.delete(item.key);
    const target = previous ? previous.nextSibling : log.firstChild;
    if (node !== target) log.insertBefore(node, target);
    previous = node;
  }
  for (const node of existing.values()) node.remove();
  if (follow) log.scrollTop = log.scrollHeight;
}

function renderMessage(item) {
  const who = item.from === "visitor" ? t.visitor : item.from === "counselor" ? t.you : t.system;
  const node = el("div", `msg msg-${item.from}`);
  node.dataset.key = item.key;
  node.dataset.state = item.state || "";
  const head = el("p", "msg-head");
  head.append(el("span", "msg-who", who));
  if (item.ts) head.append(el("span", "msg-time", ` ${clock(item.ts)}`));
  node.append(head, el("p", "msg-text", item.text));
  if (item.state) {
    node.append(el("p", `msg-state msg-state-${item.state}`, t[item.state]));
  }
  return node;
}

function renderTyping(chat) {
  if (chat.view) chat.view.typing.textContent = chat.typing && !chat.ended ? t.visitorTyping : "";
}

function renderTabs() {
  const tabs = $("tabs");
  tabs.replaceChildren();
  for (const id of state.order) {
    const chat = state.chats.get(id);
    const tab = el("button", "tab");
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.id = `tab-${id}`;
    tab.setAttribute("aria-controls", `chat-${id}`);
    const selected = state.active === id;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    tab.append(el("span", "tab-name", t.chatLabel(chat.number, helplineName(chat.helpline))));
    if (chat.unread) tab.append(el("span", "badge", t.unread(chat.unread)));
    if (chat.ended) tab.classList.add("tab-ended");
    tab.addEventListener("click", () => activate(id));
    tab.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const next = step(event.key === "ArrowDown" ? 1 : -1);
        if (next) $(`tab-${next}`)?.focus();
      }
    });
    tabs.append(tab);
    chat.view.tab = tab;
  }
  $("no-chats").hidden = state.order.length > 0;
  updateTitle();
}

function step(direction) {
  if (!state.order.length) return null;
  const index = state.order.indexOf(state.active);
  const next = state.order[(index + direction + state.order.length) % state.order.length];
  activate(next);
  return next;
}

function activate(chatId, focus = true) {
  const chat = state.chats.get(chatId);
  if (!chat) return;
  state.active = chatId;
  for (const other of state.chats.values()) other.view.panel.hidden = other.chat_id !== chatId;
  chat.unread = 0;
  save();
  renderTabs();
  renderCanned();
  if (focus && !chat.ended) chat.view.textarea.focus();
}

function updateTitle() {
  const waiting = [...state.chats.values()].filter((c) => c.unread > 0 && !c.ended).length;
  document.title = waiting ? `(${waiting}) ${t.title}` : t.title;
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.active) {
    const chat = state.chats.get(state.active);
    if (chat) {
      chat.unread = 0;
      renderTabs();
    }
  }
});

// --- sending ---------------------------------------------------------------------------------

function send(chat) {
  const text = chat.view.textarea.value;
  if (!text.trim() || chat.ended) return;
  if ([...text].length > 4000) {
    chat.view.typing.textContent = t.tooLong;
    return;
  }
  const entry = { id: randomId(), text, state: "sending" };
  chat.outbox.push(entry);
  chat.view.textarea.value = "";
  typing(chat, false);
  save();
  renderLog(chat);
  chat.view.log.scrollTop = chat.view.log.scrollHeight;
  deliver(chat, entry);
}

async function deliver(chat, entry) {
  if (entry.inFlight || chat.ended) return;
  const socket = state.socket;
  if (!socket?.connected || !state.resumed) return; // flushed after the next resume
  entry.inFlight = true;
  let ack;
  try {
    ack = await socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck("message", { chat_id: chat.chat_id, text: entry.text, client_msg_id: entry.id });
  } catch {
    ack = { error: { code: "timeout" } };
  }
  entry.inFlight = false;
  if (ack && typeof ack.seq === "number") {
    chat.outbox = chat.outbox.filter((o) => o.id !== entry.id);
    addMessages(chat, [{ seq: ack.seq, from: "counselor", text: entry.text, ts: ack.ts }], true);
    save();
    renderLog(chat);
    return;
  }
  const code = ack?.error?.code || "internal_error";
  if (TRANSIENT.has(code) || !(code in { not_in_chat: 1, too_long: 1, bad_request: 1 })) {
    entry.state = "sending";
    setTimeout(() => deliver(chat, entry), RETRY_MS);
  } else {
    entry.state = "failed";
  }
  save();
  renderLog(chat);
}

function flushOutbox(chat) {
  for (const entry of chat.outbox) {
    if (entry.state === "failed") continue;
    deliver(chat, entry);
  }
}

function typing(chat, now) {
  clearTimeout(chat.typingTimer);
  if (now) chat.typingTimer = setTimeout(() => typing(chat, false), TYPING_PAUSE_MS);
  if (now === chat.typingSent || !state.socket?.connected || chat.ended) return;
  chat.typingSent = now;
  state.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("typing", { chat_id: chat.chat_id, typing: now }).catch(() => null);
}

// --- ending ----------------------------------------------------------------------------------

// The visitor (or a block) ended the chat before the counselor did: the server waits for its
// one outcome (`wrap_up`), so the tab stays until the counselor records it (issue 11).
const WRAP_UP_REASONS = new Set(["visitor", "timeout", "blocked"]);
const NO_OUTCOME = "-";
let dialogMode = "end"; // "end" | "wrap_up": what the end dialog sends

function endLocally(chat, reason) {
  if (chat.ended) return;
  chat.ended = reason || "other";
  chat.wrapUp = WRAP_UP_REASONS.has(reason);
  chat.typing = false;
  clearTimeout(chat.typingTimer);
  showEnded(chat);
  save();
  renderTabs();
  if (reason === "transferred" || reason === "counselor") {
    // Our own action: the tab closes calmly by itself after a moment.
    setTimeout(() => removeChat(chat.chat_id), 2500);
  }
}

function showEnded(chat) {
  const view = chat.view;
  view.endedText.textContent = t.ended[chat.ended] || t.ended.other;
  if (chat.wrapUp) view.endedText.textContent += ` ${t.wrapUpHint}`;
  view.endedBox.hidden = false;
  view.form.hidden = true;
  view.panel.querySelector(".chat-actions").hidden = true;
  renderTyping(chat);
}

function activeChat() {
  const chat = state.chats.get(state.active);
  return chat && !chat.ended ? chat : null;
}

function fillOptions(select, items, placeholder) {
  select.replaceChildren();
  if (placeholder !== undefined) {
    const empty = el("option", "", placeholder);
    empty.value = "";
    select.append(empty);
  }
  for (const item of items) {
    const option = el("option", "", item.label);
    option.value = item.id;
    select.append(option);
  }
}

function fillTopics(box, topics, prefix) {
  box.replaceChildren();
  box.closest("fieldset").hidden = !topics.length;
  for (const topic of topics) {
    const label = el("label", "inline");
    const input = el("input");
    input.type = "checkbox";
    input.name = `${prefix}-topic`;
    input.value = topic.id;
    label.append(input, ` ${topic.label}`);
    box.append(label);
  }
}

let dialogChat = null;

function openDialog(dialog, chat) {
  dialogChat = chat;
  dialog.querySelector(".form-error").textContent = "";
  dialog.showModal();
}

function openEnd(chat, mode = "end") {
  const config = helplineConfig(chat.helpline) || {};
  const outcomes = config.outcomes || [];
  dialogMode = mode;
  const wrapUp = mode === "wrap_up";
  fillOptions(
    $("end-outcome"),
    wrapUp ? [...outcomes, { id: NO_OUTCOME, label: t.noOutcome }] : outcomes,
    t.chooseOutcome,
  );
  fillTopics($("end-topics"), config.topics || [], "end");
  $("end-title").textContent = wrapUp ? t.wrapUpTitle : t.endTitle;
  $("end-form").querySelector("button[type=submit]").textContent = wrapUp ? t.wrapUpConfirm : t.endConfirm;
  openDialog($("end-dialog"), chat);
}

// "Close" on an ended chat: straight away, or after the outcome when one is owed.
function closeEnded(chat) {
  if (chat.wrapUp) openEnd(chat, "wrap_up");
  else removeChat(chat.chat_id);
}

async function confirmWrapUp(chat, outcome, topics) {
  const ack = await call("wrap_up", { chat_id: chat.chat_id, outcome: outcome === NO_OUTCOME ? null : outcome, topics });
  // not_in_chat: nothing is owed (any more), e.g. the chat was never confirmed.
  if (ack?.ok || ack?.error?.code === "not_in_chat") {
    $("end-dialog").close();
    chat.wrapUp = false;
    removeChat(chat.chat_id);
  } else {
    $("end-error").textContent = t.error;
  }
}

async function confirmEnd(event) {
  event.preventDefault();
  const chat = dialogChat;
  const outcome = $("end-outcome").value;
  if (!outcome) {
    $("end-error").textContent = t.chooseOutcome;
    $("end-outcome").focus();
    return;
  }
  const topics = [...document.querySelectorAll("input[name=end-topic]:checked")].map((i) => i.value);
  if (dialogMode === "wrap_up") return confirmWrapUp(chat, outcome, topics);
  const ack = await call("end", { chat_id: chat.chat_id, outcome, topics });
  if (ack?.ok || ack?.error?.code === "not_in_chat") {
    $("end-dialog").close();
    endLocally(chat, "counselor");
  } else {
    $("end-error").textContent = t.error;
  }
}

async function openTransfer(chat) {
  const target = $("transfer-target");
  target.replaceChildren();
  const empty = el("option", "", t.transferChoose);
  empty.value = "";
  target.append(empty);
  const lines = el("optgroup");
  lines.label = t.transferHelplines;
  for (const helpline of state.config.helplines) {
    if (helpline.id === chat.helpline) continue;
    const option = el("option", "", helpline.name);
    option.value = `helpline:${helpline.id}`;
    lines.append(option);
  }
  // A chat can also go to any helpline the server knows, not only the ones we serve.
  const known = await api("/api/helplines").catch(() => null);
  for (const helpline of known?.body || []) {
    if (helpline.id === chat.helpline || lines.querySelector(`option[value="helpline:${CSS.escape(helpline.id)}"]`)) continue;
    const option = el("option", "", helpline.name);
    option.value = `helpline:${helpline.id}`;
    lines.append(option);
  }
  target.append(lines);
  const colleagues = await api("/api/colleagues").catch(() => null);
  if (colleagues?.status === 200 && Array.isArray(colleagues.body)) {
    const group = el("optgroup");
    group.label = t.transferColleagues;
    for (const person of colleagues.body) {
      if (!person.available) continue;
      const option = el("option", "", person.display_name || person.username);
      option.value = `counselor:${person.username}`;
      group.append(option);
    }
    if (group.children.length) target.append(group);
  }
  $("transfer-note").value = "";
  openDialog($("transfer-dialog"), chat);
}

async function confirmTransfer(event) {
  event.preventDefault();
  const chat = dialogChat;
  const value = $("transfer-target").value;
  if (!value) {
    $("transfer-error").textContent = t.transferChoose;
    return;
  }
  const [kind, id] = [value.slice(0, value.indexOf(":")), value.slice(value.indexOf(":") + 1)];
  const payload = { chat_id: chat.chat_id, note: $("transfer-note").value };
  payload[kind === "helpline" ? "helpline" : "counselor"] = id;
  const ack = await call("transfer", payload);
  if (ack?.ok) {
    $("transfer-dialog").close();
    endLocally(chat, "transferred");
  } else {
    $("transfer-error").textContent = ack?.error?.code === "unavailable" ? t.transferUnavailable : t.error;
  }
}

function openBlock(chat) {
  openDialog($("block-dialog"), chat);
}

async function confirmBlock(event) {
  event.preventDefault();
  const chat = dialogChat;
  const ack = await call("block", { chat_id: chat.chat_id });
  if (ack?.ok) {
    $("block-dialog").close();
    endLocally(chat, "blocked");
  } else {
    $("block-error").textContent = t.error;
  }
}

async function call(event, payload) {
  if (!state.socket?.connected) return { error: { code: "offline" } };
  try {
    return await state.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  } catch {
    return { error: { code: "timeout" } };
  }
}

// --- tally -----------------------------------------------------------------------------------

function openTally() {
  const lines = state.config.helplines;
  fillOptions($("tally-helpline"), lines.map((h) => ({ id: h.id, label: h.name })));
  tallyHelplineChanged();
  openDialog($("tally-dialog"), null);
}

function tallyHelplineChanged() {
  const config = helplineConfig($("tally-helpline").value) || {};
  fillOptions($("tally-outcome"), config.outcomes || [], t.chooseOutcome);
  fillTopics($("tally-topics"), config.topics || [], "tally");
}

async function confirmTally(event) {
  event.preventDefault();
  const outcome = $("tally-outcome").value;
  if (!outcome) {
    $("tally-error").textContent = t.chooseOutcome;
    return;
  }
  const body = {
    helpline: $("tally-helpline").value,
    channel: document.querySelector("input[name=channel]:checked").value,
    outcome,
    topics: [...document.querySelectorAll("input[name=tally-topic]:checked")].map((i) => i.value),
  };
  const result = await api("/api/tally", { method: "POST", body: JSON.stringify(body) }).catch(() => null);
  if (result?.status === 200) {
    $("tally-dialog").close();
    notice(t.tallySaved);
  } else {
    $("tally-error").textContent = t.error;
  }
}

// --- queue overview --------------------------------------------------------------------------

function renderQueues() {
  const list = $("queues");
  list.replaceChildren();
  const extra = (Date.now() - state.statsAt) / 1000;
  const ids = Object.keys(state.lastStats).sort();
  if (!ids.length) list.append(el("li", "muted", t.queueEmpty));
  for (const id of ids) {
    const stats = state.lastStats[id];
    const item = el("li", "queue");
    item.append(el("strong", "", helplineName(id)));
    const parts = [stats.open ? t.open : t.closed, t.waiting(stats.waiting || 0)];
    if (stats.waiting) parts.push(t.longest(duration((stats.longest_wait_s || 0) + extra)));
    if (stats.open && stats.closes_at) parts.push(t.closesAt(clock(stats.closes_at)));
    item.append(el("span", stats.waiting ? "queue-line queue-busy" : "queue-line", parts.join(" · ")));
    if (stats.assignment === "pick" && stats.waiting_chats?.length) item.append(pickList(stats, extra));
    list.append(item);
  }
}

// A pick-from-queue helpline: the counselor chooses whom to answer (wait and language only).
function pickList(stats, extra) {
  const list = el("ul", "pick-list");
  list.setAttribute("aria-label", t.pickTitle);
  for (const waiting of stats.waiting_chats) {
    const li = el("li");
    const button = el("button", "button button-secondary pick", t.pickButton(duration(waiting.waited_s + extra), waiting.lang));
    button.type = "button";
    button.addEventListener("click", async () => {
      button.disabled = true;
      const ack = await call("pick", { chat_id: waiting.chat_id });
      if (!ack?.ok) {
        button.disabled = false;
        notice(t.pickTaken);
      }
    });
    li.append(button);
    list.append(li);
  }
  return list;
}

// --- canned responses ------------------------------------------------------------------------

function renderCanned() {
  const filter = $("canned-filter").value.trim().toLowerCase();
  const list = $("canned");
  list.replaceChildren();
  const active = activeChat();
  const lines = active ? [helplineConfig(active.helpline)].filter(Boolean) : state.config.helplines;
  // The active chat's helpline, in its visitor's language (an older server: the console's).
  const language = active ? active.lang : lang;
  let count = 0;
  for (const helpline of lines) {
    const items = helpline.canned_by_lang ? helpline.canned_by_lang[language] : helpline.canned;
    for (const item of items || []) {
      const hay = `${item.title} ${item.text}`.toLowerCase();
      if (filter && !hay.includes(filter)) continue;
      const li = el("li");
      const button = el("button", "canned-item");
      button.type = "button";
      const title = el("span", "canned-title");
      title.append(el("span", "visually-hidden", t.cannedInsertPrefix), item.title);
      button.append(title, el("span", "canned-text", item.text));
      button.addEventListener("click", () => insertCanned(item.text));
      li.append(button);
      list.append(li);
      count += 1;
    }
  }
  if (!count) list.append(el("li", "muted", t.cannedNone));
}

function insertCanned(text) {
  const chat = activeChat();
  if (!chat) return;
  const area = chat.view.textarea;
  const startAt = area.selectionStart ?? area.value.length;
  const endAt = area.selectionEnd ?? area.value.length;
  area.value = area.value.slice(0, startAt) + text + area.value.slice(endAt);
  area.focus();
  area.selectionStart = area.selectionEnd = startAt + text.length;
}

// --- alert -----------------------------------------------------------------------------------

function alertNewChat(chat) {
  chat.unread = Math.max(chat.unread, 1);
  beep();
  try {
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      const note = new Notification(t.newChat, { body: t.newChatBody(helplineName(chat.helpline)), tag: chat.chat_id });
      note.onclick = () => {
        window.focus();
        activate(chat.chat_id);
      };
    }
  } catch {
    // notifications unavailable
  }
  updateTitle();
}

function beep() {
  try {
    if (audio) {
      const now = audio.currentTime;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.setValueAtTime(660, now);
      osc.frequency.setValueAtTime(880, now + 0.15);
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.15, now + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.4);
      osc.connect(gain).connect(audio.destination);
      osc.start(now);
      osc.stop(now + 0.45);
    }
  } catch {
    // no sound available
  }
}

// --- wiring ----------------------------------------------------------------------------------

document.documentElement.lang = lang;
applyTexts(document);
document.title = t.title;
$("login-form").addEventListener("submit", login);
$("logout").addEventListener("click", logout);
$("available").addEventListener("change", toggleAvailability);
$("notice-close").addEventListener("click", () => notice(""));
$("canned-filter").addEventListener("input", renderCanned);
$("tally-open").addEventListener("click", openTally);
$("sound").addEventListener("click", soundClicked);
$("help-open").addEventListener("click", openHelp);
renderSound();
for (const [keys, what] of t.shortcuts) {
  $("shortcuts").append(el("dt", "", keys), el("dd", "", what));
}
$("tally-helpline").addEventListener("change", tallyHelplineChanged);
$("end-form").addEventListener("submit", confirmEnd);
$("transfer-form").addEventListener("submit", confirmTransfer);
$("block-form").addEventListener("submit", confirmBlock);
$("tally-form").addEventListener("submit", confirmTally);
for (const button of document.querySelectorAll("[data-cancel]")) {
  button.addEventListener("click", () => button.closest("dialog").close());
}
function openHelp() {
  if (!$("help-dialog").open) $("help-dialog").showModal();
}

document.addEventListener("keydown", (event) => {
  const typingHere = event.target.closest?.("input, textarea, select, [contenteditable]");
  if (event.key === "?" && !typingHere && !event.ctrlKey && !event.altKey && !document.querySelector("dialog[open]")) {
    event.preventDefault();
    openHelp();
    return;
  }
  if (!event.altKey || event.ctrlKey || event.metaKey) return;
  if (document.querySelector("dialog[open]")) return;
  const key = event.key.toLowerCase();
  if (key === "n" || event.code === "KeyN") {
    event.preventDefault();
    step(1);
  } else if (key === "e" || event.code === "KeyE") {
    event.preventDefault();
    const chat = activeChat();
    if (chat) openEnd(chat);
  }
});
setInterval(renderQueues, 15000);
setInterval(renderTimers, 1000);
// The canned list follows the active chat's helpline.
$("tabs").addEventListener("click", renderCanned);

start();
