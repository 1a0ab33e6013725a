"use strict";

// Incident: its record, timeline (outage evidence and every action) and the actions the
// signed-in user's role allows in its state. The server checks every action again.
const ACTION_PERMISSION = {dispatch: "incident.dispatch", verify: "incident.verify",
  reopen: "incident.verify", close: "incident.verify"};
const NEEDS_GROUP = new Set(["dispatch", "transfer"]);

PAGES.incident = {
  id: null, inc: null, core: null, outage: null, groups: [], error: "",
  async start() {
    this.id = parseInt(location.pathname.split("/").pop(), 10);
    this.groups = await api("/api/workflow/groups").catch(() => []);
    await this.refresh();
    setInterval(() => this.refresh().catch(() => {}), 5000);
  },
  async refresh() {
    this.inc = await api(`/api/workflow/incidents/${this.id}`);
    this.core = this.outage = null;
    if (this.inc.incident_id) {
      this.core = await api(`/api/incidents/${this.inc.incident_id}`).catch(() => null);
      if (this.core?.outage_id) {
        const outages = await api(`/api/outages?project=${encodeURIComponent(this.inc.project)}`).catch(() => []);
        this.outage = outages.find(o => o.id === this.core.outage_id) || null;
      }
    }
    if (!document.activeElement || !["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName)) this.render();
  },
  may(permission) { return (PW.user.permissions || []).includes(permission); },
  timeline() {
    const items = [];
    const o = this.outage;
    if (o) {
      items.push({at: o.started_at, who: t("evidence"), what: `${t("outage_began")} (${o.start_source ?? ""})`});
      if (o.detected_at) items.push({at: o.detected_at, who: "collector", what: t("outage_detected")});
      if (this.core?.declared_at) items.push({at: this.core.declared_at, who: "collector", what: t("incident_declared")});
      if (o.ended_at) items.push({at: o.ended_at, who: t("evidence"), what: `${t("outage_ended")} (${o.end_source ?? ""})`});
    }
    for (const a of this.inc.audit) {
      const move = a.from_state !== a.to_state && a.to_state ? ` → ${t("wf." + a.to_state)}` : "";
      items.push({at: a.at, who: a.who, what: `${t("act." + a.action)}${move}${a.group_name ? " · " + a.group_name : ""}`, note: a.note});
    }
    return items.sort((x, y) => x.at - y.at);
  },
  render() {
    const i = this.inc;
    const actions = i.actions.filter(a => this.may(ACTION_PERMISSION[a] || "incident.act"));
    const groupOptions = this.groups.map(g => `<option value="${esc(g.name)}">${esc(g.name)}</option>`).join("");
    const canMark = this.outage && this.outage.kind === "site_network" && this.may("outage.mark");
    const clocks = (i.clocks || []).map(c => `<tr><td>${esc(c.group)}</td><td>${esc(t("clock." + c.clock))}</td>
        <td>${timeTag(c.due, i.project)}</td><td class="${c.state === "breached" || c.state === "late" ? "breach" : ""}">${esc(t("cs." + c.state))}</td>
        <td class="count">${c.remaining_s != null ? fmtDuration(c.remaining_s) : "—"}</td></tr>`).join("");
    document.getElementById("main").innerHTML = `
      <h1>${t("incident")} #${i.id} · ${esc(i.title || t("kind." + i.kind))} <span class="pill ${esc(i.state)}" id="inc-state">${esc(t("wf." + i.state))}</span></h1>
      <div class="grid">
        <section class="card">
          <table><tbody>
            <tr><th>${t("project")}</th><td><a href="/projects/${encodeURIComponent(i.project)}">${esc(i.project)}</a></td></tr>
            <tr><th>${t("time_zone")}</th><td id="zone">${esc(zoneOf(i.project))}</td></tr>
            <tr><th>${t("site")}</th><td>${esc(i.site ?? "—")}${i.device ? " / " + esc(i.device) : ""}</td></tr>
            <tr><th>${t("kind")}</th><td>${esc(t("kind." + i.kind))}</td></tr>
            <tr><th>${t("grade")}</th><td>${esc(i.grade ?? "—")} · ${t("severity")} ${esc(i.severity ?? "—")}</td></tr>
            <tr><th>${t("group")}</th><td id="inc-group">${esc(i.group_name ?? "—")}</td></tr>
            <tr><th>${t("opened")}</th><td>${timeTag(i.opened_at, i.project)}${i.assessed ? "" : " · " + t("not_assessed")}</td></tr>
            ${i.reporter_name ? `<tr><th>${t("reporter")}</th><td>${esc(i.reporter_name)} ${esc(i.reporter_contact ?? "")}</td></tr>` : ""}
            ${i.description ? `<tr><th>${t("description")}</th><td>${esc(i.description)}</td></tr>` : ""}
          </tbody></table>
          <h2>${t("clocks")}</h2>
          <div class="table-wrap"><table><thead><tr><th>${t("group")}</th><th>${t("clock")}</th><th>${t("due")}</th><th>${t("state")}</th><th>${t("time_left")}</th></tr></thead><tbody>${clocks || `<tr><td colspan="5" class="muted">—</td></tr>`}</tbody></table></div>
          <h2>${t("attachments")}</h2>
          <ul>${i.attachments.map(a => `<li><a href="/api/workflow/incidents/${i.id}/attachments/${a.id}">${esc(a.name)}</a> <span class="muted">${a.size} B</span></li>`).join("") || `<li class="muted">—</li>`}</ul>
        </section>
        <section class="card">
          <h2>${t("actions")}</h2>
          <form id="act" class="stack" style="max-width:none">
            <textarea name="note" rows="2" placeholder="${t("note")}"></textarea>
            <label>${t("group")} <select name="group">${groupOptions}</select></label>
            <div class="actions">${actions.map(a => `<button class="primary" type="button" data-action="${a}">${esc(t("act." + a))}</button>`).join("")}</div>
            ${this.may("incident.act") ? `<label>${t("add_attachment")} <input type="file" name="file"></label>` : ""}
            ${canMark ? `<div class="actions"><input name="reason" placeholder="${t("reason")}" style="flex:1">
              <button class="primary" type="button" id="mark-customer">${t("mark_customer")}</button></div>` : ""}
            <p class="error" id="act-error" role="alert">${esc(this.error)}</p>
          </form>
          <h2>${t("timeline")}</h2>
          <ul class="timeline" id="timeline">${this.timeline().map(e => `<li><span class="muted">${timeTag(e.at, i.project)}</span> · <b>${esc(e.who)}</b> · ${esc(e.what)}${e.note ? `<br><span>${esc(e.note)}</span>` : ""}</li>`).join("")}</ul>
        </section>
      </div>`;
    const form = document.getElementById("act");
    form.querySelectorAll("[data-action]").forEach(b => b.onclick = () => this.act(b.dataset.action, form));
    const file = form.querySelector("input[type=file]");
    if (file) file.onchange = () => this.attach(file.files[0]);
    const mark = document.getElementById("mark-customer");
    if (mark) mark.onclick = () => this.markCustomer(form.reason.value);
  },
  async run(call) {
    this.error = "";
    try { await call(); } catch (e) { this.error = e.message; }
    await this.refresh();
    this.render();
  },
  act(action, form) {
    const body = {note: form.note.value || null};
    if (NEEDS_GROUP.has(action)) body.group = form.group.value;
    return this.run(() => api(`/api/workflow/incidents/${this.id}/${action}`, {method: "POST", body: JSON.stringify(body)}));
  },
  attach(file) {
    if (!file) return;
    return this.run(async () => {
      const data = await new Promise((resolve, reject) => {
        const r = new FileReader();
        r.onload = () => resolve(r.result.split(",")[1]); r.onerror = reject; r.readAsDataURL(file);
      });
      await api(`/api/workflow/incidents/${this.id}/attachments`, {method: "POST",
        body: JSON.stringify({name: file.name, content_type: file.type || null, data_base64: data})});
    });
  },
  markCustomer(reason) {
    return this.run(() => api(`/api/outages/${this.outage.id}/exclusion`, {method: "POST",
      body: JSON.stringify({cause: "customer", reason})}));
  },
};
