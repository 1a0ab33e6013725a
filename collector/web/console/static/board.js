"use strict";

// Board: what is down now, and the open incidents ordered by the time left on their clock.
PAGES.board = {
  sites: [], incidents: [], fetchedAt: 0,
  async start() {
    await this.refresh();
    setInterval(() => this.refresh().catch(() => {}), 2000);
    setInterval(() => this.tick(), 1000);
  },
  async refresh() {
    const [sites, incidents] = await Promise.all([api("/api/sites"),
      api("/api/workflow/incidents?state=live")]);
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
  // The board's own time (when it was updated) is in its projects' zone when they share
  // one, else in the collector's.
  zoneProject() {
    const zones = new Set(this.sites.map(s => zoneOf(s.project)));
    return zones.size === 1 ? this.sites[0].project : null;
  },
  // The clock that runs out first: {left (business seconds), due, state}.
  nextClock(i) {
    const open = (i.clocks || []).filter(c => c.done_at == null);
    if (!i.assessed) return {state: "not assessed"};
    if (!open.length) return {state: "none"};
    return open.reduce((a, b) => (a.remaining_s <= b.remaining_s ? a : b));
  },
  left(i) {
    const c = this.nextClock(i);
    return c.remaining_s == null ? Infinity : c.remaining_s - (Date.now() / 1000 - this.fetchedAt);
  },
  render() {
    const down = this.downRows();
    const downHtml = down.length ? `<div class="table-wrap"><table id="down"><thead><tr>
        <th>${t("project")}</th><th>${t("site")}</th><th>${t("device")}</th><th>${t("state")}</th><th>${t("since")}</th></tr></thead><tbody>
        ${down.map(r => `<tr data-site="${esc(r.site)}" data-device="${esc(r.device ?? "")}">
          <td><a href="/projects/${encodeURIComponent(r.project)}">${esc(r.project)}</a></td><td>${esc(r.site)}</td><td>${esc(r.device ?? "—")}</td>
          <td><span class="pill ${esc(r.state)}">${esc(t("state." + r.state))}</span> ${esc(r.fault ?? "")}</td>
          <td>${timeTag(r.since, r.project)}</td></tr>`).join("")}</tbody></table></div>`
      : `<p class="muted" id="down">${t("nothing_down")}</p>`;
    const inc = [...this.incidents].sort((a, b) => this.left(a) - this.left(b));
    const incHtml = inc.length ? `<div class="table-wrap"><table id="incidents"><thead><tr>
        <th>#</th><th>${t("kind")}</th><th>${t("site")}</th><th>${t("state")}</th><th>${t("grade")}</th><th>${t("group")}</th><th>${t("time_left")}</th><th>${t("opened")}</th></tr></thead><tbody>
        ${inc.map(i => { const c = this.nextClock(i); return `<tr data-incident="${i.id}">
          <td><a href="/incidents/${i.id}">${i.id}</a></td>
          <td>${esc(t("kind." + i.kind))}</td>
          <td>${esc(i.project)}${i.site ? " / " + esc(i.site) : ""}${i.device ? " / " + esc(i.device) : ""}</td>
          <td><span class="pill ${esc(i.state)}">${esc(t("wf." + i.state))}</span></td>
          <td>${esc(i.grade ?? "")}</td><td>${esc(i.group_name ?? "")}</td>
          <td class="count countdown" data-left="${c.remaining_s ?? ""}" data-clock="${esc(c.state)}" title="${c.due ? esc(fmtTime(c.due, i.project)) : ""}"></td>
          <td>${timeTag(i.opened_at, i.project)}</td></tr>`; }).join("")}</tbody></table></div>`
      : `<p class="muted" id="incidents">${t("no_open")}</p>`;
    document.getElementById("main").innerHTML = `<div class="grid">
      <section class="card"><h2>${t("down_now")} <span class="muted count" id="down-count">(${down.length})</span></h2>${downHtml}</section>
      <section class="card"><h2>${t("open_incidents")} <span class="muted count">(${inc.length})</span></h2>${incHtml}</section></div>
      <p class="muted">${t("updated")} <span id="updated">${timeTag(this.fetchedAt, this.zoneProject())}</span></p>`;
    this.tick();
  },
  tick() {
    const elapsed = Date.now() / 1000 - this.fetchedAt;
    document.querySelectorAll(".countdown").forEach(el => {
      const state = el.dataset.clock;
      if (state === "not assessed") { el.textContent = t("not_assessed"); el.className = "count countdown muted"; return; }
      if (el.dataset.left === "") { el.textContent = "—"; return; }
      const left = parseFloat(el.dataset.left) - (state === "running" ? elapsed : 0);
      el.textContent = left < 0 || state === "breached" ? `${t("overdue")} ${fmtDuration(Math.abs(Math.min(left, 0)))}` : fmtDuration(left);
      el.className = "count countdown " + (left < 0 || state === "breached" ? "breach" : left < 300 ? "due-soon" : "");
    });
  },
};
