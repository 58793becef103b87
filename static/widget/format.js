// Dates and times for people. Opening hours are shown in the helpline's time zone and the days
// are counted from the server's "today" (schedule.from), so a wrong clock on the visitor's
// device cannot shift them.

const dayKeys = new Map();

// "2026-12-03T19:00:00+01:00" -> "2026-12-03" as a calendar date in timeZone.
export function localDate(iso, timeZone) {
  let format = dayKeys.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" });
    dayKeys.set(timeZone, format);
  }
  return format.format(new Date(iso));
}

export function addDays(date, days) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days, 12)).toISOString().slice(0, 10);
}

// "2026-12-03" -> "donderdag 3 december"
export function dayName(date, locale) {
  const [y, m, d] = date.split("-").map(Number);
  const noon = new Date(Date.UTC(y, m - 1, d, 12));
  return new Intl.DateTimeFormat(locale, { timeZone: "UTC", weekday: "long", day: "numeric", month: "long" }).format(noon);
}

// "19:00"; timeZone undefined means the device's own.
export function clockTime(iso, locale, timeZone) {
  return new Intl.DateTimeFormat(locale, { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
    new Date(iso),
  );
}

// "vandaag om 19:00", "morgen om 19:00" or "op donderdag 3 december om 19:00".
export function openingPhrase(iso, timeZone, today, texts) {
  const date = localDate(iso, timeZone);
  let day = texts.onDay(dayName(date, texts.locale));
  if (today && date === today) day = texts.today;
  else if (today && date === addDays(today, 1)) day = texts.tomorrow;
  return texts.at(day, clockTime(iso, texts.locale, timeZone));
}

// A rough wait in whole minutes: at least 1, in steps of 5 above 10.
export function waitMinutes(seconds) {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  return minutes > 10 ? Math.round(minutes / 5) * 5 : minutes;
}

export function deviceTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}
