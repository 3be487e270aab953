/* The agent's inbox: the live list, the open conversation (messages as they arrive, delivery states, the
   customer typing, "online"; a phone conversation's call card and call lines, refreshed on its call's
   `call.changed` events), and the composer (Enter sends over the socket with a client id and shows the
   message at once until it is acknowledged; files go over HTTP; "/" opens the canned replies).
   The socket is app.js's (window.KefuLive, ws/inbox/ on this page). Text is always set as text, never as HTML;
   HTML comes only from Kefu's own templates. */
(function () {
  "use strict";

  var strings = {};
  var canned = [];
  var pending = {};       // client id → { frame, el }: sent, not yet acknowledged (resent after a reconnect)
  var drafts = {};        // conversation id → what was being written
  var typingSentAt = 0;
  var typingTimer = null;
  var fetching = null;    // the running "messages after" request, and whether another is wanted
  var refetch = false;
  var listTimer = null;
  var callFetching = null; // the running refresh of a phone conversation's call, and whether another is wanted
  var callRefetch = false;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function readJson(id, fallback) {
    var el = document.getElementById(id);
    if (!el) return fallback;
    try { return JSON.parse(el.textContent); } catch (e) { return fallback; }
  }
  function live() { return window.KefuLive || { send: function () { return false; }, isOpen: function () { return false; } }; }
  function fill(template, text) { return String(template || "%(text)s").replace("%(text)s", text); }

  function pane() { return $("[data-pane]"); }
  function paneId() { var p = pane(); return p ? Number(p.dataset.conversation) : 0; }
  function box() { return $("[data-messages]"); }
  function scroller() { return $("[data-scroll]"); }
  function lastSeq() { var p = pane(); return p ? Number(p.dataset.lastSeq || 0) : 0; }
  function setLastSeq(seq) {
    var p = pane();
    if (p && Number(seq) > lastSeq()) p.dataset.lastSeq = String(seq);
  }
  function composer() { return $("[data-composer-text]"); }
  function csrf() {
    var input = $("[data-composer-form] input[name=csrfmiddlewaretoken]") || $("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function newClientId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function clock(iso) {
    var at = iso ? new Date(iso) : new Date();
    if (isNaN(at.getTime())) at = new Date();
    return ("0" + at.getHours()).slice(-2) + ":" + ("0" + at.getMinutes()).slice(-2);
  }
  function nearBottom() {
    var s = scroller();
    return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 160;
  }
  function toBottom() { var s = scroller(); if (s) s.scrollTop = s.scrollHeight; }
  function byAttr(name, value, root) {
    return $all("[" + name + "]", root).filter(function (el) { return el.getAttribute(name) === String(value); })[0];
  }

  // --- messages in the open conversation ------------------------------------------------------------------
  function setState(el, state, text) {
    var label = $("[data-state]", el);
    if (!label) return;
    label.className = "state state-" + state;
    label.textContent = text || (strings.states || {})[state] || "";
    el.classList.toggle("failed", state === "failed");
  }

  function buildMessage(m) {
    var template = document.getElementById("conv-msg-template");
    var el = template.content.firstElementChild.cloneNode(true);
    var out = m.direction === "out";
    el.classList.add(out ? "out" : "in");
    if (m.automated) el.classList.add("automated");
    if (m.author_kind === "bot") el.classList.add("bot");
    el.setAttribute("data-message", m.id ? String(m.id) : "");
    if (m.seq) el.setAttribute("data-seq", String(m.seq));
    if (m.client_id) el.setAttribute("data-client", m.client_id);
    el.setAttribute("data-testid", "message");
    var text = $(".bubble-text", el);
    text.textContent = m.body || (strings.kinds || {})[m.kind] || strings.attachment || "";
    var who = $(".who", el);
    who.textContent = out ? (m.author_name || (m.author_kind === "system" ? strings.system : "")) : "";
    if (!who.textContent) who.remove();
    $("time", el).textContent = clock(m.created_at);
    if (out) setState(el, m.delivery_state || "queued");
    else $("[data-state]", el).remove();
    return el;
  }

  function insertMessage(el) {
    var messages = box();
    if (!messages) return;
    var empty = $(".messages-empty", messages);
    if (empty) empty.remove();
    var stick = nearBottom() || el.classList.contains("pending");
    var seq = Number(el.getAttribute("data-seq") || 0);
    var before = null;
    if (seq) {
      before = $all("[data-seq]", messages).filter(function (x) { return Number(x.getAttribute("data-seq")) > seq; })[0] ||
               $(".msg-row.pending", messages);
    }
    if (before) messages.insertBefore(el, before);
    else messages.appendChild(el);
    if (stick) toBottom();
  }

  function confirmMessage(el, m) {
    el.classList.remove("pending");
    if (m.id) el.setAttribute("data-message", String(m.id));
    if (m.seq) el.setAttribute("data-seq", String(m.seq));
    if (m.delivery_state) setState(el, m.delivery_state);
    var retry = $(".retry", el);
    if (retry) retry.remove();
    if (m.seq) setLastSeq(m.seq);
    if (m.client_id) delete pending[m.client_id];
  }

  function onMessage(m) {
    var messages = box();
    if (!messages || !m) return;
    var known = byAttr("data-message", m.id, messages);
    if (known) { if (m.delivery_state && known.querySelector("[data-state]")) setState(known, m.delivery_state); return; }
    var mine = m.client_id ? byAttr("data-client", m.client_id, messages) : null;
    if (mine && !m.attachments) { confirmMessage(mine, m); return; }
    // files, long texts and gaps are read rendered by the server
    if (m.attachments || (m.body || "").length >= 2000 || m.seq > lastSeq() + 1) { fetchAfter(); return; }
    insertMessage(buildMessage(m));
    setLastSeq(m.seq);
  }

  function fetchAfter() {
    var p = pane();
    if (!p) return;
    if (fetching) { refetch = true; return; }
    var id = paneId();
    fetching = fetch(p.dataset.messagesUrl + "?after=" + lastSeq(), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html || paneId() !== id) return;
        var holder = document.createElement("template");
        holder.innerHTML = html;
        $all("[data-message]", holder.content).forEach(function (el) {
          var messages = box();
          if (byAttr("data-message", el.getAttribute("data-message"), messages)) return;
          var client = el.getAttribute("data-client");
          var mine = client ? byAttr("data-client", client, messages) : null;
          if (mine) { mine.remove(); delete pending[client]; }
          insertMessage(el);
          if (window.htmx) htmx.process(el);
          setLastSeq(el.getAttribute("data-seq"));
        });
        markRead();
      })
      .catch(function () { /* the next event or reconnect asks again */ })
      .then(function () {
        fetching = null;
        if (refetch) { refetch = false; fetchAfter(); }
      });
  }

  // --- a phone conversation's call: its card and its course follow the call's `call.changed` events ----------
  function paneCall() { var p = pane(); return p && p.dataset.call ? p.dataset.call : ""; }
  function refreshCall() {
    var p = pane();
    if (!p || !paneCall()) return;
    if (callFetching) { callRefetch = true; return; }
    var id = paneId();
    // the pane as the server renders it now; only the card and the lines are taken from it (open panels,
    // the side panel and a recording being played stay as they are)
    callFetching = fetch(p.dataset.url, { credentials: "same-origin",
                                          headers: { "HX-Request": "true", "HX-Target": "conv-pane" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html || paneId() !== id) return;
        var holder = document.createElement("template");
        holder.innerHTML = html;
        var card = $("[data-call-card]", holder.content);
        var old = $("[data-call-card]");
        if (card && old && card.outerHTML !== old.outerHTML) {
          $all("audio", card).forEach(function (audio) {  // the same recording keeps its player (and its place)
            var same = $all("audio", old).filter(function (a) { return a.getAttribute("src") === audio.getAttribute("src"); })[0];
            if (same) audio.replaceWith(same);
          });
          old.replaceWith(card);
        }
        var lines = $("[data-messages]", holder.content);
        var messages = box();
        if (lines && messages && lines.innerHTML !== messages.innerHTML) {
          var stick = nearBottom();
          messages.innerHTML = lines.innerHTML;
          if (window.htmx) htmx.process(messages);
          if (stick) toBottom();
        }
      })
      .catch(function () { /* the next event or reconnect asks again */ })
      .then(function () {
        callFetching = null;
        if (callRefetch) { callRefetch = false; refreshCall(); }
      });
  }

  function onDelivery(m) {
    var el = byAttr("data-message", m.id, box());
    if (el) setState(el, m.delivery_state);
  }

  // --- the list -------------------------------------------------------------------------------------------
  function listState() {
    var list = $(".conv-list");
    return { view: list ? list.dataset.view : "", q: list ? list.dataset.q || "" : "" };
  }
  function refreshList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(function () {
      var holder = $("#conv-list");
      if (!holder || !window.htmx) return;
      var now = listState();
      var url = holder.dataset.listUrl + "?view=" + encodeURIComponent(now.view) +
                (now.q ? "&q=" + encodeURIComponent(now.q) : "");
      htmx.ajax("GET", url, { target: "#conv-list", swap: "innerHTML" });
    }, 300);
  }
  function markActive() {
    var id = paneId();
    $all(".conv-row").forEach(function (row) {
      row.classList.toggle("active", Number(row.dataset.conversation) === id);
    });
  }
  function rowOf(id) { return byAttr("data-conversation", id, $(".conv-list") || document); }
  function preview(m) {
    var body = (m.body || "").replace(/\s+/g, " ").trim() || (strings.kinds || {})[m.kind] || strings.attachment || "";
    if (m.direction === "out") body = fill(m.author_kind === "agent" ? strings.mine : strings.system_prefix, body);
    return body.length > 60 ? body.slice(0, 60) + "…" : body;
  }
  // whether a conversation not in the list may belong to the tab shown (supervisors hear every message)
  function mayBelong(conversation) {
    var inbox = $("[data-inbox]");
    var view = listState().view;
    var open = conversation.status === "open";
    if (view === "mine") return open && conversation.assignee_id === Number(inbox.dataset.user);
    if (view === "waiting") return open && conversation.assignee_id === null;
    if (view === "team") return open && String(conversation.team_id) === inbox.dataset.team;
    if (view === "closed") return !open;
    return true;
  }
  function onRowMessage(conversation, m) {
    var row = rowOf(conversation.id);
    if (!row) { if (mayBelong(conversation)) refreshList(); return; }
    var text = $("[data-preview]", row);
    if (text) text.textContent = preview(m);
    var when = $("[data-when]", row);
    if (when) when.textContent = clock(m.created_at);
    if (m.direction === "in" && conversation.id !== paneId()) {
      var unread = $("[data-unread]", row);
      if (unread) {
        unread.textContent = String(Number(unread.textContent || 0) + 1);
        unread.hidden = false;
        row.classList.add("has-unread");
      }
    }
    var list = row.parentNode;
    if (list && list.firstElementChild !== row) list.insertBefore(row, list.firstElementChild);
  }

  // --- what the socket says -------------------------------------------------------------------------------
  function onEvent(data) {
    if (data.event === "call.changed") {
      if (data.call && paneCall() === String(data.call.id)) refreshCall();
      return;
    }
    var conversation = data.conversation;
    if (!conversation) return;
    var open = conversation.id === paneId();
    var type = data.event;
    if (type === "conversation.message_received" || type === "conversation.message_sent") {
      var m = data.message;
      if (!m) return;
      onRowMessage(conversation, m);
      if (open) {
        onMessage(m);
        if (m.direction === "in") { showTyping(false); markRead(); refreshAssist(); }
      }
    } else if (type === "conversation.message_delivery_changed") {
      if (open && data.message) onDelivery(data.message);
    } else {
      refreshList();
      var inbox = $("[data-inbox]");
      if (open && inbox && data.actor !== Number(inbox.dataset.user)) reloadPane();
    }
  }

  function onFrame(frame) {
    if (frame.type === "ack") {
      var sent = pending[frame.client_id];
      if (sent) {
        delete pending[frame.client_id];
        if (sent.el.classList.contains("pending")) {
          confirmMessage(sent.el, { id: frame.id, seq: frame.seq, client_id: frame.client_id });
          if (sent.el.querySelector("[data-state]").textContent === strings.sending) setState(sent.el, "queued");
        }
      }
    } else if (frame.type === "error") {
      var failed = frame.client_id ? pending[frame.client_id] : null;
      if (failed) { delete pending[frame.client_id]; markFailed(failed.el, failed.frame); }
      if (frame.code !== "not_found" || failed) showError(frame.message);
    } else if (frame.type === "presence") {
      if (frame.conversation === paneId()) {
        var pill = $("[data-online]");
        if (pill) pill.hidden = !frame.online;
      }
      var row = rowOf(frame.conversation);
      if (row) {
        var dot = $(".online-dot", row);
        if (frame.online && !dot) {
          dot = document.createElement("i");
          dot.className = "online-dot";
          $(".conv-avatar", row).appendChild(dot);
        } else if (!frame.online && dot) dot.remove();
      }
    } else if (frame.type === "typing") {
      if (frame.conversation === paneId() && frame.from === "customer") showTyping(true);
    }
  }

  function showTyping(on) {
    var hint = $("[data-typing]");
    if (!hint) return;
    clearTimeout(typingTimer);
    var stick = nearBottom();
    hint.hidden = !on;
    if (on) typingTimer = setTimeout(function () { hint.hidden = true; }, 6000);
    if (stick) toBottom();
  }

  function markRead() {
    var id = paneId();
    if (!id || document.hidden) return;
    live().send({ type: "read", conversation: id, seq: lastSeq() });
    var row = rowOf(id);
    if (row) {
      var unread = $("[data-unread]", row);
      if (unread) { unread.hidden = true; unread.textContent = "0"; }
      row.classList.remove("has-unread");
    }
  }

  function watch() {
    var id = paneId();
    if (id) live().send({ type: "watch", conversation: id });
  }

  // Agent assist ("推荐知识") follows the customer: a second after their latest message it is read again, unless
  // the agent has an article open in it (they are reading or about to insert it).
  var assistTimer = null;
  function refreshAssist() {
    clearTimeout(assistTimer);
    assistTimer = setTimeout(function () {
      var panel = $("[data-testid=assist-panel]");
      var button = panel && $("[data-testid=assist-refresh]", panel);
      if (!button || $(".assist-title[aria-expanded=true]", panel)) return;
      button.click();
    }, 1000);
  }

  function reloadPane() {
    var p = pane();
    if (p && window.htmx) htmx.ajax("GET", p.dataset.url, { target: "#conv-pane", swap: "innerHTML" });
  }

  // --- the composer ---------------------------------------------------------------------------------------
  function showError(message) {
    var slot = $("[data-composer-error]");
    if (slot) slot.textContent = message || "";
  }

  function markFailed(el, frame) {
    el.classList.remove("pending");
    setState(el, "failed", strings.failed);
    if (!frame || $(".retry", el)) return;
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry link-btn";
    retry.textContent = strings.retry;
    retry.addEventListener("click", function () {
      retry.remove();
      el.classList.add("pending");
      setState(el, "queued", strings.sending);
      pending[frame.client_id] = { frame: frame, el: el };
      live().send(frame);
    });
    $(".bubble-meta", el).appendChild(retry);
  }

  function pendingBubble(text, clientId, label) {
    var el = buildMessage({ direction: "out", body: text, client_id: clientId, author_kind: "agent",
                            author_name: "", delivery_state: "queued", kind: "text" });
    el.classList.add("pending");
    setState(el, "queued", label || strings.sending);
    insertMessage(el);
    return el;
  }

  function sendOverSocket(text) {
    var id = paneId();
    var clientId = newClientId();
    var frame = { type: "send", conversation: id, client_id: clientId, text: text };
    var el = pendingBubble(text, clientId);
    pending[clientId] = { frame: frame, el: el };
    live().send(frame);  // closed: resent when the socket is back (the same client id: stored once)
  }

  function sendOverHttp(form, text, files) {
    var clientId = newClientId();
    var names = Array.prototype.map.call(files, function (f) { return f.name; }).join("、");
    var el = pendingBubble([text, names].filter(Boolean).join("\n"), clientId,
                           files.length ? strings.uploading : strings.sending);
    var body = new FormData();
    body.append("text", text);
    body.append("client_id", clientId);
    Array.prototype.forEach.call(files, function (f) { body.append("files", f); });
    fetch(pane().dataset.sendUrl, { method: "POST", body: body, credentials: "same-origin",
                                    headers: { "X-CSRFToken": csrf() } })
      .then(function (response) { return response.json().catch(function () { return { type: "error" }; }); })
      .then(function (answer) {
        if (answer.type === "ack") {
          if (files.length) { el.remove(); fetchAfter(); }
          else confirmMessage(el, { id: answer.id, seq: answer.seq, client_id: clientId });
        } else {
          markFailed(el, null);
          showError(answer.message || strings.failed);
        }
      })
      .catch(function () { markFailed(el, null); showError(strings.failed); });
  }

  function submit(form) {
    var box = composer();
    var input = $("[data-files]", form);
    var files = input && input.files ? Array.prototype.slice.call(input.files) : [];
    var text = box.value.replace(/^\s+|\s+$/g, "");
    if (!text && !files.length) return;
    showError("");
    if (files.length || !live().isOpen()) sendOverHttp(form, text, files);
    else sendOverSocket(text);
    box.value = "";
    drafts[paneId()] = "";
    if (input) input.value = "";
    showFiles(form);
    closeMenu();
    box.focus();
  }

  function showFiles(form) {
    var list = $("[data-file-list]", form);
    var input = $("[data-files]", form);
    if (!list || !input) return;
    list.textContent = "";
    var files = input.files || [];
    Array.prototype.forEach.call(files, function (f) {
      var chip = document.createElement("span");
      chip.className = "file-chip";
      chip.textContent = f.name;
      list.appendChild(chip);
    });
    list.hidden = !files.length;
  }

  // --- canned replies: "/" and what follows filters them ------------------------------------------------
  var menuItems = [];
  var menuIndex = 0;
  function menu() { return $("[data-canned-menu]"); }
  function menuOpen() { var m = menu(); return !!m && !m.hidden; }
  function closeMenu() { var m = menu(); if (m) m.hidden = true; menuItems = []; }
  function slashQuery(box) {
    var before = box.value.slice(0, box.selectionStart);
    var found = /(^|\s)\/([^\s\/]*)$/.exec(before);
    return found ? found[2] : null;
  }
  function openMenu(query) {
    var m = menu();
    if (!m) return;
    var q = (query || "").toLowerCase();
    menuItems = canned.filter(function (r) {
      return !q || r.shortcut.toLowerCase().indexOf(q) >= 0 || r.title.toLowerCase().indexOf(q) >= 0;
    }).sort(function (a, b) {
      return (a.shortcut.toLowerCase().indexOf(q) === 0 ? 0 : 1) - (b.shortcut.toLowerCase().indexOf(q) === 0 ? 0 : 1);
    }).slice(0, 8);
    menuIndex = 0;
    m.textContent = "";
    if (!menuItems.length) {
      var none = document.createElement("div");
      none.className = "canned-none";
      none.textContent = strings.no_canned;
      m.appendChild(none);
    }
    menuItems.forEach(function (reply, index) {
      var item = document.createElement("button");
      item.type = "button";
      item.className = "canned-item";
      item.setAttribute("role", "option");
      item.setAttribute("data-testid", "canned-item");
      var head = document.createElement("span");
      head.className = "canned-head";
      var key = document.createElement("b");
      key.textContent = "/" + reply.shortcut;
      var title = document.createElement("span");
      title.textContent = reply.title;
      head.appendChild(key);
      head.appendChild(title);
      var body = document.createElement("span");
      body.className = "canned-body";
      body.textContent = reply.body;
      item.appendChild(head);
      item.appendChild(body);
      item.addEventListener("mousedown", function (event) { event.preventDefault(); insertCanned(index); });
      m.appendChild(item);
    });
    m.hidden = false;
    highlight();
  }
  function highlight() {
    $all(".canned-item", menu()).forEach(function (item, index) {
      item.classList.toggle("on", index === menuIndex);
      item.setAttribute("aria-selected", index === menuIndex ? "true" : "false");
      if (index === menuIndex) item.scrollIntoView({ block: "nearest" });
    });
  }
  // {客户姓名} {坐席姓名} {工单号} {今天}: the values the server rendered for this conversation; an unknown
  // variable or one without a value stays as written, for the agent to fill in
  function fillVariables(body, form) {
    var values = {};
    try { values = JSON.parse((form && form.getAttribute("data-canned-values")) || "{}"); } catch (e) { values = {}; }
    return body.replace(/\{([^{}\s]{1,20})\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : all;
    });
  }
  function insertCanned(index) {
    var reply = menuItems[index];
    var box = composer();
    if (!reply || !box) return;
    var caret = box.selectionStart;
    var before = box.value.slice(0, caret).replace(/\/[^\s\/]*$/, "");
    var after = box.value.slice(caret);
    var text = fillVariables(reply.body, box.form);
    box.value = before + text + after;
    var at = before.length + text.length;
    box.setSelectionRange(at, at);
    drafts[paneId()] = box.value;
    closeMenu();
    box.focus();
  }

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-composer-text]")) return;
    if (menuOpen()) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var n = menuItems.length;
        if (n) menuIndex = (menuIndex + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
        highlight();
        return;
      }
      if ((event.key === "Enter" || event.key === "Tab") && menuItems.length && !event.shiftKey) {
        event.preventDefault();
        insertCanned(menuIndex);
        return;
      }
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); closeMenu(); return; }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.metaKey && !event.altKey &&
        !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit(box.form);
    }
  }, true);

  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-composer-text]")) return;
    drafts[paneId()] = box.value;
    var query = slashQuery(box);
    if (query !== null && canned.length) openMenu(query);
    else closeMenu();
    var now = Date.now();
    if (box.value && now - typingSentAt > 3000) {
      typingSentAt = now;
      live().send({ type: "typing", conversation: paneId() });
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-composer-form]")) return;
    event.preventDefault();
    submit(form);
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-files]")) showFiles(event.target.form);
  });

  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-canned-open]");
    if (opener) {
      var box = composer();
      if (!box) return;
      var caret = box.selectionStart;
      var lead = caret && !/\s/.test(box.value.charAt(caret - 1)) ? " /" : "/";
      box.value = box.value.slice(0, caret) + lead + box.value.slice(caret);
      box.setSelectionRange(caret + lead.length, caret + lead.length);
      box.focus();
      openMenu("");
      return;
    }
    if (menuOpen() && !(event.target.closest && event.target.closest("[data-canned-menu]"))) closeMenu();
  });

  // --- the page's life ------------------------------------------------------------------------------------
  function paneLoaded() {
    markActive();
    closeMenu();
    var box = composer();
    if (box) box.value = drafts[paneId()] || "";
    toBottom();
    watch();
    markRead();
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "conv-pane") {
      var box = composer();
      if (box) drafts[paneId()] = box.value;
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "conv-pane") paneLoaded();
    if (target.id === "conv-list") {
      markActive();
      var view = $("[data-view-input]");
      if (view) view.value = listState().view;
      var search = $("[data-testid=inbox-search]");
      if (search && document.activeElement !== search) search.value = listState().q;
    }
  });
  document.body.addEventListener("kefu:event", function (event) { onEvent(event.detail || {}); });
  document.body.addEventListener("kefu:frame", function (event) { onFrame(event.detail || {}); });
  document.body.addEventListener("kefu:inbox-changed", refreshList);
  document.body.addEventListener("kefu:live-open", function (event) {
    watch();
    markRead();
    Object.keys(pending).forEach(function (id) { live().send(pending[id].frame); });
    if (event.detail && event.detail.resumed) { fetchAfter(); refreshList(); refreshCall(); }
  });
  window.addEventListener("focus", markRead);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) markRead(); });

  function ready() {
    if (!$("[data-inbox]")) return;
    strings = readJson("inbox-strings", {});
    canned = readJson("canned-replies", []);
    if (pane()) paneLoaded();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
