/* Cashier screen: an optional item list (docs/receipts.md). Prices are tax-inclusive (内税); the sale's
   amount becomes the sum of the items and the agent computes the tax per rate for the receipt. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const RATES = { 10: "10%", 8: "8% ※", 0: "非課税 Exempt" };
  const items = [];

  function total() {
    return items.reduce((sum, it) => sum + it.unit_price * it.quantity, 0);
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
  }

  function add(ev) {
    ev.preventDefault();
    const form = $("item-form");
    if (!form.reportValidity()) return;
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
