/* The patient's ticket, live. One socket per active ticket (QueueLive.connect with
   "ticket=<id>"): the snapshot on every (re)connect gives the ticket and the queue, then
   `queue_position` messages (ticket numbers only) move the place in line and `ticket_update`
   messages bring personal news: called, moved, back to the pool, served, skipped, and
   "moved_service" when reception sends the ticket to another service (OPD → Test): it gets a new
   number there, so the page shows the message and reconnects, which makes the socket follow the
   new service's position group. When WebSockets are blocked live.js polls /dashboard/ (or the
   ticket's signed link) as JSON instead. Without JavaScript the page refreshes itself every 20
   seconds (a <noscript> meta refresh). */
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const t = data.strings;
  const ACTIVE = ["waiting", "called"];
  const banner = document.getElementById("conn-banner");
  const baseTitle = document.title;
  let bannerTimer = null;

  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return values[key] !== undefined ? values[key] : ""; });
  }

  /* The same wording as views/patient.py ticket_status() and ticket_facts(). */
  function describe(ticket) {
    const counter = ticket.counter || "";
    if (ticket.status === "called") return { key: "called", headline: format(t.called, { counter: counter }), detail: t.called_detail };
    if (ticket.status === "waiting") {
      if (!ticket.counter_id) return { key: "pool", headline: t.pool, detail: t.pool_detail };
      const ahead = ticket.people_ahead || 0;
      if (ahead === 0) return { key: "next", headline: t.next, detail: format(t.next_detail, { counter: counter }) };
      return { key: "waiting", headline: t.waiting, detail: ahead === 1 ? t.ahead_one : format(t.ahead_many, { n: ahead }) };
    }
    return { key: ticket.status, headline: t[ticket.status] || ticket.status, detail: t[ticket.status + "_detail"] || "" };
  }

  function facts(ticket) {
    const waiting = ticket.status === "waiting";
    const minutes = ticket.estimated_wait_minutes || 0;
    return {
      counter: ticket.counter || t.no_counter,
      position: waiting ? String(ticket.position || (ticket.people_ahead || 0) + 1) : "–",
      ahead: waiting ? String(ticket.people_ahead || 0) : "–",
      wait: waiting ? (minutes ? format(t.minutes, { n: minutes }) : t.no_wait) : (ticket.status === "called" ? t.now : "–"),
    };
  }

  function showBanner(text) {
    clearTimeout(bannerTimer);
    if (!text) { banner.hidden = true; return; }
    // A blip of a second is not worth a message; a real outage is.
    bannerTimer = setTimeout(function () { banner.textContent = text; banner.hidden = false; }, 1500);
  }

  function buzz() {
    if (navigator.vibrate) {
      try { navigator.vibrate([400, 200, 400, 200, 400]); } catch (e) { /* not allowed without a tap: fine */ }
    }
  }

  function follow(initial) {
    const card = document.querySelector('[data-ticket-id="' + initial.id + '"]');
    if (!card) return;
    const field = function (name) { return card.querySelector('[data-field="' + name + '"]'); };
    let ticket = Object.assign({}, initial);
    let note = "";
    let live = null;
    let positionsAsOf = 0;  // ms since the epoch of the newest position list shown

    function render() {
      const state = describe(ticket);
      const f = facts(ticket);
      card.className = card.className.replace(/\bis-[\w-]+/g, "").trim() + " is-" + state.key;
      if (field("headline").textContent !== state.headline) field("headline").textContent = state.headline;
      if (field("detail").textContent !== state.detail) field("detail").textContent = state.detail;
      ["counter", "position", "ahead", "wait"].forEach(function (name) { field(name).textContent = f[name]; });
      if (ticket.queue_id) field("queue_id").textContent = ticket.queue_id;
      if (ticket.service) field("service").textContent = ticket.service;
      field("note").textContent = note;
      field("note").hidden = !note;
      const active = ACTIVE.indexOf(ticket.status) !== -1;
      const leave = field("leave");  // absent on a ticket opened by its signed link
      if (leave) {
        leave.hidden = !active;
        if (!active) leave.open = false;
      }
      if (field("again")) field("again").hidden = active;
      document.title = ticket.status === "called" ? "▶ " + state.headline + " · " + baseTitle : baseTitle;
    }

    function update(fresh) {
      const wasCalled = ticket.status === "called";
      ticket = Object.assign({}, ticket, fresh);
      if (ticket.status === "called" && !wasCalled) buzz();
      if (ACTIVE.indexOf(ticket.status) === -1 && live) { live.close(); live = null; showBanner(""); }
      render();
    }

    /* Where the position list puts our number: {counter_id (null: the pool), ahead, called}. */
    function place(msg) {
      let found = null;
      Object.keys(msg.counters || {}).forEach(function (id) {
        const row = msg.counters[id];
        const i = (row.waiting || []).indexOf(ticket.number);
        if (i !== -1) found = { counter_id: Number(id), ahead: i, called: false };
        else if (row.serving === ticket.number) found = { counter_id: Number(id), ahead: 0, called: true };
      });
      if (found === null) {
        const i = (msg.unassigned || []).indexOf(ticket.number);
        if (i !== -1) found = { counter_id: null, ahead: i, called: false };
      }
      return found;
    }

    /* queue_position: find our number in a counter's waiting list (or the pool): people ahead.
       A list that does not show the ticket where the page has it (called, moved, gone) means the
       page missed its news: it asks for a snapshot. A list that agrees brings the page up to
       the list's version (see live.js). */
    function positions(msg) {
      // Right after a move the old socket may still hear the old service: its numbers are not ours.
      if (msg.service_id !== undefined && msg.service_id !== ticket.service_id) return;
      if (ACTIVE.indexOf(ticket.status) === -1) return;
      // Position lists are the latest state, read after each change; from two server processes
      // an older one can arrive after a newer one.
      if (msg.as_of) {
        if (msg.as_of < positionsAsOf) return;
        positionsAsOf = msg.as_of;
      }
      const found = place(msg);
      const agrees = found !== null && found.called === (ticket.status === "called") &&
        found.counter_id === (ticket.counter_id == null ? null : Number(ticket.counter_id));
      if (!agrees) {
        if (live) live.resync();
        return;
      }
      if (live) live.saw(msg.service_id, msg.version);
      if (ticket.status !== "waiting") return;
      const ahead = found.ahead;
      ticket.people_ahead = ahead;
      ticket.position = ahead + 1;
      ticket.estimated_wait_minutes = Math.round(ahead * (msg.minutes_per_patient || ticket.minutes_per_patient || 0));
      render();
    }

    function ticketUpdate(msg) {
      const news = msg.ticket || {};
      if (news.id !== ticket.id) return;
      if (msg.event === "moved_service") {
        // A new service, a new number and a new position group: show the message, then
        // reconnect; the snapshot brings the service's name and the exact place in line.
        note = msg.message || "";
        update({
          queue_id: news.queue_id, number: news.number, service_id: news.service_id,
          status: news.status, counter: news.counter, counter_id: news.counter_id,
        });
        reconnect();
        return;
      }
      note = msg.message || (msg.event === "called" || msg.event === "assigned" ? "" : note);
      if (msg.event === "called" && ticket.status === "called") buzz();  // called again at the counter
      update({ status: news.status, counter: news.counter, counter_id: news.counter_id });
      // The place in line after a move is exact in the snapshot; ask for it.
      if (ticket.status === "waiting" && live) live.resync();
    }

    function connect() {
      return QueueLive.connect({
        query: "ticket=" + encodeURIComponent(ticket.id),
        // Personal news says nothing of the rest of the queue: only a position list that agrees
        // with the ticket (positions(), above) brings the page up to its version.
        countsVersion: function () { return false; },
        pollUrl: data.pollUrl + (data.pollUrl.indexOf("?") === -1 ? "?" : "&") + "ticket=" + encodeURIComponent(ticket.id),
        onSnapshot: onSnapshot,
        onMessage: function (msg) {
          if (msg.type === "queue_position") positions(msg);
          else if (msg.type === "ticket_update") ticketUpdate(msg);
        },
        onStatus: function (state) {
          if (state === "open") showBanner("");
          else if (state === "down") showBanner(t.reconnecting);
          else if (state === "polling") showBanner(t.polling);
        },
        onForbidden: function () {
          note = t.forbidden;
          render();
        },
      });
    }

    function reconnect() {
      if (live) live.close();
      live = ACTIVE.indexOf(ticket.status) !== -1 ? connect() : null;
    }

    function onSnapshot(msg) {
      const fresh = msg.ticket || (msg.tickets || []).filter(function (x) { return x.id === ticket.id; })[0];
      if (fresh) update(fresh);
      if (msg.positions && msg.positions.as_of) positionsAsOf = Math.max(positionsAsOf, msg.positions.as_of);
    }

    render();
    if (ACTIVE.indexOf(ticket.status) === -1 || !window.QueueLive) return;
    live = connect();

    const form = card.querySelector(".leave-form");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        const button = form.querySelector("button");
        button.disabled = true;
        button.textContent = t.leaving;
        QueueLive.post(data.cancelUrl, { ticket: ticket.id }).then(function (result) {
          if (result.ok && result.data.ticket) {
            note = "";
            update(result.data.ticket);
          } else {
            button.disabled = false;
            note = (result.data && result.data.error) || "";
            render();
          }
        });
      });
    }
  }

  data.tickets.forEach(follow);
})();
