// The admin view of the realtime fleet: sign in over REST (/auth/login), then one realtime
// socket that authenticates like any Directus client and subscribes to the admin-only virtual
// collection `switchboard_replicas`. Its `init` lists the replicas; `create` / `update` /
// `delete` keep the table current (one update per replica per SWITCHBOARD_FLEET_INTERVAL).
// No framework, no build step: this file is served as is.
"use strict";

const settings = JSON.parse(document.getElementById("admin-settings").textContent);
const COLLECTION = "switchboard_replicas";
const $ = (id) => document.getElementById(id);

const state = {
  accessToken: null,
  refreshToken: null,
  socket: null,
  replicas: new Map(),
  reconnectDelay: 1000,
  reconnectTimer: null,
  signedIn: false,
};

function setStatus(kind, text) {
  $("status").dataset.state = kind;
  $("status-text").textContent = text;
}

function showError(text) {
  $("error").textContent = text || "";
  $("error").hidden = !text;
}

// ---- REST sign-in

async function postJSON(path, payload) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body.errors && body.errors[0] ? body.errors[0].message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body.data;
}

const signIn = (email, password) => postJSON("/auth/login", { email, password, mode: "json" });

// Before a reconnect: the access token may have expired meanwhile (the refresh token rotates).
async function refreshTokens() {
  const tokens = await postJSON("/auth/refresh", { refresh_token: state.refreshToken, mode: "json" });
  state.accessToken = tokens.access_token;
  state.refreshToken = tokens.refresh_token;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const email = $("login-email").value.trim();
  const password = $("login-password").value;
  if (!email || !password) return showError("Enter an email and a password.");
  $("login-button").disabled = true;
  try {
    const tokens = await signIn(email, password);
    state.accessToken = tokens.access_token;
    state.refreshToken = tokens.refresh_token;
    state.signedIn = true;
    $("login-password").value = "";
    $("login").hidden = true;
    $("fleet").hidden = false;
    connect();
  } catch (error) {
    showError(`Sign-in failed: ${error.message}`);
  } finally {
    $("login-button").disabled = false;
  }
});

$("logout-button").addEventListener("click", () => {
  // Ends the session on the server too; the page does not wait for it.
  if (state.refreshToken) postJSON("/auth/logout", { refresh_token: state.refreshToken, mode: "json" }).catch(() => {});
  signOut("");
});

function signOut(message) {
  state.signedIn = false;
  state.accessToken = null;
  state.refreshToken = null;
  clearTimeout(state.reconnectTimer);
  if (state.socket) state.socket.close(1000, "Signed out");
  state.socket = null;
  state.replicas.clear();
  render();
  $("fleet").hidden = true;
  $("login").hidden = false;
  setStatus("signed-out", "Signed out");
  showError(message);
}

// ---- The realtime socket

function socketURL() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let url = `${scheme}//${location.host}${settings.realtimePath}`;
  // Strict mode takes the token with the upgrade only; the others take it in the first frame.
  if (settings.authMode === "strict") url += `?access_token=${encodeURIComponent(state.accessToken)}`;
  return url;
}

function connect() {
  if (!state.signedIn) return;
  setStatus("connecting", "Connecting…");
  const socket = new WebSocket(socketURL());
  state.socket = socket;
  const send = (message) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(message));
  socket.addEventListener("open", () => {
    if (settings.authMode === "strict") subscribe(send);
    else send({ type: "auth", access_token: state.accessToken });
  });
  socket.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    handle(message, send);
  });
  socket.addEventListener("close", (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (!state.signedIn) return;
    const seconds = Math.round(state.reconnectDelay / 1000);
    setStatus("connecting", `Disconnected (${event.code || "no code"}); reconnecting in ${seconds} s…`);
    state.reconnectTimer = setTimeout(reconnect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
  });
}

async function reconnect() {
  if (!state.signedIn) return;
  try {
    await refreshTokens();
  } catch (error) {
    // A server that is down answers nothing: try again later; a refused refresh ends the session.
    if (error instanceof TypeError) {
      state.reconnectTimer = setTimeout(reconnect, state.reconnectDelay);
      state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
      return;
    }
    return signOut(`The session ended (${error.message}). Sign in again.`);
  }
  connect();
}

