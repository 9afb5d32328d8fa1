/* Shared helpers of the cashier and status pages. All untrusted text goes through textContent, never
   innerHTML: merchant references, device errors and cloud messages are rendered as text. */
"use strict";

const MPAC = (() => {
  const currency = document.body.dataset.currency || "JPY";
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

  /* "online" | "offline" | "not_enrolled" | "unknown" | "agent_down" from /api/status. */
  function connection(status) {
    if (!status) return "agent_down";
    const s = syncOf(status);
    if ((status.device && status.device.enrolled === false) || s.enabled === false) return "not_enrolled";
    if (s.connected === true) return "online";
    if (s.connected === false) return "offline";
    return "unknown";
  }

  const CONN_LABEL = {
    online: "オンライン Online", offline: "オフライン Offline", not_enrolled: "未登録 Not enrolled",
    unknown: "確認中 Checking", agent_down: "エージェント停止 Agent down",
  };

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
    return `${new Date(Number(ms)).toLocaleString("ja-JP")} (${ago(ms)})`;
  }

  return { currency, money, api, errorMessage, el, syncOf, connection, showConnection, ago, when };
})();
