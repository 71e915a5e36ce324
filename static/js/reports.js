/* Reports page: the "Today, live" overview is reloaded (as server-rendered HTML) a moment after
   the queue changes, heard on the existing WebSocket (the public display feed: counts and
   statuses only); no polling. Durations on screen count up between reloads. */
(function () {
  "use strict";

  const box = document.getElementById("overview");
  const state = document.getElementById("live-state");
  if (!box || !window.QueueLive) return;
  const DEBOUNCE = 800;   // a call is two events (served, called): one reload for both
  let timer = null;
  let loading = false;
  let again = false;
  let loadedAt = Date.now();

  function reload() {
    if (loading) { again = true; return; }
    loading = true;
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) { box.innerHTML = html; loadedAt = Date.now(); })
      .catch(function () {})
      .finally(function () { loading = false; if (again) { again = false; reload(); } });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(reload, DEBOUNCE);
  }

  // The page's own (translated) formats, as the server writes durations (templatetags/reports.py).
  function format(seconds) {
    if (seconds < 60) return box.dataset.seconds.replace("%(n)d", String(Math.round(seconds)));
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return box.dataset.minutes.replace("%(n)d", String(minutes));
    const m = minutes % 60;
    return box.dataset.hours.replace("%(h)d", String(Math.floor(minutes / 60))).replace("%(m)02d", (m < 10 ? "0" : "") + m);
  }

  // Waits keep growing between changes: count them up locally every 15 s.
  setInterval(function () {
    const extra = (Date.now() - loadedAt) / 1000;
    box.querySelectorAll("[data-since]").forEach(function (el) {
      if (el.dataset.since === "") return;
      el.textContent = format(Number(el.dataset.since) + extra);
    });
  }, 15000);

  QueueLive.connect({
    query: "",
    everyChange: true,
    onSnapshot: function () { soon(); },
    onMessage: function (msg) { if (msg && msg.type === "queue_update") soon(); },
    onStatus: function (s) { state.textContent = state.dataset[s] || ""; },
  });
})();
