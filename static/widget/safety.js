// Quick exit and the idle warning.

const SHIFT_TAPS = 3;
const SHIFT_WINDOW_MS = 2000;
const END_WAIT_MS = 300;

// Leave at once for a neutral site: end the chat (waiting at most END_WAIT_MS for the ack),
// wipe sessionStorage and the page, and replace this history entry so Back does not return.
// Works from every [data-quick-exit] button and from three taps of Shift alone within
// SHIFT_WINDOW_MS; Shift held for a capital letter is no tap, and any other key starts over.
export class QuickExit {
  constructor(url, beforeLeaving) {
    this.url = url;
    this.beforeLeaving = beforeLeaving;
    this.taps = [];
    this.shiftAlone = false;
    this.leaving = false;
    document.addEventListener("click", (event) => {
      if (event.target instanceof Element && event.target.closest("[data-quick-exit]")) {
        event.preventDefault();
        this.leave();
      }
    });
    document.addEventListener("keydown", (event) => this.onKeyDown(event), true);
    document.addEventListener("keyup", (event) => this.onKeyUp(event), true);
  }

  onKeyDown(event) {
    if (event.key === "Shift") {
      if (!event.repeat) this.shiftAlone = true;
    } else {
      this.shiftAlone = false;
      this.taps = [];
    }
  }

  onKeyUp(event) {
    if (event.key !== "Shift" || !this.shiftAlone) return;
    this.shiftAlone = false;
    const now = performance.now();
    this.taps = this.taps.filter((t) => now - t < SHIFT_WINDOW_MS);
    this.taps.push(now);
    if (this.taps.length >= SHIFT_TAPS) this.leave();
  }

  leave() {
    if (this.leaving) return;
    this.leaving = true;
    let ended = Promise.resolve();
    try {
      ended = Promise.resolve(this.beforeLeaving());
    } catch {
      // leave anyway
    }
    try {
      sessionStorage.clear();
    } catch {
      // nothing stored
    }
    document.title = "";
    document.body.replaceChildren();
    const go = () => replaceLocation(this.url);
    Promise.race([ended, new Promise((resolve) => setTimeout(resolve, END_WAIT_MS))]).then(go, go);
  }
}

function replaceLocation(url) {
  // Embedded in a helpline's site: take the whole tab away, not just the frame. Should the
  // embedding page not allow that (a sandboxed iframe), the frame at least leaves soon after.
  if (window.top !== window.self) {
    try {
      window.top.location.replace(url);
    } catch {
      // not allowed; leave the frame below
    }
    setTimeout(() => window.location.replace(url), 500);
    return;
  }
  window.location.replace(url);
}

// Calls onWarn after idleMs without activity, then onExpire graceMs later unless
// activity() came first.
export class IdleWatch {
  constructor({ idleMs, graceMs, onWarn, onExpire }) {
    Object.assign(this, { idleMs, graceMs, onWarn, onExpire });
    this.timer = null;
    this.running = false;
  }

  start() {
    this.running = true;
    this.arm();
  }

  activity() {
    if (this.running) this.arm();
  }

  arm() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.onWarn();
      this.timer = setTimeout(() => this.onExpire(), this.graceMs);
    }, this.idleMs);
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }
}
