/*
 * pushwire.js: the dependency-free browser client of pushwire (ES2018, classic script, no build step).
 *
 * Defines window.PushwireClient. Transports: the browser's WebSocket (GET /rps) and EventSource
 * (GET /rps/sse, with fetch POST /rps/send and /rps/ack for the client->server direction).
 * Wire format: docs/protocol.md (JSON frames, system ops on the system channel).
 *
 *   const client = new PushwireClient({ url: location.origin, transport: "ws", streams: ["chat"] });
 *   client.onframe = (frame, stream) => { ... };         // application frames, exactly once, by cursor
 *   client.onstate = (state, previous) => { ... };       // "disconnected" | "connecting" | "connected" | "resuming"
 *   client.onresume = (streams, op) => { ... };          // auth_ok / subscribed: per-stream outcome map
 *   await client.connect();
 *   await client.send("chat", { text: "hi" });
 *
 * Cursor tracking: each stream's position starts at the cursor the server reported in auth_ok/subscribed;
 * a frame with cursor last+1 is delivered, an older one (not filling a hole) is a duplicate and dropped, a newer
 * one is delivered and leaves a hole, which is asked for again (resume_required) and filled exactly once.
 * Reconnect: exponential backoff with jitter; on reconnect every stream resumes from its cursor and epoch.
 * SSE reconnects are done by this client (not by EventSource's own retry) with the cursors= position vector,
 * so the resume point is always this client's own and the server closing the stream is handled the same way.
 */
