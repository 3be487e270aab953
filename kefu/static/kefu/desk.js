/* The agent's desktop: the header's state switch, the offer pop-up and the desk page (kefu/web/views/desk.py).
   Live: app.js hands every pushed event to the page as a `kefu:event` on <body>; the parts that an event
   changes are asked for again (bursts ask once). Clocks count on from the seconds the server measured, so a
   browser's wrong clock changes nothing. */
(function () {
  "use strict";

  var timers = {};
  function soon(name, action, delay) {  // one request per burst of events
    clearTimeout(timers[name]);
    timers[name] = setTimeout(action, delay);
  }
  function trigger(name) {
    if (window.htmx) htmx.trigger(document.body, name, {});
  }
  function refreshOffers() {
    var holder = document.getElementById("offer-holder");
    if (!holder || !window.htmx) return;
    htmx.ajax("GET", holder.dataset.offerUrl, { target: holder, swap: "innerHTML" });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.body.addEventListener("kefu:event", function (e) {
      var data = e.detail || {};
      var me = document.body.dataset.userId;
      var name = data.event || "";
      if (name === "agent.state_changed") {
        if (!data.agent_state || String(data.agent_state.user_id) !== me) return;
        soon("state", function () { trigger("kefu:agent-state"); }, 150);
        soon("desk", function () { trigger("kefu:desk"); }, 400);
      } else if (name === "routing.offer_made") {  // offers go to the agent's own audience only
        soon("offers", refreshOffers, 50);
      } else if (name === "routing.offer_closed") {
        var id = data.object && String(data.object.id);
        // hidden, not removed: an 接受 / 拒绝 request from it may still be on its way back
        document.querySelectorAll('[data-offer="' + id + '"]').forEach(function (card) { card.hidden = true; });
        soon("desk", function () { trigger("kefu:desk"); }, 400);
      } else if (name === "routing.contact_changed") {  // my contacts, my team's queues
        soon("desk", function () { trigger("kefu:desk"); }, 600);
      }
    });

    // an accepted call: the existing screen pop shows the caller's card (as when the PBX rings the agent)
    document.body.addEventListener("kefu:call-pop", function (e) {
      var detail = e.detail || {};
      if (detail.call) openCallPop(detail.call);
    });
  });

  function openCallPop(callId) {
    var holder = document.querySelector(".screen-pop-holder");
    if (!holder) {
      holder = document.createElement("div");
      holder.className = "screen-pop-holder";
      document.body.appendChild(holder);
    }
    holder.dataset.call = String(callId);
    fetch("/calls/" + encodeURIComponent(callId) + "/pop/", { credentials: "same-origin",
                                                              headers: { "HX-Request": "true" } })
      .then(function (answer) { return answer.ok ? answer.text() : ""; })
      .then(function (html) {
        if (holder.dataset.call !== String(callId)) return;
        if (!html) { if (!holder.querySelector(".screen-pop")) holder.remove(); return; }
        holder.innerHTML = html;
        if (window.htmx) htmx.process(holder);
      });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-call-pop]");
    if (button) openCallPop(button.dataset.callPop);
  });

  // --- clocks: time in state and waits count up, offers count down -------------------------------------
  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var mm = h ? (m < 10 ? "0" : "") + m : String(m);
    return (h ? h + ":" : "") + mm + ":" + (s < 10 ? "0" : "") + s;
  }
  function elapsed(el) {  // seconds since the element arrived (its numbers were measured by the server then)
    if (!el.dataset.t0) el.dataset.t0 = String(performance.now());
    return (performance.now() - Number(el.dataset.t0)) / 1000;
  }
  function tick() {
    document.querySelectorAll("[data-clock-seconds]").forEach(function (el) {
      if (el.dataset.clockSeconds === "") return;
      el.textContent = clock(Number(el.dataset.clockSeconds) + elapsed(el));
    });
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.max(0, Number(el.dataset.countdown) - elapsed(el));
      el.textContent = el.hasAttribute("data-countdown-clock") ? clock(left) : String(Math.ceil(left));
      var card = el.closest(".offer-card");
      if (!card) return;
      card.classList.toggle("is-urgent", left <= 5);
      card.classList.toggle("is-expired", left <= 0);
      var meter = card.querySelector("[data-meter]");
      if (meter) meter.style.width = (100 * left / Math.max(1, Number(meter.dataset.total))) + "%";
    });
    document.querySelectorAll(".offer-notice").forEach(function (el) {  // a notice is read, then goes
      if (elapsed(el) > 8) el.remove();
    });
  }
  setInterval(tick, 250);
  document.addEventListener("htmx:afterSettle", tick);
})();
