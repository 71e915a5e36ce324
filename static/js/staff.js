/* The counter dashboard: buttons and shortcuts call the staff endpoints; the counter's staff
   group (QueueLive) keeps the current patient, status and waiting list live.

   Every action sends expected_queue_id (the ticket on screen, "" when nobody is shown), so a
   double click or a second tab gets 409 and a refresh instead of serving twice. Buttons are
   disabled while a request is in flight. Every sentence comes translated from the page. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("staff-config").textContent);
  const S = config.strings;
  const $ = function (id) { return document.getElementById(id); };
  const buttons = { serve_next: $("btn-serve_next"), skip: $("btn-skip"), announce: $("btn-announce") };
  const statusButtons = Array.prototype.slice.call(document.querySelectorAll(".status-btn"));
  const dialog = $("confirm-status");

  const state = {
    counter: config.state.counter,
    serving: config.state.serving_patient,
    waiting: config.state.waiting || [],
    // How many wait here in all: the server lists only the first WAITING_LIST_LIMIT of them.
    queueLength: 0,
    // How many of them are expected at this counter: a break moves those (one line: fewer).
    expectedHere: 0,
    receivedAt: Date.now(),
  };
  takeWaiting(config.state);
  let busy = false;
  let refreshTimer = null;
  let noticeTimer = null;
  let leaving = false;

  // Codes and counter names are isolated (FSI…PDI), as queue_app/bidi.py does, so neither
  // reorders the sentence around it in the other direction.
  const ISOLATED = ["ticket", "counter", "priority"];
  function fmt(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (match, key) {
      if (!Object.prototype.hasOwnProperty.call(values, key)) return match;
      return ISOLATED.indexOf(key) !== -1 ? "\u2068" + values[key] + "\u2069" : String(values[key]);
    });
  }

  function number(n) {
    try { return n.toLocaleString(document.documentElement.lang || undefined); } catch (e) { return String(n); }
  }

  // --- rendering ------------------------------------------------------------------------------

  /* Why the counter takes no new patients ("" when it is open). */
  function notOpenReason() {
    const counter = state.counter;
    if (counter.is_open) return "";
    if (counter.current_status === "break") return S.notOpen.break;
    if (counter.current_status === "closed") return S.notOpen.closed;
    if (counter.held_by === null) return S.notOpen.unheld;
    return S.notOpen.hours;
  }

  function renderCounter() {
    const counter = state.counter;
    const badge = $("status-badge");
    badge.className = "badge badge-" + counter.current_status;
    badge.textContent = S.statusLabels[counter.current_status] || counter.current_status;
    statusButtons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.status === counter.current_status)); });
    const notOpen = $("not-open");
    const reason = notOpenReason();
    notOpen.textContent = reason;
    notOpen.hidden = !reason;
  }

  /* A priority badge (staff only) and the note from the last counter, as DOM nodes. */
  function extras(entry, withWhere) {
    const nodes = [];
    if (entry.priority) {
      const badge = document.createElement("span");
      badge.className = "prio" + (entry.priority.to_confirm ? " prio-confirm" : "");
      badge.title = entry.priority.name;
      badge.textContent = entry.priority.code + (entry.priority.to_confirm ? " · " + S.toConfirm : "");
      nodes.push(badge);
    }
    if (withWhere && config.oneLine && entry.expected_counter_id && entry.expected_counter_id !== config.counterId) {
      const where = document.createElement("span");
      where.className = "w-where";
      where.textContent = fmt(S.expectedAt, { counter: config.counterNames[String(entry.expected_counter_id)] || "" });
      nodes.push(where);
    }
    if (entry.note) {
      const note = document.createElement("span");
      note.className = "w-note";
      note.textContent = (withWhere ? "" : S.noteLabel + " ") + entry.note;
      nodes.push(note);
    }
    return nodes;
  }

  /* The tickets the priority form can act on: the one at the counter, then the listed ones. */
  function renderPriorityTickets() {
    const select = $("priority-ticket");
    if (!select) return;
    const chosen = select.value;
    const ids = (state.serving ? [state.serving.queue_id] : []).concat(state.waiting.map(function (e) { return e.queue_id; }));
    select.replaceChildren.apply(select, ids.map(function (id) {
      const option = document.createElement("option");
      option.value = option.textContent = id;
      return option;
    }));
    if (ids.indexOf(chosen) !== -1) select.value = chosen;
    // A live update must not undo a choice being made: only a different ticket resets it.
    if (select.value !== priorityShownFor) showPriorityOf(select.value);
  }

  /* The priority form starts from the chosen ticket's priority. */
  let priorityShownFor = null;
  function showPriorityOf(queueId) {
    priorityShownFor = queueId;
    const entries = (state.serving ? [state.serving] : []).concat(state.waiting);
    const entry = entries.filter(function (e) { return e.queue_id === queueId; })[0];
    $("priority-select").value = entry && entry.priority ? entry.priority.code : "";
  }

  function renderServing() {
    const serving = state.serving;
    $("serving-extra").replaceChildren.apply($("serving-extra"), serving ? extras(serving, false) : []);
    const box = $("serving");
    if (serving) {
      box.removeAttribute("data-empty");
      $("serving-ticket").textContent = serving.queue_id;
      $("serving-name").textContent = serving.patient_name;
      document.title = serving.queue_id + " · " + state.counter.counter_name;
    } else {
      box.setAttribute("data-empty", "");
      $("serving-ticket").textContent = S.nobody;
      $("serving-name").textContent = S.nobodyHint;
      document.title = state.counter.counter_name;
    }
  }

  function waitedLabel(entry) {
    const minutes = entry.waited_minutes + Math.floor((Date.now() - state.receivedAt) / 60000);
    return minutes < 1 ? S.justNow : fmt(S.minutes, { n: minutes });
  }

  function renderWaiting() {
    const list = $("waiting-list");
    const fragment = document.createDocumentFragment();
    state.waiting.forEach(function (entry, index) {
      const li = document.createElement("li");
      [["w-pos", String(index + 1)], ["w-ticket", entry.queue_id], ["w-name", entry.patient_name], ["w-time", waitedLabel(entry)]]
        .forEach(function (cell) {
          const span = document.createElement("span");
          span.className = cell[0];
          span.textContent = cell[1];  // names are typed by patients: text, never HTML
          li.appendChild(span);
        });
      const more = extras(entry, true);
      if (more.length) {
        const extra = document.createElement("span");
        extra.className = "w-extra";
        more.forEach(function (node) { extra.appendChild(node); });
        li.appendChild(extra);
      }
      fragment.appendChild(li);
    });
    list.replaceChildren(fragment);
    const more = state.queueLength - state.waiting.length;
    $("waiting-more").textContent = more > 0 ? fmt(S.waitingMore, { n: number(more) }) : "";
    $("waiting-more").hidden = more <= 0;
    $("queue-length").textContent = number(state.queueLength);
    $("waiting-empty").hidden = state.queueLength > 0;
  }

  function renderToday(today) {
    if (!today) return;
    $("today-served").textContent = String(today.served);
    $("today-skipped").textContent = String(today.skipped);
    $("today-average").textContent = today.average_minutes === null ? "—" : fmt(S.minutes, { n: today.average_minutes });
  }

  function updateButtons() {
    const hasPatient = Boolean(state.serving);
    buttons.serve_next.disabled = busy || (!hasPatient && !state.counter.is_open);
    buttons.skip.disabled = busy || !hasPatient;
    buttons.announce.disabled = busy || !hasPatient;
    $("btn-transfer").disabled = busy || !hasPatient;
    $("btn-back_to_line").disabled = busy || !hasPatient;
    $("btn-priority").disabled = busy || !$("priority-ticket").value;
    statusButtons.forEach(function (b) { b.disabled = busy; });
    document.body.classList.toggle("is-busy", busy);
  }

  function render() {
    renderCounter();
    renderServing();
    renderWaiting();
    renderPriorityTickets();
    updateButtons();
  }

  function notice(text, kind) {
    const el = $("notice");
    el.textContent = text || "";
    el.className = "notice" + (kind ? " notice-" + kind : "");
    clearTimeout(noticeTimer);
    if (text) noticeTimer = setTimeout(function () { el.textContent = ""; el.className = "notice"; }, 8000);
  }

  // --- applying data ----------------------------------------------------------------------------

  /* The waiting list and the total from a state, snapshot or event that carries them. */
  function takeWaiting(data) {
    if (typeof data.expected_here === "number") state.expectedHere = data.expected_here;
    if (Array.isArray(data.waiting)) {
      state.waiting = data.waiting;
      state.receivedAt = Date.now();
      state.queueLength = typeof data.queue_length === "number" ? data.queue_length : data.waiting.length;
    } else if (typeof data.queue_length === "number") {
      state.queueLength = data.queue_length;
    }
  }

  /* A full state: the WebSocket snapshot, get_queue_data, or a polled get_queue_data. */
  function applyFull(data) {
    if (data.counter) state.counter = data.counter;
    state.serving = data.serving_patient || null;
    takeWaiting(data);
    renderToday(data.today);
    render();
  }

  /* An action's answer: the counter and its current patient (the waiting list follows by refresh). */
  function applyAction(data) {
    if (data.counter) state.counter = data.counter;
    if ("serving_patient" in data) state.serving = data.serving_patient;
    render();
  }

  /* A queue_update on the counter's staff group. */
  function applyEvent(msg) {
    if (msg.type !== "queue_update" || msg.counter_id !== config.counterId) return;
    state.counter = Object.assign({}, state.counter, { current_status: msg.current_status, is_open: msg.is_open });
    if ("serving_patient" in msg) state.serving = msg.serving_patient;
    takeWaiting(msg);
    render();
    // Counts of today, and who holds the counter, are not in the event: read them again.
    if (msg.event === "patient_served" || msg.event === "counter_status_update") scheduleRefresh();
  }

  function lost(code) {
    if (leaving) return;
    leaving = true;
    notice(code === "not_authenticated" ? S.loggedOut : S.lost, "error");
    setTimeout(function () { location.reload(); }, 2500);
  }

  function refresh() {
    clearTimeout(refreshTimer);
    return fetch(config.urls.data, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (d) { return { status: r.status, data: d }; }); })
      .then(function (res) {
        if (res.status === 200) applyFull(res.data);
        else if (res.status === 403) lost(res.data.code);
      })
      .catch(function () { /* offline: the socket's reconnect brings a snapshot */ });
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250);
  }

  // --- actions --------------------------------------------------------------------------------

  function handleError(res) {
    const data = res.data || {};
    if (res.status === 0) { notice(S.network, "error"); return; }
    if (res.status === 403) {
      if (data.code === "not_authenticated" || data.code === "permission_denied") { lost(data.code); return; }
      notice(data.error, "error");
      return;
    }
    if (res.status === 409 && data.code === "stale") { notice(S.stale, "warn"); refresh(); return; }
    notice(data.error || S.stale, res.status === 409 ? "info" : "error");
    refresh();
  }

  /* A shortcut whose button is disabled: say why instead of doing nothing. */
  function explainDisabled(name) {
    if (name === "skip") notice(S.nobodyToSkip, "info");
    else if (name === "announce") notice(S.nobodyToAnnounce, "info");
    else notice(notOpenReason(), "info");
  }

  function act(name, fromKeyboard) {
    const button = buttons[name];
    if (busy || !button) return;
    if (button.disabled) { if (fromKeyboard) explainDisabled(name); return; }
    busy = true;
    updateButtons();
    const fields = { counter: config.counterId, expected_queue_id: state.serving ? state.serving.queue_id : "" };
    QueueLive.post(config.urls[name], fields).then(function (res) {
      busy = false;
      if (!res.ok) { updateButtons(); handleError(res); return; }
      applyAction(res.data);
      // The server says what happened: who was finished, who was called, or why nobody was.
      notice(res.data.message, res.data.serving_patient || state.counter.is_open ? "ok" : "info");
      refresh();
    });
  }

  /* Send on, back to the line, priority: a form's fields to an endpoint, then the usual refresh. */
  function send(url, fields, done) {
    if (busy) return;
    busy = true;
    updateButtons();
    QueueLive.post(url, Object.assign({ counter: config.counterId }, fields)).then(function (res) {
      busy = false;
      if (!res.ok) { updateButtons(); handleError(res); return; }
      done(res.data);
      refresh();
    });
  }

  $("transfer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const service = $("transfer-service").value;
    if (!service) { notice(S.chooseService, "info"); $("transfer-service").focus(); return; }
    send(config.urls.transfer, {
      service: service, note: $("transfer-note").value, expected_queue_id: state.serving ? state.serving.queue_id : "",
    }, function (data) {
      applyFull(data);
      $("transfer-note").value = "";
      notice(data.message, "ok");
    });
  });

  $("btn-back_to_line").addEventListener("click", function () {
    send(config.urls.back_to_line, {
      note: $("transfer-note").value, expected_queue_id: state.serving ? state.serving.queue_id : "",
    }, function (data) {
      applyFull(data);
      $("transfer-note").value = "";
      notice(data.message, "ok");
    });
  });

  $("priority-ticket").addEventListener("change", function () { showPriorityOf(this.value); });
  $("priority-form").addEventListener("submit", function (event) {
    event.preventDefault();
    send(config.urls.priority, { queue_id: $("priority-ticket").value, priority: $("priority-select").value }, function (data) {
      const p = data.ticket.priority;
      notice(fmt(S.prioritySet, { ticket: data.ticket.queue_id, priority: p ? p.name : S.priorityNone }), "ok");
    });
  });

  function confirmStatus(value) {
    const count = state.expectedHere;
    const title = value === "break" ? S.breakTitle : S.closedTitle;
    const body = count ? fmt(S.breakBody, { n: number(count) }) : S.breakBodyNone;
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.confirm(title + "\n\n" + body));
    }
    $("confirm-title").textContent = title;
    $("confirm-body").textContent = body;
    $("confirm-yes").textContent = value === "break" ? S.breakConfirm : S.closedConfirm;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () { resolve(dialog.returnValue === "yes"); }, { once: true });
    });
  }

  function sendStatus(value) {
    busy = true;
    updateButtons();
    QueueLive.post(config.urls.status, { counter: config.counterId, status: value }).then(function (res) {
      busy = false;
      if (!res.ok) { updateButtons(); handleError(res); return; }
      applyAction(res.data);
      let text = fmt(S.statusSet, { status: S.statusLabels[value] || value });
      if (res.data.redistributed) {
        text += " " + fmt(value === "break" || value === "closed" ? S.moved : S.pulled, { n: res.data.redistributed });
      }
      notice(text, "ok");
      refresh();
    });
  }

  function setStatus(value) {
    if (busy || value === state.counter.current_status) return;
    if (value === "break" || value === "closed") {
      confirmStatus(value).then(function (yes) { if (yes) sendStatus(value); });
    } else {
      sendStatus(value);
    }
  }

  Object.keys(buttons).forEach(function (name) {
    buttons[name].addEventListener("click", function () { act(name); });
  });
  statusButtons.forEach(function (b) {
    b.addEventListener("click", function () { setStatus(b.dataset.status); });
  });

  const shortcuts = { n: "serve_next", s: "skip", a: "announce" };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (dialog && dialog.open) return;
    const action = shortcuts[(event.key || "").toLowerCase()];
    if (!action) return;
    event.preventDefault();
    act(action, true);
  });

  // --- live updates -----------------------------------------------------------------------------

  const banner = $("conn-banner");
  let everOpen = false;
  const live = QueueLive.connect({
    query: "counter=" + config.counterId,
    pollUrl: config.urls.data,
    onSnapshot: function (msg) {
      applyFull(msg);
      if (!msg.polled) refresh();  // the socket's snapshot has no counts of today
    },
    onMessage: applyEvent,
    onStatus: function (status) {
      if (status === "open") { everOpen = true; banner.hidden = true; return; }
      if (status === "polling") { banner.textContent = S.polling; banner.hidden = false; return; }
      if (status === "down" && everOpen) { banner.textContent = S.reconnecting; banner.hidden = false; }
    },
    onForbidden: function () { lost("permission_denied"); },
  });
  window.staffLive = live;  // for the browser tests' "drop the connection" journey

  // Waiting times tick without a server round trip.
  setInterval(renderWaiting, 30000);
  render();
})();
