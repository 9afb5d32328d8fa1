/* Store-manager status page: read-only facts refreshed on a timer; admin actions need the admin password. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = Number(document.body.dataset.refreshMs) || 3000;

  function set(id, text) { $(id).textContent = text; }

  function pendingText(amounts) {
    const parts = Object.entries(amounts || {}).map(([cur, amount]) => MPAC.money(amount, cur));
    return parts.length ? parts.join(" · ") : MPAC.money(0);
  }

  function errorText(err) {
    if (err === null || err === undefined || err === "") return "—";
    if (typeof err === "string") return err;
    return [err.code, err.message].filter(Boolean).join(": ") || JSON.stringify(err);
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      if (c instanceof Node) { const td = document.createElement("td"); td.appendChild(c); tr.appendChild(td); }
      else tr.appendChild(MPAC.el("td", c));
    }
    return tr;
  }

  function fillSync(status) {
    const s = MPAC.syncOf(status);
    const q = status.queue || {};
    const conn = MPAC.connection(status);
    MPAC.showConnection(conn);
    const reason = s.reason || s.last_error;
    const label = { online: "接続中 Connected", offline: "オフライン Offline", unknown: "未確認 Not yet contacted",
      not_enrolled: "未登録 Not enrolled", agent_down: "—" };
    set("f-connected", label[conn] || conn);
    set("f-queue", String(q.depth ?? s.pending_count ?? "—"));
    set("f-pending", pendingText(q.pending_amount ?? s.pending_amount));
    const oldest = q.oldest_pending_at ?? s.oldest_pending_at;
    set("f-oldest", oldest ? MPAC.when(oldest) : "—");
    set("f-last-ack", MPAC.when(s.last_ack_at ?? status.last_sync_at ?? null));
    set("f-last-error", errorText(conn === "not_enrolled" ? reason || "not enrolled" : s.last_error));
    set("f-clock", s.clock_offset_ms === null || s.clock_offset_ms === undefined ? "—"
      : `${(s.clock_offset_ms / 1000).toFixed(1)} s`);
    const states = q.by_sync_state || {};
    set("f-expired", String(states.expired ?? 0));
    const caps = status.caps || {};
    const totals = Object.entries(caps.total || {}).map(([cur, t]) =>
      `${MPAC.money(t.used, cur)} / ${MPAC.money(t.limit, cur)}`);
    set("f-caps", caps.count ? [`${caps.count.used} / ${caps.count.limit} sales`, ...totals].join(" · ") : "—");
    const store = status.store || {};
    set("f-db", store.writable === false ? `書き込み不可 NOT writable: ${store.last_error || ""}`
      : store.writable ? "OK" : "—");
    $("f-db").classList.toggle("bad", store.writable === false);
    const quarantined = s.quarantined || [];
    set("q-count", String(s.quarantined_count ?? states.rejected ?? quarantined.length));
    $("q-rows").replaceChildren(...(quarantined.length ? quarantined.map((item) =>
      row([item.seq, MPAC.money(item.amount, item.currency), errorText(item.error)]))
      : [row(["なし None", "", ""])]));
  }

  function fillDevices(info) {
    const devices = Object.values((info && info.devices) || {});
    $("dev-rows").replaceChildren(...(devices.length ? devices.map((d) => {
      const st = MPAC.el("span", d.state, `state nowrap state-${String(d.state).replace(/[^a-z_]/g, "")}`);
      // A stale error of a device that is back online is history, not something to act on.
      const message = d.cashier_message || (d.state === "online" ? "" : d.last_error || "");
      return row([d.name, st, d.paper || "—", message]);
    }) : [row(["デバイスなし No devices configured", "", "", ""])]));
    const jobs = (info && info.print_jobs) || [];
    $("job-rows").replaceChildren(...(jobs.length ? jobs.map((j) => {
      const actions = MPAC.el("span", null, "job-actions");
      for (const [action, label] of [["reprint", "再印刷 Reprint"], ["drop", "破棄 Drop"]]) {
        const b = MPAC.el("button", label, "small");
        b.type = "button";
        b.dataset.action = action;
        b.dataset.job = j.job_id;
        b.addEventListener("click", () => admin(action, { job_id: j.job_id }));
        actions.appendChild(b);
      }
      const id = MPAC.el("span", `…${String(j.job_id).slice(-8)}`, "nowrap");
      id.title = j.job_id;
      return row([id, j.kind, j.state, MPAC.ago(j.created_at), j.last_error || "", actions]);
    }) : [row(["なし None", "", "", "", "", ""])]));
  }

  function fillAdmin(info) {
    const a = (info && info.admin) || {};
    const box = $("admin-disabled");
    box.hidden = a.enabled !== false;
    if (a.message) box.textContent = a.message;
    document.querySelectorAll("#admin button, #job-rows button").forEach((b) => { b.disabled = a.enabled === false; });
    $("admin-password").disabled = a.enabled === false;
  }

  async function fillExpired(count) {
    set("x-count", String(count));
    let sales = [];
    if (count > 0) {
      const res = await MPAC.api("GET", "/api/sales?sync_state=expired&limit=20");
      sales = (res.ok && res.data && res.data.data) || [];
    }
    $("x-rows").replaceChildren(...(sales.length ? sales.map((x) =>
      row([x.seq, MPAC.money(x.amount, x.currency), x.payment_method, MPAC.when(x.created_at), x.merchant_ref_id]))
      : [row(["なし None", "", "", "", ""])]));
  }

  async function refresh() {
    const [status, web] = await Promise.all([MPAC.api("GET", "/api/status"), MPAC.api("GET", "/api/web/status")]);
    if (status.ok && status.data) {
      fillSync(status.data);
      await fillExpired(((status.data.queue || {}).by_sync_state || {}).expired || 0);
    } else {
      MPAC.showConnection("agent_down");
    }
    if (web.ok) {
      fillDevices(web.data);
      fillAdmin(web.data);
    }
    set("updated", `${new Date().toLocaleTimeString("ja-JP")}${status.ok ? "" : " — agent not answering"}`);
  }

  function download(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  async function admin(action, extra) {
    const out = $("admin-result");
    out.className = "admin-result";
    out.textContent = "…";
    const body = Object.assign({ password: $("admin-password").value }, extra || {});
    const res = await MPAC.api("POST", `/api/web/admin/${action}`, body);
    if (!res.ok) {
      out.className = "admin-result error";
      out.textContent = MPAC.errorMessage(res);
      return;
    }
    out.className = "admin-result ok";
    if (action === "support_bundle") {
      const blob = new Blob([JSON.stringify(res.data, null, 1)], { type: "application/json" });
      download(blob, `mpac-support-${Date.now()}.json`);
      out.textContent = "サポート情報を保存しました Support bundle downloaded.";
    } else {
      out.textContent = res.data && res.data.message ? String(res.data.message) : "OK";
    }
    refresh();
  }

  $("admin-form").addEventListener("submit", (e) => e.preventDefault());
  document.querySelectorAll("#admin-form [data-action]").forEach((b) =>
    b.addEventListener("click", () => admin(b.dataset.action)));
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
