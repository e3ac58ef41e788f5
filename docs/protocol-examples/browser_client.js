// A minimal browser client for pushwire (docs/protocol.md 5, 6, 9, 14.1): WebSocket first, SSE as an
// alternative. Positions (cursor + epoch per stream) live in sessionStorage, one client id per tab.
// A teaching aid: no bundler, no dependencies. Usage:
//   const c = pushwireConnect({base: "https://push.example.com", streams: ["chat"], token: "t0k3n",
//                             onFrame: (stream, frame) => console.log(stream, frame.payload),
//                             onReload: (stream) => console.log("reload", stream)});

function pushwireConnect({ base, streams, token = null, onFrame, onReload, transport = "ws" }) {
  const clientId = sessionStorage.pwClientId || (sessionStorage.pwClientId = crypto.randomUUID());
  const positions = JSON.parse(sessionStorage.pwPositions || "{}"); // stream -> [cursor, epoch]
  const save = () => { sessionStorage.pwPositions = JSON.stringify(positions); };
  const wrap = (op) => JSON.stringify({ channel: "system", cursor: null, client_id: null, payload: op });
  const streamOf = (f) => (f.topic == null ? f.channel : `${f.channel}:${f.topic}`);
  let attempt = 0, stopped = false, socket = null, sessionToken = null;

  function adopt(states) { // auth_ok / subscribed (6.4)
    for (const [name, st] of Object.entries(states)) {
      positions[name] = [st.cursor, st.epoch];
      if (st.outcome === "gap" || st.outcome === "epoch_changed") onReload(name);
    }
    save();
  }

  function frame(f, ack) { // an application frame: drop duplicates, advance, ack personal streams
    const name = streamOf(f);
    const last = positions[name] || [0, null];
    if (f.cursor <= last[0]) return;
    positions[name] = [f.cursor, last[1]];
    save();
    onFrame(name, f);
    if (f.topic && f.topic.startsWith("@")) ack(name, f.cursor);
  }

  function system(op) { // returns false when the client must not reconnect
    if (op.type === "auth_ok") { sessionToken = op.session_token; attempt = 0; adopt(op.streams); }
    else if (op.type === "subscribed") adopt(op.streams);
    else if (op.type === "ping" && socket) socket.send(wrap({ type: "pong" }));
    else if (op.type === "goodbye" && op.reason === "replaced") return false;
    return true; // resume_required, slow, health, error, unknown ops: informational here
  }

  function retry(code) {
    const final = [1000, 1002, 1003, 1007, 1008, 1009, 1010].includes(code) || (code >= 4500 && code <= 4999);
    if (stopped || final) return;
    const delay = code === 4000 ? 0 : Math.min(30000, 100 * 2 ** attempt++);
    setTimeout(open, delay * (0.5 + Math.random() / 2));
  }

  function openWs() {
    const url = base.replace(/^http/, "ws") + "/rps";
    const ws = (socket = new WebSocket(url, "pushwire.v1"));
    const ack = (stream, cursor) => ws.send(wrap({ type: "ack", channel: stream, cursor }));
    ws.onopen = () => ws.send(wrap({
      type: "auth", client_id: clientId, token, capabilities: streams, resume_cursor: null,
      resume_cursors: Object.fromEntries(Object.entries(positions).map(([s, p]) => [s, p[0]])),
      resume_epochs: Object.fromEntries(Object.entries(positions).map(([s, p]) => [s, p[1]])),
    }));
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") return; // binary only after a features grant
      const f = JSON.parse(e.data);
      if (f.channel === "system") { if (!system(f.payload)) stopped = true; } else frame(f, ack);
    };
    ws.onclose = (e) => retry(e.code);
  }

  function openSse() {
    // EventSource cannot set headers: the token goes in the URL; the vector of the last id comes back by
    // itself as Last-Event-ID on automatic reconnects; the first connection passes it as last_event_id.
    const q = new URLSearchParams({ client_id: clientId, channels: streams.join(",") });
    if (token) q.set("token", token);
    const vector = Object.entries(positions).map(([s, [c, e]]) => (e ? `${s}=${c}~${e}` : `${s}=${c}`)).join(",");
    if (vector) q.set("last_event_id", vector);
    const es = new EventSource(`${base}/rps/sse?${q}`);
    const ack = (stream, cursor) => fetch(`${base}/rps/ack`, {
      method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${sessionToken}` },
      body: JSON.stringify({ client_id: clientId, channel: stream, cursor }),
    });
    es.addEventListener("system", (e) => { if (!system(JSON.parse(e.data).payload)) es.close(); });
    // one listener per channel name; include the channels of your personal streams too
    for (const channel of new Set(streams.map((s) => s.split(":")[0]))) {
      es.addEventListener(channel, (e) => frame(JSON.parse(e.data), ack));
    }
    socket = null;
    return es;
  }

  function open() { return transport === "ws" ? openWs() : openSse(); }
  const handle = open();
  return { clientId, stop() { stopped = true; if (socket) { socket.send(wrap({ type: "goodbye", reason: null })); socket.close(1000); } else if (handle) handle.close(); } };
}
