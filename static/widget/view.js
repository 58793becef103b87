// Rendering. Everything anyone typed or configured goes into the page as text (textContent),
// never as markup.
import { addDays, clockTime, dayName, localDate } from "./format.js";

export const byId = (id) => document.getElementById(id);

function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

// Show one screen. After the first, move focus to its heading so a screen reader tells where
// the visitor is now; the first leaves focus at the top, where the quick exit comes first.
let firstScreen = true;
export function showScreen(name) {
  for (const screen of document.querySelectorAll(".screen")) {
    screen.hidden = screen.id !== `screen-${name}`;
  }
  document.body.classList.toggle("in-chat", name === "chat");
  const focus = !firstScreen;
  firstScreen = false;
  if (focus) {
    const heading = document.querySelector(`#screen-${name} .screen-title`);
    if (heading) heading.focus();
  }
}

export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

// Several sentences, one per line; untouched when unchanged, so a live region stays quiet.
export function setLines(element, lines) {
  if (element.textContent === lines.join(" ")) return;
  element.replaceChildren(...lines.flatMap((line, i) => [i ? " " : "", el("span", "line", line)]));
}

export function renderHelplineList(list, helplines, texts, onChoose) {
  list.replaceChildren();
  for (const helpline of helplines) {
    const button = el("button", "helpline-choice");
    button.type = "button";
    button.append(el("span", "helpline-name", helpline.name));
    const open = helpline.accepting;
    button.append(el("span", open ? "badge badge-open" : "badge", open ? texts.openNow : texts.closedNow));
    button.addEventListener("click", () => onChoose(helpline));
    const item = el("li");
    item.append(button);
    list.append(item);
  }
}

// The local days schedule.from .. from+days-1 with their opening intervals, in the helpline's zone.
export function renderWeek(tbody, schedule, texts) {
  tbody.replaceChildren();
  const zone = schedule.timezone;
  for (let i = 0; i < schedule.days; i += 1) {
    const date = addDays(schedule.from, i);
    const ranges = schedule.intervals
      .filter((interval) => localDate(interval.opens_at, zone) === date)
      .map((interval) => {
        const from = clockTime(interval.opens_at, texts.locale, zone);
        const to = clockTime(interval.closes_at, texts.locale, zone);
        return `${from}–${to}`;
      });
    const row = el("tr");
    if (i === 0) row.className = "today";
    const label = i === 0 ? `${dayName(date, texts.locale)} (${texts.today})` : dayName(date, texts.locale);
    const head = el("th", "", label);
    head.scope = "row";
    const hours = el("td", ranges.length ? "" : "closed-day", ranges.length ? undefined : texts.closedDay);
    ranges.forEach((range, index) => hours.append(index ? ", " : "", el("span", "range", range)));
    row.append(head, hours);
    tbody.append(row);
  }
}

export function renderAlternatives(container, alternatives, texts) {
  container.replaceChildren();
  if (!alternatives || alternatives.length === 0) return;
  container.append(el("h2", "", texts.alternativesTitle));
  const list = el("ul", "alternative-list");
  for (const alternative of alternatives) {
    const item = el("li");
    item.append(el("span", "alternative-label", alternative.label));
    const link = el("a", "alternative-value", alternative.value);
    if (alternative.kind === "phone") {
      link.href = "tel:" + alternative.value.replace(/[^0-9+]/g, "");
    } else if (alternative.kind === "email") {
      link.href = "mailto:" + alternative.value;
    } else {
      link.href = alternative.value;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.append(el("span", "visually-hidden", " " + texts.opensInNewWindow));
    }
    item.append(link);
    list.append(item);
  }
  container.append(list);
}

// The conversation, ordered by seq; own messages not yet acked wait at the end.
export class MessageLog {
  constructor(element, empty, texts) {
    this.element = element;
    this.empty = empty;
    this.texts = texts;
    this.records = []; // {seq?, id?, from, name, text, ts?, state?, node}
  }

  get length() {
    return this.records.length;
  }

