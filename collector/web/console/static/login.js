"use strict";

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
        document.getElementById("login-error").textContent = e.status === 429
          ? t("login_locked").replace("{s}", e.retryAfter || "?") : t("wrong_login");
      }
    };
  },
};

