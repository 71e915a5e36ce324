/* The patient's tickets, live. One socket per card (QueueLive.connect with "ticket=<id>"): the
   snapshot on every (re)connect gives the ticket and the queue, then `queue_position` messages
   (ticket numbers only) move the place in line and `ticket_update` messages bring personal news:
   called, moved, back to the pool, served, skipped, recalled, and "moved_service" when reception
   sends the ticket to another service (OPD → Test): it gets a new number there, so the page shows
   the message and reconnects, which makes the socket follow the new service's position group.
   A finished ticket that may come back (skipped: reception may recall it; served: reception may
   send it on) keeps a socket that hears only its own news; when it is active again the page
   reconnects to hear the queue too. When WebSockets are blocked live.js polls /dashboard/ (or the
   ticket's signed link) as JSON instead. If the session is gone (socket closed 4403, poll 403)
   the page says so and offers to sign in again. Without JavaScript the page refreshes itself
   every 20 seconds (a <noscript> meta refresh). */
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const t = data.strings;
  const ACTIVE = ["waiting", "called"];
  const banner = document.getElementById("conn-banner");
  const whileActive = document.getElementById("while-active");
  const sessionEnded = document.getElementById("session-ended");
  const baseTitle = document.title;
  const cards = [];
  let bannerTimer = null;
  let bannerText = "";
  let ended = false;

  function isActive(ticket) { return ACTIVE.indexOf(ticket.status) !== -1; }
  /* Worth a live connection: active, or finished today in a way reception can still undo. */
  function isLive(ticket) { return isActive(ticket) || ticket.may_come_back === true; }

  // A counter's name is isolated (FSI…PDI), as presenters.py does: "Counter 1" must not reorder
  // an Arabic sentence, nor an Arabic counter name an English one.
  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) {
      if (values[key] === undefined) return "";
      return key === "counter" ? "\u2068" + values[key] + "\u2069" : values[key];
    });
  }

  /* The same wording as presenters.ticket_status() and ticket_facts(). */
  function describe(ticket) {
    const counter = ticket.counter || "";
    if (ticket.status === "called") return { key: "called", headline: format(t.called, { counter: counter }), detail: t.called_detail };
    if (ticket.status === "waiting") {
      if (!ticket.counter_id) return { key: "pool", headline: t.pool, detail: t.pool_detail };
      const ahead = ticket.people_ahead || 0;
      if (ahead === 0) {
        return { key: "next", headline: t.next, detail: ticket.one_line ? t.next_detail_line : format(t.next_detail, { counter: counter }) };
      }
      return { key: "waiting", headline: t.waiting, detail: ahead === 1 ? t.ahead_one : format(t.ahead_many, { n: ahead }) };
    }
    return { key: ticket.status, headline: t[ticket.status] || ticket.status, detail: t[ticket.status + "_detail"] || "" };
  }

  function facts(ticket) {
    const waiting = ticket.status === "waiting";
    const minutes = ticket.estimated_wait_minutes || 0;
    return {
      counter: !ticket.counter ? t.no_counter : (waiting && ticket.one_line ? format(t.expected, { counter: ticket.counter }) : ticket.counter),
      position: waiting ? String(ticket.position || (ticket.people_ahead || 0) + 1) : "–",
      ahead: waiting ? String(ticket.people_ahead || 0) : "–",
      // Waiting for a counter to open: no estimate, so no time and never "no wait".
      wait: waiting ? (ticket.estimated_wait_minutes == null || !ticket.counter_id ? "–" : minutes ? format(t.minutes, { n: minutes }) : t.no_wait) : (ticket.status === "called" ? t.now : "–"),
    };
  }

  /* One banner for the page: "Reconnecting…" while any card's connection is down. */
  function renderBanner() {
    const states = cards.map(function (c) { return c.connection(); });
    const text = ended ? "" : states.indexOf("down") !== -1 ? t.reconnecting : states.indexOf("polling") !== -1 ? t.polling : "";
    if (text === bannerText) return;
    bannerText = text;
    clearTimeout(bannerTimer);
    if (!text) { banner.hidden = true; return; }
    // A blip of a second is not worth a message; a real outage is.
    bannerTimer = setTimeout(function () { banner.textContent = text; banner.hidden = false; }, 1500);
  }

  /* What depends on every card: the guidance shown while a ticket waits, and the tab's title. */
  function renderPage() {
    const tickets = cards.map(function (c) { return c.ticket(); });
    if (whileActive) whileActive.hidden = !tickets.some(isActive);
    const called = tickets.filter(function (x) { return x.status === "called"; })[0];
    document.title = called ? "▶ " + describe(called).headline + " · " + baseTitle : baseTitle;
  }

  /* The session is gone (the day ended, signed out elsewhere): no socket or poll can bring news
     any more. Stop them all and say so, with the way back, instead of "Reconnecting…" for ever. */
  function endSession() {
    if (ended) return;
    ended = true;
    cards.forEach(function (c) { c.stop(); });
    renderBanner();
    sessionEnded.hidden = false;
  }

  /* Called: chime, system notification, vibration, flashing title, banner (patient-alerts.js). */
  function alertCalled(ticket) {
    if (!window.PatientAlerts) return;
    PatientAlerts.called(t.your_turn + " · " + ticket.queue_id, describe(ticket).headline, "ticket-" + ticket.id);
  }
  if (window.PatientAlerts) PatientAlerts.setup(t);

  function follow(initial) {
    const card = document.querySelector('[data-ticket-id="' + initial.id + '"]');
    if (!card) return null;
    const field = function (name) { return card.querySelector('[data-field="' + name + '"]'); };
    let ticket = Object.assign({}, initial);
    let note = "";
    let live = null;
    let connection = "none";
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
      const active = isActive(ticket);
      const leave = field("leave");  // absent on a ticket opened by its signed link
      if (leave) {
        leave.hidden = !active;
        if (!active) leave.open = false;
      }
      if (field("again")) field("again").hidden = active;
      const texts = field("notify-form");
      if (texts) texts.hidden = !active;
      renderPage();
    }

    /* Apply news; true when the connection was remade (the ticket became active, or stopped being). */
    function update(fresh) {
      const wasCalled = ticket.status === "called";
      const wasActive = isActive(ticket);
      ticket = Object.assign({}, ticket, fresh);
      if (ticket.status === "called" && !wasCalled) alertCalled(ticket);
      else if (wasCalled && ticket.status !== "called" && window.PatientAlerts) PatientAlerts.clear();
      render();
      if (isActive(ticket) === wasActive) return false;
      // Active again (recalled, sent on): hear the queue again. Finished: no longer the queue,
      // only this ticket's own news if it may come back, else nothing at all.
      reconnect();
      return true;
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
      // One line for the service: the place in it (whichever counter calls); else in the counter's.
      const inLine = Array.isArray(msg.line) ? msg.line.indexOf(ticket.number) : -1;
      const ahead = inLine !== -1 ? inLine : found.ahead;
      ticket.people_ahead = ahead;
      ticket.position = ahead + 1;
      // queue_app/estimates.py wait_minutes over the line's counters; none while in the pool.
      const perPlace = msg.minutes_per_place || ticket.minutes_per_place || 0;
      ticket.estimated_wait_minutes = ticket.counter_id ? Math.round((ahead + (msg.places_under_way || 0)) * perPlace) : null;
      render();
    }

    function ticketUpdate(msg) {
      const news = msg.ticket || {};
      if (news.id !== ticket.id) return;
      if (msg.event === "moved_service") {
        // A new service, a new number and a new position group: show the message, then
        // reconnect; the snapshot brings the service's name and the exact place in line.
        note = msg.message || "";
        const remade = update({
          queue_id: news.queue_id, number: news.number, service_id: news.service_id, status: news.status,
          counter: news.counter, counter_id: news.counter_id, may_come_back: news.may_come_back,
        });
        if (!remade) reconnect();
        return;
      }
      note = msg.message || (msg.event === "called" || msg.event === "assigned" ? "" : note);
      if (msg.event === "called" && ticket.status === "called") alertCalled(ticket);  // called again at the counter
      const remade = update({
        status: news.status, counter: news.counter, counter_id: news.counter_id, may_come_back: news.may_come_back,
      });
      // The place in line after a move is exact in the snapshot; ask for it.
      if (!remade && ticket.status === "waiting" && live) live.resync();
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
          connection = state;
          renderBanner();
        },
        onForbidden: endSession,
      });
    }

    function stop() {
      if (live) live.close();
      live = null;
      connection = "none";
    }

    function reconnect() {
      stop();
      if (!ended && isLive(ticket) && window.QueueLive) live = connect();
      renderBanner();
    }

    function onSnapshot(msg) {
      const fresh = msg.ticket || (msg.tickets || []).filter(function (x) { return x.id === ticket.id; })[0];
      if (fresh) update(fresh);
      if (msg.positions && msg.positions.as_of) positionsAsOf = Math.max(positionsAsOf, msg.positions.as_of);
    }

    const form = card.querySelector(".leave-form");
    if (form && data.cancelUrl && window.QueueLive) {
      const button = form.querySelector("button");
      const label = button.textContent;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (button.disabled) return;
        button.disabled = true;
        button.textContent = t.leaving;
        QueueLive.post(data.cancelUrl, { ticket: ticket.id }).then(function (result) {
          // Whatever the answer, the button says again what it does: nothing is pending any more.
          button.disabled = false;
          button.textContent = label;
          const body = result.data || {};
          if (result.ok && body.ticket) {
            note = "";
            update(body.ticket);
          } else if (result.status === 403 && body.code === "not_authenticated") {
            endSession();
          } else {
            // status 0: the request never reached the server, so nothing changed there.
            note = result.status === 0 ? t.network : body.error || t.network;
            render();
          }
        });
      });
    }

    /* The texts switch: saved at once; a refusal puts it back and says why. */
    const texts = field("notify-form");
    if (texts && data.notifyUrl && window.QueueLive) {
      const box = texts.querySelector('input[name="notify"]');
      texts.addEventListener("submit", function (event) { event.preventDefault(); });
      box.addEventListener("change", function () {
        const wanted = box.checked;
        box.disabled = true;
        field("notify-error").textContent = "";
        QueueLive.post(data.notifyUrl, { ticket: ticket.id, notify: wanted }).then(function (result) {
          box.disabled = false;
          const body = result.data || {};
          if (result.ok && body.ticket) {
            ticket.notify = body.ticket.notify;
            box.checked = ticket.notify;
          } else if (result.status === 403 && body.code === "not_authenticated") {
            endSession();
          } else {
            box.checked = !wanted;
            field("notify-error").textContent = result.status === 0 ? t.network : body.error || t.network;
          }
        });
      });
    }

    render();
    if (isLive(ticket) && window.QueueLive) live = connect();
    return {
      ticket: function () { return ticket; },
      connection: function () { return connection; },
      stop: stop,
    };
  }

  data.tickets.forEach(function (ticket) {
    const followed = follow(ticket);
    if (followed) cards.push(followed);
  });
  renderPage();
})();
