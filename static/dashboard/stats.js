// The counts part of the dashboard (issue 11): tiles, daily charts and table, wait times, the
// hour-of-week heat map, the year report and the opening-hours planner. All numbers come
// from /api/stats/*; the CSV buttons ask the same routes for the same numbers.
import { api } from "../console/api.js";
import { bucketChart, dailyChart } from "./charts.js";

const WEEKDAY_KEYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAILY_COLUMNS = ["requested", "answered", "abandoned", "closed_attempts", "rejected_full", "tally_phone", "tally_email", "contacts"];
const WAIT_BUCKETS = ["wait_under_1m", "wait_1_5m", "wait_5_15m", "wait_15_30m", "wait_30m_plus"];

export class Stats {
  constructor({ t, lang, $, el, onAuth }) {
    Object.assign(this, { t, lang, $, el, onAuth });
    this.today = null; // the server's date, from the first summary
    this.names = {};
    this.labels = { outcomes: {}, topics: {} };
  }

  async get(path) {
    const result = await api(path).catch(() => null);
    if (result?.status === 401 || result?.status === 403) {
      this.onAuth(result.status);
      return null;
    }
    return result;
  }

  number(n) {
    return typeof n === "number" ? n.toLocaleString(this.t.locale) : String(n ?? 0);
  }

  growth(g) {
    if (g === null || g === undefined) return this.t.newLine;
    const pct = (g * 100).toLocaleString(this.t.locale, { maximumFractionDigits: 1 });
    return `${g >= 0 ? "+" : ""}${pct}%`;
  }

  tag(kind, id) {
    if (kind === "outcomes" && id === "none") return this.t.outcomeNone;
    if (kind === "outcomes" && id === "unspecified") return this.t.outcomeUnspecified;
    const labels = this.labels[kind][id];
    return (labels && (labels[this.lang] || labels.nl)) || id;
  }

  // --- start ---------------------------------------------------------------------------------

  async start() {
    const first = await this.get("/api/stats/summary");
    if (!first) return false;
    if (first.status !== 200) return true;
    this.today = first.body.to;
    this.labels = first.body.labels || this.labels;
    for (const h of first.body.helplines) this.names[h.id] = h.name;
    for (const id of ["demand-helpline", "planner-helpline"]) this.fillHelplines(this.$(id), id === "demand-helpline");
    this.$("year").value = this.today.slice(0, 4);
    this.preset("days30");
    this.wire();
    await Promise.all([this.loadTiles(), this.loadRange(), this.loadYear(), this.loadPlanner(true)]);
    return true;
  }

