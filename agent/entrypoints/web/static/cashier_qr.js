/* Cashier screen, QR flows: MPM (the customer scans our code) and CPM (we read the customer's code), polling
   until the sale is final, and "Stop waiting" (docs/local-web.md). Shares cashier.js's state (MPAC.cashier). */
"use strict";

(() => {
  const { $, state, FINAL, show, clearError, showError, refusal, postSale, showResult, reset } = MPAC.cashier;

  async function startQr() {
    const sale = await postSale({ payment_method: "qr_mpm" }, "QRコードを作成中 Creating the QR code…");
    if (!sale) return;
    const content = sale.qr_content || (sale.next_action && sale.next_action.qr_content);
    if (!content) {
      show("step-method");
      showError("QRを作成できません QR not created", "The cloud returned no QR code. Try again or take cash.");
      return;
    }
    $("qr-img").src = `/api/web/qr.svg?data=${encodeURIComponent(content)}`;
    $("qr-state").textContent = `${MPAC.money(sale.amount, sale.currency)} — お支払い待ち Waiting for payment`;
    state.qrSale = sale.local_id;
    show("step-qr");
    pollQr(sale.local_id, "step-qr");
  }

  const FAILURES = {
    scan_timeout: "時間切れ Timed out waiting for the code",
    cancelled_by_cashier: "レジで取消 Stopped by the cashier",
    provider_declined: "コードが拒否されました The code was declined",
  };

  /* A QR sale that reached a final state: paid, failed or cancelled (`stopped`: after "Stop waiting"). */
  function showQrResult(sale, stopped) {
    const paid = sale.status === "succeeded";
    const title = paid ? "QR決済完了 Paid by QR"
      : sale.status === "failed" ? "QR決済失敗 QR payment failed" : "取消 Cancelled";
    const lines = [["r-title", title], ["r-line", `合計 Total ${MPAC.money(sale.amount, sale.currency)}`]];
    if (paid && stopped) lines.push(["r-line", "お支払い済みのため取消できません Already paid: not cancelled"]);
    if (!paid && sale.failure_code) lines.push(["r-line", FAILURES[sale.failure_code] || sale.failure_code]);
    lines.push(["r-ref", `Ref ${sale.merchant_ref_id}`]);
    showResult(lines, paid, sale);
  }

  async function pollQr(id, step) {
    const res = await MPAC.api("GET", `/api/sales/${encodeURIComponent(id)}`);
    if (res.ok && res.data && FINAL.includes(res.data.status)) {
      showQrResult(res.data);
      return;
    }
    if (!$(step).hidden && state.qrSale === id) state.poll = setTimeout(() => pollQr(id, step), 500);
  }

  /* QR CPM: with a scanner the agent waits for the next scan; without one the cashier types the code. */
  function openCpm() {
    $("cpm-form").hidden = state.scanner;
    $("cpm-confirm").hidden = state.scanner;
    $("cpm-hint").textContent = state.scanner
      ? "お客様のコードをスキャンしてください Scan the customer's code"
      : "お客様のコードを入力 Type the customer's code (no scanner connected)";
    $("cpm-state").textContent = MPAC.money(state.amount);
    if (state.scanner) startCpm(null);
    else show("step-cpm");
  }

  async function startCpm(code) {
    const body = { payment_method: "qr_cpm" };
    if (code) body.customer_code = code;
    const sale = await postSale(body, code ? "決済中 Charging the code…" : "準備中 Preparing…");
    if (!sale) return;
    state.qrSale = sale.local_id;
    if (FINAL.includes(sale.status)) {
      showQrResult(sale);
      return;
    }
    $("cpm-state").textContent =
      `${MPAC.money(sale.amount, sale.currency)} — コード待ち Waiting for the customer's code`;
    show("step-cpm");
    pollQr(sale.local_id, "step-cpm");
  }

  function cpmConfirm() {
    clearError();
    const form = $("cpm-form");
    if (!form.reportValidity()) return;
    startCpm(String(new FormData(form).get("customer_code") || "").trim());
  }

  /* "Stop waiting": cancel the QR sale on the cloud, then show how it ended. A sale the customer already
     paid is shown paid, never cancelled (docs/local-web.md#other-json-routes). */
  async function stopWaiting() {
    const id = state.qrSale;
    if (state.poll) clearTimeout(state.poll);
    if (!id) {
      reset();
      return;
    }
    state.qrSale = null;
    $("busy-text").textContent = "取消中 Cancelling…";
    show("step-busy");
    const res = await MPAC.api("POST", `/api/sales/${encodeURIComponent(id)}/cancel`);
    if (res.ok && res.data) {
      showQrResult(res.data, true);
      return;
    }
    const code = res.data && res.data.error && res.data.error.code;
    if (code === "sale_final") {
      const now = await MPAC.api("GET", `/api/sales/${encodeURIComponent(id)}`);
      if (now.ok && now.data) {
        showQrResult(now.data, true);
        return;
      }
    }
    show("step-method");
    refusal(res);
  }

  $("qr-back").addEventListener("click", stopWaiting);
  $("cpm-back").addEventListener("click", stopWaiting);
  $("cpm-confirm").addEventListener("click", cpmConfirm);
  $("cpm-form").addEventListener("submit", (e) => { e.preventDefault(); cpmConfirm(); });

  MPAC.cashierQr = { startQr, openCpm };
})();
