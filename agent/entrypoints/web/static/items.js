/* Cashier screen: an optional item list (docs/receipts.md). Prices are tax-inclusive (内税); the sale's
   amount becomes the sum of the items and the agent computes the tax per rate for the receipt. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const RATES = { 10: "10%", 8: "8% ※", 0: "非課税 Exempt" };
  const RATE_LABELS = { 10: "10%対象", 8: "8%対象 ※", 0: "非課税" };
  const items = [];

  function total() {
    return items.reduce((sum, it) => sum + it.unit_price * it.quantity, 0);
  }

  /* Per rate: the tax-inclusive total and the tax inside it, rounded down once per rate (docs/receipts.md).
     Shown to the cashier only; the agent computes the receipt's figures itself. */
  function rateTotals() {
    return [10, 8, 0].map((rate) => {
      const gross = items.filter((it) => it.tax_rate === rate)
        .reduce((sum, it) => sum + it.unit_price * it.quantity, 0);
      return { rate, gross, tax: Math.floor((gross * rate) / (100 + rate)) };
    }).filter((rt) => items.some((it) => it.tax_rate === rt.rate));
  }

  function renderRates() {
    $("item-rates").replaceChildren(...rateTotals().map((rt) => {
      const li = MPAC.el("li", `${RATE_LABELS[rt.rate]} ${MPAC.money(rt.gross)}`
        + (rt.rate ? ` (内消費税等 ${MPAC.money(rt.tax)})` : ""), "item-rate");
      li.dataset.rate = String(rt.rate);
      return li;
    }));
  }

  function changed() {
    document.dispatchEvent(new CustomEvent("mpac:items", { detail: { total: total(), count: items.length } }));
    render();
  }

  function render() {
    const list = $("item-rows");
    list.replaceChildren();
    items.forEach((it, n) => {
      const row = MPAC.el("li", "", "item-row");
      row.appendChild(MPAC.el("span", `${it.tax_rate === 8 ? "※" : ""}${it.name}`, "item-name"));
      row.appendChild(MPAC.el("span", `${MPAC.money(it.unit_price)} × ${it.quantity} · ${RATES[it.tax_rate]}`));
      const drop = MPAC.el("button", "✕", "item-drop");
      drop.type = "button";
      drop.setAttribute("aria-label", "削除 Remove");
      drop.addEventListener("click", () => { items.splice(n, 1); changed(); });
      row.appendChild(drop);
      list.appendChild(row);
    });
    $("item-total").textContent = items.length ? `小計 Subtotal ${MPAC.money(total())}` : "";
    renderRates();
  }

  /* The first invalid field's message, shown on the page as well as in the browser's bubble (the form is
     `novalidate`, so every submit comes here and a fixed field clears its message). */
  function refuse(form) {
    const bad = Array.from(form.elements).find((f) => f.willValidate && !f.validity.valid);
    const label = bad && bad.closest("label") ? bad.closest("label").firstChild.textContent.trim() : "";
    $("item-error").textContent = `${label}: ${bad ? bad.validationMessage : ""}`;
    $("item-error").hidden = false;
    form.reportValidity();
  }

  function add(ev) {
    ev.preventDefault();
    const form = $("item-form");
    const name = form.elements.name;
    // `required` takes a name of blanks; the item would be refused by the agent only at payment.
    name.setCustomValidity(name.value.trim() ? "" : "品名を入力してください Enter the item's name.");
    if (!form.checkValidity()) {
      refuse(form);
      return;
    }
    $("item-error").hidden = true;
    const data = new FormData(form);
    items.push({ name: String(data.get("name")).trim(), unit_price: Number(data.get("unit_price")),
      quantity: Number(data.get("quantity")), tax_rate: Number(data.get("tax_rate")) });
    form.reset();
    changed();
  }

  /* The items of the sale being taken, for POST /api/sales (undefined when none were entered). */
  MPAC.saleItems = () => (items.length ? items.slice() : undefined);
  document.addEventListener("mpac:sale-reset", () => { items.length = 0; changed(); });
  document.addEventListener("DOMContentLoaded", () => {
    $("item-form").addEventListener("submit", add);
    render();
  });
})();
