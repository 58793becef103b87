// The visitor's side of the wire protocol (docs/protocol.md §5 and §7).
//
// One Socket.IO connection to /visitor holds one chat. Messages are shown exactly once and in
// order: keep the highest seq, drop seqs already seen, resume with last_seq after every
// reconnect, on `resync` and on a gap. Own messages wait in an outbox until acked and are
// retried with the same client_msg_id. Only the resume token and unacked messages are kept,
// in sessionStorage (this tab only), so a reload can resume; and a random id of this tab that
// `start` sends as `session`, so a counselor can keep an abusive tab from starting again.
import { io } from "../vendor/socket.io.esm.min.js";

const STORAGE_KEY = "chatserver.visitor";
const TAB_KEY = "chatserver.tab";
const ACK_TIMEOUT_MS = 10000;
const RETRY_MS = 1500;
const START_LIMITED_RETRY_MS = 15000;
const GAP_WAIT_MS = 800;
const TRANSIENT = new Set(["rate_limited", "internal_error", "timeout", "offline"]);

export function savedChat() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY));
    return saved && typeof saved.token === "string" ? saved : null;
  } catch {
    return null;
  }
}

function randomId(prefix, size) {
  const bytes = crypto.getRandomValues(new Uint8Array(size));
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const newMessageId = () => randomId("v-", 12);

function tabId() {
  try {
    let id = sessionStorage.getItem(TAB_KEY);
    if (!id) {
      id = randomId("t-", 16);
      sessionStorage.setItem(TAB_KEY, id);
    }
    return id;
  } catch {
    return undefined; // storage blocked: start without one
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class VisitorChat {
  // events: onQueue({position, estimated_wait_s}), onAssigned(name), onMessage(message),
  // onOwn(entry), onTyping(bool), onConnection(online), onEnded(reason, data),
  // onRefused(ack) for closed, full and blocked, onFailed(code).
  constructor({ transports, events }) {
    this.transports = transports;
    this.events = events;
    this.socket = null;
    this.token = null;
    this.helpline = null;
    this.lang = null;
    this.lastSeq = 0;
    this.seqs = new Set();
    this.outbox = []; // {id, text, state: "sending" | "failed"} in the order typed
    this.joined = false; // this connection has started or resumed the chat
    this.assigned = false; // a counselor has the chat, as far as we know
    this.over = false;
    this.resuming = null;
    this.resumeAgain = false;
    this.pumping = false;
    this.gapTimer = null;
  }

  begin(helpline, lang) {
    this.helpline = helpline;
    this.lang = lang;
    this.connect();
  }

  reattach(saved) {
    this.token = saved.token;
    this.helpline = saved.helpline;
    this.lang = saved.lang;
    for (const { id, text } of saved.outbox || []) {
      const entry = { id, text, state: "sending" };
      this.outbox.push(entry);
      this.events.onOwn(entry);
    }
    this.connect();
  }

  connect() {
    // Protocol 2 (docs/protocol.md §1): the server sends `sync` heartbeats.
    const socket = io("/visitor", {
      transports: this.transports,
      reconnectionDelayMax: 5000,
      auth: { protocol: 2 },
    });
    this.socket = socket;
    socket.on("connect", () => this.connected());
    socket.on("disconnect", (reason) => {
      this.joined = false;
      if (this.over) return;
      this.events.onConnection(false);
      // The server dropped us on purpose (a process stopping for a deploy): come back.
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), RETRY_MS);
    });
    socket.on("connect_error", () => {
      if (!this.over) this.events.onConnection(false);
    });
    // A `queue` after `assigned` is either stale or the chat went back to the queue (its
    // counselor was lost, or it was transferred): the resume ack says which.
    socket.on("queue", (data) => (this.assigned ? this.resume() : this.events.onQueue(data)));
    socket.on("assigned", (data) => {
      this.assigned = true;
      this.events.onAssigned(data.counselor_name);
    });
    socket.on("message", (message) => this.receive([message]));
    socket.on("typing", (data) => this.events.onTyping(Boolean(data && data.typing)));
    socket.on("ended", (data) => this.finish((data && data.reason) || null, data || {}));
    socket.on("resync", () => this.resume());
    socket.on("sync", (data) => this.sync(data || {}));
  }

  connected() {
    this.events.onConnection(true);
    if (this.token) this.resume();
    else this.start();
  }

  async call(event, data, timeout = ACK_TIMEOUT_MS) {
    // Never let socket.io buffer an event for the next connection: it would reach the server
    // before `resume` and fail. Whatever is unsent is sent again after the resume.
    if (!this.socket || !this.socket.connected) return { error: { code: "offline" } };
    try {
      return (await this.socket.timeout(timeout).emitWithAck(event, data)) || {};
    } catch {
      return { error: { code: "timeout" } };
    }
  }

  async start() {
    const request = { helpline: this.helpline, lang: this.lang };
    const session = tabId();
    if (session) request.session = session;
    const ack = await this.call("start", request);
    if (this.over) return;
    if (ack.error) {
      if (ack.error.code === "offline") return; // started again on connect
      if (TRANSIENT.has(ack.error.code)) {
        // The start may or may not have happened: try again on a fresh connection, which
        // cannot be holding a chat already. A chat left behind times out on the server.
        // Too many starts from this network: the server counts per minute, so wait longer.
        const wait = ack.error.code === "rate_limited" ? START_LIMITED_RETRY_MS : RETRY_MS;
        this.socket.disconnect();
        setTimeout(() => this.over || this.socket.connect(), wait);
      } else {
        this.close();
        this.events.onFailed(ack.error.code);
      }
      return;
    }
    if (ack.status !== "queued") {
      this.close();
      this.events.onRefused(ack);
      return;
    }
    this.token = ack.token;
    this.joined = true;
    this.save();
    if (!this.assigned) this.events.onQueue(ack); // `assigned` may have come first
    this.pump();
  }

  // The server's heartbeat says where the chat stands; an event lost on the way between
  // server processes (`assigned`, the last message, `ended`) shows up here as a difference.
  sync({ status, last_seq: lastSeq }) {
    if (!this.joined || this.over) return;
    const behind = Number.isInteger(lastSeq) && lastSeq > this.contiguousSeq();
    const moved =
      status === "ended" ||
      (status === "chatting" && !this.assigned) ||
      (status === "queued" && this.assigned);
    if (behind || moved) this.resume();
  }

  // Catch up after a reconnect, a `resync` or a gap; one at a time, repeated if asked again.
  async resume() {
    if (!this.token || this.over) return;
    if (this.resuming) {
      this.resumeAgain = true;
      return;
    }
    this.resuming = this.resumeOnce();
    try {
      await this.resuming;
    } finally {
      this.resuming = null;
    }
    if (this.resumeAgain && !this.over) {
      this.resumeAgain = false;
      this.resume();
    }
  }

  async resumeOnce() {
    const ack = await this.call("resume", { token: this.token, last_seq: this.contiguousSeq() });
    if (this.over) return;
    if (ack.error) {
      if (ack.error.code === "unknown_token") this.finish("gone", {});
      else if (TRANSIENT.has(ack.error.code) && this.socket.connected) {
        await sleep(RETRY_MS);
        this.resumeAgain = true;
      }
      return;
    }
    if (ack.status === "ended") {
      this.finish(ack.reason || null, ack);
      return;
    }
    this.joined = true;
    this.assigned = ack.status === "chatting";
    if (this.assigned) this.events.onAssigned(ack.counselor_name);
    else this.events.onQueue(ack);
    this.receive(ack.messages || []);
    // A long log comes in pages (protocol 1.1): ask again from what we now have.
    if (ack.more) this.resumeAgain = true;
    this.pump();
  }

  // The highest seq up to which nothing is missing: resume from there, so a gap (or a page
  // not yet fetched) is filled even when later messages already came in as events.
  contiguousSeq() {
    let seq = 0;
    while (this.seqs.has(seq + 1)) seq += 1;
    return seq;
  }

  receive(messages) {
    const fresh = messages
      .filter((m) => Number.isInteger(m.seq) && !this.seqs.has(m.seq))
      .sort((a, b) => a.seq - b.seq);
    for (const message of fresh) {
      this.see(message.seq);
      this.events.onMessage(message);
    }
    this.checkGap();
  }

  see(seq) {
    this.seqs.add(seq);
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  // Every seq from 1 to lastSeq reaches this visitor; a missing one means events were lost.
  checkGap() {
    if (this.gapTimer || this.seqs.size >= this.lastSeq) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.seqs.size < this.lastSeq && this.joined) this.resume();
    }, GAP_WAIT_MS);
  }

  send(text) {
    const entry = { id: newMessageId(), text, state: "sending" };
    this.outbox.push(entry);
    this.save();
    this.events.onOwn(entry);
    this.pump();
    return entry;
  }

  retry(id) {
    const entry = this.outbox.find((e) => e.id === id);
    if (!entry) return;
    entry.state = "sending";
    this.events.onOwn(entry);
    this.pump();
  }

  // Send unacked messages one by one, in the order typed, each with its own client_msg_id.
  async pump() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.joined && !this.over && this.outbox.length > 0) {
        const entry = this.outbox[0];
        const ack = await this.call("message", { text: entry.text, client_msg_id: entry.id });
        if (this.over) return;
        if (!ack.error) {
          this.outbox.shift();
          this.save();
          const duplicate = this.seqs.has(ack.seq); // it already came back in a resume
          this.see(ack.seq);
          this.events.onOwn({ ...entry, state: "sent", seq: ack.seq, ts: ack.ts, duplicate });
          continue;
        }
        if (ack.error.code === "rate_limited" || ack.error.code === "internal_error") {
          await sleep(RETRY_MS);
          continue;
        }
        // Lost with the connection: sent again after the resume. Otherwise show the failure.
        if (ack.error.code !== "offline" && this.socket.connected) {
          entry.state = "failed";
          this.events.onOwn(entry);
        }
        return; // tried again after the next resume, or when the visitor asks
      }
    } finally {
      this.pumping = false;
    }
  }

  typing(typing) {
    if (this.joined && this.socket.connected) this.socket.emit("typing", { typing }, () => {});
  }

  // The visitor ends the chat; wait briefly for the ack, then let go either way.
  async end() {
    if (this.joined) await this.call("end", {}, 3000);
    this.finish("visitor", {}, { silent: true });
  }

  // Quick exit: send `end` if we can; the promise settles with the ack (the caller does not
  // wait long for it).
  abandon() {
    const socket = this.socket;
    const canEnd = this.joined && socket && socket.connected;
    this.over = true;
    this.forget();
    if (!canEnd) return Promise.resolve();
    return new Promise((resolve) => socket.emit("end", {}, resolve));
  }

  finish(reason, data, { silent = false } = {}) {
    if (this.over) return;
    this.forget();
    this.close();
    if (!silent) this.events.onEnded(reason, data);
  }

  close() {
    this.over = true;
    clearTimeout(this.gapTimer);
    if (this.socket) this.socket.disconnect();
  }

  save() {
    if (this.over || !this.token) return;
    const outbox = this.outbox.map(({ id, text }) => ({ id, text }));
    const saved = { token: this.token, helpline: this.helpline, lang: this.lang, outbox };
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
    } catch {
      // Storage can be full or blocked; the chat goes on, only a reload cannot resume.
    }
  }

  forget() {
    this.token = null;
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // nothing to forget
    }
  }
}
