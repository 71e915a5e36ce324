/* Patient login, progressively enhanced. Without JavaScript the page is three plain forms
   posting to /patient/login/. With it: the forms post to /send_otp/ and /verify_otp/ without a
   page load, the code gets six boxes (paste and SMS autofill fill them all), and "Send a new
   code" counts down. The button and its text always agree with the server: disabled while the
   wait runs (the server would refuse), enabled with "you can ask" once it is over. Asking again
   for a number that was just sent a code (another browser, a reload) shows the code step: the
   patient may have that code. Every text shown comes translated from the page (#login-data). */
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("login-data").textContent);
  const t = data.strings;
  const $ = function (sel, root) { return (root || document).querySelector(sel); };
  const steps = { phone: $("#step-phone"), code: $("#step-code"), name: $("#step-name") };

  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return values[key] !== undefined ? values[key] : ""; });
  }

  function showStep(name) {
    Object.keys(steps).forEach(function (key) { steps[key].hidden = key !== name; });
    document.querySelector(".journey").dataset.step = name;
    document.querySelectorAll(".progress li").forEach(function (li) {
      const which = li.dataset.progress;
      const current = which === name;
      li.classList.toggle("is-current", current);
      li.classList.toggle("is-done", which === "phone" && name !== "phone");
      if (current) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
    });
  }

  /* --- errors shown next to the field they are about --------------------------------------- */
  const FIELD_FOR_CODE = { invalid_phone: "phone", region_not_allowed: "phone", invalid_name: "name" };

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (el) {
      if (el.dataset.errorFor === "form") { el.hidden = true; el.textContent = ""; } else { el.textContent = ""; }
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function showError(form, field, message) {
    let target = field && form.querySelector('[data-error-for="' + field + '"]');
    if (!target) { target = form.querySelector('[data-error-for="form"]'); field = null; }
    target.textContent = message;
    target.hidden = false;
    const input = field && form.querySelector('[name="' + field + '"]');
    if (input) { input.setAttribute("aria-invalid", "true"); if (input.type !== "hidden") input.focus(); }
  }

  function showApiError(form, result, fallbackField) {
    const body = result.data || {};
    if (body.fields) {
      const name = Object.keys(body.fields)[0];
      showError(form, name, body.fields[name][0]);
      return;
    }
    const field = FIELD_FOR_CODE[body.code] || (body.code && body.code.indexOf("code") !== -1 ? fallbackField : null);
    showError(form, field, body.error || t.network);
  }

  function busy(button, on) {
    if (!button) return;
    if (on) {
      button.dataset.label = button.textContent;
      if (button.dataset.busyText) button.textContent = button.dataset.busyText;
      button.disabled = true;
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label;
      button.disabled = false;
    }
  }

  /* --- the resend countdown ----------------------------------------------------------------- */
  const resendButton = $("#resend-button");
  const resendStatus = $("#resend-status");
  let countdown = null;
  let resendAt = 0;  // ms since the epoch when the server accepts another code

  /* From the clock, not by counting ticks: a phone in a pocket runs timers late or not at all. */
  function tick() {
    const left = Math.ceil((resendAt - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(countdown);
      countdown = null;
      resendButton.disabled = false;
      resendStatus.textContent = t.resendNow;
      return;
    }
    resendButton.disabled = true;
    const m = Math.floor(left / 60);
    const s = left % 60;
    resendStatus.textContent = format(t.resendIn, { time: m + ":" + (s < 10 ? "0" : "") + s });
  }

  function startCountdown(seconds) {
    clearInterval(countdown);
    resendAt = Date.now() + Math.max(0, Math.round(seconds)) * 1000;
    tick();
    countdown = resendAt > Date.now() ? setInterval(tick, 1000) : null;
  }

  document.addEventListener("visibilitychange", function () { if (countdown) tick(); });

  /* --- six boxes for the code --------------------------------------------------------------- */
  const codeForm = $("#code-form");
  const otpInput = $("#id_otp");
  const boxes = [];
  let submitting = false;

  function buildBoxes() {
    const group = document.createElement("div");
    group.className = "otp-boxes";
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", "otp-label");
    for (let i = 0; i < 6; i++) {
      const box = document.createElement("input");
      box.type = "text";
      box.inputMode = "numeric";
      box.className = "otp-box";
      box.id = i === 0 ? "id_otp_box" : "";
      box.autocomplete = i === 0 ? "one-time-code" : "off";
      box.setAttribute("aria-label", format(t.digit, { n: i + 1 }));
      box.setAttribute("aria-describedby", "otp-error");
      box.dataset.index = String(i);
      boxes.push(box);
      group.appendChild(box);
    }
    otpInput.hidden = true;
    otpInput.removeAttribute("required");
    otpInput.parentNode.insertBefore(group, otpInput);
    $("#otp-label").setAttribute("for", "id_otp_box");

    group.addEventListener("input", function (event) {
      const box = event.target;
      const digits = box.value.replace(/\D/g, "");
      const index = Number(box.dataset.index);
      if (digits.length > 1) { fill(digits, digits.length >= 6 ? 0 : index); return; }  // autofill, or typed fast
      box.value = digits;
      if (digits && index < 5) boxes[index + 1].focus();
      sync();
    });
    group.addEventListener("paste", function (event) {
      const text = (event.clipboardData || window.clipboardData).getData("text") || "";
      const digits = text.replace(/\D/g, "");
      if (!digits) return;
      event.preventDefault();
      fill(digits, digits.length >= 6 ? 0 : Number(event.target.dataset.index));
    });
    group.addEventListener("keydown", function (event) {
      const index = Number(event.target.dataset.index);
      if (event.key === "Backspace" && !event.target.value && index > 0) {
        boxes[index - 1].value = "";
        boxes[index - 1].focus();
        sync();
        event.preventDefault();
      } else if (event.key === "ArrowLeft" && index > 0) {
        boxes[index - 1].focus();
      } else if (event.key === "ArrowRight" && index < 5) {
        boxes[index + 1].focus();
      }
    });
    group.addEventListener("focusin", function (event) { if (event.target.select) event.target.select(); });
  }

  function fill(digits, start) {
    for (let i = 0; i < digits.length && start + i < 6; i++) boxes[start + i].value = digits[i];
    boxes[Math.min(5, start + digits.length)].focus();
    sync();
  }

  function sync() {
    otpInput.value = boxes.map(function (b) { return b.value; }).join("");
    codeForm.querySelectorAll(".otp-box").forEach(function (b) { b.removeAttribute("aria-invalid"); });
    if (otpInput.value.length === 6 && !submitting) codeForm.requestSubmit ? codeForm.requestSubmit() : submitCode();
  }

  function clearBoxes() {
    boxes.forEach(function (b) { b.value = ""; b.setAttribute("aria-invalid", "true"); });
    otpInput.value = "";
    boxes[0].focus();
  }

  /* --- the three requests ------------------------------------------------------------------- */
  // Refusals that mean "this number was just sent a code": the patient may have it.
  const ALREADY_SENT = ["resend_too_soon", "too_many_codes", "busy"];
  const phoneForm = $("#phone-form");
  phoneForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(phoneForm);
    const button = phoneForm.querySelector("button[type=submit]");
    const phone = phoneForm.elements.phone.value;
    busy(button, true);
    QueueLive.post(data.sendUrl, { phone: phone, name: phoneForm.elements.name.value }).then(function (result) {
      busy(button, false);
      const already = result.status === 429 && ALREADY_SENT.indexOf((result.data || {}).code) !== -1;
      if (!result.ok && !already) { showApiError(phoneForm, result, "phone"); return; }
      const notice = $("#code-notice");
      notice.textContent = already ? t.alreadySent : "";
      notice.hidden = !already;
      $("#resend-ok").hidden = true;
      $("#id_code_phone").value = phone;
      const sentTo = $("#sent-to");
      sentTo.textContent = "";
      const parts = t.sentTo.split("%(phone)s");
      const strong = document.createElement("strong");
      strong.textContent = phone.trim();
      sentTo.append(parts[0], strong, parts[1] || "");
      clearErrors(codeForm);
      boxes.forEach(function (b) { b.value = ""; });
      showStep("code");
      startCountdown(already ? result.retryAfter : result.data.resend_in);
      boxes[0].focus();
    });
  });

  function submitCode() {
    if (submitting) return;
    clearErrors(codeForm);
    const button = codeForm.querySelector("button[type=submit]");
    submitting = true;
    busy(button, true);
    QueueLive.post(data.verifyUrl, { phone: codeForm.elements.phone.value, otp: otpInput.value }).then(function (result) {
      if (result.ok) { window.location.assign(result.data.redirect); return; }
      submitting = false;
      busy(button, false);
      showApiError(codeForm, result, "otp");
      clearBoxes();
      const code = (result.data || {}).code;
      // This code is spent: the way on is a new one, as soon as the server allows it (the
      // countdown, if still running, keeps the button and its text in step until then).
      if ((code === "too_many_attempts" || code === "code_expired" || code === "code_used") && !resendButton.disabled) {
        resendButton.focus();
      }
    });
  }

  codeForm.addEventListener("submit", function (event) { event.preventDefault(); submitCode(); });

  $("#resend-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(codeForm);
    resendButton.disabled = true;
    QueueLive.post(data.sendUrl, { phone: codeForm.elements.phone.value }).then(function (result) {
      if (result.ok) {
        startCountdown(result.data.resend_in);
        const note = $("#resend-ok");
        note.textContent = t.resent;
        note.hidden = false;
        $("#code-notice").hidden = true;
        clearBoxes();
        boxes.forEach(function (b) { b.removeAttribute("aria-invalid"); });
      } else {
        showError(codeForm, null, (result.data && result.data.error) || t.network);
        // Too soon (another browser asked meanwhile): wait as long as the server says.
        if (result.retryAfter) startCountdown(result.retryAfter); else resendButton.disabled = false;
      }
    });
  });

  buildBoxes();
  if (data.step === "code") {
    if (data.resendIn > 0) startCountdown(data.resendIn);
    boxes[0].focus();
  }
})();
