/* Status page: refunds with the store manager's PIN (docs/local-web.md "Refunds", docs/settlement.md). The
   sale is picked from the recent succeeded sales; the answer (or the refusal's message) is shown as is. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const METHOD = { cash: "現金", card: "カード", qr_mpm: "QR", qr_cpm: "QR" };

  let sales = {};  // local_id → the sale as /api/sales lists it

  async function loadSales() {
    const res = await MPAC.api("GET", "/api/sales?status=succeeded&limit=50");
    if (!res.ok) return;
    const select = $("r-sale");
    const chosen = select.value;
    sales = Object.fromEntries(res.data.data.map((s) => [s.local_id, s]));
    select.replaceChildren(...res.data.data.map((s) => {
      const option = MPAC.el("option", `${MPAC.when(s.created_at)} ${METHOD[s.payment_method] || ""} ` +
        `${MPAC.money(s.amount, s.currency)} ${s.merchant_ref_id}`);
      option.value = s.local_id;
      return option;
    }));
    if (chosen) select.value = chosen;
    if (select.value !== shownItemsOf) showItems();
  }

  /* An itemised sale (docs/receipts.md "Itemised refunds"): one row per line with how many come back; any
     line chosen makes the refund itemised (the agent computes the amount and prints the return invoice). */
  let shownItemsOf = null;

  function showItems() {
    const sale = sales[$("r-sale").value];
    const items = (sale && sale.receipt && sale.receipt.items) || [];
    shownItemsOf = sale ? sale.local_id : null;
    const table = $("r-items");
    const body = table.querySelector("tbody");
    body.replaceChildren(...items.map((item, line) => {
      const row = MPAC.el("tr");
      const rate = item.tax_rate === 8 ? " ※" : "";
      row.append(MPAC.el("td", `${item.name}${rate}`), MPAC.el("td", MPAC.money(item.unit_price, sale.currency)),
        MPAC.el("td", String(item.quantity)));
      const qty = document.createElement("input");
      Object.assign(qty, { type: "number", min: "0", max: String(item.quantity), step: "1", value: "0" });
      qty.dataset.line = String(line);
      qty.setAttribute("data-testid", `r-item-${line}`);
      qty.addEventListener("input", itemsChanged);
      const cell = MPAC.el("td");
      cell.append(qty);
      row.append(cell);
      return row;
    }));
    table.hidden = items.length === 0;
    itemsChanged();
  }

  function chosenItems() {
    return [...$("r-items").querySelectorAll("input[data-line]")]
      .map((input) => ({ line: Number(input.dataset.line), quantity: Number(input.value) }))
      .filter((it) => Number.isInteger(it.quantity) && it.quantity > 0);
  }

  function itemsChanged() {
    const sale = sales[$("r-sale").value];
    const chosen = chosenItems();
    const amount = $("r-amount");
    amount.disabled = chosen.length > 0;
    if (chosen.length > 0 && sale) {
      amount.value = String(chosen.reduce((sum, it) => sum + sale.receipt.items[it.line].unit_price
        * it.quantity, 0));
    }
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
    const items = chosenItems();
    const body = items.length > 0 ? { items, password: $("r-password").value }
      : { amount: Number($("r-amount").value), password: $("r-password").value };
    const reason = $("r-reason").value.trim();
    if (reason) body.reason = reason;
    body.merchant_refund_id = reference(JSON.stringify([sale, body.amount, items, reason]));
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
    if (items.length > 0) showItems();  // the lines start from 0 again
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("r-submit").addEventListener("click", refund);
    $("r-sale").addEventListener("change", showItems);
    loadSales();
    setInterval(loadSales, 10000);
  });
})();
