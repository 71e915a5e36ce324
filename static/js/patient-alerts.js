/* What the open ticket page does when its patient is called (patient-dashboard.js calls
   PatientAlerts.called): a short chime, a system notification if the patient allowed them, a
   vibration where supported, a flashing tab title and a banner pinned to the top of the page.

   Browsers play sound only after a tap on the page, so the first tap anywhere (the "alert me"
   button included) unlocks the chime; the chime is made with Web Audio, no file to download.
   Permission for system notifications is asked with one button, never on load. */
(function () {
  "use strict";

  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  const canNotify = "Notification" in window;
  let audio = null;
  let flashTimer = null;
  let flashStop = null;
  let titleBefore = "";
  let shown = null;  // the system notification on screen, if any

  function unlock() {
    if (!AudioCtx) return;
    if (!audio) {
      try { audio = new AudioCtx(); } catch (e) { return; }
    }
    if (audio.state === "suspended") audio.resume().catch(function () { /* needs a tap: later */ });
  }
  ["pointerdown", "keydown", "touchend"].forEach(function (name) {
    document.addEventListener(name, unlock, { capture: true, passive: true });
  });

  /* Three short notes, rising: heard over a waiting room, over before it annoys. */
  function playChime() {
    const start = audio.currentTime + 0.05;
    [[0, 784], [0.3, 988], [0.6, 1175]].forEach(function (note) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = note[1];
      gain.gain.setValueAtTime(0.0001, start + note[0]);
      gain.gain.exponentialRampToValueAtTime(0.5, start + note[0] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + note[0] + 0.28);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(start + note[0]);
      osc.stop(start + note[0] + 0.3);
    });
  }

  function chime() {
    unlock();
    if (!audio) return;
    if (audio.state === "running") { playChime(); return; }
    // Not unlocked yet: a chime long after the call would only confuse, so give it a few seconds.
    const calledAt = Date.now();
    audio.resume().then(function () { if (Date.now() - calledAt < 5000) playChime(); }, function () {});
  }

  function vibrate() {
    if (!navigator.vibrate) return;
    try { navigator.vibrate([400, 200, 400, 200, 400]); } catch (e) { /* not allowed before a tap: fine */ }
  }

  function systemNotification(title, body, tag) {
    if (!canNotify || Notification.permission !== "granted") return;
    const options = { body: body, tag: tag, renotify: true, requireInteraction: true };
    try {
      shown = new Notification(title, options);
      shown.onclick = function () { window.focus(); shown.close(); };
    } catch (e) {
      // Android's Chrome shows notifications only through a service worker, if the page has one.
      if (navigator.serviceWorker && navigator.serviceWorker.getRegistration) {
        navigator.serviceWorker.getRegistration().then(function (reg) { if (reg) reg.showNotification(title, options); });
      }
    }
  }

  function stopFlash() {
    if (flashTimer === null) return;
    clearInterval(flashTimer);
    clearTimeout(flashStop);
    flashTimer = null;
    document.title = titleBefore;
  }

  function flashTitle(text) {
    stopFlash();
    titleBefore = document.title;
    let on = false;
    flashTimer = setInterval(function () {
      on = !on;
      document.title = on ? "🔔 " + text : titleBefore;
    }, 900);
    flashStop = setTimeout(stopFlash, 60000);
  }

  const callAlert = document.getElementById("call-alert");
  function showBanner(text) {
    if (!callAlert) return;
    document.getElementById("call-alert-text").textContent = text;
    callAlert.hidden = false;
  }
  function clear() {
    stopFlash();
    if (callAlert) callAlert.hidden = true;
    if (shown) { shown.close(); shown = null; }
  }
  if (callAlert) document.getElementById("call-alert-ok").addEventListener("click", clear);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) stopFlash(); });

  /* The "alert me" button: shown while the browser may still ask, gone once it has asked. */
  function setup(strings) {
    const box = document.getElementById("alerts");
    const state = document.getElementById("alerts-state");
    if (!canNotify || !box) return;
    function show() {
      const permission = Notification.permission;
      box.hidden = permission !== "default";
      state.textContent = permission === "granted" ? strings.alerts_on : permission === "denied" ? strings.alerts_blocked : "";
    }
    document.getElementById("alerts-enable").addEventListener("click", function () {
      unlock();
      const asked = Notification.requestPermission(show);  // older Safari answers with a callback only
      if (asked && asked.then) asked.then(show);
    });
    show();
  }

  window.PatientAlerts = {
    setup: setup,
    /* headline: "Please go to Counter 2"; detail: the sentence under it; tag: one per ticket. */
    called: function (title, headline, tag) {
      showBanner(headline);
      chime();
      vibrate();
      flashTitle(headline);
      systemNotification(title, headline, tag);
    },
    clear: clear,
  };
})();
