/* Cashier screen: amount → method → (cash received | card result | QR) → result. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_DIGITS = 9;
  const STEPS = ["step-method", "step-cash", "step-card", "step-qr", "step-cpm", "step-busy", "step-result"];
  const FINAL = ["succeeded", "failed", "cancelled"];
  const TITLES = {
    offline_sale_limit: "金額上限 Over the offline limit",
    offline_total_limit: "オフライン上限 Offline limit reached",
    offline_count_limit: "オフライン上限 Offline limit reached",
    offline_age_limit: "オフライン上限 Offline limit reached",
    cloud_unavailable: "QRは使えません QR unavailable (offline)",
    cloud_unreachable: "QRは使えません QR unavailable (offline)",
    scanner_busy: "スキャナー使用中 Scanner busy",
    customer_code_required: "コードを入力 Enter the customer's code",
    sale_final: "取消できません Already final",
    not_enrolled: "QRは使えません QR unavailable (not enrolled)",
    cloud_refused: "QR決済を拒否 QR payment refused",
    card_reader_error: "カードリーダーの異常 Card reader problem",
    card_result_required: "カードリーダーなし No card reader",
    store_unavailable: "保存できません Cannot save sales",
  };
  const state = {
    amount: 0, received: 0, field: "amount", ref: null, cardReader: false, readerMessage: "", poll: null,
    scanner: false, qrSale: null, printer: null, printJob: null, printPoll: null,
  };

  function newRef() {
    const rnd = Math.random().toString(36).slice(2, 8);
    return `pos-${Date.now().toString(36)}-${rnd}`;
  }

  function show(step) {
    for (const id of STEPS) $(id).hidden = id !== step;
    const entering = step === "step-method" || step === "step-cash";
    $("keypad").classList.toggle("disabled", !entering);
  }

  function render() {
    const cash = state.field === "received";
    $("entry-label").textContent = cash ? "お預かり Cash received" : "金額 Amount";
    $("display").textContent = MPAC.money(cash ? state.received : state.amount);
    $("due-line").hidden = !cash;
    $("due-amount").textContent = MPAC.money(state.amount);
  }

  function clearError() { $("error").hidden = true; }

  function showError(title, text) {
    $("error-title").textContent = title;
    $("error-text").textContent = text;
    $("error").hidden = false;
  }

  function refusal(res) {
    const err = (res.data && res.data.error) || {};
    let title = TITLES[err.code] || "お会計できません Sale not completed";
    if (res.status === 503 && !TITLES[err.code]) title = "利用できません Unavailable";
    showError(title, MPAC.errorMessage(res));
  }

  function key(k) {
    if ($("keypad").classList.contains("disabled")) return;
    const field = state.field;
    // With items the amount is their sum (items.js); a typed amount would only be refused at payment.
    if (field === "amount" && MPAC.saleItems && MPAC.saleItems()) return;
    let digits = String(state[field] || "");
    if (digits === "0") digits = "";
    if (k === "clear") digits = "";
    else if (k === "back") digits = digits.slice(0, -1);
    else if ((digits + k).replace(/^0+/, "").length <= MAX_DIGITS) digits += k;
    state[field] = Number(digits || 0);
    clearError();
    render();
  }

  function reset() {
    if (state.poll) clearTimeout(state.poll);
    if (state.printPoll) clearTimeout(state.printPoll);
    Object.assign(state, { amount: 0, received: 0, field: "amount", ref: newRef(), poll: null, qrSale: null,
      printJob: null, printPoll: null });
    $("card-form").reset();
    $("cpm-form").reset();
    document.dispatchEvent(new Event("mpac:sale-reset"));  // items.js clears its list
    clearError();
    render();
    show("step-method");
  }

  // The item list (items.js) sets the amount to its tax-inclusive total.
  document.addEventListener("mpac:items", (ev) => {
    state.amount = ev.detail.total;
    render();
  });

  function chooseMethod(method) {
    clearError();
    if (state.amount <= 0) {
      showError("金額を入力 Enter an amount", "金額を入力してください。Enter the amount first.");
      return;
    }
    if (method === "cash") {
      state.field = "received";
      state.received = 0;
      render();
      show("step-cash");
    } else if (method === "card") {
      $("card-form").hidden = state.cardReader;
      const due = MPAC.money(state.amount);
      $("card-hint").textContent = state.cardReader
        ? `${due} — カードリーダーでお支払いください Present the card on the reader`
        : `${due} — 外部端末で決済後、結果を入力 Enter the card terminal's result`
          + (state.readerMessage ? ` (${state.readerMessage})` : "");
      show("step-card");
    } else if (method === "qr_cpm") {
      MPAC.cashierQr.openCpm();
    } else {
      MPAC.cashierQr.startQr();
    }
  }

  async function postSale(body, busyText) {
    $("busy-text").textContent = busyText;
    show("step-busy");
    const res = await MPAC.api("POST", "/api/sales", Object.assign({
      amount: state.amount, currency: MPAC.currency, merchant_ref_id: state.ref,
      items: MPAC.saleItems ? MPAC.saleItems() : undefined,  // items.js (docs/receipts.md)
    }, body));
    if (!res.ok) {
      show(body.payment_method === "cash" ? "step-cash" : body.payment_method === "card" ? "step-card"
        : "step-method");
      refusal(res);
      return null;
    }
    return res.data;
  }

  function resultOf(sale) {
    return (sale && (sale.result || (sale.sale && sale.sale.result))) || {};
  }

  const PRINT_NOTE = {
    queued: "レシート印刷中 Printing the receipt",
    printing: "レシート印刷中 Printing the receipt",
    printed: "レシートを印刷しました Receipt printed",
    failed: "レシートを印刷できません Receipt not printed: reprint it from the status page",
    cancelled: "レシートは破棄されました Receipt dropped",
    no_printer: "",
  };
  const PAPER_OUT = "用紙切れ — 用紙を補充するとレシートを印刷します "
    + "Out of paper: the receipt is waiting and prints when paper is loaded";
  const PRINT_WATCH_MS = 10 * 60 * 1000;

  /* What the cashier should know about a receipt still waiting: paper out, printer away, or just printing. */
  function waitingNote(printer) {
    if (printer && printer.paper === "out") return PAPER_OUT;
    if (printer && printer.state !== "online") {
      return `プリンター待ち Waiting for the printer: ${printer.cashier_message || printer.state}`
        + " — 復旧後に印刷します the receipt prints when it is back";
    }
    return PRINT_NOTE.queued;
  }

  function printNote(job, printer) {
    if (job.state === "queued" || job.state === "printing") return waitingNote(printer);
    if (job.state === "held") {
      return `レシート保留 Receipt held: ${job.last_error || ""} — 状態画面から再印刷 reprint it from the status page`;
    }
    return PRINT_NOTE[job.state] || job.state;
  }

  /* Follow the receipt's print job while the result is on screen, so the note says what really happens. */
  async function watchPrint(jobId, started) {
    if (state.printJob !== jobId || $("step-result").hidden) return;
    const res = await MPAC.api("GET", `/api/web/print_jobs/${encodeURIComponent(jobId)}`);
    const node = $("print-note");
    if (res.ok && res.data && node && state.printJob === jobId) {
      node.textContent = printNote(res.data, res.data.printer_health);
      node.dataset.state = res.data.printer_health && res.data.printer_health.paper === "out"
        && res.data.state === "queued" ? "paper_out" : res.data.state;
      if (["printed", "cancelled", "failed"].includes(res.data.state)) return;
    }
    if (Date.now() - started < PRINT_WATCH_MS) state.printPoll = setTimeout(() => watchPrint(jobId, started), 1000);
  }

  function showResult(lines, ok, sale) {
    const print = sale && sale.print;
    let note = print && PRINT_NOTE[print.status];
    if (print && print.status === "queued") note = waitingNote(state.printer);
    const box = $("result");
    box.replaceChildren();
    box.className = `result ${ok ? "ok" : "bad"}`;
    for (const [cls, text] of lines) box.appendChild(MPAC.el("div", text, cls));
    if (note) {
      const node = MPAC.el("div", note, "r-print");
      node.id = "print-note";
      node.setAttribute("data-testid", "print-note");
      node.setAttribute("role", "status");
      node.dataset.state = note === PAPER_OUT ? "paper_out" : print.status;
      box.appendChild(node);
    }
    show("step-result");
    if (print && print.status === "queued" && print.job_id) {
      state.printJob = print.job_id;
      watchPrint(print.job_id, Date.now());
    }
  }

  async function cashConfirm() {
    clearError();
    if (state.received < state.amount) {
      showError("お預かり不足 Not enough cash",
        `お預かり金額が不足しています。Cash received is less than ${MPAC.money(state.amount)}.`);
      return;
    }
    const sale = await postSale({ payment_method: "cash", cash_received: state.received },
      "保存中 Saving the sale…");
    if (!sale) return;
    const r = resultOf(sale);
    const change = r.change !== undefined ? r.change : state.received - state.amount;
    showResult([
      ["r-title", "お会計完了 Paid in cash"],
      ["r-line", `合計 Total ${MPAC.money(sale.amount, sale.currency)}`],
      ["r-line", `お預かり Received ${MPAC.money(r.cash_received ?? state.received, sale.currency)}`],
      ["r-change", `おつり Change ${MPAC.money(change, sale.currency)}`],
      ["r-ref", `Ref ${sale.merchant_ref_id}`],
    ], true, sale);
  }

  function cardBody() {
    if (state.cardReader) return { payment_method: "card" };
    const form = new FormData($("card-form"));
    return {
      payment_method: "card",
      card_result: {
        status: form.get("status"), card_brand: form.get("card_brand"),
        card_last_4: String(form.get("card_last_4") || ""),
        approval_code: String(form.get("approval_code") || "") || null, entry_method: "manual",
      },
    };
  }

  async function cardConfirm() {
    clearError();
    if (!state.cardReader) {
      const form = $("card-form");
      form.elements.approval_code.required = form.elements.status.value === "approved";
      if (!form.reportValidity()) return;
    }
    const sale = await postSale(cardBody(), state.cardReader
      ? "カードを読み取り中 Waiting for the card reader…" : "保存中 Saving the sale…");
    if (!sale) return;
    const r = resultOf(sale);
    const approved = sale.status === "succeeded";
    const card = [r.card_brand, r.card_last_4 ? `•••• ${String(r.card_last_4).slice(-4)}` : null]
      .filter(Boolean).join(" ");
    const lines = [
      ["r-title", approved ? "承認されました Approved" : "拒否されました Declined"],
      ["r-line", `合計 Total ${MPAC.money(sale.amount, sale.currency)}`],
      ["r-card", card || "Card"],
    ];
    if (approved && r.approval_code) lines.push(["r-line", `承認番号 Approval ${r.approval_code}`]);
    if (!approved && r.decline_reason) lines.push(["r-line", String(r.decline_reason)]);
    lines.push(["r-ref", `Ref ${sale.merchant_ref_id}`]);
    showResult(lines, approved, sale);
  }

  async function refreshStatus() {
    const [res, web] = await Promise.all([MPAC.api("GET", "/api/status"), MPAC.api("GET", "/api/web/status")]);
    const status = res.ok ? res.data : null;
    const conn = MPAC.connection(status);
    MPAC.showConnection(conn);
    MPAC.showPending(status);
    // Unknown (enrolled, nothing sent yet) stays allowed: the agent itself refuses clearly when offline.
    $("btn-qr").disabled = conn === "offline" || conn === "not_enrolled" || conn === "agent_down";
    $("btn-cpm").disabled = $("btn-qr").disabled;
    const devices = (web.ok && web.data && web.data.devices) || {};
    const reader = Object.values(devices).find((d) => d && d.kind === "card_reader");
    state.cardReader = Boolean(reader && reader.state === "online");
    state.readerMessage = reader && !state.cardReader ? reader.cashier_message || `Card reader ${reader.state}` : "";
    document.body.dataset.cardReader = reader ? reader.state : "none";
    state.printer = Object.values(devices).find((d) => d && d.kind === "printer") || null;
    const scanner = Object.values(devices).find((d) => d && d.kind === "scanner");
    state.scanner = Boolean(scanner && scanner.state === "online");
    document.body.dataset.scanner = scanner ? scanner.state : "none";
  }

  document.querySelectorAll("[data-key]").forEach((b) => b.addEventListener("click", () => key(b.dataset.key)));
  document.querySelectorAll("[data-method]").forEach((b) =>
    b.addEventListener("click", () => chooseMethod(b.dataset.method)));
  document.querySelectorAll("[data-back]").forEach((b) => b.addEventListener("click", () => {
    state.field = "amount";
    clearError();
    render();
    show("step-method");
  }));
  document.querySelectorAll("[data-quick]").forEach((b) => b.addEventListener("click", () => {
    state.received = b.dataset.quick === "exact" ? state.amount : Number(b.dataset.quick);
    clearError();
    render();
  }));
  $("cash-confirm").addEventListener("click", cashConfirm);
  $("card-confirm").addEventListener("click", cardConfirm);
  $("card-form").addEventListener("submit", (e) => { e.preventDefault(); cardConfirm(); });
  $("next-sale").addEventListener("click", reset);
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (/^[0-9]$/.test(e.key)) key(e.key);
    else if (e.key === "Backspace") key("back");
    else if (e.key === "Escape") key("clear");
  });

  // The QR flows (cashier_qr.js) share the screen's state and steps.
  MPAC.cashier = { $, state, FINAL, show, clearError, showError, refusal, postSale, showResult, reset };

  reset();
  refreshStatus();
  setInterval(refreshStatus, Number(document.body.dataset.refreshMs) || 3000);
})();