  clear() {
    for (const record of this.records) record.node.remove();
    this.records = [];
    this.empty.hidden = false;
  }

  // A message from the server (counselor, system, or own from another tab or a resume).
  add(message, counselorName) {
    const name =
      message.from === "visitor"
        ? this.texts.you
        : message.from === "counselor"
          ? counselorName || this.texts.counselor
          : this.texts.chatService;
    const record = { seq: message.seq, from: message.from, name, text: message.text, ts: message.ts };
    if (message.from === "visitor") record.state = "sent";
    record.node = this.render(record);
    this.place(record);
  }

  // An own message: new (sending), failed, or acked (sent, with its seq).
  own(entry, onRetry) {
    const follow = this.nearBottom();
    this.ownUpdate(entry, onRetry);
    if (follow) this.toBottom();
  }

  ownUpdate(entry, onRetry) {
    const record = this.records.find((r) => r.id === entry.id);
    if (!record) {
      const fresh = { id: entry.id, from: "visitor", name: this.texts.you, text: entry.text, state: entry.state };
      fresh.node = this.render(fresh, onRetry);
      this.place(fresh);
      this.toBottom(); // the visitor just wrote it: show it
      return;
    }
    if (entry.duplicate) {
      // The same message already came back, with its seq, in a resume.
      record.node.remove();
      this.records.splice(this.records.indexOf(record), 1);
      return;
    }
    record.state = entry.state;
    if (entry.seq !== undefined) {
      record.seq = entry.seq;
      record.ts = entry.ts;
      this.records.splice(this.records.indexOf(record), 1);
      record.node.querySelector(".msg-time").textContent = clockTime(entry.ts, this.texts.locale);
      this.place(record);
    }
    this.renderState(record, onRetry);
  }

  // Keep the newest message in view, unless the visitor scrolled up to read.
  nearBottom() {
    const log = this.element;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 96;
  }

  toBottom() {
    this.element.scrollTop = this.element.scrollHeight;
  }

  place(record) {
    const follow = this.nearBottom();
    let index = this.records.length;
    if (record.seq !== undefined) {
      index = this.records.findIndex((r) => r.seq === undefined || r.seq > record.seq);
      if (index === -1) index = this.records.length;
    }
    const before = this.records[index];
    this.records.splice(index, 0, record);
    // Touch the DOM only when the node is new or really moves: the log announces additions.
    const next = before ? before.node : null;
    if (!record.node.isConnected || record.node.nextSibling !== next) {
      this.element.insertBefore(record.node, next);
    }
    this.empty.hidden = true;
    if (follow) this.toBottom();
  }

  render(record, onRetry) {
    const node = el("div", `msg msg-${record.from}`);
    const meta = el("p", "msg-meta");
    meta.append(el("span", "msg-who", record.name), " ");
    meta.append(el("span", "msg-time", record.ts ? clockTime(record.ts, this.texts.locale) : ""));
    node.append(meta, el("p", "msg-text", record.text));
    if (record.from === "visitor") {
      node.append(el("p", "msg-state"));
      record.node = node;
      this.renderState(record, onRetry);
    }
    return node;
  }

  renderState(record, onRetry) {
    const state = record.node.querySelector(".msg-state");
    const texts = this.texts;
    state.replaceChildren(
      record.state === "sent" ? texts.stateSent : record.state === "failed" ? texts.stateFailed : texts.stateSending,
    );
    state.dataset.state = record.state;
    if (record.state === "failed" && onRetry) {
      const retry = el("button", "link-button", texts.retry);
      retry.type = "button";
      retry.addEventListener("click", () => onRetry(record.id));
      state.append(" ", retry);
    }
  }

  // The transcript as plain text, built in the browser from what is on screen.
  transcript(title, note) {
    const lines = this.records.map((r) => {
      const time = r.ts ? clockTime(r.ts, this.texts.locale) : "--:--";
      return `[${time}] ${r.name}: ${r.text.replace(/\r?\n/g, "\n    ")}`;
    });
    return [title, note, "", ...lines].join("\n") + "\n";
  }
}

export function downloadText(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const link = el("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
