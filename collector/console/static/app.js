// parkwatch console: one small script, no build step. Each page is a function that renders
// into <main> from the JSON API and refreshes itself.
"use strict";

const PW = {
  lang: null,
  tz: "Asia/Shanghai",
  user: null,
};

function chooseLang() {
  const m = document.cookie.match(/(?:^|; )pw_lang=([^;]+)/);
  if (m && PW_I18N[m[1]]) return m[1];
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

function t(key) {
  return (PW_I18N[PW.lang] || {})[key] ?? PW_I18N.en[key] ?? key;
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"})[c]);
}

function fmtTime(epoch, tz) {
  if (epoch == null) return "—";
  return new Intl.DateTimeFormat(PW.lang === "zh-CN" ? "zh-CN" : "en-GB", {
    timeZone: tz || PW.tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  }).format(new Date(epoch * 1000));
}

function fmtDuration(seconds) {
  const neg = seconds < 0;
  let s = Math.abs(Math.round(seconds));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const text = (h ? `${h}:${String(m).padStart(2, "0")}` : `${m}`) + `:${String(s).padStart(2, "0")}`;
  return neg ? `-${text}` : text;
}

async function api(path, options = {}) {
  const res = await fetch(path, {credentials: "same-origin", ...options,
    headers: {"Content-Type": "application/json", ...(options.headers || {})}});
  if (res.status === 401 && document.body.dataset.page !== "login") {
    location.href = "/login";
    throw new Error("signed out");
  }
  const body = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw new Error(errorText(body?.detail) || res.statusText);
  return body;
}

// A refusal's words: {"detail": "..."}, or a 422's [{"loc": [...], "msg": "..."}, ...].
function errorText(detail) {
  if (!detail) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map(e => {
      const where = (e.loc || []).filter(p => p !== "body").join(".");
      return where && !String(e.msg).includes(where) ? `${where}: ${e.msg}` : e.msg;
    }).join("; ");
  }
  return JSON.stringify(detail);
}

function applyI18n(root = document) {
  document.documentElement.lang = PW.lang;
  root.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = t(el.dataset.i18n); });
}

function renderHeader() {
  const page = document.body.dataset.page;
  const nav = PW.user ? `
    <a href="/board" class="${page === "board" ? "active" : ""}" data-i18n="board">${t("board")}</a>
    <a href="/reports" class="${page === "reports" ? "active" : ""}" data-i18n="reports">${t("reports")}</a>` : "";
  const who = PW.user ? `<span class="muted" id="whoami">${esc(PW.user.display_name)} · ${esc(PW.user.role)}</span>
    <button id="signout" data-i18n="signout">${t("signout")}</button>` : "";
  document.getElementById("top").innerHTML = `<span class="brand">parkwatch</span>${nav}
    <span class="spacer"></span>${who}<button id="lang" title="language">${t("language")}</button>`;
  document.getElementById("lang").onclick = () => {
    PW.lang = PW.lang === "zh-CN" ? "en" : "zh-CN";
    document.cookie = `pw_lang=${PW.lang}; path=/; max-age=31536000; samesite=lax`;
    renderHeader();
    PAGES[page].render?.();
  };
  const so = document.getElementById("signout");
  if (so) so.onclick = async () => { await api("/api/auth/logout", {method: "POST"}); location.href = "/login"; };
}

// --- pages ------------------------------------------------------------------------------

const PAGES = {};

async function boot() {
  PW.lang = chooseLang();
  const page = document.body.dataset.page;
  if (page !== "login") {
    try { PW.user = await api("/api/auth/me"); } catch (e) { return; }
  }
  renderHeader();
  applyI18n();
  try {
    await PAGES[page].start();
  } catch (e) {
    document.getElementById("main").innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}

document.addEventListener("DOMContentLoaded", boot);
