/* Status page: end-of-day settlement (docs/settlement.md). The X report reads the open business day; the Z
   report closes it with the counted cash and the store manager's PIN (the admin password). */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const GROUPS = { cash: "現金 Cash", credit_card: "カード Card", qr: "QR" };
  const SYNC = { queued: "未送信 Queued", sending: "送信中 Sending", acked: "同期済 Synced",
    rejected: "拒否 Rejected" };

  function rows(report) {
    const out = [];
    for (const [group, b] of Object.entries(report.payment_method_breakdown)) {
      out.push([GROUPS[group] || group, b.transaction_count, MPAC.money(b.total_amount, report.currency)]);
      for (const [sub, s] of Object.entries(Object.assign({}, b.by_brand || {}, b.by_method || {}))) {
        out.push([`  ${sub}`, s.transaction_count, MPAC.money(s.total_amount, report.currency)]);
      }
    }
    out.push(["合計 Total", report.total_transactions, MPAC.money(report.total_amount, report.currency)]);
    if (report.refunds) {  // reports stored before refunds were counted have none
      out.push(["返品 Refunds", report.refunds.transaction_count,
        MPAC.money(0 - report.refunds.total_amount, report.currency)]);  // not -0: Intl writes "-¥0"
      out.push(["純売上 Net", "", MPAC.money(report.net_amount, report.currency)]);
    }
    out.push(["現金 理論値 Cash expected", "", MPAC.money(report.cash_expected, report.currency)]);
    if (report.cash_actual !== undefined) {
      out.push(["現金 実査 Counted", "", MPAC.money(report.cash_actual, report.currency)]);
      out.push(["過不足 Discrepancy", "", MPAC.money(report.cash_discrepancy, report.currency)]);
    }
    return out;
  }

  function table(body, report) {
    body.replaceChildren();
    for (const cells of rows(report)) {
      const tr = document.createElement("tr");
      for (const c of cells) tr.appendChild(MPAC.el("td", c));
      body.appendChild(tr);
    }
  }

  async function refresh() {
    const x = await MPAC.api("GET", "/api/settlement/x");
    if (x.ok) {
      table($("xr-rows"), x.data);
      $("x-day").textContent = `${x.data.business_date} · ${MPAC.when(x.data.start_time)} –`;
    }
    const z = await MPAC.api("GET", "/api/settlement/z");
    if (!z.ok) return;
    const list = $("z-rows");
    list.replaceChildren();
    for (const r of z.data.data) {
      const tr = document.createElement("tr");
      for (const c of [`Z${String(r.z_number).padStart(4, "0")}`, r.business_date,
        MPAC.money(r.total_amount, r.currency), MPAC.money(r.cash_discrepancy, r.currency),
        SYNC[r.sync_state] || r.sync_state]) tr.appendChild(MPAC.el("td", c));
      list.appendChild(tr);
    }
  }

  function refused(text) {
    $("z-result").textContent = text;
    $("z-result").className = "admin-result error";
  }

  async function closeDay() {
    const field = $("z-counted");
    // An empty field is Number("") = 0: the day would close as if the drawer were empty.
    if (field.value.trim() === "" || !field.checkValidity()) {
      refused("現金の実査額を入力してください Enter the cash counted (whole yen, 0 or more).");
      return;
    }
    const res = await MPAC.api("POST", "/api/settlement/z",
      { password: $("z-password").value, cash_counted: Number(field.value) });
    $("z-password").value = "";
    const out = $("z-result");
    if (!res.ok) {
      refused(MPAC.errorMessage(res));
      return;
    }
    out.className = "admin-result ok";
    out.textContent = `精算しました Day closed: Z${String(res.data.z_number).padStart(4, "0")} ` +
      `(${res.data.business_date}), 過不足 discrepancy ${MPAC.money(res.data.cash_discrepancy, res.data.currency)}`;
    table($("xr-rows"), res.data);
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("z-close").addEventListener("click", closeDay);
    $("x-refresh").addEventListener("click", refresh);
    refresh();
  });
})();
