/* Reports page: the "Today, live" overview follows the queue. A moment after a change heard on
   the existing WebSocket (the public display feed: counts and statuses only) the page reads the
   overview as JSON and puts each figure in its cell as text; no polling. Durations on screen
   count up between changes. A counter or service added or removed reloads the page. */
(function () {
  "use strict";

  const box = document.getElementById("overview");
  const state = document.getElementById("live-state");
  if (!box || !window.QueueLive) return;
  const DEBOUNCE = 800;   // a call is two events (served, called): one read for both
  let timer = null;
  let loading = false;
  let again = false;
  let loadedAt = Date.now();

  // The page's own (translated) formats, as the server writes durations (templatetags/reports.py).
  function format(seconds) {
    if (seconds == null) return "–";
    if (seconds < 60) return box.dataset.seconds.replace("%(n)d", String(Math.round(seconds)));
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return box.dataset.minutes.replace("%(n)d", String(minutes));
    const m = minutes % 60;
    return box.dataset.hours.replace("%(h)d", String(Math.floor(minutes / 60))).replace("%(m)02d", (m < 10 ? "0" : "") + m);
  }

  function field(row, name) { return row.querySelector('[data-field="' + name + '"]'); }
  function text(el, value) { if (el) el.textContent = value == null || value === "" ? "–" : String(value); }
  function since(el, seconds) {
    if (!el) return;
    el.dataset.since = seconds == null ? "" : String(Math.round(seconds));
    el.textContent = format(seconds);
  }

  function sameRows(selector, attr, items) {
    const ids = Array.prototype.map.call(box.querySelectorAll(selector), function (r) { return r.getAttribute(attr); });
    return ids.length === items.length && items.every(function (item, i) { return String(item.id) === ids[i]; });
  }

  function apply(data) {
    if (!sameRows("tr[data-service]", "data-service", data.services) ||
        !sameRows("tr[data-counter]", "data-counter", data.counters)) {
      window.location.reload();
      return;
    }
    data.services.forEach(function (s) {
      const row = box.querySelector('tr[data-service="' + s.id + '"]');
      row.classList.toggle("rp-alert-row", !!s.alert);
      field(row, "alert").hidden = !s.alert;
      text(field(row, "waiting"), s.waiting);
      since(field(row, "longest"), s.longest_wait_seconds);
      text(field(row, "served"), s.served);
      text(field(row, "median"), format(s.wait_median_seconds));
      text(field(row, "open"), s.open_counters);
    });
    data.counters.forEach(function (c) {
      const row = box.querySelector('tr[data-counter="' + c.id + '"]');
      text(field(row, "holder"), c.holder);
      const status = field(row, "status");
      status.className = "rp-status rp-status-" + c.status;
      text(status, c.status_label);
      field(row, "hours").hidden = !c.outside_hours;
      text(field(row, "ticket"), c.ticket);
      since(field(row, "since"), c.ticket_seconds);
      text(field(row, "served"), c.served);
    });
    const alerts = document.getElementById("overview-alerts");
    const lines = data.services.filter(function (s) { return s.alert; }).map(function (s) {
      const p = document.createElement("p");
      p.textContent = box.dataset.alert.replace("%(name)s", "\u2068" + s.name + "\u2069")
        .replace("%(wait)s", format(s.longest_wait_seconds)).replace("%(limit)s", String(s.alert_minutes));
      return p;
    });
    alerts.replaceChildren.apply(alerts, lines);
    alerts.hidden = lines.length === 0;
    text(document.getElementById("overview-estimates"), data.estimates_text);
    text(document.getElementById("overview-at"), (data.at || "").slice(11, 19));
    loadedAt = Date.now();
  }

  function reload() {
    if (loading) { again = true; return; }
    loading = true;
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(apply)
      .catch(function () {})
      .finally(function () { loading = false; if (again) { again = false; reload(); } });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(reload, DEBOUNCE);
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
