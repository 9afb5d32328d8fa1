/* Status page: refunds with the store manager's PIN (docs/local-web.md "Refunds", docs/settlement.md). The
   sale is picked from the recent succeeded sales; the answer (or the refusal's message) is shown as is. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const METHOD = { cash: "現金", card: "カード", qr_mpm: "QR", qr_cpm: "QR" };

  async function loadSales() {
    const res = await MPAC.api("GET", "/api/sales?status=succeeded&limit=50");
    if (!res.ok) return;
    const select = $("r-sale");
    const chosen = select.value;
    select.replaceChildren(...res.data.data.map((s) => {
      const option = MPAC.el("option", `${MPAC.when(s.created_at)} ${METHOD[s.payment_method] || ""} ` +
        `${MPAC.money(s.amount, s.currency)} ${s.merchant_ref_id}`);
      option.value = s.local_id;
      return option;
    }));
    if (chosen) select.value = chosen;
  }

  /* One reference per refund the manager means: sent again while the same refund (sale, amount, reason) is
     retried after a failure, so a retry after a lost answer is the same refund, never a second one
     (docs/local-web.md "Refunds"); a new one after a refund went through or the form changed. */
  let attempt = null;

  function reference(key) {
    if (!attempt || attempt.key !== key) {
      const rnd = Math.random().toString(36).slice(2, 10);
      attempt = { key, ref: `web-R-${Date.now().toString(36)}-${rnd}` };
    }
    return attempt.ref;
  }

  async function refund() {
    const sale = $("r-sale").value;
    const body = { amount: Number($("r-amount").value), password: $("r-password").value };
    const reason = $("r-reason").value.trim();
    if (reason) body.reason = reason;
    body.merchant_refund_id = reference(JSON.stringify([sale, body.amount, reason]));
    const res = await MPAC.api("POST", `/api/sales/${encodeURIComponent(sale)}/refunds`, body);
    $("r-password").value = "";
    const out = $("r-result");
    if (!res.ok) {
      out.className = "admin-result error";
      out.textContent = MPAC.errorMessage(res);
      return;
    }
    attempt = null;
    out.className = "admin-result ok";
    out.textContent = `返品しました Refunded ${MPAC.money(res.data.amount, res.data.currency)} ` +
      `(${res.data.sync_state})`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("r-submit").addEventListener("click", refund);
    loadSales();
    setInterval(loadSales, 10000);
  });
})();
