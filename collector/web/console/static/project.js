"use strict";

// Project: the year's network-down budget (used / excluded / remaining against the budget),
// the outages it counted and what each charged, the forecast, alerts and restores.
PAGES.project = {
  name: null, year: null, b: null, error: "",
  async start() {
    this.name = decodeURIComponent(location.pathname.split("/").pop());
    this.year = parseInt(new URLSearchParams(location.search).get("year"), 10) || yearIn(zoneOf(this.name));
    await this.refresh();
    setInterval(() => this.refresh().catch(() => {}), 10000);
  },
  async refresh() {
    this.b = await api(`/api/projects/${encodeURIComponent(this.name)}/budget?year=${this.year}`);
    if (!document.activeElement || document.activeElement.tagName !== "INPUT") this.render();
  },
  bar(b) {
    const total = Math.max(b.budget_minutes, b.down_minutes + b.excluded_minutes + b.remaining_minutes);
    const pct = v => (100 * v / total).toFixed(2);
    return `<div class="bar" id="budget-bar" role="img" aria-label="${b.down_minutes} / ${b.budget_minutes}">
        <div class="used" style="width:${pct(b.down_minutes)}%" data-minutes="${b.down_minutes}"></div>
        <div class="excluded" style="width:${pct(b.excluded_minutes)}%" data-minutes="${b.excluded_minutes}"></div>
        <div class="remaining" style="width:${pct(b.remaining_minutes)}%"></div></div>
      <p class="legend"><span><span style="color:var(--down)">■</span> <b id="used-min">${b.down_minutes}</b> ${t("min_used")}</span>
        <span><span style="color:#9aa5b8">■</span> <b id="excluded-min">${b.excluded_minutes}</b> ${t("min_excluded")}</span>
        <span><span style="color:#9fd3a4">■</span> <b id="remaining-min">${b.remaining_minutes}</b> ${t("min_remaining")} / ${b.budget_minutes}</span></p>`;
  },
  // Cumulative charged minutes through the year, the budget line, and the forecast to year end.
  chart(b) {
    const W = 640, H = 180, P = 28;
    const zone = zoneOf(this.name);
    const y0 = yearStart(this.year, zone), y1 = yearStart(this.year + 1, zone);
    const projected = b.forecast.projected_year_end_minutes;  // null: too little of the year behind it
    const top = Math.max(b.budget_minutes, projected ?? 0, b.down_minutes) * 1.1 || 1;
    const x = t => P + (W - 2 * P) * Math.min(1, Math.max(0, (t - y0) / (y1 - y0)));
    const y = m => H - P - (H - 2 * P) * (m / top);
    let acc = 0;
    const pts = [[x(y0), y(0)]];
    for (const o of [...b.outages].sort((a, c) => a.started_at - c.started_at)) {
      if (!o.charged_minutes) continue;
      pts.push([x(o.started_at), y(acc)]);
      acc += o.charged_minutes;
      pts.push([x(o.ended_at ?? Date.now() / 1000), y(acc)]);
    }
    const now = Math.min(Date.now() / 1000, y1);
    pts.push([x(now), y(acc)]);
    const path = pts.map((p, i) => `${i ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(" ");
    return `<svg id="budget-chart" viewBox="0 0 ${W} ${H}" width="100%" style="max-width:${W}px" role="img" aria-label="${t("forecast")}">
      <line x1="${P}" x2="${W - P}" y1="${y(b.budget_minutes)}" y2="${y(b.budget_minutes)}" stroke="#c62828" stroke-dasharray="4 3"/>
      <text x="${W - P}" y="${y(b.budget_minutes) - 4}" text-anchor="end" font-size="11" fill="#c62828">${b.budget_minutes} min</text>
      <line x1="${P}" x2="${W - P}" y1="${H - P}" y2="${H - P}" stroke="#98a2b3"/>
      <path d="${path}" fill="none" stroke="#1f5fbf" stroke-width="2"/>
      ${projected == null ? "" : `<line id="forecast-line" x1="${x(now)}" y1="${y(acc)}" x2="${x(y1)}" y2="${y(projected)}" stroke="#1f5fbf" stroke-dasharray="5 4"/>`}
      <text x="${P}" y="${H - 8}" font-size="11" fill="#667085">${this.year}-01</text>
      <text x="${W - P}" y="${H - 8}" font-size="11" fill="#667085" text-anchor="end">${this.year}-12</text></svg>`;
  },
  render() {
    const b = this.b;
    const canMark = (PW.user.permissions || []).includes("outage.mark");
    const rows = b.outages.map(o => `<tr data-outage="${o.id}"><td>${esc(o.site)}</td><td>${timeTag(o.started_at, b.project)}</td>
        <td>${o.ended_at ? fmtDuration(o.ended_at - o.started_at) : t("ongoing")}</td>
        <td class="count">${o.charged_minutes}</td>
        <td>${o.customer ? `<span class="pill closed">${t("customer_caused")}</span>` : canMark ?
          `<input name="reason" placeholder="${t("reason")}" size="14"> <button class="primary mark" data-id="${o.id}">${t("mark_customer")}</button>` : ""}</td></tr>`).join("");
    const alertsClass = b.alerts_over_threshold > 3 ? "breach" : "";
    const restoreClass = b.restores_over_target > 0 ? "breach" : "";
    document.getElementById("main").innerHTML = `
      <h1>${t("project")} ${esc(b.project)} · ${b.year}</h1>
      <p class="muted">${t("time_zone")}: <span id="zone">${esc(zoneOf(b.project))}</span></p>
      <section class="card"><h2>${t("budget")}</h2>${this.bar(b)}
        <p>${t("forecast")}: <b id="forecast">${b.forecast.enough_data ? `${b.forecast.projected_year_end_minutes} min` : t("forecast_too_early")}</b>${b.forecast.runs_out_on ? ` · ${t("runs_out")} ${esc(b.forecast.runs_out_on)}` : ""}</p>
        ${this.chart(b)}
        <p><span class="${alertsClass}">${t("alerts_over")}: <b id="alerts">${b.alerts_over_threshold}</b> / 3</span> ·
           <span class="${restoreClass}">${t("restores_over")}: <b>${b.restores_over_target}</b> (${t("longest")} ${b.longest_restore_minutes} min / 20)</span> ·
           ${t("availability")} ${b.availability_window_pct ?? "—"}%</p></section>
      <section class="card"><h2>${t("counted_outages")}</h2>
        <div class="table-wrap"><table id="outages"><thead><tr><th>${t("site")}</th><th>${t("since")}</th><th>${t("duration")}</th><th>${t("charged_min")}</th><th></th></tr></thead>
        <tbody>${rows || `<tr><td colspan="5" class="muted">—</td></tr>`}</tbody></table></div>
        <p class="error" role="alert">${esc(this.error)}</p></section>`;
    document.querySelectorAll("button.mark").forEach(btn => btn.onclick = async () => {
      const reason = btn.parentElement.querySelector("input[name=reason]").value;
      this.error = "";
      try {
        await api(`/api/outages/${btn.dataset.id}/exclusion`, {method: "POST", body: JSON.stringify({cause: "customer", reason})});
      } catch (e) { this.error = e.message; }
      await this.refresh();
      this.render();
    });
  },
};
