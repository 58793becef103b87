// Language: the lang parameter, then the browser's languages, then Dutch.
import en from "./i18n/en.js";
import nl from "./i18n/nl.js";

const TEXTS = { nl, en };
export const LANGUAGES = Object.keys(TEXTS);

export function chooseLanguage(param, browserLanguages) {
  if (LANGUAGES.includes(param)) return param;
  for (const tag of browserLanguages || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "nl";
}

export function textsFor(lang) {
  return TEXTS[lang] || nl;
}

// Fill every element that names a plain text with data-t="key".
export function applyTexts(root, texts) {
  for (const element of root.querySelectorAll("[data-t]")) {
    const text = texts[element.dataset.t];
    if (typeof text === "string") element.textContent = text;
  }
}