(function (global) {
  "use strict";

  var STATE = Object.freeze({
    DISCONNECTED: "disconnected",
    CONNECTING: "connecting",
    CONNECTED: "connected",
    RESUMING: "resuming",
  });

  var DEFAULT_RECONNECT = Object.freeze({
    enabled: true,
    initialDelayMs: 100,
    maxDelayMs: 30000,
    backoffFactor: 2,
    maxRetries: null,
    jitter: true,
  });

  var SYSTEM = "system";

  /* Close codes after which the client does not reconnect (docs/protocol.md, "Close codes"). */
  function closeCodeReconnects(code) {
    if ([1000, 1002, 1003, 1007, 1008, 1009, 1010].indexOf(code) >= 0) return false;
    return !(code >= 4500 && code <= 4999);
  }

  function uuid4() {
    if (global.crypto && typeof global.crypto.randomUUID === "function") return global.crypto.randomUUID();
    var b = new Uint8Array(16);
    if (global.crypto && global.crypto.getRandomValues) global.crypto.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function streamOf(frame) {
    return frame.topic ? frame.channel + ":" + frame.topic : frame.channel;
  }

  /* Reconnect delay before attempt n (0-based): capped exponential, times a uniform factor in [0.5, 1]. */
  function reconnectDelayMs(policy, attempt) {
    var nominal = Math.min(policy.initialDelayMs * Math.pow(policy.backoffFactor, attempt), policy.maxDelayMs);
    if (!isFinite(nominal)) nominal = policy.maxDelayMs;
    return policy.jitter ? nominal * (0.5 + Math.random() * 0.5) : nominal;
  }

  /* ---- cursor tracking (same truth table as pushwire.client.cursors) ---- */

  class CursorTracker {
    constructor() { this.streams = new Map(); this.lost = 0; }

    state(stream) {
      var s = this.streams.get(stream);
      if (!s) { s = { last: 0, epoch: null, holes: [] }; this.streams.set(stream, s); }
      return s;
    }

    /* Returns {result: "sequential"|"gap"|"fill"|"duplicate", from, to}. */
    advance(stream, cursor) {
      var s = this.state(stream);
      if (cursor === s.last + 1) { s.last = cursor; return { result: "sequential" }; }
      if (cursor > s.last + 1) {
        var missing = [s.last + 1, cursor - 1];
        s.holes.push(missing);
        s.last = cursor;
        while (s.holes.length > 1024) { var h = s.holes.shift(); this.lost += h[1] - h[0] + 1; }
        return { result: "gap", from: missing[0], to: missing[1] };
      }
      for (var i = 0; i < s.holes.length; i++) {
        var lo = s.holes[i][0], hi = s.holes[i][1];
        if (cursor >= lo && cursor <= hi) {
          var pieces = [];
          if (lo <= cursor - 1) pieces.push([lo, cursor - 1]);
          if (cursor + 1 <= hi) pieces.push([cursor + 1, hi]);
          s.holes.splice.apply(s.holes, [i, 1].concat(pieces));
          return { result: "fill" };
        }
      }
      return { result: "duplicate" };
    }

    /* Take the server's resume position of a stream (auth_ok / subscribed entry). */
    sync(stream, cursor, epoch, reset) {
      var s = this.streams.get(stream);
      if (!s || reset || (s.epoch && epoch && s.epoch !== epoch)) {
        this.streams.set(stream, { last: cursor, epoch: epoch || null, holes: [] });
        return;
      }
      if (epoch) s.epoch = epoch;
      var kept = [];
      for (var i = 0; i < s.holes.length; i++) {
        var lo = s.holes[i][0], hi = s.holes[i][1];
        if (hi <= cursor) this.lost += hi - lo + 1;
        else if (lo <= cursor) { this.lost += cursor - lo + 1; kept.push([cursor + 1, hi]); }
        else kept.push([lo, hi]);
      }
      s.holes = kept;
      if (cursor > s.last) { this.lost += cursor - s.last; s.last = cursor; }
    }

    giveUp(stream, first, last) {
      var s = this.streams.get(stream);
      if (!s) return;
      var kept = [];
      for (var i = 0; i < s.holes.length; i++) {
        var lo = s.holes[i][0], hi = s.holes[i][1];
        if (hi < first || lo > last) { kept.push([lo, hi]); continue; }
        this.lost += Math.min(hi, last) - Math.max(lo, first) + 1;
        if (lo < first) kept.push([lo, first - 1]);
        if (hi > last) kept.push([last + 1, hi]);
      }
      s.holes = kept;
    }

    resumeCursor(stream) {
      var s = this.streams.get(stream);
      if (!s) return 0;
      return s.holes.length ? s.holes[0][0] - 1 : s.last;
    }

    resumeCursors() {
      var out = {};
      this.streams.forEach(function (s, name) { out[name] = s.holes.length ? s.holes[0][0] - 1 : s.last; });
      return out;
    }

    epochs() {
      var out = {};
      this.streams.forEach(function (s, name) { if (s.epoch) out[name] = s.epoch; });
      return out;
    }

    cursors() {
      var out = {};
      this.streams.forEach(function (s, name) { out[name] = s.last; });
      return out;
    }

    /* The SSE position vector "stream=cursor~epoch,..." of the resume points. */
    positionVector() {
      var parts = [];
      this.streams.forEach(function (s, name) {
        var c = s.holes.length ? s.holes[0][0] - 1 : s.last;
        parts.push(name + "=" + c + (s.epoch ? "~" + s.epoch : ""));
      });
      return parts.join(",");
    }

    /* Learn epochs from an SSE event id (a position vector); cursors are tracked from the frames. */
    noteVector(vector) {
      if (!vector) return;
      var self = this;
      vector.split(",").forEach(function (entry) {
        var eq = entry.lastIndexOf("=");
        if (eq <= 0) return;
        var tilde = entry.indexOf("~", eq);
        if (tilde < 0) return;
        var s = self.state(entry.slice(0, eq));
        if (!s.epoch) s.epoch = entry.slice(tilde + 1);
      });
    }
  }

  /* ---- the client ---- */

  class PushwireClient {
    /**
     * @param {object} options
     *   url: base URL of the server (default: the page's origin)
     *   transport: "ws" | "sse" | "ws-first" | "sse-first" (default "ws-first")
     *   clientId: a UUID (default: a random v4 UUID)
     *   token: auth token or null
     *   streams: streams to subscribe, e.g. ["chat", "chat:room42"]
     *   channels: extra channel names to listen for on SSE (EventSource needs event names in advance;
     *             the channels of `streams` and "system" are always listened to)
     *   reconnect: {enabled, initialDelayMs, maxDelayMs, backoffFactor, maxRetries, jitter}
     *   autoAck: ack every delivered frame (default false)
     *   fillGaps: ask the server again for frames missing in a stream (default true)
     *   openTimeoutMs: how long connect() waits for auth_ok (default 10000)
     *   heartbeatMs: over WebSocket, send a `ping` op after this much silence and take the connection as
     *             dead (reconnect) after twice as much (default 20000; 0 turns it off). Browsers cannot send
     *             WebSocket Ping frames, hence the op.
     */
    constructor(options) {
      var o = options || {};
      this.url = (o.url || (global.location ? global.location.origin : "")).replace(/\/+$/, "");
      this.transport = o.transport || "ws-first";
      this.clientId = o.clientId || uuid4();
      this.token = o.token == null ? null : o.token;
      this.streams = (o.streams || []).slice();
      this.extraChannels = (o.channels || []).slice();
      this.reconnect = Object.assign({}, DEFAULT_RECONNECT, o.reconnect || {});
      this.autoAck = !!o.autoAck;
      this.fillGaps = o.fillGaps !== false;
      this.openTimeoutMs = o.openTimeoutMs || 10000;
      this.heartbeatMs = o.heartbeatMs == null ? 20000 : o.heartbeatMs;

      this.state = STATE.DISCONNECTED;
      this.transportInUse = null;
      this.sessionToken = null;
      this.tracker = new CursorTracker();
      this.stats = { framesReceived: 0, delivered: 0, duplicates: 0, gaps: 0, reconnects: 0 };

      this.onframe = null;   // (frame, stream) => void
      this.onstate = null;   // (state, previous) => void
      this.onresume = null;  // (streamsOutcomeMap, op) => void   on auth_ok and subscribed
      this.onsystem = null;  // (op) => void   every system op
      this.ongap = null;     // (stream, from, to) => void
      this.onresumerequired = null; // (op) => void
      this.onerror = null;   // (error) => void   transport or protocol errors

      this._ws = null;
      this._es = null;
      this._listening = new Set();
      this._gen = 0;          // bumps on every new transport, so stale callbacks are ignored
      this._attempt = 0;
      this._timer = null;
      this._closing = false;
      this._pending = null;   // {resolve, reject, timer} of the current connect
      this._goodbyeReason = null;
      this._heartbeat = null;
      this._lastHeard = 0;
    }

    /* Connect; resolves once auth_ok arrived (rejects on refusal or timeout). */
    connect() {
      if (this.state === STATE.CONNECTED) return Promise.resolve();
      this._closing = false;
      this._attempt = 0;
      return this._open(STATE.CONNECTING, true);
    }

    /* Graceful close: goodbye, then close 1000; no reconnect. */
    disconnect() {
      this._closing = true;
      clearTimeout(this._timer);
      if (this._ws && this._ws.readyState === 1) {
        try { this._ws.send(JSON.stringify(this._systemFrame({ type: "goodbye", reason: null }))); } catch (e) { /* closing anyway */ }
      }
      this._teardown(1000, "bye");
      this._setState(STATE.DISCONNECTED);
      return Promise.resolve();
    }

    /* Cut the transport as a network failure would, so the client reconnects and resumes (demo, tests). */
    dropConnection() {
      if (this.state !== STATE.CONNECTED) return;
      this._lost(1006, "dropped by the application");
    }

    /* Send an application frame on `channel` (and `topic`). */
    send(channel, payload, topic) {
      var frame = { channel: channel };
      if (topic) frame.topic = topic;
      frame.payload = payload === undefined ? null : payload;
      return this._sendFrame(frame);
    }

    subscribe(streams) {
      var self = this;
      var added = streams.filter(function (s) { return self.streams.indexOf(s) < 0; });
      added.forEach(function (s) { self.streams.push(s); self._listen(s.split(":")[0]); });
      if (this.state !== STATE.CONNECTED) return Promise.resolve();
      var rc = {}, re = {}, ep = this.tracker.epochs();
      streams.forEach(function (s) {
        if (self.tracker.streams.has(s)) { rc[s] = self.tracker.resumeCursor(s); if (ep[s]) re[s] = ep[s]; }
      });
      return this._sendOp({ type: "subscribe", channels: streams, resume_cursors: rc, resume_epochs: re });
    }

    unsubscribe(streams) {
      var self = this;
      this.streams = this.streams.filter(function (s) { return streams.indexOf(s) < 0; });
      streams.forEach(function (s) { self.tracker.streams.delete(s); });
      if (this.state !== STATE.CONNECTED) return Promise.resolve();
      return this._sendOp({ type: "unsubscribe", channels: streams });
    }

    ack(stream, cursor) {
      if (this.transportInUse === "sse") {
        return this._post("/rps/ack", { client_id: this.clientId, channel: stream, cursor: cursor });
      }
      return this._sendOp({ type: "ack", channel: stream, cursor: cursor });
    }

    cursors() { return this.tracker.cursors(); }
    epochs() { return this.tracker.epochs(); }

    /* ---- internals ---- */

    _setState(state) {
      if (state === this.state) return;
      var previous = this.state;
      this.state = state;
      this._emit("onstate", state, previous);
    }

    _emit(name) {
      var fn = this[name];
      if (typeof fn !== "function") return;
      try { fn.apply(this, Array.prototype.slice.call(arguments, 1)); }
      catch (e) { if (global.console) global.console.error("pushwire: " + name + " handler failed", e); }
    }

    _systemFrame(op) { return { channel: SYSTEM, cursor: null, client_id: null, payload: op }; }

    _order() {
      switch (this.transport) {
        case "ws": case "ws-only": return ["ws"];
        case "sse": case "sse-only": return ["sse"];
        case "sse-first": return ["sse", "ws"];
        default: return ["ws", "sse"];
      }
    }

    /* Open a transport (with fallback); resolves on auth_ok. `first` = called from connect(). */
    _open(state, first) {
      var self = this;
      this._setState(state);
      var order = this._order();
      var tryAt = function (i, lastErr) {
        if (i >= order.length) return Promise.reject(lastErr || new Error("no transport available"));
        return self._openOne(order[i]).catch(function (err) {
          if (err && err.fatal) throw err;
          return tryAt(i + 1, err);
        });
      };
      return tryAt(0, null).then(function () {
        self._attempt = 0;
        self._setState(STATE.CONNECTED);
        self._startHeartbeat();
      }, function (err) {
        self._teardown(1000, "failed");
        if (!first && !self._closing && !(err && err.fatal)) { self._scheduleReconnect(); }
        else self._setState(STATE.DISCONNECTED);
        throw err;
      });
    }

    _openOne(kind) {
      var self = this;
      this._teardown(1000, "switching");
      var gen = ++this._gen;
      this._goodbyeReason = null;
      return new Promise(function (resolve, reject) {
        var timer = setTimeout(function () {
          if (self._pending && self._pending.gen === gen) {
            self._pending = null;
            reject(new Error("timed out waiting for auth_ok over " + kind));
          }
        }, self.openTimeoutMs);
        self._pending = { gen: gen, resolve: resolve, reject: reject, timer: timer };
        self.transportInUse = kind;
        if (kind === "ws") self._openWs(gen); else self._openSse(gen);
      });
    }

    _settle(gen, err) {
      var p = this._pending;
      if (!p || p.gen !== gen) return false;
      this._pending = null;
      clearTimeout(p.timer);
      if (err) p.reject(err); else p.resolve();
      return true;
    }

    _authOp() {
      var caps = this.streams.slice();
      var rc = this.tracker.resumeCursors();
      var op = { type: "auth", client_id: this.clientId, token: this.token, capabilities: caps,
                 resume_cursor: null, resume_cursors: rc, resume_epochs: this.tracker.epochs() };
      return op;
    }

    _openWs(gen) {
      var self = this;
      var wsUrl = this.url.replace(/^http/, "ws") + "/rps";
      var ws;
      try { ws = new WebSocket(wsUrl, ["pushwire.v1"]); }
      catch (e) { this._settle(gen, e); return; }
      this._ws = ws;
      var authed = false;
      ws.onopen = function () {
        if (gen !== self._gen) return;
        ws.send(JSON.stringify(self._systemFrame(self._authOp())));
      };
      ws.onmessage = function (ev) {
        if (gen !== self._gen) return;
        self._lastHeard = Date.now();
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { self._emit("onerror", e); return; }
        if (!authed && self._isOp(msg, "auth_ok")) authed = true;
        self._handle(msg, gen);
      };
      ws.onclose = function (ev) {
        if (gen !== self._gen) return;
        self._ws = null;
        if (!authed) {
          var err = new Error("WebSocket closed before auth_ok (code " + ev.code + ")");
          err.code = ev.code;
          err.fatal = ev.code === 1008 || (ev.code >= 4500 && ev.code <= 4999);
          self._settle(gen, err);
          return;
        }
        self._lost(ev.code, ev.reason);
      };
      ws.onerror = function () { /* onclose follows with the code */ };
    }

    _listen(channel) {
      if (!this._es || this._listening.has(channel)) return;
      var self = this, es = this._es, gen = this._gen;
      this._listening.add(channel);
      es.addEventListener(channel, function (ev) {
        if (gen !== self._gen) return;
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { self._emit("onerror", e); return; }
        self.tracker.noteVector(ev.lastEventId);
        self._handle(msg, gen);
      });
    }

    _openSse(gen) {
      var self = this;
      var q = ["client_id=" + encodeURIComponent(this.clientId)];
      var chans = this.streams.slice();
      if (chans.length) q.push("channels=" + chans.map(encodeURIComponent).join(","));
      if (this.token != null) q.push("token=" + encodeURIComponent(this.token));
      var vector = this.tracker.positionVector();
      if (vector) q.push("cursors=" + encodeURIComponent(vector));
      var es;
      try { es = new EventSource(this.url + "/rps/sse?" + q.join("&")); }
      catch (e) { this._settle(gen, e); return; }
      this._es = es;
      this._listening = new Set();
      var authed = false;
      var channels = [SYSTEM, "message"].concat(this.extraChannels,
        this.streams.map(function (s) { return s.split(":")[0]; }));
      channels.forEach(function (c) { self._listen(c); });
      es.addEventListener(SYSTEM, function (ev) {
        if (!authed && gen === self._gen) {
          try { authed = self._isOp(JSON.parse(ev.data), "auth_ok"); } catch (e) { /* reported above */ }
        }
      });
      es.onerror = function () {
        if (gen !== self._gen) return;
        // Either the server refused (before auth_ok) or the stream ended: reconnect ourselves.
        es.close();
        self._es = null;
        if (!authed) { self._settle(gen, new Error("EventSource failed before auth_ok")); return; }
        self._lost(1006, "event stream ended");
      };
    }

    _isOp(msg, type) {
      var op = this._opOf(msg);
      return !!op && op.type === type;
    }

    /* The op of a system frame or bare op (accepts `op` as tag key and PascalCase tags), else null. */
    _opOf(msg) {
      if (!msg || typeof msg !== "object") return null;
      var op = null;
      if (!("channel" in msg)) op = msg;
      else if (msg.channel === SYSTEM) op = msg.payload;
      if (!op || typeof op !== "object") return null;
      var tag = op.type || op.op;
      if (typeof tag !== "string") return null;
      tag = tag.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
      if (tag !== op.type) op = Object.assign({}, op, { type: tag });
      return op;
    }

    _handle(msg, gen) {
      var op = this._opOf(msg);
      if (op) { this._handleOp(op, gen); return; }
      if (!msg || typeof msg.channel !== "string") return;
      this.stats.framesReceived++;
      var stream = streamOf(msg);
      if (typeof msg.cursor !== "number") { this._deliver(msg, stream); return; }
      var adv = this.tracker.advance(stream, msg.cursor);
      if (adv.result === "duplicate") { this.stats.duplicates++; return; }
      if (adv.result === "gap") {
        this.stats.gaps++;
        this._emit("ongap", stream, adv.from, adv.to);
        if (this.fillGaps) this._sendOp({ type: "resume_required", channel: stream, from_cursor: adv.from }).catch(function () {});
      }
      this._deliver(msg, stream);
      if (this.autoAck) this.ack(stream, msg.cursor).catch(function () {});
    }

    _deliver(frame, stream) {
      this.stats.delivered++;
      this._emit("onframe", frame, stream);
    }

    _handleOp(op, gen) {
      this._emit("onsystem", op);
      switch (op.type) {
        case "auth_ok":
          this.sessionToken = op.session_token || null;
          this._syncStreams(op.streams || {});
          this._emit("onresume", op.streams || {}, op);
          this._settle(gen, null);
          break;
        case "subscribed":
          this._syncStreams(op.streams || {});
          this._emit("onresume", op.streams || {}, op);
          break;
        case "resume_required":
          if (op.to_cursor != null) this.tracker.giveUp(op.channel, op.from_cursor, op.to_cursor);
          this._emit("onresumerequired", op);
          break;
        case "ping":
          this._sendOp({ type: "pong" }).catch(function () {});
          break;
        case "error":
          var err = new Error("server error " + op.code + ": " + (op.message || ""));
          err.code = op.code;
          err.fatal = op.code === "auth_rejected" || op.code === "auth_required";
          if (!this._settle(gen, err)) this._emit("onerror", err);
          break;
        case "goodbye":
          // "replaced": another connection with this client id took over; reconnecting would evict it
          this._goodbyeReason = op.reason || null;
          break;
        default:
          break;
      }
    }

    _syncStreams(streams) {
      var self = this;
      Object.keys(streams).forEach(function (name) {
        var s = streams[name] || {};
        if (typeof s.cursor !== "number") return;
        self.tracker.sync(name, s.cursor, s.epoch || null, s.outcome === "epoch_changed");
        self._listen(name.split(":")[0]);
      });
    }

    _sendFrame(frame) {
      if (this.state !== STATE.CONNECTED) return Promise.reject(new Error("not connected"));
      if (this.transportInUse === "ws") {
        if (!this._ws || this._ws.readyState !== 1) return Promise.reject(new Error("WebSocket not open"));
        this._ws.send(JSON.stringify(frame));
        return Promise.resolve();
      }
      var body = Object.assign({}, frame, { client_id: this.clientId });
      return this._post("/rps/send", body);
    }

    _sendOp(op) { return this._sendFrame(this._systemFrame(op)); }

    _post(path, body) {
      var headers = { "Content-Type": "application/json" };
      if (this.sessionToken) headers.Authorization = "Bearer " + this.sessionToken;
      return fetch(this.url + path, { method: "POST", headers: headers, body: JSON.stringify(body) })
        .then(function (r) {
          if (!r.ok) throw new Error("POST " + path + " failed: HTTP " + r.status);
          return r;
        });
    }

    _startHeartbeat() {
      var self = this;
      clearInterval(this._heartbeat);
      this._heartbeat = null;
      if (!this.heartbeatMs || this.transportInUse !== "ws") return;
      var gen = this._gen;
      this._lastHeard = Date.now();
      this._heartbeat = setInterval(function () {
        if (gen !== self._gen || self.state !== STATE.CONNECTED) return;
        var silent = Date.now() - self._lastHeard;
        if (silent >= 2 * self.heartbeatMs) { self._lost(1006, "no answer to ping"); return; }
        if (silent >= self.heartbeatMs) self._sendOp({ type: "ping" }).catch(function () {});
      }, Math.max(50, Math.floor(this.heartbeatMs / 2)));
    }

    _teardown(code, reason) {
      clearInterval(this._heartbeat);
      this._heartbeat = null;
      this._gen++;
      if (this._ws) {
        var ws = this._ws;
        this._ws = null;
        try { ws.close(code === 1000 ? 1000 : 4000, reason); } catch (e) { /* already closed */ }
      }
      if (this._es) { this._es.close(); this._es = null; }
    }

    /* The live transport was lost with close `code`: reconnect (and resume) or stop. */
    _lost(code, reason) {
      this._teardown(code, reason);
      if (this._closing) { this._setState(STATE.DISCONNECTED); return; }
      if (this._goodbyeReason === "replaced") code = 4500;
      if (!this.reconnect.enabled || !closeCodeReconnects(code)) {
        this._setState(STATE.DISCONNECTED);
        this._emit("onerror", new Error("connection closed (code " + code + ")"));
        return;
      }
      this._setState(STATE.RESUMING);
      this._scheduleReconnect();
    }

    _scheduleReconnect() {
      var self = this;
      var p = this.reconnect;
      if (!p.enabled || (p.maxRetries != null && this._attempt >= p.maxRetries)) {
        this._setState(STATE.DISCONNECTED);
        return;
      }
      this._setState(STATE.RESUMING);
      var delay = reconnectDelayMs(p, this._attempt);
      this._attempt++;
      clearTimeout(this._timer);
      this._timer = setTimeout(function () {
        if (self._closing) return;
        self.stats.reconnects++;
        self._open(STATE.RESUMING, false).catch(function (err) { self._emit("onerror", err); });
      }, delay);
    }
  }

  PushwireClient.STATE = STATE;
  PushwireClient.CursorTracker = CursorTracker;
  PushwireClient.reconnectDelayMs = reconnectDelayMs;
  PushwireClient.closeCodeReconnects = closeCodeReconnects;
  global.PushwireClient = PushwireClient;
})(typeof window !== "undefined" ? window : this);
