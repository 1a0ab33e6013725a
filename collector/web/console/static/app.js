// parkwatch console: one small script, no build step. Each page is a function that renders
// into <main> from the JSON API and refreshes itself.
"use strict";

const PW = {
  lang: null,
  tz: null,  // the collector's zone: for the platform's incidents and times of no project
  zones: {},  // each project's time zone, from /api/zones
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

// Every time is shown in its project's time zone, the zone named: as text with its UTC
// offset ("UTC-5", "UTC+5:30"), and as a <time> whose title is the zone's name
// ("America/New_York").
function zoneOf(project) {
  return PW.zones[project] || PW.tz || "UTC";
}

function offsetLabel(seconds) {
  const m = Math.round(Math.abs(seconds) / 60);
  const text = `${Math.floor(m / 60)}${m % 60 ? ":" + String(m % 60).padStart(2, "0") : ""}`;
  return `UTC${seconds < 0 ? "-" : "+"}${text}`;
}

// [date and time, UTC offset] of ``epoch`` in the project's zone.
function timeParts(epoch, project) {
  const zone = zoneOf(project);
  const text = new Intl.DateTimeFormat(PW.lang === "zh-CN" ? "zh-CN" : "en-GB", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  }).format(new Date(epoch * 1000));
  return [text, offsetLabel(zoneOffsetS(epoch, zone))];
}

// A time the API cannot vouch for (null, a string, NaN, or beyond what a Date holds, such
// as -1e13 s) shows as a placeholder: one bad record must not stop the page rendering.
function validEpoch(epoch) {
  return typeof epoch === "number" && Number.isFinite(epoch) && Math.abs(epoch) < 8.64e12;
}

function fmtTime(epoch, project) {
  if (!validEpoch(epoch)) return "—";
  try {
    return timeParts(epoch, project).join(" ");
  } catch (e) {
    return "—";
  }
}

function timeTag(epoch, project) {
  if (!validEpoch(epoch)) return "—";
  const zone = zoneOf(project);
  let text, offset;
  try {
    [text, offset] = timeParts(epoch, project);
  } catch (e) {
    return "—";
  }
  return `<time datetime="${new Date(epoch * 1000).toISOString()}" title="${esc(zone)}">${esc(text)} <span class="zone">${esc(offset)}</span></time>`;
}

// Seconds east of UTC of ``zone`` at ``epoch`` (what a wall clock there adds to UTC).
function zoneOffsetS(epoch, zone) {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", {timeZone: zone, hourCycle: "h23",
    year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric",
    second: "numeric"}).formatToParts(new Date(epoch * 1000)).map(x => [x.type, x.value]));
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) / 1000 - Math.floor(epoch);
}

// 00:00 on 1 January of ``year`` in ``zone``, as epoch seconds.
function yearStart(year, zone) {
  const guess = Date.UTC(year, 0, 1) / 1000;
  return guess - zoneOffsetS(guess - zoneOffsetS(guess, zone), zone);
}

function yearIn(zone) {
  return parseInt(new Intl.DateTimeFormat("en-US", {timeZone: zone, year: "numeric"}).format(new Date()), 10);
}

function fmtDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
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
  if (!res.ok) {
    const err = new Error(errorText(body?.detail) || res.statusText);
    err.status = res.status;
    err.retryAfter = res.headers.get("Retry-After");
    throw err;
  }
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
    try {
      const z = await api("/api/zones");
      PW.tz = z.default; PW.zones = z.projects;
    } catch (e) { /* times then show in UTC, named so */ }
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
