/* Who else has this work order open, and what changed while it was open: the work-order page's collision warning.
   The socket is app.js's (window.KefuLive; ws/watch/ on this page, kefu/web/watching.py): the page watches its
   order when the socket opens and every 25 s after (the heartbeat: a viewer not heard of for 90 s is dropped),
   says when its person types a reply or a note, and unwatches when it goes. The server answers with the list of
   the others ("viewers"); the order's events come as app.js's "kefu:event". Names are set as text, never HTML. */
(function () {
  "use strict";

  var HEARTBEAT_MS = 25000;
  var TYPING_EVERY_MS = 3000;
  var bar = document.querySelector("[data-ticket-presence]");
  if (!bar || !window.KefuLive) return;
  var ticket = Number(bar.dataset.ticketPresence);
  var me = document.body.dataset.userId || "";
  var viewers = [];
  var typingSentAt = 0;
  var live = window.KefuLive;

  function watch() {
    if (live.isOpen()) live.send({ type: "watch", ticket: ticket });
  }

  // --- the others viewing the order --------------------------------------------------------------------
  function render() {
    bar = document.querySelector("[data-ticket-presence]");  // the page body is swapped after each action
    if (!bar) return;
    var list = bar.querySelector("[data-viewers]");
    var warning = bar.querySelector("[data-presence-warning]");
    var anyTyping = false;
    list.textContent = "";
    viewers.forEach(function (viewer) {
      var chip = document.createElement("span");
      chip.className = "viewer" + (viewer.typing ? " is-typing" : "");
      chip.dataset.testid = "viewer";
      chip.dataset.viewer = String(viewer.id);
      var avatar = document.createElement("span");
      avatar.className = "viewer-avatar";
      avatar.textContent = Array.from(viewer.name || "?")[0];
      var words = document.createElement("span");
      words.textContent = viewer.name + " " + (viewer.typing ? bar.dataset.replying : bar.dataset.viewing);
      chip.appendChild(avatar);
      chip.appendChild(words);
      list.appendChild(chip);
      anyTyping = anyTyping || viewer.typing;
    });
    bar.classList.toggle("is-typing", anyTyping);
    if (warning) warning.hidden = !anyTyping;
    bar.hidden = viewers.length === 0;
  }

  document.body.addEventListener("kefu:frame", function (event) {
    var frame = event.detail || {};
    if (frame.type === "viewers" && frame.ticket === ticket) {
      viewers = Array.isArray(frame.viewers) ? frame.viewers : [];
      render();
    } else if (frame.type === "error" && frame.field === "ticket") {
      viewers = [];  // no longer allowed to see the order: nothing of it is heard any more
      render();
    }
  });
  document.body.addEventListener("kefu:live-open", watch);
  document.body.addEventListener("kefu:live-closed", function () {
    viewers = [];  // not known while the socket is down; the watch on reconnecting tells again
    render();
  });
  setInterval(watch, HEARTBEAT_MS);
  window.addEventListener("pagehide", function () { live.send({ type: "unwatch" }); });
  window.addEventListener("pageshow", function (event) { if (event.persisted) watch(); });

  // typing in the reply or the note box tells the others (at most every 3 s)
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-composer] textarea") || !box.value) return;
    var now = Date.now();
    if (now - typingSentAt < TYPING_EVERY_MS) return;
    typingSentAt = now;
    live.send({ type: "typing", ticket: ticket });
  });

  // --- changes made by someone else while the page is open ---------------------------------------------
  // An event of this order made by someone else and newer than the version shown says who changed it. One's own
  // changes are not announced (this tab's come back as the new page body, with the new version).
  document.body.addEventListener("kefu:event", function (event) {
    var data = event.detail || {};
    if (!data.ticket || Number(data.ticket.id) !== ticket) return;
    if (me && String(data.actor) === me) return;
    var banner = document.getElementById("live-banner");
    if (!banner) return;
    var version = data.ticket.version;
    if (version !== null && version !== undefined && Number(version) <= Number(banner.dataset.version || 0)) return;
    var name = data.actor_name;
    if (!name && data.actor) {
      viewers.forEach(function (viewer) { if (String(viewer.id) === String(data.actor)) name = viewer.name; });
    }
    var text = banner.querySelector("[data-live-banner-text]");
    if (name && text) text.textContent = banner.dataset.updatedBy.replace("{name}", name);
    banner.hidden = false;
  });

  document.addEventListener("htmx:afterSettle", render);
  watch();
})();
