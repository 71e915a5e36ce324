/* Wall display: keeps the board, the "now calling" panel and the recently-called strip current
   from the snapshot and the queue_update events of /ws/queue/updates/ (static/js/live.js), and
   announces every call: a chime, then the text spoken DISPLAY_ANNOUNCE_REPEAT times.

   - Data reaches the page only through textContent (names are whatever patients typed).
   - Events only change the model; the DOM is updated once per animation frame, so a flood of
     events costs one render per frame.
   - Announcements run one at a time from a queue. Each repetition calls speechSynthesis.speak
     once and has a time limit, and a chime stands in for speech that fails, so a browser with no
     voices (or one that never fires `end`) cannot stall the queue.
   - Each call is spoken in every announcement language (config.voices, from ANNOUNCE_LANGUAGES),
     one after the other, each utterance with its `lang`; a name is read only by a voice whose
     language suits the name's script (an English voice garbles an Arabic name).
   - /display/?service=<id> keeps one service's counters and calls (config.service_id).
   - The board's type is sized from the screen and the number of rows (layoutBoard): past a few
     counters the rows become a grid of cards, so tickets and names stay readable from afar.
   - window.QueueDisplay exposes the queue for browser tests and for debugging on site.
*/
(function () {
  "use strict";

  const MAX_RECENT = 8;          // calls kept in the strip's model (the server sends 8 too)
  const STRIP_SLOTS = 5;         // calls shown in the strip besides the one in the big panel
  const MAX_PENDING = 30;        // announcements waiting; past this the oldest waiting one goes
  const CATCH_UP_SECONDS = 120;  // after a reconnect, calls this recent that we missed are announced
  const MAX_REPEAT = 10;
  // Re-read the whole picture now and then: it heals an event lost on the way and clears
  // yesterday's calls after midnight (expiring tickets sends nothing to the display).
  const RESYNC_EVERY = 5 * 60 * 1000;

  function readJson(id) {
    const el = document.getElementById(id);
    try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
  }

  const config = Object.assign(
    { lang: "en-US", template: "Ticket {ticket}, {name}, please go to {counter}", repeat: 3, name_mode: "masked",
      time_zone: undefined, locale: undefined, digits: "zero one two three four five six seven eight nine".split(" "),
      statuses: {}, voices: null, hide_closed: false, service_id: null, strings: {} },
    readJson("display-config") || {}
  );
  const serviceFilter = config.service_id == null ? null : Number(config.service_id);
  const params = new URLSearchParams(location.search);
  // On-site overrides for one screen without touching the server: /display/?lang=en-GB&voice=Daniel
  const voiceLang = params.get("lang") || config.lang;
  const voiceName = params.get("voice") || "";
  const repeat = Math.max(1, Math.min(MAX_REPEAT, parseInt(config.repeat, 10) || 3));
  // The languages a call is spoken in, in order. ?lang= on the address replaces them with one.
  const speechVoices = (params.get("lang") || !Array.isArray(config.voices) || !config.voices.length)
    ? [{ code: voiceLang.split("-")[0], lang: voiceLang, template: config.template, digits: config.digits, script: "", label: voiceLang }]
    : config.voices;

  // Tunable from a test (QueueDisplay.timing) so a timeout can be exercised in milliseconds.
  const timing = {
    chime: 1100,          // ms the chime lasts
    pause: 650,           // ms between repetitions
    limitBase: 4000,      // ms allowed per spoken repetition: base ...
    limitPerChar: 110,    // ... plus this per character ...
    limitMax: 20000,      // ... up to this
  };

  /* ---------------------------------------------------------------- text helpers */

  const TICKET_RE = /^([A-Za-z0-9]+)_(\d+)_(\d+)$/;

  /* "OPD_001_1234" -> {code: "OPD 001", ...}. The screen shows the service and number, as
     called; the random suffix (there so the next ticket cannot be guessed) is neither shown big
     nor spoken. */
  function ticketParts(queueId) {
    const m = TICKET_RE.exec(String(queueId || ""));
    return m ? { service: m[1], number: m[2], code: m[1] + " " + m[2], suffix: m[3] } : { code: String(queueId || ""), suffix: "" };
  }

  /* "OPD_001_1234" -> "OPD zero zero one": service letters, then the digits one by one. */
  function spokenTicket(queueId, voice) {
    const digits = (voice && voice.digits) || config.digits;
    const parts = ticketParts(queueId);
    if (!parts.number) return speakable(parts.code.replace(/_/g, " "));
    const words = parts.number.split("").map(function (d) { return digits[+d] || d; });
    return parts.service + " " + words.join(" ");
  }

  /* What a speech engine gets from stored text: no markup characters (some engines read SSML),
     no template braces, no control characters, a sane length. */
  function speakable(text) {
    return String(text || "")
      .replace(/[<>&{}[\]\\\u0000-\u001f\u007f]/g, " ")
      .replace(/\s+/g, " ")
      .trim()
      .slice(0, 60);
  }

  /* Whether every letter of a name is of this script ("Latin", "Devanagari", "Arabic"); marks,
     digits, spaces and dots do not count. A voice reads only the names written for it. */
  const SCRIPT_RE = {};
  function nameSuits(name, script) {
    if (!script) return true;
    let re = SCRIPT_RE[script];
    if (re === undefined) {
      try { re = new RegExp("^[\\p{Script=" + script + "}\\p{M}\\p{N}\\p{P}\\p{Zs}]*$", "u"); } catch (e) { re = null; }
      SCRIPT_RE[script] = re;
    }
    return re ? re.test(name) : true;
  }

  function announcementText(call, voice) {
    voice = voice || speechVoices[0];
    let name = config.name_mode === "none" ? "" : speakable(call.patient_name);
    if (name && !nameSuits(name, voice.script)) name = "";
    const values = { ticket: spokenTicket(call.queue_id, voice), name: name, counter: speakable(call.counter_name) };
    let template = String(voice.template || config.template || "");
    // No name to read: drop it and the comma that follows it (an Arabic comma too, U+060C).
    if (!name) template = template.replace(/\{name\}\s*[,;:\u060c]?\s*/g, "");
    const text = template.replace(/\{(ticket|name|counter)\}/g, function (_m, key) { return values[key]; });
    return text
      .replace(/\s+/g, " ")
      .replace(/\s+([,.;:!?\u060c])/g, "$1")
      .replace(/([,;:\u060c])(?=[,.;:!?\u060c]|$)/g, "")
      .replace(/^[\s,;:\u060c]+|[\s,;:\u060c]+$/g, "");
  }

  /* ---------------------------------------------------------------- sound */

  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  let audio = null;
  let soundOn = false;

  function delay(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function initSound() {
    try { audio = AudioCtx ? new AudioCtx() : null; } catch (e) { audio = null; }
    if (audio) {
      audio.onstatechange = function () { setSound(audio.state === "running"); };
      setSound(audio.state === "running");  // "running" at once in a kiosk started with the autoplay flag
    } else {
      setSound(Boolean(navigator.userActivation && navigator.userActivation.hasBeenActive));
    }
  }

  function enableSound() {
    if (audio && audio.state !== "running") {
      return audio.resume().then(function () { setSound(audio.state === "running"); }, function () {});
    }
    setSound(true);
    return Promise.resolve();
  }

  function setSound(on) {
    if (soundOn === on) { renderSound(); return; }
    soundOn = on;
    renderSound();
  }

  /* A two-note chime from an oscillator: no audio file to fetch or cache. */
  function chime() {
    if (audio && audio.state === "running") {
      try {
        const start = audio.currentTime + 0.02;
        [[880, 0], [659.25, 0.32]].forEach(function (note) {
          const osc = audio.createOscillator();
          const gain = audio.createGain();
          const at = start + note[1];
          osc.type = "sine";
          osc.frequency.setValueAtTime(note[0], at);
          gain.gain.setValueAtTime(0.0001, at);
          gain.gain.exponentialRampToValueAtTime(0.35, at + 0.03);
          gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.75);
          osc.connect(gain).connect(audio.destination);
          osc.start(at);
          osc.stop(at + 0.8);
        });
      } catch (e) { /* a chime that cannot play is no reason to stop the queue */ }
    }
    return delay(timing.chime);
  }

  let voices = [];
  function loadVoices() {
    try { voices = window.speechSynthesis ? window.speechSynthesis.getVoices() || [] : []; } catch (e) { voices = []; }
  }
  function voicesChanged() { loadVoices(); if (typeof renderVoices === "function") renderVoices(); }
  if (window.speechSynthesis) {
    loadVoices();
    if (window.speechSynthesis.addEventListener) window.speechSynthesis.addEventListener("voiceschanged", voicesChanged);
  }

  function pickVoice(lang) {
    if (!voices.length) return null;
    const norm = function (s) { return String(s || "").replace("_", "-").toLowerCase(); };
    const want = norm(lang || voiceLang);
    const byName = voiceName && voices.find(function (v) { return v.name === voiceName && norm(v.lang).split("-")[0] === want.split("-")[0]; });
    if (byName) return byName;
    const exact = voices.filter(function (v) { return norm(v.lang) === want; });
    if (exact.length) return exact.find(function (v) { return v.localService; }) || exact[0];
    const primary = want.split("-")[0];
    return voices.find(function (v) { return norm(v.lang).split("-")[0] === primary; }) || null;
  }

  /* One spoken repetition: resolves true when the engine says it finished, false when it failed,
     is missing, or overran its time limit (then it is cancelled so the next one can start). */
  /* The announcement languages this browser has no voice for (said on the sound step). An
     engine that lists no voices at all says nothing either way: there is nothing to report. */
  function missingVoices() {
    if (!voices.length) return [];
    return speechVoices.filter(function (v) { return !pickVoice(v.lang); });
  }

  function speakOnce(text, lang) {
    const synth = window.speechSynthesis;
    if (!synth || !window.SpeechSynthesisUtterance) return Promise.resolve(false);
    return new Promise(function (resolve) {
      let finished = false;
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = lang || voiceLang;
      const voice = pickVoice(utterance.lang);
      if (voice) utterance.voice = voice;
      utterance.rate = 0.9;
      announcer.utterance = utterance;  // held: Chrome drops events of collected utterances
      const limit = Math.min(timing.limitMax, timing.limitBase + text.length * timing.limitPerChar);
      const timer = setTimeout(function () {
        try { synth.cancel(); } catch (e) { /* nothing to cancel */ }
        finish(false);
      }, limit);
      function finish(ok) {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        resolve(ok);
      }
      utterance.onend = function () { finish(true); };
      utterance.onerror = function () { finish(false); };
      try {
        synth.speak(utterance);
        announcer.spokenCount += 1;
        announcer.utterances.push({ text: utterance.text, lang: utterance.lang, voice: voice ? voice.lang : null });
        if (announcer.utterances.length > 100) announcer.utterances.shift();
      } catch (e) {
        finish(false);
      }
    });
  }

  /* ---------------------------------------------------------------- announcement queue */

  const announcer = {
    pending: [],        // [{key, text, call}] waiting their turn
    current: null,      // the one playing
    spokenCount: 0,     // speechSynthesis.speak() calls made
    announced: [],      // texts started, newest last (capped)
    utterances: [],     // {text, lang, voice} given to the engine, newest last (capped)
    dropped: 0,         // pending announcements dropped because the queue was full
    utterance: null,
    running: false,

    enqueue: function (call) {
      if (!soundOn) return false;
      const key = call.queue_id + "@" + call.counter_id;
      // The same call pressed twice before its turn came is announced once.
      if (this.pending.some(function (item) { return item.key === key; })) return false;
      if (this.pending.length >= MAX_PENDING) { this.pending.shift(); this.dropped += 1; }
      const parts = speechVoices.map(function (voice) { return { lang: voice.lang, text: announcementText(call, voice) }; });
      this.pending.push({ key: key, text: parts[0].text, parts: parts, call: call });
      this.run();
      return true;
    },

    run: function () {
      if (this.running) return;
      this.running = true;
      const self = this;
      (function next() {
        const item = self.pending.shift();
        if (!item) {
          self.running = false;
          self.current = null;
          // The queue is done: the panel goes back to the newest call (usually the last spoken).
          if (model.latest && (!model.shown || model.shown.queue_id !== model.latest.queue_id)) showCall(model.latest, false);
          return;
        }
        self.current = item;
        self.announced.push(item.text);
        if (self.announced.length > 50) self.announced.shift();
        showCall(item.call, true);
        self.play(item).then(next, next);
      })();
    },

    play: function (item) {
      return chime().then(function () {
        let chain = Promise.resolve();
        for (let i = 0; i < repeat; i += 1) {
          chain = chain
            .then(function () { return i ? delay(timing.pause) : null; })
            .then(function () {
              // Each repetition speaks every language in turn; a failed one is replaced by the chime.
              return item.parts.reduce(function (p, part) {
                return p.then(function () { return speakOnce(part.text, part.lang); })
                  .then(function (spoken) { return spoken ? null : chime(); });
              }, Promise.resolve());
            });
        }
        return chain;
      });
    },
  };

  /* ---------------------------------------------------------------- model */

  const model = {
    counters: new Map(),   // id -> counter row data
    order: [],             // ids in display order
    recent: [],            // newest first
    latest: null,          // the newest call
    seen: new Set(),       // queue_ids already called while this page watched
    synced: false,         // a snapshot has been applied
    snapshots: 0,          // how many: the one in the page, then one per (re)connect or poll
    structureChanged: true,
    fresh: new Set(),      // counter ids whose serving ticket just changed
    shown: null,           // the call in the big panel, with `fresh` when it should flash
  };

  function counterFrom(raw) {
    return {
      id: raw.id,
      counter_name: String(raw.counter_name || ""),
      service: String(raw.service || ""),
      service_id: raw.service_id,
      current_status: String(raw.current_status || "closed"),
      is_open: raw.is_open !== false,
      serving_patient: raw.serving_patient || null,
      queue_length: Number(raw.queue_length) || 0,
    };
  }

  function callFrom(raw) {
    return {
      queue_id: String(raw.queue_id || ""),
      patient_name: raw.patient_name == null ? "" : String(raw.patient_name),
      counter_id: raw.counter_id,
      counter_name: String(raw.counter_name || ""),
      called_at: raw.called_at || null,
    };
  }

  function shownService(serviceId) {
    return serviceFilter === null || serviceId == null || Number(serviceId) === serviceFilter;
  }

  function applySnapshot(snapshot) {
    if (!snapshot || !Array.isArray(snapshot.counters)) return;
    // The socket's snapshot has every service: a screen for one waiting area keeps its own.
    const counters = snapshot.counters.filter(function (c) { return shownService(c.service_id); });
    const ids = counters.map(function (c) { return c.id; });
    if (ids.join(",") !== model.order.join(",")) model.structureChanged = true;
    model.order = ids;
    model.counters = new Map(counters.map(function (c) { return [c.id, counterFrom(c)]; }));
    const recent = (Array.isArray(snapshot.recent_calls) ? snapshot.recent_calls : [])
      .filter(function (c) { return shownService(c.service_id) && (serviceFilter === null || model.counters.has(c.counter_id)); })
      .slice(0, MAX_RECENT).map(callFrom);
    if (model.synced) catchUp(recent, snapshot.server_time);
    if (model.seen.size > 5000) model.seen.clear();  // a screen left on for weeks
    recent.forEach(function (call) { model.seen.add(call.queue_id); });
    model.recent = recent;
    model.latest = recent[0] || null;
    if (!announcer.current) showCall(model.latest, false);
    if (snapshot.server_time) setServerTime(snapshot.server_time);
    model.synced = true;
    model.snapshots += 1;
    schedule();
  }

  /* Calls made while the socket was down: announce the ones we never heard about, if recent. */
  function catchUp(recent, serverTime) {
    const now = Date.parse(serverTime) || Date.now();
    recent.slice().reverse().forEach(function (call) {
      if (model.seen.has(call.queue_id)) return;
      const at = Date.parse(call.called_at);
      if (at && now - at <= CATCH_UP_SECONDS * 1000) announcer.enqueue(call);
    });
  }

  let lastResync = 0;
  function handle(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "snapshot") { applySnapshot(msg); return; }
    if (msg.type !== "queue_update") return;
    if (!shownService(msg.service_id)) return;  // another waiting area's screen shows it
    const id = msg.counter_id;
    const row = id == null ? null : model.counters.get(id);
    if (id != null && !row && Date.now() - lastResync > 2000 && live) {
      lastResync = Date.now();  // a counter added since the snapshot: fetch the whole picture
      live.resync();
    }
    if (row) {
      if (msg.current_status) row.current_status = String(msg.current_status);
      if (typeof msg.is_open === "boolean") row.is_open = msg.is_open;
      const before = row.serving_patient ? row.serving_patient.queue_id : null;
      row.serving_patient = msg.serving_patient || null;
      if (row.serving_patient && row.serving_patient.queue_id !== before) model.fresh.add(id);
      if (msg.queue_length != null) row.queue_length = Number(msg.queue_length) || 0;
    }
    if (msg.queue_lengths && typeof msg.queue_lengths === "object") {
      Object.keys(msg.queue_lengths).forEach(function (key) {
        const other = model.counters.get(Number(key));
        if (other) other.queue_length = Number(msg.queue_lengths[key]) || 0;
      });
    }
    if (msg.event === "patient_called" && msg.serving_patient && id != null) {
      const call = callFrom({
        queue_id: msg.serving_patient.queue_id,
        patient_name: msg.serving_patient.patient_name,
        counter_id: id,
        counter_name: msg.counter_name || (row && row.counter_name),
      });
      model.seen.add(call.queue_id);
      model.recent = [call].concat(model.recent.filter(function (c) { return c.queue_id !== call.queue_id; })).slice(0, MAX_RECENT);
      model.latest = call;
      if (!announcer.enqueue(call) && !announcer.current) showCall(call, true);
    }
    schedule();
  }

  /* The big panel shows the call being announced, else the newest one. */
  function showCall(call, fresh) {
    model.shown = call ? Object.assign({}, call, { fresh: Boolean(fresh) }) : null;
    schedule();
  }

  /* ---------------------------------------------------------------- rendering */

  const els = {
    board: document.getElementById("board"),
    rows: document.getElementById("board-rows"),
    empty: document.getElementById("board-empty"),
    rowTemplate: document.getElementById("row-template"),
    call: document.getElementById("now-calling"),
    callTicket: document.getElementById("call-ticket"),
    callName: document.getElementById("call-name"),
    callCounter: document.getElementById("call-counter"),
    recent: document.getElementById("recent-list"),
    recentEmpty: document.getElementById("recent-empty"),
    recentTemplate: document.getElementById("recent-template"),
    banner: document.getElementById("conn-banner"),
    sound: document.getElementById("sound-state"),
    gate: document.getElementById("sound-gate"),
    time: document.getElementById("clock-time"),
    boardBox: document.querySelector(".d-board"),
    voiceStatus: document.getElementById("voice-status"),
    voiceMissing: document.getElementById("voice-missing"),
    date: document.getElementById("clock-date"),
  };
  const rowEls = new Map();  // counter id -> {tr, cells...}

  function setText(el, text) {
    text = text == null ? "" : String(text);
    if (el.textContent !== text) el.textContent = text;
  }

  function restartAnimation(el, cls) {
    el.classList.remove(cls);
    void el.offsetWidth;  // reflow, so the same animation can run again
    el.classList.add(cls);
  }

  let frame = 0;
  function schedule() { if (!frame) frame = requestAnimationFrame(render); }

  function render() {
    frame = 0;
    if (model.structureChanged) buildRows();
    model.order.forEach(function (id) { renderRow(model.counters.get(id), rowEls.get(id)); });
    const visible = model.order.filter(function (id) { return !rowEls.get(id).tr.hidden; }).length;
    if (visible !== boardLayout.rows) layoutBoard();
    model.fresh.clear();
    const anyOpen = model.order.some(function (id) { return model.counters.get(id).is_open; });
    els.board.hidden = !anyOpen;
    els.empty.hidden = anyOpen;
    // With every counter closed, nobody is being called: the panel rests (unless it is speaking).
    const shown = anyOpen || announcer.current ? model.shown : null;
    renderCall(shown);
    renderRecent(shown);
  }

  function buildRows() {
    model.structureChanged = false;
    rowEls.clear();
    const fragment = document.createDocumentFragment();
    model.order.forEach(function (id) {
      const tr = els.rowTemplate.content.firstElementChild.cloneNode(true);
      tr.dataset.counterId = id;
      rowEls.set(id, {
        tr: tr,
        counter: tr.querySelector(".d-counter"),
        service: tr.querySelector(".d-service"),
        badge: tr.querySelector(".d-badge"),
        serving: tr.querySelector(".d-serving"),
        ticket: tr.querySelector(".d-ticket"),
        name: tr.querySelector(".d-name"),
        waiting: tr.querySelector(".d-waiting"),
      });
      fragment.appendChild(tr);
    });
    els.rows.replaceChildren(fragment);
    els.board.style.setProperty("--rows", String(Math.max(4, model.order.length)));
  }

  /* Type sizes from the screen and the number of rows. A few counters in landscape make a table
     (its rows share the height, CSS alone); otherwise the board is a grid of cards whose columns
     are chosen so the card unit (names; tickets are 1.6 of it) is as large as the cards allow.
     The card's shape comes from display.css (--card-lines, --card-pad, --card-cap, --table-rows),
     so portrait and landscape each keep their own. In portrait, when the board would leave names
     under NAME_FLOOR of the screen height, the "now calling" panel becomes a short banner. */
  const NAME_FLOOR = 0.025;
  const boardLayout = { mode: "table", columns: 1, rows: -1, unit: 0, compactCall: false };
  let measureCtx = null;
  function textEm(text, weight) {
    try {
      measureCtx = measureCtx || document.createElement("canvas").getContext("2d");
      measureCtx.font = weight + " 100px " + getComputedStyle(document.body).fontFamily;
      return measureCtx.measureText(text).width / 100;
    } catch (e) { return String(text).length * 0.62; }
  }

  function cssNumber(style, name, fallback) {
    const value = parseFloat(style.getPropertyValue(name));
    return isFinite(value) ? value : fallback;
  }

  /* The best grid of cards for n cards in the board's box as it is now. */
  function bestCards(n, widest, box) {
    const style = getComputedStyle(box);
    const rootPx = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    const lines = cssNumber(style, "--card-lines", 4.9);
    const pad = cssNumber(style, "--card-pad", 1.2);
    const cap = cssNumber(style, "--card-cap", 2.2) * rootPx;
    const gap = cssNumber(style, "--card-gap", 0.6) * rootPx;
    const W = box.clientWidth, H = box.clientHeight;
    let best = { columns: 1, unit: 0, rowsPerColumn: n };
    for (let columns = 1; columns <= 6; columns += 1) {
      const rows = Math.ceil(n / columns);
      const cardW = (W - gap * (columns - 1)) / columns;
      const cardH = (H - gap * (rows - 1)) / rows;
      const unit = Math.min(cardH / lines, cardW / (widest + pad), cap);
      if (unit > best.unit + 0.5) best = { columns: columns, unit: unit, rowsPerColumn: rows };
    }
    return best;
  }

  function layoutBoard() {
    const ids = model.order.filter(function (id) { const el = rowEls.get(id); return el && !el.tr.hidden; });
    const n = ids.length;
    boardLayout.rows = n;
    els.board.style.setProperty("--rows", String(Math.max(4, n)));
    const box = els.boardBox;
    if (!box) return;
    const tableRows = cssNumber(getComputedStyle(box), "--table-rows", 4);
    if (n <= tableRows) {
      box.classList.remove("is-cards");
      els.call.classList.remove("is-compact");
      Object.assign(boardLayout, { mode: "table", columns: 1, unit: 0, compactCall: false });
      return;
    }
    box.classList.add("is-cards");  // first: the card grid narrows the call panel, widening the board
    // The widest line a card must hold, in units: its ticket (1.6) or its counter and count.
    const shape = getComputedStyle(box);
    const counterScale = cssNumber(shape, "--card-counter", 1);
    const spacing = cssNumber(shape, "--ticket-ls", 0);
    const ticketEm = function (code) { return 1.6 * (textEm(code, 800) + spacing * code.length); };
    let widest = ticketEm("OPD 000");
    ids.forEach(function (id) {
      const c = model.counters.get(id);
      const code = c.serving_patient ? ticketParts(c.serving_patient.queue_id).code : "";
      // The name, the gap, the waiting icon (.95) and the count.
      const counterLine = textEm(c.counter_name, 800) + 0.6 + 0.95 + textEm(String(c.queue_length), 800);
      widest = Math.max(widest, ticketEm(code), counterScale * counterLine);
    });
    els.call.classList.remove("is-compact");
    let best = bestCards(n, widest, box);
    const portrait = window.matchMedia("(orientation: portrait)").matches;  // as display.css decides
    if (portrait && best.unit < NAME_FLOOR * window.innerHeight) {
      els.call.classList.add("is-compact");
      best = bestCards(n, widest, box);
    }
    box.style.setProperty("--cols", String(best.columns));
    box.style.setProperty("--card-rows", String(best.rowsPerColumn));
    // Rounded down: a tenth of a pixel too much would cut the widest ticket off.
    box.style.setProperty("--u", (Math.floor(best.unit * 10) / 10) + "px");
    Object.assign(boardLayout, { mode: "cards", columns: best.columns, unit: best.unit, compactCall: els.call.classList.contains("is-compact") });
  }
  // The board's box changes with the window and, in portrait, with the call panel above it.
  let boardSize = "";
  function boardResized() {
    const box = els.boardBox;
    const size = box ? box.clientWidth + "x" + box.clientHeight : "";
    if (size === boardSize) return;
    boardSize = size;
    boardLayout.rows = -1;
    schedule();
  }
  if (window.ResizeObserver && els.boardBox) new ResizeObserver(boardResized).observe(els.boardBox);
  else window.addEventListener("resize", boardResized);

  function statusOf(c) {
    const status = Object.prototype.hasOwnProperty.call(config.statuses, c.current_status) ? c.current_status : "closed";
    // Available or busy but outside its hours or unstaffed: not open, so say closed.
    return !c.is_open && (status === "available" || status === "busy") ? "closed" : status;
  }

  function renderRow(c, el) {
    if (!c || !el) return;
    setText(el.counter, c.counter_name);
    setText(el.service, c.service);
    const status = statusOf(c);
    if (el.badge.dataset.status !== status) el.badge.dataset.status = status;
    setText(el.badge, config.statuses[status] || status);
    const serving = c.serving_patient;
    el.serving.classList.toggle("is-serving", Boolean(serving));
    setText(el.ticket, serving ? ticketParts(serving.queue_id).code : "");
    if (serving) el.ticket.dataset.queueId = serving.queue_id;
    setText(el.name, serving ? serving.patient_name : "");
    setText(el.waiting, c.queue_length);
    const resting = status === "closed" || status === "break";
    el.tr.classList.toggle("is-closed", resting);
    el.tr.classList.toggle("has-serving", Boolean(serving));
    // The administrator's choice (DISPLAY_HIDE_CLOSED): resting counters leave the board.
    const hide = Boolean(config.hide_closed) && resting && !serving;
    if (el.tr.hidden !== hide) el.tr.hidden = hide;
    if (model.fresh.has(c.id)) restartAnimation(el.tr, "is-fresh");
  }

  function renderCall(call) {
    els.call.dataset.state = call ? "call" : "idle";
    if (!call) return;
    const parts = ticketParts(call.queue_id);
    setText(els.callTicket, parts.code);
    els.callTicket.dataset.queueId = call.queue_id;
    els.callTicket.style.setProperty("--len", String(Math.max(7, parts.code.length)));
    setText(els.callName, config.name_mode === "none" ? "" : call.patient_name);
    setText(els.callCounter, call.counter_name);
    els.callCounter.style.setProperty("--len", String(Math.max(9, call.counter_name.length)));
    if (call.fresh) {
      call.fresh = false;
      restartAnimation(els.call, "is-fresh");
    }
  }

  let recentKey = null;
  function renderRecent(shownCall) {
    const shown = shownCall ? shownCall.queue_id : null;
    const items = model.recent.filter(function (c) { return c.queue_id !== shown; }).slice(0, STRIP_SLOTS);
    const key = items.map(function (c) { return c.queue_id + "@" + c.counter_name; }).join("|");
    if (key === recentKey) return;
    recentKey = key;
    const fragment = document.createDocumentFragment();
    items.forEach(function (call) {
      const li = els.recentTemplate.content.firstElementChild.cloneNode(true);
      li.querySelector(".d-recent-ticket").textContent = ticketParts(call.queue_id).code;
      li.querySelector(".d-recent-counter").textContent = call.counter_name;
      fragment.appendChild(li);
    });
    els.recent.replaceChildren(fragment);
    els.recentEmpty.hidden = items.length > 0 || Boolean(shown);
  }

  function renderSound() {
    els.sound.dataset.on = String(soundOn);
    els.gate.hidden = soundOn;
  }

  /* Say which announcement languages have no voice here (their turn is a chime instead). */
  function renderVoices() {
    const missing = missingVoices();
    const strings = config.strings || {};
    const labels = function (list) { return list.map(function (v) { return v.label || v.lang; }).join(", "); };
    // Nothing to say until the engine has listed its voices (Chrome lists them a moment later).
    const text = !voices.length ? "" : missing.length
      ? String(strings.voiceMissing || "").replace("%(languages)s", labels(missing))
      : String(strings.voicesReady || "").replace("%(languages)s", labels(speechVoices));
    if (els.voiceStatus) { setText(els.voiceStatus, text); els.voiceStatus.dataset.missing = String(missing.length > 0); }
    if (els.voiceMissing) { setText(els.voiceMissing, missing.length ? text : ""); els.voiceMissing.hidden = !missing.length; }
  }

  /* ---------------------------------------------------------------- connection banner */

  let bannerTimer = 0;
  function connectionStatus(state) {
    clearTimeout(bannerTimer);
    if (state === "open") { els.banner.hidden = true; return; }
    if (state === "polling") { els.banner.dataset.state = "polling"; els.banner.hidden = false; return; }
    if (state === "down") {
      // A blip that reconnects within a second is not worth alarming the waiting room.
      bannerTimer = setTimeout(function () { els.banner.dataset.state = "down"; els.banner.hidden = false; }, 1000);
    }
  }

  /* ---------------------------------------------------------------- clock */

  let serverOffset = 0;  // the TV's clock may be wrong; the server's is not
  function setServerTime(iso) {
    const at = Date.parse(iso);
    if (at) serverOffset = at - Date.now();
  }

  function formatter(options) {
    try { return new Intl.DateTimeFormat(config.locale, Object.assign({ timeZone: config.time_zone }, options)); }
    catch (e) { return new Intl.DateTimeFormat(undefined, options); }
  }
  const timeFormat = formatter({ hour: "numeric", minute: "2-digit" });
  const dateFormat = formatter({ weekday: "long", day: "numeric", month: "long" });
  function tick() {
    const now = new Date(Date.now() + serverOffset);
    setText(els.time, timeFormat.format(now));
    setText(els.date, dateFormat.format(now));
  }

  /* ---------------------------------------------------------------- start */

  function onFirstInteraction() { if (!soundOn) enableSound(); }
  document.addEventListener("pointerdown", onFirstInteraction);
  document.addEventListener("keydown", onFirstInteraction);
  els.sound.addEventListener("click", function () { if (!soundOn) enableSound(); });

  initSound();
  renderVoices();
  applySnapshot(readJson("display-snapshot"));
  tick();
  setInterval(tick, 1000);

  const live = window.QueueLive.connect({
    query: "",
    pollUrl: "/display/screen/data/" + (serviceFilter === null ? "" : "?service=" + serviceFilter),
    everyChange: true,  // the display group hears every change: a version jump is a lost event
    onSnapshot: applySnapshot,
    onMessage: handle,
    onStatus: connectionStatus,
  });

  setInterval(function () { live.resync(); }, RESYNC_EVERY);

  window.QueueDisplay = {
    get versions() { return live.versions; },
    get snapshots() { return model.snapshots; },
    get queue() { return announcer.pending.map(function (item) { return { key: item.key, text: item.text }; }); },
    get current() { return announcer.current ? announcer.current.text : null; },
    get speaking() { return announcer.running; },
    get spokenCount() { return announcer.spokenCount; },
    get announced() { return announcer.announced.slice(); },
    get utterances() { return announcer.utterances.slice(); },
    get missingVoices() { return missingVoices().map(function (v) { return v.lang; }); },
    get layout() { return Object.assign({}, boardLayout); },
    voices: speechVoices,
    layoutBoard: layoutBoard,
    get dropped() { return announcer.dropped; },
    get soundOn() { return soundOn; },
    get snapshots() { return model.snapshots; },
    get shown() { return model.shown ? model.shown.queue_id : null; },
    get recent() { return model.recent.map(function (c) { return c.queue_id; }); },
    repeat: repeat,
    timing: timing,
    textFor: announcementText,
    spokenTicket: spokenTicket,
    enableSound: enableSound,
    handle: handle,
    applySnapshot: applySnapshot,
    live: live,
  };
})();
