/* Store-manager status page: read-only facts kept live by Server-Sent Events (/api/web/events), with polling
   every few seconds as the fallback whenever the stream is not open; admin actions need the admin password. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = Number(document.body.dataset.refreshMs) || 3000;

  function set(id, text) { $(id).textContent = text; }

  const pendingText = MPAC.pendingAmounts;
  const METHODS = [["cash", "現金 Cash"], ["card", "カード Card"], ["qr_mpm", "QR (店舗提示) QR MPM"],
    ["qr_cpm", "QR (お客様提示) QR CPM"]];
  const METHOD_LABEL = Object.fromEntries(METHODS);
  const OUTCOME = { succeeded: "成功 Succeeded", failed: "失敗 Failed", cancelled: "取消 Cancelled",
    requires_action: "支払い待ち Waiting for payment", requires_payment_method: "準備中 Preparing",
    processing: "処理中 Processing" };
  const SYNC = { queued: "未送信 Queued", sending: "送信中 Sending", acked: "同期済 Synced",
    rejected: "拒否 Rejected", expired: "期限切れ Expired" };
  const CERT = { plain_http: "HTTP（証明書なし No certificate: plain HTTP to a loopback cloud）",
    not_checked: "未確認 Not checked yet (no connection to the cloud so far)",
    verified: "検証済み Verified", failed: "検証失敗 Verification FAILED" };
  const CERT_REASON = { unknown_ca: "不明な認証局 unknown CA", expired: "期限切れ expired",
    not_yet_valid: "まだ有効でない not valid yet", wrong_host: "ホスト名不一致 wrong host name",
    pin_mismatch: "ピン不一致 pin mismatch", untrusted: "信頼できない untrusted",
    ca_file: "CAファイルを読めない ca_file unreadable", plain_http: "HTTP拒否 plain HTTP refused" };

  function certText(cert) {
    const head = CERT[cert.state] || cert.state || "—";
    if (cert.state === "verified") {
      const until = cert.not_after ? `, 有効期限 valid until ${MPAC.clock(cert.not_after * 1000)}` : "";
      return `${head}: ${cert.subject || ""} (${cert.issuer || ""}${until}${cert.pinned ? ", pinned" : ""})`;
    }
    if (cert.state === "failed") return `${head}: ${CERT_REASON[cert.reason] || cert.reason} — ${cert.detail || ""}`;
    return head;
  }
  let lastReceipt = null;

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
    MPAC.showPending(status);
    const quarantined = s.quarantined || [];
    set("q-count", String(s.quarantined_count ?? states.rejected ?? quarantined.length));
    $("q-rows").replaceChildren(...(quarantined.length ? quarantined.map((item) =>
      row([item.kind === "refund" ? `${item.seq} 返品 Refund` : item.seq, MPAC.money(item.amount, item.currency),
        errorText(item.error)]))
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
      if (j.state === "queued" || j.state === "printing") actions.querySelector("[data-action='reprint']").remove();
      const id = MPAC.el("span", `…${String(j.job_id).slice(-8)}`, "nowrap");
      id.title = j.job_id;
      const printer = ((info && info.devices) || {})[j.printer] || {};
      const reason = j.last_error
        || (j.state === "queued" && printer.paper === "out" ? "用紙切れ Out of paper: waiting for paper"
          : j.state === "queued" ? "印刷待ち Waiting for the printer" : "");
      return row([id, j.kind, j.state, MPAC.ago(j.created_at), reason, actions]);
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

  function uptime(s) {
    const t = Math.floor(Number(s) || 0);
    return `${Math.floor(t / 86400)} d ${Math.floor((t % 86400) / 3600)} h ${Math.floor((t % 3600) / 60)} min`;
  }

  function fillIdentity(id) {
    set("i-store", id.store_name);
    set("i-device", id.device_id || "未登録 Not enrolled");
    set("i-serial", id.serial);
    set("i-version", id.version);
    set("i-uptime", `${uptime(id.uptime_s)} (起動 started ${MPAC.clock(id.started_at)})`);
    const addrs = (id.addresses || []).map((a) => `${a.address} (${a.interface})`);
    set("i-addresses", addrs.length ? addrs.join(", ") : "—");
    set("i-cloud", id.cloud_url || "—");
    const cert = id.certificate || {};
    set("i-cert", certText(cert));
    set("i-tz", id.timezone);
  }

  function fillToday(today) {
    set("t-date", today.date);
    const by = today.by_method || {};
    const total = { count: 0, amount: {} };
    const rows = METHODS.map(([m, label]) => {
      const t = by[m] || { count: 0, amount: {} };
      total.count += t.count;
      for (const [cur, a] of Object.entries(t.amount || {})) total.amount[cur] = (total.amount[cur] || 0) + a;
      const tr = row([label, String(t.count), pendingText(t.amount)]);
      tr.dataset.method = m;
      return tr;
    });
    const sum = row(["合計 Total", String(total.count), pendingText(total.amount)]);
    sum.className = "total";
    $("t-rows").replaceChildren(...rows, sum);
  }

  function fillRecent(sales) {
    $("s-rows").replaceChildren(...(sales.length ? sales.map((x) => {
      const outcome = OUTCOME[x.status] || x.status;
      const tr = row([MPAC.clock(x.created_at), METHOD_LABEL[x.payment_method] || x.payment_method,
        MPAC.money(x.amount, x.currency), x.failure_code ? `${outcome} (${x.failure_code})` : outcome,
        x.sync_state ? SYNC[x.sync_state] || x.sync_state : "— (QR)", x.merchant_ref_id]);
      tr.dataset.method = x.payment_method;
      return tr;
    }) : [row(["なし None", "", "", "", "", ""])]));
  }

  function fillReceipt(last) {
    $("receipt-none").hidden = Boolean(last);
    const img = $("receipt-img");
    img.hidden = !last;
    if (!last) return;
    if (lastReceipt !== last.job_id) {
      lastReceipt = last.job_id;
      img.src = `/api/web/receipt.png?job=${encodeURIComponent(last.job_id)}`;
      img.dataset.job = last.job_id;
      img.dataset.receipt = last.receipt_id;
    }
    set("receipt-meta", `${MPAC.clock(last.created_at)} · …${String(last.receipt_id).slice(-12)}`);
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* Queue depth as a line and synced sales per minute as bars, over the 24 h before now. */
  function fillChart(points, now) {
    const W = 720, H = 160, L = 30, B = 18, T = 8;
    const from = now - 24 * 3600 * 1000;
    const x = (ms) => L + ((ms - from) / (24 * 3600 * 1000)) * (W - L - 4);
    const maxDepth = Math.max(1, ...points.map((p) => p.queue_depth));
    const maxAcked = Math.max(1, ...points.map((p) => p.acked));
    const y = (v, max) => H - B - (v / max) * (H - B - T);
    const parts = [svg("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }),
      svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
      svg("text", { x: 2, y: T + 8 }, String(maxDepth)), svg("text", { x: 2, y: H - B }, "0")];
    for (let h = 0; h <= 24; h += 6) {
      parts.push(svg("text", { x: x(from + h * 3600 * 1000) - 12, y: H - 4 },
        MPAC.clock(from + h * 3600 * 1000, false).slice(0, 5)));
    }
    for (const p of points.filter((q) => q.acked > 0)) {
      const top = y(p.acked, maxAcked);
      parts.push(svg("rect", { class: "acked", x: x(p.minute), y: top, width: 2, height: H - B - top }));
    }
    if (points.length) {
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.minute).toFixed(1)},${y(p.queue_depth, maxDepth).toFixed(1)}`);
      if (points.length === 1) d.push(`L${(x(points[0].minute) + 3).toFixed(1)},${y(points[0].queue_depth, maxDepth).toFixed(1)}`);
      parts.push(svg("path", { class: "depth", d: d.join(" ") }));
    }
    $("chart").replaceChildren(...parts);
    $("chart").dataset.points = String(points.length);
    const synced = points.reduce((n, p) => n + p.acked, 0);
    const taken = points.reduce((n, p) => n + p.taken, 0);
    const depth = points.length ? points[points.length - 1].queue_depth : 0;
    set("chart-summary", `24時間: 売上 ${taken} 件 · 同期 ${synced} 件 · 現在の未送信 ${depth} 件 — `
      + `last 24 h: ${taken} sales taken, ${synced} synced, ${depth} waiting now (${points.length} minutes recorded)`);
  }

  function fillOverview(o) {
    fillIdentity(o.identity || {});
    fillToday(o.today || {});
    fillRecent(o.recent_sales || []);
    fillReceipt(o.last_receipt);
    fillChart(o.history || [], o.generated_at || Date.now());
  }

  async function fillStatus(status, web) {
    if (status) {
      fillSync(status);
      await fillExpired(((status.queue || {}).by_sync_state || {}).expired || 0);
    } else {
      MPAC.showConnection("agent_down");
    }
    if (web) {
      fillDevices(web);
      fillAdmin(web);
    }
    set("updated", `${MPAC.clock(Date.now(), false)}${status ? "" : " — agent not answering"}`);
  }

  async function refresh() {
    const [status, web, over] = await Promise.all([MPAC.api("GET", "/api/status"),
      MPAC.api("GET", "/api/web/status"), MPAC.api("GET", "/api/web/overview")]);
    await fillStatus(status.ok ? status.data : null, web.ok ? web.data : null);
    if (over.ok && over.data) fillOverview(over.data);
  }

  /* Live updates: the event stream while it is open; polling whenever it is not. */
  let poller = null;
  function polling(on) {
    if (on && !poller) poller = setInterval(refresh, REFRESH_MS);
    if (!on && poller) { clearInterval(poller); poller = null; }
    set("live", on ? "ポーリング Polling" : "ライブ Live (SSE)");
    $("live").dataset.mode = on ? "polling" : "sse";
  }

  function live() {
    if (!window.EventSource) { polling(true); return; }
    const es = new EventSource("/api/web/events");
    es.addEventListener("open", () => polling(false));
    es.addEventListener("error", () => polling(true));  // the browser reconnects by itself (retry: 3 s)
    es.addEventListener("status", (e) => {
      const d = JSON.parse(e.data);
      fillStatus(d.status, d.web);
    });
    es.addEventListener("overview", (e) => fillOverview(JSON.parse(e.data)));
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
    if (action === "logs") {
      const view = $("log-view");
      view.textContent = (res.data.lines || []).join("\n") || "(ログなし no log lines yet)";
      view.hidden = false;
      out.textContent = String(res.data.message || "");
      return;
    }
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
  polling(true);
  live();
})();
