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
  if (!res.ok) throw new Error(body?.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : res.statusText);
  return body;
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

PAGES.login = {
  async start() { this.render(); },
  render() {
    document.getElementById("main").innerHTML = `
      <h1 data-i18n="signin">${t("signin")}</h1>
      <form class="stack" id="login">
        <label><span data-i18n="username">${t("username")}</span><br><input name="username" autocomplete="username" required></label>
        <label><span data-i18n="password">${t("password")}</span><br><input name="password" type="password" autocomplete="current-password" required></label>
        <button class="primary" type="submit" data-i18n="signin">${t("signin")}</button>
        <p class="error" id="login-error" role="alert"></p>
      </form>`;
    document.getElementById("login").onsubmit = async ev => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      try {
        await api("/api/auth/login", {method: "POST", body: JSON.stringify(
          {username: f.get("username"), password: f.get("password")})});
        location.href = "/board";
      } catch (e) {
        document.getElementById("login-error").textContent = t("wrong_login");
      }
    };
  },
};

PAGES.board = {
  sites: [], incidents: [], fetchedAt: 0,
  async start() {
    await this.refresh();
    setInterval(() => this.refresh().catch(() => {}), 2000);
    setInterval(() => this.tick(), 1000);
  },
  async refresh() {
    const [sites, incidents] = await Promise.all([api("/api/sites"), api("/api/board/incidents")
      .catch(() => api("/api/incidents?state=open"))]);
    this.sites = sites; this.incidents = incidents; this.fetchedAt = Date.now() / 1000;
    this.render();
  },
  downRows() {
    const rows = [];
    for (const s of this.sites) {
      if (s.state !== "online") rows.push({project: s.project, site: s.site, device: null, state: s.state, since: s.last_seen});
      for (const d of s.devices) if (d.state === "offline" || d.state === "fault")
        rows.push({project: s.project, site: s.site, device: d.device, state: d.state, fault: d.fault, since: d.since});
    }
    return rows.sort((a, b) => (a.since ?? 0) - (b.since ?? 0));
  },
  render() {
    const down = this.downRows();
    const downHtml = down.length ? `<div class="table-wrap"><table id="down"><thead><tr>
        <th>${t("project")}</th><th>${t("site")}</th><th>${t("device")}</th><th>${t("state")}</th><th>${t("since")}</th></tr></thead><tbody>
        ${down.map(r => `<tr data-site="${esc(r.site)}" data-device="${esc(r.device ?? "")}">
          <td><a href="/projects/${encodeURIComponent(r.project)}">${esc(r.project)}</a></td><td>${esc(r.site)}</td><td>${esc(r.device ?? "—")}</td>
          <td><span class="pill ${esc(r.state)}">${esc(t("state." + r.state))}</span> ${esc(r.fault ?? "")}</td>
          <td>${fmtTime(r.since)}</td></tr>`).join("")}</tbody></table></div>`
      : `<p class="muted" id="down">${t("nothing_down")}</p>`;
    const inc = [...this.incidents].sort((a, b) => this.left(a) - this.left(b));
    const incHtml = inc.length ? `<div class="table-wrap"><table id="incidents"><thead><tr>
        <th>#</th><th>${t("kind")}</th><th>${t("site")}</th><th>${t("grade")}</th><th>${t("group")}</th><th>${t("time_left")}</th><th>${t("opened")}</th></tr></thead><tbody>
        ${inc.map(i => `<tr data-incident="${i.id}">
          <td><a href="/incidents/${i.id}">${i.id}</a></td>
          <td>${esc(t("kind." + i.kind))}</td>
          <td>${esc(i.project)} / ${esc(i.site ?? "")}${i.device ? " / " + esc(i.device) : ""}</td>
          <td>${esc(i.grade ?? "")}</td><td>${esc(i.group ?? "")}</td>
          <td class="count countdown" data-due="${i.due_at ?? ""}" data-assessed="${i.assessed ?? ""}"></td>
          <td>${fmtTime(i.opened_at)}</td></tr>`).join("")}</tbody></table></div>`
      : `<p class="muted" id="incidents">${t("no_open")}</p>`;
    document.getElementById("main").innerHTML = `<div class="grid">
      <section class="card"><h2>${t("down_now")} <span class="muted count" id="down-count">(${down.length})</span></h2>${downHtml}</section>
      <section class="card"><h2>${t("open_incidents")} <span class="muted count">(${inc.length})</span></h2>${incHtml}</section></div>
      <p class="muted">${t("updated")} <span id="updated">${fmtTime(this.fetchedAt)}</span></p>`;
    this.tick();
  },
  left(i) { return i.due_at ? i.due_at - Date.now() / 1000 : Infinity; },
  tick() {
    document.querySelectorAll(".countdown").forEach(el => {
      if (el.dataset.assessed === "false") { el.textContent = t("not_assessed"); el.className = "count countdown muted"; return; }
      const due = parseFloat(el.dataset.due);
      if (!due) { el.textContent = "—"; return; }
      const left = due - Date.now() / 1000;
      el.textContent = left < 0 ? `${t("overdue")} ${fmtDuration(-left)}` : fmtDuration(left);
      el.className = "count countdown " + (left < 0 ? "breach" : left < 300 ? "due-soon" : "");
    });
  },
};

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
