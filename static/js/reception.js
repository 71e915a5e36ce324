/* The reception desk (/staff/reception/) and the ticket slip (/staff/reception/tickets/<id>/slip/).

   Desk: create walk-in tickets (Enter), print their slip from a hidden frame, search today's
   tickets ("/"), recall, move to another service, cancel. The list follows the queue live: the
   public display socket (QueueLive, no names) says when anything changed, and the desk re-reads
   its list (one query) a moment later; when WebSockets are blocked it polls the list.
   Every name is written with textContent, never as HTML.

   Slip: choose the paper (58 mm, 80 mm, A6; remembered in this browser), fit the @page length of
   a receipt roll to the slip, and print with the browser's own dialog (window.print()). */
(function () {
  "use strict";

  const SIZE_KEY = "queue.reception.slipSize";
  const SIZES = ["80", "58", "a6"];

  // Names, codes and counter or service names are isolated (FSI…PDI), as queue_app/bidi.py does:
  // an Arabic name must not reorder the sentence around it, nor "OPD_001" an Arabic sentence.
  const ISOLATED = ["name", "ticket", "old", "service", "counter"];
  function format(text, values) {
    return String(text).replace(/%\((\w+)\)s/g, function (_, key) {
      if (values[key] === undefined) return "";
      return ISOLATED.indexOf(key) !== -1 ? "\u2068" + values[key] + "\u2069" : values[key];
    });
  }

  function storedSize() {
    try {
      const value = window.localStorage.getItem(SIZE_KEY);
      return SIZES.indexOf(value) !== -1 ? value : null;
    } catch (e) { return null; }  // storage blocked: the default size then
  }

  function storeSize(value) {
    try { window.localStorage.setItem(SIZE_KEY, value); } catch (e) { /* not remembered: fine */ }
  }

  // --- the desk -------------------------------------------------------------------------------

  function desk(config) {
    const t = config.strings;
    const form = document.getElementById("walk-in");
    const nameInput = document.getElementById("walk-in-name");
    const phoneInput = document.getElementById("walk-in-phone");
    const printBox = document.getElementById("walk-in-print");
    const submit = document.getElementById("walk-in-submit");
    const search = document.getElementById("search");
    const rows = document.getElementById("ticket-rows");
    const rowTemplate = document.getElementById("row-template");
    const notice = document.getElementById("notice");
    const banner = document.getElementById("conn-banner");
    const sizeSelect = document.getElementById("slip-size");
    const printFrame = document.getElementById("print-frame");
    const errors = {
      name: document.getElementById("walk-in-name-error"),
      phone: document.getElementById("walk-in-phone-error"),
      service: document.getElementById("walk-in-service-error"),
    };
    const state = { tickets: config.tickets, truncated: config.truncated, query: "", flash: null, lastLink: "" };
    let busy = false;
    let listRequest = 0;
    let refreshTimer = null;
    let bannerTimer = null;

    sizeSelect.value = storedSize() || SIZES[0];
    sizeSelect.addEventListener("change", function () { storeSize(sizeSelect.value); render(); });

    let noticeTimer = null;
    function say(text, isError) {
      clearTimeout(noticeTimer);
      notice.textContent = text || "";
      notice.classList.toggle("is-error", Boolean(isError));
      // Good news fades after a while; an error stays until the next action.
      if (text && !isError) noticeTimer = setTimeout(function () { notice.textContent = ""; }, 12000);
    }

    function sessionEnded(result) {
      if (result.status === 403 && result.data && result.data.code === "not_authenticated") {
        say(t.loggedOut, true);
        setTimeout(function () { window.location.assign(config.urls.login + "?next=" + encodeURIComponent(location.pathname)); }, 1500);
        return true;
      }
      return false;
    }

    function slipUrl(ticket, extra) {
      return ticket.slip_url + "?size=" + encodeURIComponent(sizeSelect.value) + (extra || "");
    }

    function targetsFor(ticket) {
      return config.services.filter(function (s) { return s.id !== ticket.service_id; });
    }

    // --- the list ---

    function render() {
      // Keep the keyboard where it was across a live refresh.
      const active = document.activeElement;
      const focusRow = active && rows.contains(active) ? active.closest("tr").dataset.id : null;
      const focusAction = focusRow ? active.dataset.action : null;
      const fragment = document.createDocumentFragment();
      state.tickets.forEach(function (ticket) { fragment.appendChild(row(ticket)); });
      rows.replaceChildren(fragment);
      const count = state.tickets.length;
      document.getElementById("list-count").textContent = count ? String(count) + (state.truncated ? "+" : "") : "";
      const empty = document.getElementById("list-empty");
      empty.hidden = count > 0;
      empty.textContent = state.query ? format(t.noMatch, { query: state.query }) : t.empty;
      const more = document.getElementById("list-more");
      more.hidden = !state.truncated;
      more.textContent = format(t.truncated, { n: count });
      if (focusRow) {
        const again = rows.querySelector('tr[data-id="' + focusRow + '"] [data-action="' + focusAction + '"]:not([hidden])');
        if (again) again.focus();
      }
    }

    /* How busy each service is, beside its choice in the form. */
    function renderServices(list) {
      (list || []).forEach(function (service) {
        const meta = document.querySelector('[data-service-meta="' + service.id + '"]');
        if (!meta) return;
        meta.textContent = service.meta;
        meta.classList.toggle("rc-warn", Boolean(service.no_counter));
      });
    }

    function row(ticket) {
      const tr = rowTemplate.content.firstElementChild.cloneNode(true);
      tr.dataset.id = ticket.id;
      const cell = function (name) { return tr.querySelector('[data-col="' + name + '"]'); };
      cell("queue_id").textContent = ticket.queue_id;
      cell("queue_id").title = ticket.service;
      cell("patient_name").textContent = ticket.patient_name;
      if (ticket.priority) {
        const prio = document.createElement("span");
        prio.className = "prio" + (ticket.priority.to_confirm ? " prio-confirm" : "");
        prio.title = ticket.priority.name;
        prio.textContent = ticket.priority.code;
        cell("patient_name").append(" ", prio);
      }
      const counter = cell("counter");
      if (ticket.counter) counter.textContent = ticket.counter;
      else if (ticket.status === "waiting") { counter.textContent = t.waitCounter; counter.className = "muted"; }
      else counter.textContent = "—";
      const badge = cell("status");
      badge.textContent = ticket.status_label;
      badge.className = "badge badge-" + ticket.status;
      cell("joined_time").textContent = ticket.joined_time;
      const action = function (name) { return tr.querySelector('[data-action="' + name + '"]'); };
      action("recall").hidden = !ticket.can_recall;
      action("recall").title = t.recallHint;
      action("move").hidden = !ticket.can_move || targetsFor(ticket).length === 0;
      action("cancel").hidden = !ticket.can_cancel;
      action("priority").hidden = !ticket.can_set_priority;
      action("slip").href = slipUrl(ticket);
      ["recall", "move", "priority", "cancel", "slip"].forEach(function (name) {
        action(name).setAttribute("aria-label", action(name).textContent.trim() + " " + ticket.queue_id);
      });
      if (state.flash === ticket.id) tr.classList.add("is-flash");
      return tr;
    }

    function load() {
      const mine = ++listRequest;
      const url = config.urls.tickets + (state.query ? "?q=" + encodeURIComponent(state.query) : "");
      return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, status: r.status, data: data }; }); })
        .then(function (result) {
          if (mine !== listRequest) return;  // a newer search is on its way
          if (!result.ok) { if (!sessionEnded(result)) say(result.data.error, true); return; }
          state.tickets = result.data.tickets;
          state.truncated = result.data.truncated;
          renderServices(result.data.services);
          render();
          state.flash = null;
        })
        .catch(function () { if (mine === listRequest) say(t.network, true); });
    }

    function refreshSoon(delay) {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(load, delay === undefined ? 700 : delay);
    }

    let searchTimer = null;
    search.addEventListener("input", function () {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () {
        state.query = search.value.trim();
        load();
      }, 200);
    });
    document.getElementById("search-form").addEventListener("submit", function (event) {
      event.preventDefault();
      clearTimeout(searchTimer);
      state.query = search.value.trim();
      load();
    });

    // --- creating a ticket ---

    function clearErrors() {
      Object.keys(errors).forEach(function (key) { errors[key].textContent = ""; });
      [nameInput, phoneInput].forEach(function (input) { input.removeAttribute("aria-invalid"); });
    }

    function fieldError(result) {
      const data = result.data || {};
      const fields = data.fields || {};
      if (data.code === "invalid_name" || fields.name) return ["name", nameInput];
      if (data.code === "invalid_phone" || fields.phone) return ["phone", phoneInput];
      if (fields.service_id || data.code === "not_found" || data.code === "service_unavailable") return ["service", null];
      return [null, null];
    }

    function printSlip(url) {
      // A same-origin frame prints the slip with its own @page size, without opening a tab.
      printFrame.src = url + "&print=1&at=" + Date.now();
    }

    function showResult(data) {
      const ticket = data.ticket;
      const box = document.getElementById("result");
      box.hidden = false;
      box.classList.toggle("is-existing", !data.created);
      document.getElementById("result-label").textContent = (data.created ? t.newTicket : t.existing) + " · " + ticket.patient_name;
      document.getElementById("result-ticket").textContent = ticket.queue_id;
      document.getElementById("result-where").textContent = data.created
        ? ticket.service + " · " + (ticket.counter || t.waitCounter)
        : data.message;
      const slip = slipUrl(data.row);
      document.getElementById("result-slip").href = slip;
      document.getElementById("result-print").onclick = function () { printSlip(slip); };
      state.lastLink = data.link;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) return;  // Enter pressed twice must not make two tickets
      clearErrors();
      const service = form.querySelector('input[name="service_id"]:checked');
      if (!service) { errors.service.textContent = t.chooseService; return; }
      busy = true;
      submit.disabled = true;
      const label = submit.innerHTML;
      submit.textContent = t.working;
      const notifyBox = document.getElementById("walk-in-notify");
      const priority = document.getElementById("walk-in-priority");
      const fields = {
        name: nameInput.value, phone: phoneInput.value, service_id: service.value, priority: priority ? priority.value : "",
      };
      if (notifyBox) fields.notify = notifyBox.checked;
      QueueLive.post(config.urls.tickets, fields).then(function (result) {
        busy = false;
        submit.disabled = false;
        submit.innerHTML = label;
        if (result.ok && result.data.ticket) {
          showResult(result.data);
          say(result.data.message);
          if (result.data.created && printBox.checked) printSlip(slipUrl(result.data.row));
          nameInput.value = "";
          phoneInput.value = "";
          if (notifyBox) notifyBox.checked = false;
          nameInput.focus();
          state.flash = result.data.ticket.id;
          if (state.query) { search.value = ""; state.query = ""; }
          load();
          return;
        }
        if (sessionEnded(result)) return;
        const [field, input] = fieldError(result);
        const message = (result.data && result.data.error) || t.network;
        if (field) {
          errors[field].textContent = message;
          if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
        } else {
          say(message, true);
        }
      });
    });

    document.getElementById("result-copy").addEventListener("click", function () {
      copyText(state.lastLink).then(function () { say(t.copied); });
    });

    // --- row actions ---

    function act(ticket, path, fields) {
      say(t.working);
      return QueueLive.post(config.urls.tickets + ticket.id + "/" + path + "/", fields || {}).then(function (result) {
        if (result.ok) {
          say(result.data.message);
          state.flash = ticket.id;
          load();
        } else if (!sessionEnded(result)) {
          say((result.data && result.data.error) || t.network, true);
          load();  // the row was out of date: show what it is now
        }
        return result;
      });
    }

    const moveDialog = document.getElementById("move-dialog");
    const cancelDialog = document.getElementById("cancel-dialog");

    function askMove(ticket) {
      document.getElementById("move-title").textContent = format(t.moveTitle, { ticket: ticket.queue_id, name: ticket.patient_name });
      const targets = document.getElementById("move-targets");
      targets.replaceChildren();
      const choices = targetsFor(ticket);
      if (!choices.length) {
        const p = document.createElement("p");
        p.textContent = t.noTargets;
        targets.appendChild(p);
      }
      choices.forEach(function (service) {
        const button = document.createElement("button");
        button.type = "submit";
        button.className = "btn btn-lg btn-block";
        button.value = String(service.id);
        button.textContent = format(t.moveTo, { service: service.name });
        targets.appendChild(button);
      });
      moveDialog.returnValue = "";
      moveDialog.onclose = function () {
        if (moveDialog.returnValue) act(ticket, "move", { service_id: moveDialog.returnValue });
      };
      moveDialog.showModal();
      const first = targets.querySelector("button");
      if (first) first.focus();
    }

    const priorityDialog = document.getElementById("priority-dialog");
    function askPriority(ticket) {
      document.getElementById("priority-title").textContent = format(t.priorityTitle, { ticket: ticket.queue_id, name: ticket.patient_name });
      priorityDialog.returnValue = "";
      priorityDialog.onclose = function () {
        const value = priorityDialog.returnValue;
        if (value) act(ticket, "priority", { priority: value === "none" ? "" : value });
      };
      priorityDialog.showModal();
    }

    function askCancel(ticket) {
      document.getElementById("cancel-body").textContent = format(t.cancelConfirm, { ticket: ticket.queue_id, name: ticket.patient_name });
      cancelDialog.returnValue = "";
      cancelDialog.onclose = function () {
        if (cancelDialog.returnValue === "yes") act(ticket, "cancel");
      };
      cancelDialog.showModal();
    }

    rows.addEventListener("click", function (event) {
      const button = event.target.closest("[data-action]");
      if (!button || button.tagName === "A") return;
      const id = Number(button.closest("tr").dataset.id);
      const ticket = state.tickets.filter(function (x) { return x.id === id; })[0];
      if (!ticket) return;
      const action = button.dataset.action;
      if (action === "recall") act(ticket, "recall");
      else if (action === "move") askMove(ticket);
      else if (action === "priority") askPriority(ticket);
      else if (action === "cancel") askCancel(ticket);
    });

    // --- keyboard: "/" searches, Esc goes back to the name ---

    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      if (document.querySelector("dialog[open]")) return;  // the dialog handles its own keys
      const target = event.target;
      // "/" types itself in a field being filled in (a name may hold one: "S/O"); from an empty
      // name or phone field, where the desk rests between patients, it goes to the search.
      const emptyEntry = (target === nameInput || target === phoneInput) && !target.value;
      const typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
      if (event.key === "/" && (!typing || emptyEntry)) {
        event.preventDefault();
        search.focus();
        search.select();
      } else if (event.key === "Escape") {
        if (target === search && search.value) { search.value = ""; state.query = ""; load(); return; }
        nameInput.focus();
      }
    });

    // --- live: any change of the queue re-reads the list ---

    function showBanner(text) {
      clearTimeout(bannerTimer);
      if (!text) { banner.hidden = true; return; }
      bannerTimer = setTimeout(function () { banner.textContent = text; banner.hidden = false; }, 1500);
    }

    if (window.QueueLive) {
      QueueLive.connect({
        query: "",
        pollUrl: config.urls.tickets,
        pollEvery: 10000,
        everyChange: true,  // the public display group: a version jump means an event was lost
        onSnapshot: function (msg) {
          if (msg.polled && !state.query && msg.tickets) {
            state.tickets = msg.tickets;
            state.truncated = msg.truncated;
            renderServices(msg.services);
            render();
          } else if (!msg.polled) {
            refreshSoon(0);  // (re)connected: catch up on anything missed
          }
        },
        onMessage: function () { refreshSoon(); },
        onStatus: function (status) {
          if (status === "open") showBanner("");
          else if (status === "down" || status === "polling") showBanner(t.reconnecting);
        },
      });
    }

    render();
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain-HTTP LAN installs have no clipboard API: the old way still works there.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    area.remove();
    return Promise.resolve();
  }

  // --- the slip -------------------------------------------------------------------------------

  function slip() {
    const body = document.body;
    const select = document.getElementById("slip-size");
    const pageSize = document.getElementById("page-size");
    const sheet = document.getElementById("slip");
    const ROLL_WIDTH = { "58": 58, "80": 80 };

    function apply(size) {
      SIZES.forEach(function (s) { body.classList.remove("slip-" + s); });
      body.classList.add("slip-" + size);
      body.dataset.size = size;
      select.value = size;
      if (size === "a6") {
        pageSize.textContent = "@page { size: 105mm 148mm; margin: 0; }";
      } else {
        // A roll has no page length: make the page exactly as long as the slip (px → mm), so
        // the printer feeds and cuts right after it.
        const length = Math.ceil(sheet.getBoundingClientRect().height * 25.4 / 96) + 2;
        pageSize.textContent = "@page { size: " + ROLL_WIDTH[size] + "mm " + length + "mm; margin: 0; }";
      }
    }

    let size = body.dataset.size;
    if (body.dataset.sizeChosen !== "1") size = storedSize() || size;
    apply(size);

    select.addEventListener("change", function () {
      apply(select.value);
      storeSize(select.value);
      const url = new URL(window.location.href);
      url.searchParams.set("size", select.value);
      url.searchParams.delete("print");
      window.history.replaceState(null, "", url);
    });
    document.getElementById("slip-print").addEventListener("click", function () { window.print(); });
    if (body.dataset.autoprint === "1") {
      if (document.readyState === "complete") window.print();
      else window.addEventListener("load", function () { window.print(); });
    }
  }

  const deskConfig = document.getElementById("reception-config");
  if (deskConfig) desk(JSON.parse(deskConfig.textContent));
  else if (document.body.classList.contains("slip-page")) slip();
})();
