/* Live updates for every page: one WebSocket to /ws/queue/updates/ that reconnects with
   backoff, re-reads the snapshot on every (re)connect, and falls back to polling a JSON URL
   when WebSockets are blocked. No framework; used by patient, staff and display pages.

   const live = QueueLive.connect({
     query: "ticket=12",                  // "" for the display, "counter=3", "ticket=12"
     onSnapshot(data) {...},              // {"type": "snapshot", ...} on every (re)connect
     onMessage(msg) {...},                // every other message
     onStatus(state) {...},               // "connecting" | "open" | "down" | "polling" | "forbidden"
     onForbidden() {...},                 // the rights are gone (socket closed 4403, poll 401/403):
                                          // nothing more is tried; say so (e.g. "sign in again")
     pollUrl: "/display/screen/data/",    // optional: polled when the socket keeps failing
     pollEvery: 5000,
     everyChange: true,                   // this socket hears every change of its services
     countsVersion(msg) {...},            // optional: does this message bring the page up to its version?
   });

   Missed messages (a channel-layer outage drops them) are noticed through state versions: each
   service's version goes up by one with every change, and every snapshot (`versions`) and
   event (`service_id`, `version`) carries it. The page remembers the newest version it has
   applied per service and asks for a snapshot when
   - an event's version jumps by more than one (`everyChange`: the display hears every change);
   - the pong to its ping (every PING_EVERY ms) names a newer version than its own, and no
     event brings it within GRACE ms (the event of a change may still be on its way);
   - nothing at all, not even a pong, arrived for QUIET ms: the socket is dead, reconnect.
   A handshake closed with 4013 (try again later: the server's channel layer is down) is retried soon.
*/
(function () {
  "use strict";

  const PING_EVERY = 5000;
  const GRACE = 1500;
  const QUIET = 3 * PING_EVERY;
  const TRY_AGAIN_LATER = 4013;  // the server could not serve the handshake now (queue_system/server.py)
  const TRY_AGAIN_MAX = 3000;    // ...so the retry comes soon, whatever the backoff so far

  function connect(options) {
    const opts = Object.assign({ query: "", pollEvery: 5000, maxBackoff: 15000, everyChange: false }, options);
    let socket = null;
    let attempts = 0;
    let failuresWithoutOpen = 0;
    let pollTimer = null;
    let retryTimer = null;
    let pingTimer = null;
    let graceTimer = null;
    let lastFrameAt = 0;
    let lastResyncAt = 0;
    let stopped = false;
    const seen = {};  // service id -> the newest state version this page has applied

    function saw(serviceId, version) {
      if (serviceId == null || typeof version !== "number") return;
      const key = String(serviceId);
      if (!(key in seen) || version > seen[key]) seen[key] = version;
    }

    function sawAll(versions) {
      if (!versions || typeof versions !== "object") return;
      Object.keys(versions).forEach(function (key) { saw(key, versions[key]); });
    }

    function behind(versions) {
      return Object.keys(versions || {}).some(function (key) {
        return typeof versions[key] === "number" && (!(key in seen) || versions[key] > seen[key]);
      });
    }

    function resync() {
      // At most one request a second: a burst of gaps needs one snapshot.
      if (Date.now() - lastResyncAt < 1000) return;
      lastResyncAt = Date.now();
      send({ type: "snapshot" });
    }

    /* A message with a version: a jump past the next one means events were lost on the way. */
    function checkVersion(msg) {
      if (msg.service_id == null || typeof msg.version !== "number") return;
      const key = String(msg.service_id);
      const gap = opts.everyChange && key in seen && msg.version > seen[key] + 1;
      if (!opts.countsVersion || opts.countsVersion(msg)) saw(key, msg.version);
      if (gap) resync();
    }

    function onPong(msg) {
      if (!behind(msg.versions)) return;
      const wanted = msg.versions;
      clearTimeout(graceTimer);
      graceTimer = setTimeout(function () { if (behind(wanted)) resync(); }, GRACE);
    }

    function ping() {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      if (lastFrameAt && Date.now() - lastFrameAt > QUIET) {
        // Not even a pong for a while: a half-open connection (a Wi-Fi roam, a proxy). Start again.
        socket.close();
        return;
      }
      send({ type: "ping" });
    }

    function status(state) { if (opts.onStatus) opts.onStatus(state); }

    function url() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      return scheme + "//" + location.host + "/ws/queue/updates/" + (opts.query ? "?" + opts.query : "");
    }

    function open() {
      if (stopped) return;
      status("connecting");
      try {
        socket = new WebSocket(url());
      } catch (e) {
        scheduleRetry();
        return;
      }
      // Open means served: the first snapshot. A handshake the server accepts only to close
      // with 4013 (try again later) counts as a failure, for the polling fallback too.
      let served = false;
      const current = socket;
      socket.onopen = function () {
        lastFrameAt = Date.now();
        clearInterval(pingTimer);
        // Pings keep NAT and proxies from dropping an idle socket, and their pongs carry the
        // versions that tell a page it missed something.
        pingTimer = setInterval(ping, opts.pingEvery || PING_EVERY);
      };
      socket.onmessage = function (event) {
        if (socket !== current) return;
        lastFrameAt = Date.now();
        let msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        if (msg.type === "snapshot") {
          if (!served) {
            served = true;
            attempts = 0;
            failuresWithoutOpen = 0;
            stopPolling();
            status("open");
          }
          sawAll(msg.versions);
          if (opts.onSnapshot) opts.onSnapshot(msg);
        } else if (msg.type === "pong") {
          onPong(msg);
        } else {
          checkVersion(msg);
          if (opts.onMessage) opts.onMessage(msg);
        }
      };
      socket.onclose = function (event) {
        clearInterval(pingTimer);
        clearTimeout(graceTimer);
        if (socket === current) socket = null;
        if (stopped) return;
        if (event.code === 4403) { forbidden(); return; }
        if (!served) failuresWithoutOpen += 1;
        status("down");
        if (opts.pollUrl && failuresWithoutOpen >= 3) startPolling();
        scheduleRetry(event.code === TRY_AGAIN_LATER ? TRY_AGAIN_MAX : opts.maxBackoff);
      };
    }

    function scheduleRetry(maxBackoff) {
      clearTimeout(retryTimer);
      attempts += 1;
      const base = Math.min(maxBackoff || opts.maxBackoff, 500 * Math.pow(2, attempts - 1));
      const delay = base / 2 + Math.random() * base / 2;  // jitter: a ward of phones must not reconnect in lockstep
      retryTimer = setTimeout(open, delay);
    }

    /* No retry can help: a session that ended (or rights withdrawn) does not come back by itself. */
    function forbidden() {
      if (stopped) return;
      stopped = true;
      stopPolling();
      clearTimeout(retryTimer);
      if (socket) socket.close();
      status("forbidden");
      if (opts.onForbidden) opts.onForbidden();
    }

    function poll() {
      fetch(opts.pollUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) {
          if (r.status === 401 || r.status === 403) { forbidden(); return Promise.reject(r.status); }
          return r.ok ? r.json() : Promise.reject(r.status);
        })
        .then(function (data) {
          sawAll(data.versions);
          if (opts.onSnapshot) opts.onSnapshot(Object.assign({ type: "snapshot", polled: true }, data));
        })
        .catch(function () {});
    }

    function startPolling() {
      if (pollTimer) return;
      status("polling");
      poll();
      pollTimer = setInterval(poll, opts.pollEvery);
    }

    function stopPolling() { clearInterval(pollTimer); pollTimer = null; }

    function send(message) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    }

    // A phone waking from sleep: reconnect at once instead of waiting for the backoff.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && !socket && !stopped) { clearTimeout(retryTimer); attempts = 0; open(); }
    });
    window.addEventListener("online", function () { if (!socket && !stopped) { clearTimeout(retryTimer); attempts = 0; open(); } });

    open();
    return {
      send: send,
      resync: resync,
      // A page that checks a message itself (the patient's position list) says it is up to date.
      saw: saw,
      get versions() { return Object.assign({}, seen); },
      close: function () { stopped = true; stopPolling(); clearTimeout(retryTimer); if (socket) socket.close(); },
      // For tests and the "drop connection" journey: close the socket as a network drop would.
      drop: function () { if (socket) socket.close(); },
      get socket() { return socket; },
    };
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* POST form-encoded data to a JSON endpoint with the CSRF token; resolves {ok, status, data,
     retryAfter} (retryAfter: the seconds of a 429's or 503's Retry-After header, else 0). */
  function post(url, fields) {
    const body = new URLSearchParams();
    Object.keys(fields || {}).forEach(function (k) { if (fields[k] !== undefined && fields[k] !== null) body.append(k, fields[k]); });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: body,
    }).then(function (r) {
      const retryAfter = parseInt(r.headers.get("Retry-After"), 10) || 0;
      return r.json().catch(function () { return {}; }).then(function (data) {
        return { ok: r.ok, status: r.status, data: data, retryAfter: retryAfter };
      });
    }, function () {
      return { ok: false, status: 0, retryAfter: 0, data: { error: "No connection. Please check your network and try again.", code: "network" } };
    });
  }

  window.QueueLive = { connect: connect, post: post, csrfToken: csrfToken };
})();
