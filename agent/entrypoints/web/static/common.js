/* Shared helpers of the cashier and status pages. All untrusted text goes through textContent, never
   innerHTML: merchant references, device errors and cloud messages are rendered as text. */
"use strict";

const MPAC = (() => {
  const currency = document.body.dataset.currency || "JPY";
  const timeZone = document.body.dataset.timezone || "Asia/Tokyo";  // the store's [store] timezone
  const formatters = {};

  function formatter(cur) {
    if (!formatters[cur]) {
      try {
        formatters[cur] = new Intl.NumberFormat("en-US", { style: "currency", currency: cur });
      } catch (e) {
        formatters[cur] = null;
      }
    }
    return formatters[cur];
  }

  /* Integer minor units → "¥1,234" / "$12.34". */
  function money(amount, cur) {
    cur = cur || currency;
    const f = formatter(cur);
    if (!f) return `${amount} ${cur}`;
    const digits = f.resolvedOptions().maximumFractionDigits;
    return f.format(Number(amount) / 10 ** digits);
  }

  /* fetch JSON; never throws: {ok, status, data}; status 0 when the agent itself did not answer.
     Every request that changes state is sent as JSON ({} when there is nothing to send): the agent refuses
     any other content type there (docs/local-web.md, "Cross-origin requests"). */
  async function api(method, path, body, headers) {
    const init = { method, headers: Object.assign({ Accept: "application/json" }, headers || {}) };
    if (body === undefined && method !== "GET" && method !== "HEAD") body = {};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      const resp = await fetch(path, init);
      let data = null;
      try { data = await resp.json(); } catch (e) { data = null; }
      return { ok: resp.ok, status: resp.status, data, resp };
    } catch (e) {
      return { ok: false, status: 0, data: null, resp: null };
    }
  }

  /* The message of a docs/cloud-api.md error body, or a fallback. */
  function errorMessage(res, fallback) {
    const err = res.data && res.data.error;
    if (err && err.message) return String(err.message);
    if (res.status === 0) return "端末のエージェントが応答しません The terminal's agent is not answering.";
    return fallback || `Error ${res.status}`;
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  /* The uploader's block of /api/status ({} when sync is not running). */
  function syncOf(status) {
    return status && status.sync && typeof status.sync === "object" ? status.sync : {};
  }

  /* "online" | "offline" | "not_enrolled" | "unknown" | "agent_down" from /api/status. "online" is the sync
     service's: the cloud answered recently (docs/sync-protocol.md, "Online"); "unknown" only until the first
     probe at start has an answer. */
  function connection(status) {
    if (!status) return "agent_down";
    const s = syncOf(status);
    if ((status.device && status.device.enrolled === false) || s.enabled === false) return "not_enrolled";
    if (typeof s.online === "boolean") {
      if (s.online) return "online";
      return s.contact_at == null && s.contact_lost_at == null ? "unknown" : "offline";
    }
    if (s.connected === true) return "online";
    if (s.connected === false) return "offline";
    return "unknown";
  }

  function pendingAmounts(amounts) {
    const parts = Object.entries(amounts || {}).map(([cur, amount]) => money(amount, cur));
    return parts.length ? parts.join(" · ") : money(0);
  }

  const CONN_LABEL = {
    online: "オンライン Online", offline: "オフライン Offline", not_enrolled: "未登録 Not enrolled",
    unknown: "確認中 Checking", agent_down: "エージェント停止 Agent down",
  };

  /* The banner's unsynced count and amount, from /api/status (queue: not yet acknowledged by the cloud). */
  function showPending(status) {
    const node = document.getElementById("banner-pending");
    const q = (status && status.queue) || null;
    if (!node || !q) return;
    const count = Number(q.depth || 0);
    node.textContent = `未送信 ${count} 件 · ${pendingAmounts(q.pending_amount)} — `
      + `${count} unsynced ${count === 1 ? "sale" : "sales"}, ${pendingAmounts(q.pending_amount)} to send`;
    node.dataset.count = String(count);
    node.hidden = false;
  }

  function showConnection(state) {
    const pill = document.getElementById("conn");
    pill.textContent = CONN_LABEL[state] || state;
    pill.className = `pill pill-${state}`;
    pill.dataset.state = state;
    const banner = document.getElementById("offline-banner");
    banner.hidden = !(state === "offline" || state === "not_enrolled");
    banner.querySelectorAll("[data-when]").forEach((s) => { s.hidden = s.dataset.when !== state; });
  }

  function ago(ms) {
    if (ms === null || ms === undefined) return "—";
    const s = Math.max(0, Math.round((Date.now() - Number(ms)) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function when(ms) {
    if (ms === null || ms === undefined) return "—";
    return `${clock(ms)} (${ago(ms)})`;
  }

  /* A time in the store's time zone, e.g. "2024/05/01 12:59:03". */
  function clock(ms, withDate = true) {
    const opts = withDate ? { timeZone } : { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit" };
    return withDate ? new Date(Number(ms)).toLocaleString("ja-JP", opts)
      : new Date(Number(ms)).toLocaleTimeString("ja-JP", opts);
  }

  return { currency, timeZone, money, pendingAmounts, api, errorMessage, el, syncOf, connection, showConnection,
    showPending, ago, when, clock };
})();