function subscribe(send) {
  send({ type: "subscribe", collection: COLLECTION, uid: "replicas" });
}

function handle(message, send) {
  switch (message.type) {
    case "ping":
      return send({ type: "pong" });
    case "auth":
      if (message.status === "ok") {
        if (message.refresh_token) state.refreshToken = message.refresh_token;
        return subscribe(send);
      }
      if (message.error && message.error.code === "TOKEN_EXPIRED" && state.refreshToken) {
        // The subscription stays; a new identity from the refresh token keeps it fed.
        return send({ type: "auth", refresh_token: state.refreshToken });
      }
      return signOut(`The server ended the session (${message.error ? message.error.message : "authentication failed"}). Sign in again.`);
    case "subscribe":
      if (message.status === "error") {
        const code = message.error ? message.error.code : "";
        const text = code === "FORBIDDEN"
          ? "This account is not an administrator: the realtime view is for admins only."
          : `The server refused the subscription: ${message.error ? message.error.message : code}`;
        setStatus("error", "Refused");
        showError(text);
      }
      return;
    case "subscription":
      return subscription(message);
    default:
      return;
  }
}

function subscription(message) {
  const rows = Array.isArray(message.data) ? message.data : [];
  switch (message.event) {
    case "init":
      state.replicas.clear();
      for (const row of rows) state.replicas.set(row.id, row);
      state.reconnectDelay = 1000;
      setStatus("live", "Live");
      showError("");
      break;
    case "create":
    case "update":
      for (const row of rows) state.replicas.set(row.id, row);
      break;
    case "delete":
      for (const id of rows) state.replicas.delete(id);
      break;
    default:
      return;
  }
  render(message.event === "init" ? null : rows);
}

// ---- The table

function counts(object) {
  const list = document.createElement("ul");
  list.className = "counts";
  const entries = Object.entries(object || {}).filter(([, n]) => n > 0);
  for (const [name, n] of entries.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    const item = document.createElement("li");
    const code = document.createElement("code");
    code.textContent = name;
    item.append(code, ` ${n}`);
    list.append(item);
  }
  if (!entries.length) list.textContent = "—";
  return list;
}

function cell(row, field, content, className) {
  const td = document.createElement("td");
  td.dataset.field = field;
  if (className) td.className = className;
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  return td;
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "—");
// Today's start as a time, an older one as a date.
const since = (iso) => {
  const d = new Date(iso);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleDateString();
};
const rate = (n) => (typeof n === "number" ? n.toFixed(1) : "—");

function render(changed) {
  const body = $("replica-rows");
  const touched = new Set((changed || []).map((row) => (typeof row === "string" ? row : row.id)));
  body.replaceChildren();
  const replicas = [...state.replicas.values()].sort((a, b) => a.id.localeCompare(b.id));
  let connections = 0, subscriptions = 0, eventsIn = 0;
  for (const r of replicas) {
    connections += r.connections_total;
    subscriptions += r.subscriptions_total;
    eventsIn += r.events_received_per_second || 0;
    const tr = document.createElement("tr");
    tr.dataset.replica = r.id;
    if (touched.has(r.id)) tr.className = "changed";
    tr.append(
      cell(r, "id", r.id, "id"),
      cell(r, "started_at", since(r.started_at)),
      cell(r, "connections_total", String(r.connections_total), "num"),
      cell(r, "connections", counts(r.connections)),
      cell(r, "subscriptions_total", String(r.subscriptions_total), "num"),
      cell(r, "subscriptions", counts(r.subscriptions)),
      cell(r, "events_received_per_second", rate(r.events_received_per_second), "num"),
      cell(r, "events_delivered_per_second", rate(r.events_delivered_per_second), "num"),
      cell(r, "events_received", String(r.events_received), "num"),
      cell(r, "updated_at", time(r.updated_at)),
    );
    body.append(tr);
  }
  $("empty").hidden = replicas.length > 0;
  $("summary").textContent = replicas.length
    ? `${replicas.length} replica${replicas.length === 1 ? "" : "s"} · ${connections} connections · ` +
      `${subscriptions} subscriptions · ${rate(eventsIn)} events/s in`
    : "";
}

render();
