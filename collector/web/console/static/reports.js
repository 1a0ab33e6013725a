"use strict";

// Reports: the month's scores per group, as the operator's rules define them; CSV download.
PAGES.reports = {
  month: null, rep: null,
  async start() {
    // This month where the collector is (its zone), not where the browser is.
    this.month = new Intl.DateTimeFormat("en-CA", {timeZone: zoneOf(null), year: "numeric",
      month: "2-digit"}).format(new Date()).slice(0, 7);
    await this.refresh();
  },
  async refresh() {
    this.rep = await api(`/api/reports/monthly?month=${this.month}`);
    this.render();
  },
  render() {
    const r = this.rep;
    const pct = v => v == null ? "—" : `${(100 * v).toFixed(1)}%`;
    const num = v => v == null ? "—" : v;
    const rows = r.groups.map(g => `<tr data-group="${esc(g.group)}"><td>${esc(g.group)}</td><td class="count">${g.incidents}</td>
      <td class="count">${num(g.responded_on_time)} / ${num(g.assessed)}</td><td class="count">${pct(g.response_rate)}</td>
      <td class="count">${num(g.handled_on_time)}</td><td class="count">${pct(g.handling_rate)}</td>
      <td class="count">${num(g.response_median_min)} / ${num(g.response_p90_min)}</td>
      <td class="count">${num(g.handling_median_min)} / ${num(g.handling_p90_min)}</td>
      <td class="count">${num(g.k1)}</td><td class="count">${num(g.k2)}</td><td class="count">${num(g.k3)}</td>
      <td class="count"><b>${num(g.score)}</b></td><td>${esc((g.tier || {}).name ?? "")}</td></tr>`).join("");
    document.getElementById("main").innerHTML = `
      <h1>${t("reports")}</h1>
      <form id="month" class="actions"><input type="month" name="month" value="${this.month}">
        <button class="primary" type="submit">${t("show")}</button>
        <a id="csv" href="/api/reports/monthly?month=${this.month}&format=csv" download="parkwatch-${this.month}.csv">${t("download_csv")}</a></form>
      <p class="muted">${t("incidents")}: ${r.incidents} · ${t("not_assessed")}: ${r.not_assessed}</p>
      <section class="card table-wrap"><table id="scores"><thead><tr><th>${t("group")}</th><th>${t("incidents")}</th>
        <th>${t("on_time_resp")}</th><th>${t("rate")}</th><th>${t("on_time_handle")}</th><th>${t("rate")}</th>
        <th>${t("resp_med_p90")}</th><th>${t("handle_med_p90")}</th><th>K1</th><th>K2</th><th>K3</th><th>${t("score")}</th><th>${t("tier")}</th></tr></thead>
        <tbody>${rows}</tbody></table></section>`;
    document.getElementById("month").onsubmit = ev => {
      ev.preventDefault();
      this.month = ev.target.month.value || this.month;
      this.refresh();
    };
  },
};
