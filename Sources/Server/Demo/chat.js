// Switchboard's demo chat page: Directus's "Connect to Realtime Data" guide as a page, with the
// Directus Realtime protocol spoken directly over one WebSocket (no SDK, no build step).
//
// - messages: `subscribe` (its `init` is the history), new rows live, posts as socket `items` creates
// - presence: rows seen in the last 5 minutes (`live: true`; rows that age out are also pruned here);
//   the page upserts its own row every minute and deletes it when it leaves or signs in or out
// - reconnects with backoff and resubscribes with `after: <last seq seen>`: missed rows are replayed,
//   rows are kept by id, so nothing is missed and nothing shows twice
// - a page opened at one replica's own address falls back to PUBLIC_URL (the load balancer) when
//   that replica is gone; a close with 1001 (draining) goes there at once
// - signed-in users: REST /auth/login once, then the socket authenticates with the access token and,
//   when it expires (TOKEN_EXPIRED) or after a reconnect, with the rotating refresh token
"use strict";

(() => {
  const settings = JSON.parse(document.getElementById("demo-settings").textContent);
  const $ = (id) => document.getElementById(id);

  const MESSAGE_FIELDS = ["id", "text", "date_created", "user.id", "user.first_name", "user.last_name"];
  const PRESENCE_FIELDS = ["id", "name", "status", "last_seen", "user"];
  const PRESENCE_WINDOW = { last_seen: { _gte: "$NOW(-5 minutes)" } };
  const PRESENCE_WINDOW_MS = 5 * 60 * 1000;
  const PRESENCE_PRUNE_MS = 10000;
  const HISTORY = 100;
  const PRESENCE_EVERY_MS = 60000;
  const CONNECT_TIMEOUT_MS = 5000;
  const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
  const SESSION_KEY = "switchboard-demo-session";
  const GUEST_KEY = "switchboard-demo-guest";

  const endpoints = socketEndpoints();
  const state = {
    socket: null,
    endpoint: 0,
    failures: 0,
    reconnectTimer: null,
    connectTimer: null,
    watchdog: null,
    presenceTimer: null,
    ready: false,
    stopped: false,
    lastSeq: null,
    messages: new Map(),
    elements: new Map(),
    mine: new Set(readJSON(sessionStorage, "switchboard-demo-mine", [])),
    presence: new Map(),
    presenceId: null,
    presenceKey: "",
    presenceRetried: false,
    clockOffset: 0,
    retiring: new Map(),
    pendingPost: null,
    nextUid: 1,
  };
  let session = readJSON(sessionStorage, SESSION_KEY, null);

  // --- where to connect ---------------------------------------------------------------------

  function socketURL(base) {
    const url = new URL(settings.realtimePath, base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    url.hash = "";
    return url.href;
  }

  // This page's own server first, then the fleet's address (PUBLIC_URL) when it is another one.
  function socketEndpoints() {
    const list = [socketURL(location.href)];
    if (settings.publicURL) {
      try {
        const fleet = socketURL(settings.publicURL);
        if (!list.includes(fleet)) list.push(fleet);
      } catch (_) {
        // an unusable PUBLIC_URL: this server only
      }
    }
    return list;
  }

  // --- the connection -----------------------------------------------------------------------

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.socket || state.stopped) return;
    if (!canConnect()) return;
    const url = endpoints[state.endpoint % endpoints.length];
    setStatus(state.failures ? "reconnecting" : "connecting", `Connecting to ${hostOf(url)}…`, url);
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (_) {
      closed(null, 1006);
      return;
    }
    state.socket = socket;
    state.connectTimer = setTimeout(() => abandon(socket), CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      clearTimeout(state.connectTimer);
      state.failures = 0;
      socket.opened = true;
      heard();
      setStatus("connecting", session ? "Signing in…" : "Subscribing…", url);
      if (session) sendAuth();
      else subscribeAll();
    };
    socket.onmessage = (event) => {
      heard();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      handle(frame);
    };
    socket.onclose = (event) => closed(socket, event.code);
    socket.onerror = () => {}; // a close event follows
  }

  // Whether this identity may use the socket at all (a guest needs WEBSOCKETS_REST_AUTH=public).
  function canConnect() {
    if (settings.authMode === "strict") {
      stop("This page needs WEBSOCKETS_REST_AUTH=public or handshake (strict mode wants the token in the URL).");
      return false;
    }
    if (!session && settings.authMode !== "public") {
      stop("Sign in to join: this server has no public realtime access (WEBSOCKETS_REST_AUTH=" + settings.authMode + ").");
      return false;
    }
    return true;
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  // Drop a socket that does not answer (no open in time, or silent past two heartbeats).
  function abandon(socket) {
    if (state.socket !== socket) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close();
    } catch (_) {
      // already closing
    }
    closed(socket, 1006);
  }

  function closed(socket, code) {
    if (socket && state.socket !== socket) return;
    const opened = Boolean(socket && socket.opened);
    state.socket = null;
    state.ready = false;
    clearTimeout(state.connectTimer);
    clearTimeout(state.watchdog);
    clearInterval(state.presenceTimer);
    if (state.pendingPost) {
      note("composer-note", "Connection lost before the server confirmed; if it was sent it will appear.", true);
      state.pendingPost = null;
    }
    updateComposer();
    if (state.stopped) return;
    if (opened) {
      // 1001: this server is draining, go elsewhere at once; otherwise try this page's own server first.
      state.endpoint = code === 1001 ? (state.endpoint + 1) % endpoints.length : 0;
    } else {
      state.failures += 1;
      state.endpoint = (state.endpoint + 1) % endpoints.length;
    }
    const base = BACKOFF_MS[Math.min(state.failures, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    setStatus("reconnecting", `Reconnecting in ${(delay / 1000).toFixed(1)} s…`, endpoints[state.endpoint]);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function stop(reason) {
    state.stopped = true;
    setStatus("stopped", reason, "");
    updateComposer();
  }

  // A socket silent for two and a half heartbeats is dead even if the browser has not noticed.
  function heard() {
    clearTimeout(state.watchdog);
    if (!settings.heartbeatSeconds) return;
    const socket = state.socket;
    state.watchdog = setTimeout(() => abandon(socket), settings.heartbeatSeconds * 2500);
  }

  // Start over with another identity: a fresh socket, a fresh history. The old identity's presence
  // row goes first (its delete answered, or after a second at most).
  async function identityChanged() {
    await retirePresence(1000);
    state.stopped = false;
    state.failures = 0;
    state.endpoint = 0;
    state.lastSeq = null;
    state.messages.clear();
    state.elements.clear();
    $("messages").replaceChildren();
    $("empty").hidden = false;
    state.pendingPost = null;
    state.presence.clear();
    renderPresence();
    state.presenceKey = presenceKey();
    state.presenceId = readJSON(sessionStorage, state.presenceKey, null);
    renderAccount();
    const socket = state.socket;
    if (socket) {
      state.socket = null;
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close(1000);
      state.ready = false;
      clearTimeout(state.watchdog);
      clearTimeout(state.connectTimer);
      clearInterval(state.presenceTimer);
    }
    updateComposer();
    connect();
  }

  // --- frames -------------------------------------------------------------------------------

  function handle(frame) {
    switch (frame.type) {
      case "ping":
        send({ type: "pong" });
        break;
      case "auth":
        authAnswered(frame);
        break;
      case "subscription":
        if (frame.uid === "messages") messageEvent(frame);
        else if (frame.uid === "presence") presenceEvent(frame);
        break;
      case "items":
        itemsAnswered(frame);
        break;
      case "subscribe":
        // e.g. no `messages` collection, or no permission to read it: say so instead of waiting
        if (frame.status === "error") setStatus("offline", `${frame.uid}: ${errorText(frame.error)}`, "");
        break;
      default:
        if (frame.status === "error") note("composer-note", errorText(frame.error), true);
    }
  }

  function sendAuth() {
    if (session.accessToken && session.accessExpires - Date.now() > 10000) {
      send({ type: "auth", access_token: session.accessToken });
    } else {
      send({ type: "auth", refresh_token: session.refreshToken });
    }
  }

  function authAnswered(frame) {
    if (frame.status === "ok") {
      if (frame.refresh_token && session) {
        // The refresh token rotates on every use; the socket holds its own access token now.
        session.refreshToken = frame.refresh_token;
        session.accessToken = null;
        saveSession();
      }
      if (!state.ready) subscribeAll();
      return;
    }
    const code = frame.error && frame.error.code;
    if (code === "TOKEN_EXPIRED" && session) {
      sendAuth();
      return;
    }
    if (session) {
      session = null;
      sessionStorage.removeItem(SESSION_KEY);
      note("account-note", "Your session ended; sign in again.", true);
    }
    identityChanged();
  }

  function subscribeAll() {
    const messages = {
      type: "subscribe",
      collection: "messages",
      uid: "messages",
      query: { fields: MESSAGE_FIELDS, sort: ["-id"], limit: HISTORY },
    };
    if (state.lastSeq !== null) messages.after = state.lastSeq;
    send(messages);
    send({
      type: "subscribe",
      collection: "presence",
      uid: "presence",
      live: true,
      query: { fields: PRESENCE_FIELDS, filter: PRESENCE_WINDOW, sort: ["name"], limit: 200 },
    });
  }

  function messageEvent(frame) {
    if (typeof frame.seq === "number") state.lastSeq = Math.max(state.lastSeq ?? 0, frame.seq);
    if (frame.status === "error") return;
    switch (frame.event) {
      case "init":
        // `resumed: true`: the missed rows follow as events; otherwise `data` is the latest history.
        if (frame.resumed !== true) rows(frame.data).forEach(upsertMessage);
        wentLive();
        break;
      case "create":
      case "update":
        rows(frame.data).forEach(upsertMessage);
        break;
      case "delete":
        rows(frame.data).forEach(removeMessage);
        break;
    }
  }

  function presenceEvent(frame) {
    switch (frame.event) {
      case "init":
        state.presence.clear();
        rows(frame.data).forEach((row) => state.presence.set(String(row.id), row));
        break;
      case "create":
      case "update":
        rows(frame.data).forEach((row) => state.presence.set(String(row.id), row));
        break;
      case "delete":
        rows(frame.data).forEach((key) => state.presence.delete(String(typeof key === "object" ? key.id : key)));
        break;
    }
    renderPresence();
  }

  function itemsAnswered(frame) {
    if (frame.uid === "presence-beat") {
      presenceAnswered(frame);
      return;
    }
    const retired = state.retiring.get(frame.uid);
    if (retired) {
      state.retiring.delete(frame.uid);
      retired();
      return;
    }
    if (!state.pendingPost || frame.uid !== state.pendingPost.uid) return;
    state.pendingPost = null;
    if (frame.status === "error") {
      note("composer-note", errorText(frame.error), true);
    } else {
      const row = Array.isArray(frame.data) ? frame.data[0] : frame.data;
      if (row && row.id != null) {
        state.mine.add(String(row.id));
        sessionStorage.setItem("switchboard-demo-mine", JSON.stringify([...state.mine].slice(-500)));
        upsertMessage(row);
      }
      $("message-input").value = "";
      note("composer-note", "Enter sends, Shift+Enter starts a new line.", false);
      scrollToEnd();
    }
    updateComposer();
  }

  function wentLive() {
    state.ready = true;
    const url = endpoints[state.endpoint % endpoints.length];
    setStatus("live", `Live · ${hostOf(url)}`, url);
    updateComposer();
    beatPresence();
    clearInterval(state.presenceTimer);
    state.presenceTimer = setInterval(beatPresence, PRESENCE_EVERY_MS);
  }

  // --- presence: this page's own row ----------------------------------------------------------

  // Where this tab keeps its presence row's id, per identity.
  function presenceKey() {
    return "switchboard-demo-presence:" + (session ? session.user.id : "guest");
  }

  function beatPresence() {
    if (!state.ready) return;
    const data = { name: displayName(), status: document.hidden ? "away" : "online" };
    const message = {
      type: "items",
      collection: "presence",
      uid: "presence-beat",
      data,
      query: { fields: ["id", "last_seen"] },
    };
    if (state.presenceId != null) send({ ...message, action: "update", id: state.presenceId });
    else send({ ...message, action: "create" });
  }

  // Removes this page's presence row (leaving, or changing identity); resolves when answered.
  function retirePresence(waitMs) {
    const id = state.presenceId;
    state.presenceId = null;
    sessionStorage.removeItem(state.presenceKey);
    if (id == null || !state.ready) return Promise.resolve();
    const uid = "presence-gone-" + state.nextUid++;
    if (!send({ type: "items", collection: "presence", action: "delete", id, uid })) return Promise.resolve();
    return new Promise((resolve) => {
      state.retiring.set(uid, resolve);
      setTimeout(() => {
        state.retiring.delete(uid);
        resolve();
      }, waitMs);
    });
  }

  function presenceAnswered(frame) {
    const row = Array.isArray(frame.data) ? frame.data[0] : frame.data;
    if (frame.status !== "error" && row && row.id != null) {
      // last_seen is the server's clock: how far ours is off, for pruning (below)
      const seen = Date.parse(row.last_seen);
      if (!Number.isNaN(seen)) state.clockOffset = seen - Date.now();
      state.presenceId = row.id;
      state.presenceRetried = false;
      sessionStorage.setItem(state.presenceKey, JSON.stringify(row.id));
      return;
    }
    // Our row is gone (or not ours to update any more): make a new one, once per failure.
    const hadRow = state.presenceId != null;
    state.presenceId = null;
    sessionStorage.removeItem(state.presenceKey);
    if (hadRow && !state.presenceRetried) {
      state.presenceRetried = true;
      beatPresence();
    }
  }

  // `live: true` removes rows whose update takes them out of the window, but the server does not
  // (yet) tell when time alone does: rows whose last_seen is older than the window go here.
  function prunePresence() {
    const oldest = Date.now() + state.clockOffset - PRESENCE_WINDOW_MS;
    let changed = false;
    for (const [key, row] of state.presence) {
      const seen = Date.parse(row.last_seen);
      if (!Number.isNaN(seen) && seen < oldest) {
        state.presence.delete(key);
        changed = true;
      }
    }
    if (changed) renderPresence();
  }

  // --- rendering ------------------------------------------------------------------------------

  function rows(data) {
    if (Array.isArray(data)) return data.filter((row) => row != null);
    return data == null ? [] : [data];
  }

  function compareKeys(a, b) {
    const x = Number(a);
    const y = Number(b);
    if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
    return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  }

  function upsertMessage(row) {
    if (row == null || typeof row !== "object" || row.id == null) return;
    const key = String(row.id);
    const list = $("messages");
    const follow = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    state.messages.set(key, row);
    let item = state.elements.get(key);
    if (!item) {
      item = document.createElement("li");
      item.className = "message";
      item.dataset.id = key;
      item.append(document.createElement("header"), document.createElement("p"));
      item.firstChild.append(document.createElement("span"), document.createElement("time"));
      item.firstChild.firstChild.className = "author";
      let after = list.lastElementChild;
      while (after && compareKeys(after.dataset.id, key) > 0) after = after.previousElementSibling;
      if (after) after.after(item);
      else list.prepend(item);
      state.elements.set(key, item);
    }
    const author = authorName(row.user);
    const mine = state.mine.has(key) || Boolean(session && row.user && row.user.id === session.user.id);
    item.classList.toggle("mine", mine);
    item.querySelector(".author").textContent = mine ? `${author} (you)` : author;
    const time = item.querySelector("time");
    const date = row.date_created ? new Date(row.date_created) : null;
    if (date && !Number.isNaN(date.getTime())) {
      time.dateTime = date.toISOString();
      time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      time.title = date.toLocaleString();
    }
    item.querySelector("p").textContent = row.text == null ? "" : String(row.text);
    $("empty").hidden = state.messages.size > 0;
    if (follow) scrollToEnd();
  }

  function removeMessage(key) {
    const id = String(typeof key === "object" && key ? key.id : key);
    state.messages.delete(id);
    const item = state.elements.get(id);
    if (item) item.remove();
    state.elements.delete(id);
    $("empty").hidden = state.messages.size > 0;
  }

  function scrollToEnd() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
  }

  function renderPresence() {
    // One entry per signed-in user (several tabs are one person), one per guest row.
    const people = new Map();
    for (const row of state.presence.values()) {
      const user = row.user && typeof row.user === "object" ? row.user.id : row.user;
      const key = user ? "user:" + user : "row:" + row.id;
      const mine = String(row.id) === String(state.presenceId) || Boolean(session && user === session.user.id);
      const known = people.get(key);
      const away = row.status === "away" && (!known || known.away);
      people.set(key, { name: row.name || (user ? "Signed-in user" : "Guest"), mine: mine || (known && known.mine), away });
    }
    const sorted = [...people.values()].sort((a, b) => a.name.localeCompare(b.name));
    const list = $("presence");
    list.replaceChildren(
      ...sorted.map((person) => {
        const item = document.createElement("li");
        item.textContent = person.mine ? `${person.name} (you)` : person.name;
        if (person.mine) item.className = "me";
        if (person.away) {
          item.classList.add("away");
          item.title = "Away";
        }
        return item;
      }),
    );
    $("presence-count").textContent = String(sorted.length);
  }

  function authorName(user) {
    if (user == null) return "Guest";
    if (typeof user !== "object") return "Signed-in user";
    return [user.first_name, user.last_name].filter(Boolean).join(" ") || "Signed-in user";
  }

  function displayName() {
    if (session) {
      const user = session.user;
      return [user.first_name, user.last_name].filter(Boolean).join(" ") || user.email || "Signed-in user";
    }
    let name = localStorage.getItem(GUEST_KEY);
    if (!name) {
      name = "Guest " + Math.random().toString(16).slice(2, 6);
      localStorage.setItem(GUEST_KEY, name);
    }
    return name;
  }

  function setStatus(stateName, text, endpoint) {
    const status = $("status");
    status.dataset.state = stateName;
    status.dataset.endpoint = endpoint || "";
    $("status-text").textContent = text;
  }

  function updateComposer() {
    const input = $("message-input");
    const pending = Boolean(state.pendingPost);
    input.readOnly = pending;
    $("send-button").disabled = !state.ready || pending || input.value.trim() === "";
    $("send-button").textContent = pending ? "Sending…" : "Send";
  }

  function note(id, text, isError) {
    const element = $(id);
    element.textContent = text;
    element.classList.toggle("error", Boolean(isError));
  }

  function renderAccount() {
    const signedIn = Boolean(session);
    $("login-form").hidden = signedIn;
    $("signed-in").hidden = !signedIn;
    if (signedIn) $("me-name").textContent = displayName();
  }

  function hostOf(url) {
    try {
      return new URL(url).host;
    } catch (_) {
      return url;
    }
  }

  function errorText(error) {
    return (error && error.message) || "Something went wrong.";
  }

  function readJSON(storage, key, fallback) {
    try {
      const raw = storage.getItem(key);
      return raw == null ? fallback : JSON.parse(raw);
    } catch (_) {
      return fallback;
    }
  }

  function saveSession() {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  }

  // --- REST: sign in and out --------------------------------------------------------------------

  async function restJSON(path, options) {
    const response = await fetch(path, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = body && body.errors && body.errors[0] && body.errors[0].message;
      throw new Error(message || `The server answered ${response.status}.`);
    }
    return body.data;
  }

  async function signIn(email, password) {
    const tokens = await restJSON("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    const user = await restJSON("/users/me?fields=id,first_name,last_name,email", {
      headers: { Authorization: `Bearer ${tokens.access_token}` },
    });
    session = {
      accessToken: tokens.access_token,
      accessExpires: Date.now() + Number(tokens.expires || 0),
      refreshToken: tokens.refresh_token,
      user,
    };
    saveSession();
    identityChanged();
  }

  async function signOut() {
    const refreshToken = session && session.refreshToken;
    session = null;
    sessionStorage.removeItem(SESSION_KEY);
    identityChanged();
    if (refreshToken) {
      // Ends the session on the server; the page has already moved on.
      fetch("/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
      }).catch(() => {});
    }
  }

  // --- wiring -------------------------------------------------------------------------------------

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    if (!email || !password) {
      note("account-note", "Enter your email and password.", true);
      return;
    }
    $("login-button").disabled = true;
    note("account-note", "Signing in…", false);
    try {
      await signIn(email, password);
      $("login-password").value = "";
      note("account-note", "", false);
    } catch (error) {
      note("account-note", error.message, true);
    } finally {
      $("login-button").disabled = false;
    }
  });

  $("logout-button").addEventListener("click", () => {
    note("account-note", "", false);
    signOut();
  });

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("message-input").value.trim();
    if (!text || !state.ready || state.pendingPost) return;
    const uid = "post-" + state.nextUid++;
    const sent = send({
      type: "items",
      collection: "messages",
      action: "create",
      data: { text },
      query: { fields: MESSAGE_FIELDS },
      uid,
    });
    if (sent) state.pendingPost = { uid, text };
    updateComposer();
  });

  $("message-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("message-input").addEventListener("input", updateComposer);

  document.addEventListener("visibilitychange", beatPresence);
  // Leaving: take this page out of everyone's presence list now rather than in 5 minutes.
  window.addEventListener("pagehide", () => retirePresence(0));
  window.addEventListener("online", () => {
    if (!state.socket && !state.stopped) {
      state.failures = 0;
      connect();
    }
  });

  state.presenceKey = presenceKey();
  state.presenceId = readJSON(sessionStorage, state.presenceKey, null);
  renderAccount();
  renderPresence();
  setInterval(prunePresence, PRESENCE_PRUNE_MS);
  connect();
})();
