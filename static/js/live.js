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
   });
*/
(function () {
  "use strict";

  function connect(options) {
    const opts = Object.assign({ query: "", pollEvery: 5000, maxBackoff: 15000 }, options);
    let socket = null;
    let attempts = 0;
    let failuresWithoutOpen = 0;
    let pollTimer = null;
    let retryTimer = null;
    let pingTimer = null;
    let stopped = false;

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
      let opened = false;
      socket.onopen = function () {
        opened = true;
        attempts = 0;
        failuresWithoutOpen = 0;
        stopPolling();
        status("open");
        clearInterval(pingTimer);
        // Keep NAT and proxies from dropping an idle socket on a phone left open for an hour.
        pingTimer = setInterval(function () { send({ type: "ping" }); }, 25000);
      };
      socket.onmessage = function (event) {
        let msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        if (msg.type === "snapshot") { if (opts.onSnapshot) opts.onSnapshot(msg); }
        else if (msg.type !== "pong" && opts.onMessage) opts.onMessage(msg);
      };
      socket.onclose = function (event) {
        clearInterval(pingTimer);
        socket = null;
        if (stopped) return;
        if (event.code === 4403) { forbidden(); return; }
        if (!opened) failuresWithoutOpen += 1;
        status("down");
        if (opts.pollUrl && failuresWithoutOpen >= 3) startPolling();
        scheduleRetry();
      };
    }

    function scheduleRetry() {
      clearTimeout(retryTimer);
      attempts += 1;
      const base = Math.min(opts.maxBackoff, 500 * Math.pow(2, attempts - 1));
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
        .then(function (data) { if (opts.onSnapshot) opts.onSnapshot(Object.assign({ type: "snapshot", polled: true }, data)); })
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
      resync: function () { send({ type: "snapshot" }); },
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
