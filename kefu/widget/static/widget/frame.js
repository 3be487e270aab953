/* The chat frame (kefu/widget): talks to Kefu over the visitor websocket, following the live chat protocol
   (docs/conversations.md). A message is shown as sent only when Kefu acknowledged it after storing it; until then it
   stays in a local outbox with its client_id and is sent again after a reconnect (Kefu recognises the id). */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("kw-config").textContent);
  var T = cfg.strings;
  var $ = function (id) { return document.getElementById(id); };
  var root = $("kw"), log = $("kw-log"), body = $("kw-body"), input = $("kw-input"), fileInput = $("kw-file");
  var hash = new URLSearchParams(location.hash.slice(1));
  var identity = hash.get("identity") || "";
  var pageUrl = hash.get("page") || document.referrer || "";
  var parentOrigin = hash.get("origin") || "*";
  var embedded = window.parent !== window;
  var storeKey = "kefu.widget." + cfg.code;

  function fill(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (_m, key) { return values[key] !== undefined ? values[key] : ""; });
  }

  /* --- what survives a reload: the visitor's token, the conversation, the unsent messages -----------------
     Kept by the host page (widget.js, in its own storage: browsers refuse storage to a frame of another site) and,
     when the frame may have storage of its own, here too. */
  var memory = {};
  var storage = (function () {
    try { var s = window.localStorage; s.setItem(storeKey + ".t", "1"); s.removeItem(storeKey + ".t"); return s; }
    catch (e) { return null; }
  })();
  function load() {
    try { return JSON.parse((storage ? storage.getItem(storeKey) : memory[storeKey]) || "{}") || {}; }
    catch (e) { return {}; }
  }
  var state = {
    token: "",
    conversation: null,
    status: null,
    lastSeq: 0,  // where a reconnect resumes: every message up to it has been seen
    seen: {},  // seqs seen beyond lastSeq (a gap before them)
    gapTimer: null,
    outbox: [],
    leaveId: "",
    gotState: !embedded,
    csat: null,
    mode: "loading",
    online: false,
    open: true,
    opensAt: null,
    identified: false,
    started: false,
    visible: !embedded,
    ws: null,
    attempts: 0,
    timer: null,
    pingTimer: null,
    pongTimer: null,
    readSent: 0,
    unread: 0,
    typingTimer: null,
    typedAt: 0,
    fetched: {},
    elements: {},     // message id → <li>
    pending: {},      // client_id → <li>
    refused: false,
  };
  function adopt(saved) {
    state.token = typeof saved.token === "string" ? saved.token : "";
    state.conversation = saved.conversation || null;
    state.status = saved.status || null;
    // a fresh page shows nothing yet: the whole history is asked for (reconnects ask after it)
    state.lastSeq = 0; state.seen = {};
    state.outbox = Array.isArray(saved.outbox) ? saved.outbox.slice(0, 50) : [];
    state.leaveId = saved.leaveId || "";
  }
  adopt(load());
  function persist() {
    var data = JSON.stringify({token: state.token, conversation: state.conversation, status: state.status,
                               outbox: state.outbox, leaveId: state.leaveId});
    try { if (storage) { storage.setItem(storeKey, data); } else { memory[storeKey] = data; } } catch (e) { /* full */ }
    tellParent({kefu: "save", value: data});
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID().replace(/-/g, ""); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  /* --- talking to the host page -------------------------------------------------------------------- */
  function tellParent(message) {
    if (embedded) { message.kefu = message.kefu || "event"; window.parent.postMessage(message, parentOrigin); }
  }
  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data || typeof event.data !== "object") { return; }
    if (parentOrigin !== "*" && event.origin !== parentOrigin) { return; }
    if (event.data.kefu === "state" && !state.gotState) {
      state.gotState = true;
      if (typeof event.data.value === "string" && event.data.value) {
        try { adopt(JSON.parse(event.data.value) || {}); } catch (e) { /* a damaged copy: a new visit */ }
      }
      if (state.visible || state.token || state.outbox.length) { start(); }
    } else if (event.data.kefu === "open") {
      state.visible = true;
      state.unread = 0;
      tellParent({kefu: "unread", count: 0});
      if (!state.gotState) { return; }  // started once the host page has handed over the visit
      start();
      focusCurrent();
      markRead();
    } else if (event.data.kefu === "hidden") {
      state.visible = false;
    }
  });
  document.addEventListener("visibilitychange", markRead);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !$("kw-confirm").open) { tellParent({kefu: "close"}); }
  });
  $("kw-minimize").addEventListener("click", function () { tellParent({kefu: "close"}); });
  if (!embedded) { $("kw-minimize").hidden = true; }

  /* --- the status line and the banner ------------------------------------------------------------- */
  function setStatus() {
    var line = root.querySelector(".kw-status"), text;
    if (state.mode === "closed") { line.dataset.state = "offline"; text = T.ended; }
    else if (!state.open) { line.dataset.state = "offline"; text = T.outOfHours; }
    else if (state.online) { line.dataset.state = "online"; text = T.online; }
    else if (state.bot && state.botState !== "handed_over") { line.dataset.state = "online"; text = T.botOnline; }
    else { line.dataset.state = "offline"; text = T.offline; }
    $("kw-status").textContent = text;
  }
  function banner(text, kind) {
    var el = $("kw-banner");
    el.hidden = !text;
    el.textContent = text || "";
    el.dataset.kind = kind || "";
  }

  /* --- modes: loading, prechat, leave, left, chat, closed ------------------------------------------- */
  function setMode(mode) {
    state.mode = mode;
    root.dataset.mode = mode;
    $("kw-prechat-card").hidden = mode !== "prechat";
    $("kw-leave-card").hidden = mode !== "leave";
    $("kw-left-card").hidden = mode !== "left";
    $("kw-compose").hidden = mode !== "chat";
    $("kw-end").hidden = !(mode === "chat" && state.conversation && state.status === "open");
    $("kw-restart").hidden = mode !== "closed";
    if (mode !== "closed") { $("kw-rating").hidden = true; }
    if (mode === "chat" && !log.children.length) { greet(); }
    setStatus();
  }
  function focusCurrent() {
    var target = null;
    if (state.mode === "chat") { target = input; }
    else if (state.mode === "prechat") { target = $("kw-prechat").querySelector(".kw-field:not([hidden]) input, .kw-field:not([hidden]) textarea"); }
    else if (state.mode === "leave") { target = $("kw-lv-name"); }
    else if (state.mode === "left") { target = $("kw-left-card"); }
    else if (state.mode === "closed") { target = $("kw-rating").hidden ? $("kw-new") : root.querySelector(".kw-stars input"); }
    if (target) { try { target.focus({preventScroll: true}); } catch (e) { target.focus(); } }
  }

  /* --- the visit ------------------------------------------------------------------------------------ */
  function post(path, data, headers) {
    return fetch("/chat/" + cfg.code + "/" + path + "?lang=" + cfg.lang, {
      method: "POST", credentials: "omit", headers: Object.assign({"Content-Type": "application/json"}, headers || {}),
      body: data instanceof FormData ? data : JSON.stringify(data),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) { var error = new Error(json.message || T.error); error.body = json; error.status = response.status; throw error; }
        return json;
      });
    });
  }

  function start() {
    if (state.started) { return; }
    state.started = true;
    openSession(identity);
  }

  function openSession(withIdentity) {
    post("session", {token: state.token || null, identity: withIdentity || null, lang: cfg.lang}).then(function (answer) {
      state.token = answer.token;
      state.online = !!answer.online;
      state.open = !!answer.open;
      state.opensAt = answer.opens_at;
      state.identified = !!answer.identified;
      state.bot = answer.bot || null;
      var known = answer.conversation;
      if (known) {
        if (known.id !== state.conversation) { resetLog(); state.lastSeq = 0; state.seen = {}; }
        state.conversation = known.id;
        state.status = known.status;
        state.csat = known.csat_score;
        state.botState = known.bot_state || "";
      } else if (state.conversation) {
        resetLog();
        state.conversation = null; state.status = null; state.lastSeq = 0; state.seen = {};
      }
      persist();
      state.answer = answer;
      tellParent({kefu: "active", value: !!known});
      choose(answer);
      if (state.visible) { focusCurrent(); }
      connect();
    }).catch(function (error) {
      if (error.body && /^identity_/.test(error.body.code || "") && withIdentity) {
        // the host page's identity token is not valid (expired, or signed with another secret): chat anonymously
        if (window.console) { console.warn("Kefu chat: identity token refused (" + error.body.code + ")"); }
        openSession("");
        return;
      }
      state.started = false;
      banner(error.status === 403 ? T.refused : T.error, "error");
      setTimeout(function () { if (!state.started) { start(); } }, 5000);
    });
  }

  function choose(answer) {
    if (state.conversation && state.status === "open") { setMode("chat"); return; }
    if (state.conversation && state.status === "closed") { setMode("closed"); return; }
    if (!state.open || (!state.online && !state.bot)) { showLeave(); return; }  // the bot answers meanwhile
    var fields = (answer.prechat || []).filter(function (f) {
      return !(state.identified && f.name !== "question");
    });
    var hasForm = fields.length && !(fields.length === 1 && fields[0].name === "question");
    if (!hasForm) { setMode("chat"); return; }
    var form = $("kw-prechat");
    Array.prototype.forEach.call(form.querySelectorAll(".kw-field"), function (el) {
      el.hidden = !fields.some(function (f) { return f.name === el.dataset.field; });
    });
    setMode("prechat");
  }

  function showLeave() {
    var why = state.open ? T.offlineWhy : T.closedWhy;
    if (!state.open && state.opensAt) {
      var when = new Date(state.opensAt), day = dayLabel(when);
      if (cfg.lang === "en" && (day === T.today || day === T.tomorrow)) { day = day.toLowerCase(); }
      why = fill(T.opensAt, {day: day, time: clock(when)});
    }
    $("kw-leave-why").textContent = why;
    if (!state.leaveId) { state.leaveId = uuid(); persist(); }
    setMode("leave");
  }

  /* --- the socket ------------------------------------------------------------------------------------ */
  function connect() {
    if (state.ws || state.refused || !state.token) { return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/ws/chat/" + cfg.code + "/?lang=" + cfg.lang + "&token=" +
                           encodeURIComponent(state.token));
    state.ws = ws;
    ws.onopen = function () {
      state.attempts = 0;
      state.flushed = false;
      banner("");
      send({type: "resume", after: state.lastSeq, conversation: state.conversation});
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(ping, 25000);
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handle(frame);
    };
    ws.onclose = function (event) {
      state.ws = null;
      clearInterval(state.pingTimer);
      clearTimeout(state.pongTimer);
      if (event.code === 4403) { state.refused = true; banner(T.refused, "error"); return; }
      if (event.code === 4401) {  // the token is no longer good: a new visit, then connect again
        state.token = ""; persist(); state.started = false;
        setTimeout(start, 500);
        return;
      }
      banner(T.reconnecting);
      var delay = Math.min(30000, 1000 * Math.pow(2, state.attempts)) * (0.5 + Math.random() / 2);
      state.attempts += 1;
      clearTimeout(state.timer);
      state.timer = setTimeout(connect, delay);
    };
  }
  function send(frame) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) { state.ws.send(JSON.stringify(frame)); return true; }
    return false;
  }
  function ping() {
    if (send({type: "ping"})) {
      clearTimeout(state.pongTimer);
      state.pongTimer = setTimeout(function () { if (state.ws) { state.ws.close(); } }, 10000);
    }
  }
  window.addEventListener("online", function () { if (!state.ws && state.started) { clearTimeout(state.timer); connect(); } });

  function handle(frame) {
    switch (frame.type) {
      case "pong": clearTimeout(state.pongTimer); break;
      case "history": onHistory(frame); break;
      case "ack": onAck(frame); break;
      case "message": onMessage(frame.message); break;
      case "receipt": onReceipt(frame); break;
      case "typing": onTyping(); break;
      case "closed": onClosed(frame.reason); break;
      case "agent_joined": note(T.agentJoined, "joined-" + state.conversation); botDone(); break;
      case "bot_handed_over": onHandedOver(); break;
      case "rated": onRated(frame.score); break;
      case "error": onError(frame); break;
      default: break;
    }
  }

  /* A message or an ack with its seq. lastSeq moves only over seqs all seen; a seq beyond the next one means a
     live frame went missing (or is still on its way): if the gap is still there a moment later, the messages
     after lastSeq are asked for again (those already shown are matched by id, not shown twice). */
  function sawSeq(seq) {
    if (!seq || seq <= state.lastSeq) { return; }
    state.seen[seq] = true;
    while (state.seen[state.lastSeq + 1]) { delete state.seen[state.lastSeq + 1]; state.lastSeq += 1; }
    if (Object.keys(state.seen).length && !state.gapTimer) {
      state.gapTimer = setTimeout(function () {
        state.gapTimer = null;
        if (Object.keys(state.seen).length) {
          send({type: "resume", after: state.lastSeq, conversation: state.conversation});
        }
      }, 1500);
    }
  }

  function onHistory(frame) {
    var conversation = frame.conversation;
    if (conversation && conversation.id !== state.conversation) { resetLog(); state.lastSeq = 0; state.seen = {}; }
    if (conversation) {
      state.conversation = conversation.id;
      state.status = conversation.status;
      state.csat = conversation.csat_score;
      state.botState = conversation.bot_state || "";
    }
    (frame.messages || []).forEach(upsert);
    if (state.botState === "handed_over") { botDone(); }
    persist();
    if (state.status === "closed" && state.mode !== "left") { onClosed(null, true); }
    if (!state.flushed) { state.flushed = true; flushOutbox(); }
    markRead();
  }

  function flushOutbox() {
    state.outbox.forEach(function (item) {
      if (!state.pending[item.client_id]) { renderPending(item); }
      send(item.frame);
    });
  }

  /* --- messages on screen ---------------------------------------------------------------------------- */
  function resetLog() {
    log.textContent = "";
    state.elements = {};
    state.pending = {};
    state.readSent = 0;
    $("kw-rating").hidden = true;
  }
  function greet() {
    var li = state.bot ? element("bot", state.bot.name, fill(T.botGreeting, {name: state.bot.name}), null)
      : element("agent", T.agent, T.greeting, null);
    li.classList.add("kw-greeting");
    li.dataset.greeting = "1";
    log.appendChild(li);
  }
  function clock(date) {
    return date.toLocaleTimeString(cfg.lang === "en" ? "en-GB" : "zh-CN", {hour: "2-digit", minute: "2-digit"});
  }
  function dayLabel(date) {
    var today = new Date(); today.setHours(0, 0, 0, 0);
    var day = new Date(date); day.setHours(0, 0, 0, 0);
    var diff = Math.round((today - day) / 86400000);
    if (diff === 0) { return T.today; }
    if (diff === 1) { return T.yesterday; }
    if (diff === -1) { return T.tomorrow; }
    return date.toLocaleDateString(cfg.lang === "en" ? "en-GB" : "zh-CN", {month: "short", day: "numeric"});
  }
  function side(message) {
    if (message.direction === "in") { return "me"; }
    if (message.author === "bot") { return "bot"; }
    return message.author === "agent" ? "agent" : "system";
  }
  function sizeText(bytes) {
    if (bytes < 1024) { return bytes + " B"; }
    if (bytes < 1048576) { return Math.round(bytes / 102.4) / 10 + " KB"; }
    return Math.round(bytes / 104857.6) / 10 + " MB";
  }
  var FILE_ICON = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="1.9" stroke-linecap="round" stroke-linejoin="round"><path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/><path d="M14 3v5h5"/></svg>';

  function element(who, name, text, message) {
    var li = document.createElement("li");
    li.className = "kw-msg";
    li.dataset.side = who;
    var label = document.createElement("span");
    label.className = "kw-sr";
    label.textContent = fill(T.says, {name: who === "me" ? T.me : name || T.agent});
    li.appendChild(label);
    if ((who === "agent" || who === "bot") && name) {
      var whoEl = document.createElement("span");
      whoEl.className = "kw-who";
      whoEl.setAttribute("aria-hidden", "true");
      if (who === "bot") {
        var avatar = document.createElement("span");
        avatar.className = "kw-bot-avatar";
        avatar.textContent = name.slice(0, 1);
        whoEl.appendChild(avatar);
        whoEl.appendChild(document.createTextNode(name + " "));
        var tag = document.createElement("span");
        tag.className = "kw-bot-tag";
        tag.textContent = T.bot;
        whoEl.appendChild(tag);
      } else {
        whoEl.textContent = name;
      }
      li.appendChild(whoEl);
    }
    var bubble = document.createElement("div");
    bubble.className = "kw-bubble";
    if (text) { bubble.appendChild(document.createTextNode(text)); }
    li.appendChild(bubble);
    var foot = document.createElement("div");
    foot.className = "kw-foot";
    var time = document.createElement("time");
    var at = message && message.at ? new Date(message.at) : new Date();
    time.dateTime = at.toISOString();
    time.textContent = clock(at);
    foot.appendChild(time);
    if (who === "me") {
      var stateEl = document.createElement("span");
      stateEl.className = "kw-state";
      foot.appendChild(stateEl);
    }
    li.appendChild(foot);
    if (who === "bot" && message && message.bot) { botExtras(li, message.bot); }
    return li;
  }

  /* --- the answer bot: suggestions, "was it helpful", "talk to a person" ------------------------------- */
  function button(text, cls, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }
  function rateBox(articleId, consultationId) {
    var box = document.createElement("div");
    box.className = "kw-bot-rate";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", T.wasHelpful);
    function rate(helpful) {
      Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) { b.disabled = true; });
      post("bot/feedback", {token: state.token, article_id: articleId, consultation_id: consultationId, helpful: helpful})
        .then(function () { box.textContent = T.feedbackThanks; box.dataset.done = "1"; })
        .catch(function (error) { banner(error.message || T.error, "error"); Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) { b.disabled = false; }); });
    }
    var ask = document.createElement("span");
    ask.textContent = T.wasHelpful;
    box.appendChild(ask);
    box.appendChild(button(T.helpful, "kw-chip", function () { rate(true); }));
    box.appendChild(button(T.unhelpful, "kw-chip", function () { rate(false); }));
    return box;
  }
  function botExtras(li, bot) {
    var extras = document.createElement("div");
    extras.className = "kw-bot-extras";
    if (bot.kind === "answer" && bot.article_id && bot.consultation_id) {
      extras.appendChild(rateBox(bot.article_id, bot.consultation_id));
    }
    if (bot.kind === "suggestions" && bot.suggestions && bot.suggestions.length) {
      var list = document.createElement("div");
      list.className = "kw-bot-suggestions";
      var lead = document.createElement("div");
      lead.className = "kw-bot-lead";
      lead.textContent = T.suggested;
      list.appendChild(lead);
      bot.suggestions.forEach(function (s) {
        var item = document.createElement("div");
        item.className = "kw-suggestion";
        var open = button(s.title, "kw-suggestion-title", function () {
          if (item.dataset.loaded) { var a = item.querySelector(".kw-suggestion-body"); a.hidden = !a.hidden; open.setAttribute("aria-expanded", String(!a.hidden)); return; }
          open.disabled = true;
          post("bot/article", {token: state.token, article_id: s.article_id}).then(function (found) {
            item.dataset.loaded = "1";
            var answer = document.createElement("div");
            answer.className = "kw-suggestion-body";
            answer.textContent = found.body;
            answer.appendChild(rateBox(found.article_id, found.consultation_id));
            item.appendChild(answer);
            open.setAttribute("aria-expanded", "true");
            scrollDown();
          }).catch(function (error) { banner(error.message || T.error, "error"); })
            .then(function () { open.disabled = false; });
        });
        open.setAttribute("aria-expanded", "false");
        item.appendChild(open);
        list.appendChild(item);
      });
      extras.appendChild(list);
    }
    if (bot.kind === "answer" && state.botState !== "handed_over") {
      extras.appendChild(button(T.toPerson, "kw-chip kw-to-person", toPerson));
    }
    if (extras.children.length) { li.appendChild(extras); }
  }
  function toPerson() {
    Array.prototype.forEach.call(log.querySelectorAll(".kw-to-person"), function (b) { b.disabled = true; });
    post("bot/handoff", {token: state.token, client_id: uuid()}).then(function (answer) {
      state.botState = answer.bot_state;
      if (answer.bot_state !== "active") { onHandedOver(); }
    }).catch(function (error) {
      banner(error.message || T.error, "error");
      Array.prototype.forEach.call(log.querySelectorAll(".kw-to-person"), function (b) { b.disabled = false; });
    });
  }
  function botDone() {
    Array.prototype.forEach.call(log.querySelectorAll(".kw-to-person"), function (b) { b.remove(); });
  }
  function onHandedOver() {
    state.botState = "handed_over";
    botDone();
    setStatus();
    note(T.handedOver, "handed-" + state.conversation);
  }

  function renderFiles(li, files) {
    var bubble = li.querySelector(".kw-bubble");
    var old = bubble.querySelector(".kw-files");
    if (old) { old.remove(); }
    if (!files || !files.length) { return; }
    var box = document.createElement("div");
    box.className = "kw-files";
    files.forEach(function (file) {
      var link = document.createElement("a");
      link.href = file.url;
      link.target = "_blank";
      link.rel = "noopener";
      if (file.image) {
        link.className = "kw-image";
        link.setAttribute("aria-label", T.image + " " + file.name);
        var img = document.createElement("img");
        img.src = file.url;
        img.alt = file.name;
        img.loading = "lazy";
        img.addEventListener("load", scrollDown);
        link.appendChild(img);
      } else {
        link.className = "kw-file";
        link.setAttribute("download", file.name);
        link.setAttribute("aria-label", T.download + " " + file.name);
        var icon = document.createElement("span");
        icon.className = "kw-file-icon";
        icon.innerHTML = FILE_ICON;
        var meta = document.createElement("span");
        var nameEl = document.createElement("span");
        nameEl.className = "kw-file-name";
        nameEl.textContent = file.name;
        var size = document.createElement("span");
        size.className = "kw-file-size";
        size.textContent = sizeText(file.size);
        meta.appendChild(nameEl);
        meta.appendChild(size);
        link.appendChild(icon);
        link.appendChild(meta);
      }
      box.appendChild(link);
    });
    var hasText = Array.prototype.some.call(bubble.childNodes, function (n) { return n.nodeType === 3 && n.nodeValue.trim(); });
    bubble.appendChild(box);
    bubble.classList.toggle("kw-only-image", !hasText && files.every(function (f) { return f.image; }));
  }

  function setState(li, value) {
    li.dataset.state = value;
    var el = li.querySelector(".kw-state");
    if (!el) { return; }
    el.dataset.state = value;
    el.textContent = {pending: T.sending, received: T.sent, read: T.read, failed: T.failed}[value] || T.sent;
    var retry = li.querySelector(".kw-retry");
    if (value === "failed" && !retry && li.dataset.client) {
      retry = document.createElement("button");
      retry.type = "button";
      retry.className = "kw-retry";
      retry.textContent = T.retry;
      retry.addEventListener("click", function () { resend(li.dataset.client); });
      el.after(retry);
    } else if (value !== "failed" && retry) {
      retry.remove();
    }
  }

  function maybeDay(at) {
    var last = null;
    for (var i = log.children.length - 1; i >= 0; i--) {
      var t = log.children[i].querySelector("time");
      if (t) { last = new Date(t.dateTime); break; }
    }
    if (last && last.toDateString() === at.toDateString()) { return; }
    if (!last && at.toDateString() === new Date().toDateString()) { return; }
    var li = document.createElement("li");
    li.className = "kw-day";
    li.setAttribute("aria-hidden", "true");
    li.textContent = dayLabel(at);
    log.appendChild(li);
  }

  function place(li, seq) {
    // in seq order; messages without a seq yet (unsent) stay at the end
    li.dataset.seq = seq || "";
    if (seq) {
      var children = log.querySelectorAll(".kw-msg[data-seq]");
      for (var i = 0; i < children.length; i++) {
        var other = +children[i].dataset.seq;
        if (other && other > seq) { log.insertBefore(li, children[i]); return; }
      }
      var firstPending = log.querySelector('.kw-msg[data-seq=""][data-client]');
      if (firstPending) { log.insertBefore(li, firstPending); return; }
    }
    log.appendChild(li);
  }

  function upsert(message) {
    if (!message || !message.id) { return; }
    var existing = state.elements[message.id];
    var who = side(message);
    if (!existing && who === "me") {
      // the echo of a message of ours still waiting for its ack: the same text
      for (var cid in state.pending) {
        var candidate = state.pending[cid];
        if (!candidate.dataset.id && candidate.dataset.text === (message.body || "") && !message.attachments) {
          existing = candidate; break;
        }
      }
    }
    var fresh = !existing;
    var li = existing || element(who, message.name, message.body, message);
    if (existing && !message.truncated && who !== "bot") {
      var bubble = li.querySelector(".kw-bubble");
      var files = bubble.querySelector(".kw-files");
      bubble.textContent = message.body || "";
      if (files) { bubble.appendChild(files); }
    }
    li.dataset.id = message.id;
    state.elements[message.id] = li;
    if (message.files) { renderFiles(li, message.files); }
    if (who === "me") { setState(li, message.state === "read" ? "read" : "received"); }
    if (fresh) {
      maybeDay(message.at ? new Date(message.at) : new Date());
      place(li, message.seq);
      if (who !== "me" && !state.visible && message.seq > state.lastSeq) {
        state.unread += 1;
        tellParent({kefu: "unread", count: state.unread});
      }
    } else if (!li.dataset.seq) {
      li.remove();
      place(li, message.seq);
    }
    if (!message.truncated) { sawSeq(message.seq); }
    if ((message.truncated || (message.attachments && !message.files)) && !state.fetched[message.id]) {
      state.fetched[message.id] = true;  // the relay's frame is a preview: fetch the whole message once
      send({type: "resume", after: Math.max(0, message.seq - 1), conversation: state.conversation});
    }
    if (who !== "me") { hideTyping(); }
    scrollDown();
  }

  function onMessage(message) {
    if (!message) { return; }
    upsert(message);
    persist();
    markRead();
  }

  function onReceipt(frame) {
    var li = state.elements[frame.id];
    if (li && li.dataset.side === "me" && frame.state === "read") { setState(li, "read"); }
  }

  function note(text, key) {
    if (key && log.querySelector('[data-note="' + key + '"]')) { return; }
    var li = document.createElement("li");
    li.className = "kw-note";
    if (key) { li.dataset.note = key; }
    li.textContent = text;
    log.appendChild(li);
    scrollDown();
  }

  function scrollDown() { body.scrollTop = body.scrollHeight; }

  /* --- sending ------------------------------------------------------------------------------------- */
  function renderPending(item) {
    var li = element("me", "", item.text, null);
    li.dataset.client = item.client_id;
    li.dataset.text = item.text;
    state.pending[item.client_id] = li;
    setState(li, "pending");
    place(li, 0);
    scrollDown();
    return li;
  }

  function queue(frame) {
    var item = {client_id: frame.client_id, text: frame.text, frame: frame};
    state.outbox.push(item);
    persist();
    renderPending(item);
    if (state.mode !== "chat") { setMode("chat"); }
    if (!send(frame)) { connect(); }
    setTimeout(function () { resendIfWaiting(frame.client_id); }, 15000);
  }
  function resendIfWaiting(clientId) {
    var item = state.outbox.filter(function (i) { return i.client_id === clientId; })[0];
    if (item) { send(item.frame); }
  }
  function resend(clientId) {
    var li = state.pending[clientId];
    var item = state.outbox.filter(function (i) { return i.client_id === clientId; })[0];
    if (!item && li) {
      item = {client_id: clientId, text: li.dataset.text, frame: {type: "message", client_id: clientId, text: li.dataset.text, page_url: pageUrl}};
      state.outbox.push(item);
      persist();
    }
    if (li) { setState(li, "pending"); }
    if (item && !send(item.frame)) { connect(); }
  }

  function onAck(frame) {
    var li = state.pending[frame.client_id];
    state.outbox = state.outbox.filter(function (i) { return i.client_id !== frame.client_id; });
    delete state.pending[frame.client_id];
    if (frame.conversation_id && frame.conversation_id !== state.conversation) {
      state.conversation = frame.conversation_id;
      state.lastSeq = 0; state.seen = {};
    }
    state.status = "open";
    sawSeq(frame.seq);
    persist();
    $("kw-end").hidden = false;
    if (!li) { return; }
    var shown = state.elements[frame.id];
    if (shown && shown !== li) { li.remove(); return; }  // already on screen (history or the relay's frame)
    li.dataset.id = frame.id;
    state.elements[frame.id] = li;
    if (li.dataset.state !== "read") { setState(li, "received"); }
    li.remove();
    place(li, frame.seq);
    if (frame.message && frame.message.files) { renderFiles(li, frame.message.files); }
    scrollDown();
  }

  function onError(frame) {
    var li = frame.client_id ? state.pending[frame.client_id] : null;
    var text = frame.code === "throttled" ? T.throttled : frame.message || T.error;
    if (li) {
      var permanent = frame.code !== "server_error" && frame.code !== "throttled" && frame.code !== "busy";
      if (permanent) { state.outbox = state.outbox.filter(function (i) { return i.client_id !== frame.client_id; }); persist(); }
      setState(li, "failed");
      li.title = text;
      return;
    }
    if (state.mode === "closed" && !$("kw-rating").hidden) { $("kw-rate-error").textContent = text; return; }
    banner(text, "error");
    setTimeout(function () { if ($("kw-banner").textContent === text) { banner(""); } }, 6000);
  }

  $("kw-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    if (text.length > 5000) { banner(T.tooLong, "error"); return; }
    input.value = "";
    autosize();
    if (state.details) {  // a pre-chat form without a question: its details go with the first message
      var frame = Object.assign({}, state.details, {client_id: uuid(), text: text});
      state.details = null;
      queue(frame);
    } else {
      queue({type: "message", client_id: uuid(), text: text, page_url: pageUrl});
    }
    input.focus();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      $("kw-form").requestSubmit();
    }
  });
  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 128) + "px";
  }
  input.addEventListener("input", function () {
    autosize();
    var now = Date.now();
    if (input.value.trim() && state.status === "open" && now - state.typedAt > 3000) {
      state.typedAt = now;
      send({type: "typing"});
    }
  });

  /* --- files ---------------------------------------------------------------------------------------- */
  fileInput.accept = cfg.types.join(",");
  $("kw-attach").addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) { return; }
    var suffix = file.name.indexOf(".") >= 0 ? "." + file.name.split(".").pop().toLowerCase() : "";
    if (cfg.types.indexOf(suffix) < 0) { banner(T.fileType, "error"); return; }
    if (file.size > cfg.maxBytes) { banner(fill(T.fileTooBig, {mb: Math.floor(cfg.maxBytes / 1048576)}), "error"); return; }
    banner("");
    upload(file, uuid());
  });
  function upload(file, clientId) {
    var li = element("me", "", fill(T.uploading, {name: file.name}), null);
    li.dataset.client = clientId;
    li.dataset.text = "";
    state.pending[clientId] = li;
    setState(li, "pending");
    place(li, 0);
    if (state.mode !== "chat") { setMode("chat"); }
    scrollDown();
    var form = new FormData();
    form.append("file", file);
    form.append("client_id", clientId);
    form.append("page_url", pageUrl);
    var request = function () {
      return fetch("/chat/" + cfg.code + "/upload?lang=" + cfg.lang, {
        method: "POST", credentials: "omit", headers: {"X-Kefu-Visitor": state.token}, body: form,
      }).then(function (response) {
        return response.json().then(function (json) {
          if (!response.ok) { var e = new Error(json.message || T.uploadFailed); e.permanent = response.status < 500 && response.status !== 429; throw e; }
          return json;
        });
      });
    };
    request().then(function (ack) {
      var bubble = li.querySelector(".kw-bubble");
      bubble.textContent = ack.message && ack.message.body ? ack.message.body : "";
      onAck(ack);
    }).catch(function (error) {
      setState(li, "failed");
      li.querySelector(".kw-bubble").textContent = file.name;
      li.title = error.message || T.uploadFailed;
      var retry = li.querySelector(".kw-retry");
      if (retry) {
        var fresh = retry.cloneNode(true);
        retry.replaceWith(fresh);
        fresh.addEventListener("click", function () { li.remove(); delete state.pending[clientId]; upload(file, clientId); });
      }
      banner(error.message || T.uploadFailed, "error");
    });
  }

  /* --- typing, read receipts --------------------------------------------------------------------------- */
  function onTyping() {
    $("kw-typing-text").textContent = T.typing;
    $("kw-typing").hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(hideTyping, 6000);
  }
  function hideTyping() { $("kw-typing").hidden = true; clearTimeout(state.typingTimer); }

  function markRead() {
    if (!state.visible || document.visibilityState !== "visible" || !state.conversation) { return; }
    var highest = 0;
    Object.keys(state.elements).forEach(function (id) {
      var li = state.elements[id];
      if (li.dataset.side !== "me" && +li.dataset.seq > highest) { highest = +li.dataset.seq; }
    });
    if (highest > state.readSent && send({type: "read", seq: highest})) { state.readSent = highest; }
  }

  /* --- the end, the rating ----------------------------------------------------------------------------- */
  function onClosed(reason, quiet) {
    state.status = "closed";
    persist();
    hideTyping();
    note(reason === "customer_left" ? T.endedByYou : reason ? T.endedByAgent : T.ended, "ended-" + state.conversation);
    tellParent({kefu: "active", value: false});
    setMode("closed");
    if (state.csat) { showThanks(state.csat); } else { $("kw-rating").hidden = false; }
    scrollDown();
    if (state.visible && !quiet) { focusCurrent(); }
  }
  $("kw-end").addEventListener("click", function () { $("kw-confirm").showModal(); });
  $("kw-confirm").addEventListener("close", function () {
    if ($("kw-confirm").returnValue === "end") { send({type: "end"}); }
  });
  $("kw-new").addEventListener("click", function () {
    resetLog();
    state.conversation = null; state.status = null; state.lastSeq = 0; state.seen = {}; state.csat = null;
    persist();
    choose(state.answer || {});
    focusCurrent();
  });

  var stars = Array.prototype.slice.call(document.querySelectorAll(".kw-stars label"));
  stars.forEach(function (label, index) {
    label.querySelector(".kw-sr").textContent = fill(T.stars, {n: index + 1}) + " " + T.rateLabels[index];
  });
  function paintStars(score) {
    stars.forEach(function (label, index) { label.classList.toggle("on", index < score); });
    $("kw-star-caption").textContent = score ? T.rateLabels[score - 1] : "\u00a0";
  }
  $("kw-stars").addEventListener("change", function () {
    paintStars(+($("kw-rate").querySelector("input[name=score]:checked") || {}).value || 0);
    $("kw-rate-error").textContent = "";
  });
  stars.forEach(function (label, index) {
    label.addEventListener("mouseenter", function () { paintStars(index + 1); });
    label.addEventListener("mouseleave", function () {
      paintStars(+($("kw-rate").querySelector("input[name=score]:checked") || {}).value || 0);
    });
  });
  $("kw-rate").addEventListener("submit", function (event) {
    event.preventDefault();
    var checked = $("kw-rate").querySelector("input[name=score]:checked");
    if (!checked) { $("kw-rate-error").textContent = T.rateChoose; return; }
    if (!send({type: "rate", score: +checked.value, comment: $("kw-comment").value.trim()})) {
      $("kw-rate-error").textContent = T.reconnecting;
    }
  });
  function onRated(score) {
    state.csat = score;
    showThanks(score);
    var thanks = $("kw-thanks");
    thanks.focus();
  }
  function showThanks(score) {
    $("kw-rate").hidden = true;
    var thanks = $("kw-thanks");
    thanks.hidden = false;
    thanks.textContent = T.rateThanks + " " + fill(T.rated, {n: score});
    $("kw-rating").hidden = false;
  }

  /* --- forms: pre-chat and leave-a-message -------------------------------------------------------------- */
  function fieldError(form, name, message) {
    var el = form.querySelector("[name=" + name + "]");
    var out = el && $((el.getAttribute("aria-describedby") || "").split(" ")[0]);
    if (el) { el.setAttribute("aria-invalid", message ? "true" : "false"); }
    if (out) { out.textContent = message || ""; }
    return el;
  }
  function check(form, names) {
    var first = null;
    names.forEach(function (pair) {
      var el = form.querySelector("[name=" + pair[0] + "]");
      if (!el || el.closest("[hidden]")) { return; }
      var value = el.value.trim(), message = "";
      if (pair[1] && !value) { message = T.required; }
      else if (value && pair[0] === "phone" && !/^\+?[0-9 ()-]{5,30}$/.test(value)) { message = T.badPhone; }
      else if (value && pair[0] === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) { message = T.badEmail; }
      fieldError(form, pair[0], message);
      if (message && !first) { first = el; }
    });
    return first;
  }
  function valueOf(form, name) {
    var el = form.querySelector("[name=" + name + "]");
    return el && !el.closest("[hidden]") ? el.value.trim() : "";
  }

  ["kw-prechat", "kw-leave"].forEach(function (id) {  // a field's complaint goes once it is edited
    $(id).addEventListener("input", function (event) {
      var name = event.target.name;
      if (!name) { return; }
      fieldError($(id), name, "");
      if (name === "phone" || name === "email") { fieldError($(id), name === "phone" ? "email" : "phone", ""); }
    });
  });

  $("kw-prechat").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.currentTarget;
    var names = Array.prototype.map.call(form.querySelectorAll("[name]"), function (el) {
      return [el.name, el.required];
    });
    var invalid = check(form, names);
    if (invalid) { invalid.focus(); return; }
    var text = valueOf(form, "text");
    var frame = {type: "prechat", client_id: uuid(), name: valueOf(form, "name"), phone: valueOf(form, "phone"),
                 email: valueOf(form, "email"), text: text, page_url: pageUrl};
    setMode("chat");
    if (text) { queue(frame); }
    else { state.details = frame; }
    input.focus();
  });

  $("kw-leave").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.currentTarget;
    var invalid = check(form, [["phone", false], ["email", false], ["text", true]]);
    if (!invalid && !valueOf(form, "phone") && !valueOf(form, "email") && !state.identified) {
      fieldError(form, "phone", T.needContact);
      invalid = form.querySelector("[name=phone]");
    }
    if (invalid) { invalid.focus(); return; }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    post("leave", {token: state.token, client_id: state.leaveId, name: valueOf(form, "name"),
                   phone: valueOf(form, "phone"), email: valueOf(form, "email"), text: valueOf(form, "text"),
                   page_url: pageUrl}).then(function (answer) {
      $("kw-left-number").textContent = fill(T.leftNumber, {number: answer.ticket_number});
      state.leaveId = "";
      state.conversation = null; state.status = null; state.lastSeq = 0; state.seen = {};
      persist();
      setMode("left");
      $("kw-left-card").focus();
    }).catch(function (error) {
      var field = error.body && error.body.details && error.body.details.field;
      if (field && form.querySelector("[name=" + field + "]")) { fieldError(form, field, error.message).focus(); }
      else { banner(error.message || T.error, "error"); }
    }).then(function () { button.disabled = false; });
  });

  /* --- go ----------------------------------------------------------------------------------------------- */
  setStatus();
  if (!embedded) {
    start();
  } else {
    tellParent({kefu: "ready"});  // the host page answers with the visit it keeps ("state")
    setTimeout(function () {  // a host page that never answers: go on with what this frame has
      if (state.gotState) { return; }
      state.gotState = true;
      if (state.visible || state.token || state.outbox.length) { start(); }
    }, 3000);
  }
})();