  wire() {
    const $ = this.$;
    $("range").addEventListener("submit", (e) => {
      e.preventDefault();
      this.loadRange();
    });
    for (const button of document.querySelectorAll("[data-preset]")) {
      button.addEventListener("click", () => {
        this.preset(button.dataset.preset);
        this.loadRange();
      });
    }
    $("demand-helpline").addEventListener("change", () => this.renderDemand());
    $("year-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.loadYear();
    });
    $("planner-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.loadPlanner(false);
    });
    $("planner-helpline").addEventListener("change", () => this.loadPlanner(true));
  }

  fillHelplines(select, withAll) {
    select.replaceChildren();
    if (withAll) select.append(new Option(this.t.allHelplines, "total"));
    for (const [id, name] of Object.entries(this.names)) select.append(new Option(name, id));
  }

  preset(name) {
    const today = new Date(`${this.today}T12:00:00Z`);
    const iso = (d) => d.toISOString().slice(0, 10);
    const days = (n) => new Date(today.getTime() - n * 86400000);
    const year = today.getUTCFullYear();
    const ranges = {
      week: [days((today.getUTCDay() + 6) % 7), today],
      days30: [days(29), today],
      year: [new Date(Date.UTC(year, 0, 1, 12)), today],
      lastYear: [new Date(Date.UTC(year - 1, 0, 1, 12)), new Date(Date.UTC(year - 1, 11, 31, 12))],
    };
    const [from, to] = ranges[name];
    this.$("from").value = iso(from);
    this.$("to").value = iso(to);
  }

  query(extra = {}) {
    const q = new URLSearchParams();
    if (this.$("from").value) q.set("from", this.$("from").value);
    if (this.$("to").value) q.set("to", this.$("to").value);
    const min = Number(this.$("min-count").value);
    if (min > 1) q.set("min_count", String(min));
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    const text = q.toString();
    return text ? `?${text}` : "";
  }

  // --- tiles ---------------------------------------------------------------------------------

  async loadTiles() {
    const today = new Date(`${this.today}T12:00:00Z`);
    const iso = (d) => d.toISOString().slice(0, 10);
    const monday = new Date(today.getTime() - ((today.getUTCDay() + 6) % 7) * 86400000);
    const jan1 = `${this.today.slice(0, 4)}-01-01`;
    const lastYearDay = `${Number(this.today.slice(0, 4)) - 1}${this.today.slice(4)}`.replace("-02-29", "-02-28");
    const lastJan1 = `${Number(this.today.slice(0, 4)) - 1}-01-01`;
    const ranges = [[this.today, this.today], [iso(monday), this.today], [jan1, this.today], [lastJan1, lastYearDay]];
    const results = await Promise.all(ranges.map(([f, to]) => this.get(`/api/stats/summary?from=${f}&to=${to}`)));
    if (results.some((r) => r?.status !== 200)) return;
    const [day, week, year, before] = results.map((r) => Object.fromEntries([...r.body.helplines, r.body.total].map((h) => [h.id, h])));
    const box = this.$("tiles");
    box.replaceChildren();
    for (const id of [...Object.keys(this.names), "total"]) {
      const tile = this.el("article", undefined, "tile");
      tile.dataset.helpline = id;
      const name = id === "total" ? this.t.total : this.names[id];
      tile.append(this.el("h3", name));
      const dl = this.el("dl");
      const thisYear = year[id].contacts.total;
      const previous = before[id].contacts.total;
      const g = previous ? (thisYear - previous) / previous : null;
      for (const [label, value] of [[this.t.today, day[id].contacts.total], [this.t.thisWeek, week[id].contacts.total], [this.t.thisYear, thisYear]]) {
        dl.append(this.el("dt", label), this.el("dd", this.number(value)));
      }
      const growth = this.el("dd", this.t.growthVsLastYear(this.growth(g)), g === null ? "" : g >= 0 ? "growth-up" : "growth-down");
      dl.append(this.el("dt", ""), growth);
      tile.append(dl);
      box.append(tile);
    }
  }

  // --- the range: daily chart and table, outcomes, wait, demand ---------------------------------

  async loadRange() {
    const $ = this.$;
    const q = this.query();
    $("csv").href = this.csvHref("/api/stats/daily.csv");
    $("csv-summary").href = this.csvHref("/api/stats/summary.csv");
    $("csv-demand").href = this.csvHref("/api/stats/demand.csv");
    const [daily, summary, demand] = await Promise.all([
      this.get(`/api/stats/daily${q}`),
      this.get(`/api/stats/summary${q}`),
      this.get(`/api/stats/demand${q}`),
    ]);
    if (!daily || !summary || !demand) return false;
    if (daily.status !== 200 || summary.status !== 200 || demand.status !== 200) {
      $("daily-error").textContent = daily.status === 400 ? this.t.badRange : this.t.error;
      return true;
    }
    $("daily-error").textContent = "";
    this.renderDaily(daily.body.days || []);
    this.renderWait(summary.body.total);
    this.demand = demand.body;
    this.renderDemand();
    return true;
  }

  csvHref(path) {
    const q = new URLSearchParams();
    if (this.$("from").value) q.set("from", this.$("from").value);
    if (this.$("to").value) q.set("to", this.$("to").value);
    const min = Number(this.$("min-count").value);
    if (min > 1) q.set("min_count", String(min));
    const text = q.toString();
    return text ? `${path}?${text}` : path;
  }

  renderDaily(rows) {
    const t = this.t;
    const perDay = new Map();
    const outcomes = new Set();
    for (const row of rows) {
      const day = perDay.get(row.date) || {};
      for (const [key, value] of Object.entries(row)) {
        if (typeof value === "number") day[key] = (day[key] || 0) + value;
        if (key.startsWith("outcome_")) outcomes.add(key);
      }
      perDay.set(row.date, day);
    }
    const days = [...perDay.keys()].sort();
    const value = (d, key) => perDay.get(d)[key] || 0;
    dailyChart(this.$("chart"), days, [
      { label: t.channels.chat, values: days.map((d) => value(d, "answered")) },
      { label: t.channels.phone, values: days.map((d) => value(d, "tally_phone")) },
      { label: t.channels.email, values: days.map((d) => value(d, "tally_email")) },
      { label: t.channels.total, values: days.map((d) => value(d, "contacts")) },
    ]);
    const outcomeKeys = [...outcomes].sort();
    dailyChart(
      this.$("outcome-chart"),
      days,
      outcomeKeys.map((key) => ({ label: this.tag("outcomes", key.slice(8)), values: days.map((d) => value(d, key)) })),
    );
    // The table behind both charts: per day and helpline, then a totals row.
    const table = this.$("daily");
    const head = this.el("tr");
    const columns = [...DAILY_COLUMNS, ...outcomeKeys];
    const label = (key) => (key.startsWith("outcome_") ? this.tag("outcomes", key.slice(8)) : t.counters[key]);
    for (const name of [t.date, t.helpline, ...columns.map(label)]) {
      const th = this.el("th", name);
      th.scope = "col";
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    const body = table.tBodies[0];
    body.replaceChildren();
    if (!rows.length) {
      const tr = this.el("tr");
      const td = this.el("td", t.noRows);
      td.colSpan = 2 + columns.length;
      tr.append(td);
      body.append(tr);
    }
    const totals = {};
    for (const row of rows) {
      const tr = this.el("tr");
      const th = this.el("th", row.date);
      th.scope = "row";
      tr.append(th, this.el("td", row.helpline_name || row.helpline));
      for (const key of columns) {
        tr.append(this.el("td", this.number(row[key] ?? 0)));
        if (typeof row[key] === "number") totals[key] = (totals[key] || 0) + row[key];
      }
      body.append(tr);
    }
    const foot = this.el("tr");
    const th = this.el("th", t.total);
    th.scope = "row";
    foot.append(th, this.el("td", ""));
    for (const key of columns) foot.append(this.el("td", this.number(totals[key] || 0)));
    table.tFoot.replaceChildren(foot);
  }

  renderWait(total) {
    const t = this.t;
    const minutes = (s) => (s < 60 ? `${s} s` : `${Math.round(s / 6) / 10} min`);
    const wait = total.wait;
    this.$("wait-summary").textContent =
      wait.median_s === null ? t.waitNone : t.waitSummary(minutes(wait.median_s), minutes(wait.p90_s));
    const labels = WAIT_BUCKETS.map((b) => t.buckets[b]);
    const values = WAIT_BUCKETS.map((b) => (typeof wait.histogram[b] === "number" ? wait.histogram[b] : 0));
    bucketChart(this.$("wait-chart"), labels, values, t.count);
    const table = this.$("wait-table");
    const head = this.el("tr");
    for (const name of [t.bucket, t.count]) {
      const th = this.el("th", name);
      th.scope = "col";
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren(
      ...WAIT_BUCKETS.map((b, i) => {
        const tr = this.el("tr");
        const th = this.el("th", labels[i]);
        th.scope = "row";
        tr.append(th, this.el("td", this.number(wait.histogram[b])));
        return tr;
      }),
    );
  }

  renderDemand() {
    if (!this.demand) return;
    const id = this.$("demand-helpline").value;
    const entry = id === "total" ? this.demand.total : this.demand.helplines.find((h) => h.id === id);
    if (!entry) return;
    this.heatTable(this.$("heat-open"), entry.open, "open");
    this.heatTable(this.$("heat-closed"), entry.closed, "closed");
  }

  heatTable(table, matrix, state) {
    const t = this.t;
    const head = this.el("tr");
    const corner = this.el("th", t.day);
    corner.scope = "col";
    head.append(corner);
    for (let hour = 0; hour < 24; hour++) {
      const th = this.el("th", String(hour).padStart(2, "0"));
      th.scope = "col";
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    const numbers = matrix.flat().filter((n) => typeof n === "number");
    const max = Math.max(1, ...numbers);
    const hue = state === "open" ? "205, 70%" : "25, 85%";
    table.tBodies[0].replaceChildren(
      ...matrix.map((row, weekday) => {
        const tr = this.el("tr");
        const th = this.el("th", t.weekdays[weekday]);
        th.scope = "row";
        th.title = t.weekdaysLong[weekday];
        tr.append(th);
        for (const n of row) {
          const td = this.el("td", n ? this.number(n) : "");
          const share = typeof n === "number" ? n / max : 0.3;
          // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
          td.style.backgroundColor = n ? `hsl(${hue}, ${Math.round(95 - share * 55)}%)` : "";
          td.style.color = share > 0.6 ? "#ffffff" : "";
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  // --- year report ---------------------------------------------------------------------------

  async loadYear() {
    const t = this.t;
    const year = Number(this.$("year").value) || Number(this.today.slice(0, 4));
    const min = Number(this.$("min-count").value);
    const q = min > 1 ? `?min_count=${min}` : "";
    this.$("csv-year").href = `/api/stats/year/${year}.csv${q}`;
    const result = await this.get(`/api/stats/year/${year}${q}`);
    if (result?.status !== 200) return;
    const report = result.body;
    const table = this.$("year-table");
    const head = this.el("tr");
    for (const name of [t.helpline, t.channel, String(report.year), String(report.previous_year), t.growth]) {
      const th = this.el("th", name);
      th.scope = "col";
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    const rows = [];
    for (const entry of [...report.helplines, { name: t.total, ...report.total, total: true }]) {
      for (const channel of ["chat", "phone", "email", "total", "closed_attempts"]) {
        const cell = entry.channels[channel];
        const tr = this.el("tr", undefined, entry.total ? "total-row" : "");
        const th = this.el("th", `${entry.name}`);
        th.scope = "row";
        tr.append(th, this.el("td", t.channels[channel]), this.el("td", this.number(cell.count)), this.el("td", this.number(cell.previous)), this.el("td", this.growth(cell.growth)));
        rows.push(tr);
      }
    }
    table.tBodies[0].replaceChildren(...rows);
  }

  // --- planner -------------------------------------------------------------------------------

  async loadPlanner(fromCurrentHours) {
    const t = this.t;
    const helpline = this.$("planner-helpline").value;
    if (!helpline) return;
    const q = new URLSearchParams({ helpline, target_wait_s: this.$("planner-target").value || "120", chats: this.$("planner-chats").value || "1" });
    const to = this.today;
    q.set("from", `${Number(to.slice(0, 4)) - 1}${to.slice(4)}`.replace("-02-29", "-02-28"));
    q.set("to", to);
    if (!fromCurrentHours) {
      for (const day of WEEKDAY_KEYS) q.set(day, this.$(`planner-${day}`).value.replace(/\s+/g, ""));
    }
    this.$("csv-planner").href = `/api/stats/planner.csv?${q}`;
    const result = await this.get(`/api/stats/planner?${q}`);
    if (!result) return;
    if (result.status !== 200) {
      this.$("planner-error").textContent = result.body?.error?.message || t.error;
      return;
    }
    this.$("planner-error").textContent = "";
    const plan = result.body;
    if (fromCurrentHours) this.renderPlannerDays(plan.proposed);
    const out = this.$("planner-result");
    out.replaceChildren(
      this.el("p", t.plannerExtra(plan.extra_contacts_per_year), "planner-big"),
      this.el("p", t.plannerDetail(plan.gained_requests_per_year, plan.lost_requests_per_year, plan.open_hours_per_week, plan.counselor_hours_per_week)),
    );
    this.heatTable(this.$("planner-table"), plan.counselors, "open");
  }

  renderPlannerDays(proposed) {
    const box = this.$("planner-days");
    box.replaceChildren();
    WEEKDAY_KEYS.forEach((day, i) => {
      const label = this.el("label", this.t.weekdaysLong[i]);
      label.htmlFor = `planner-${day}`;
      const input = this.el("input");
      input.id = `planner-${day}`;
      input.value = (proposed[day] || []).join(", ");
      const wrap = this.el("div");
      wrap.append(label, input);
      box.append(wrap);
    });
  }
}
