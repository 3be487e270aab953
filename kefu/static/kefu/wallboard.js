// The wallboard (实时监控, kefu/templates/web/wallboard/page.html): its figures are read again 0.8 s after the floor
// changes (a burst once) and every 15 s in any case (the page's hx-trigger). The floor's changes are heard through
// the socket's `board` group, joined on every connection (a queue's calls reach only its team and the supervisors,
// but every queue is on every wallboard), and from the events of the person's own audiences.
(function () {
  "use strict";
  var timer = null;
  function changed() {
    clearTimeout(timer);
    timer = setTimeout(function () { if (window.htmx) htmx.trigger("#wallboard", "wallboard-refresh"); }, 800);
  }
  function join() { if (window.KefuLive) window.KefuLive.send({ type: "board" }); }
  document.body.addEventListener("kefu:live-open", join);
  document.body.addEventListener("kefu:frame", function (e) {
    var data = e.detail || {};
    if (data.type === "board") changed();
    if (data.type === "board_joined") document.body.dataset.boardState = "joined";
  });
  document.body.addEventListener("kefu:event", function (e) {
    var name = e.detail && e.detail.event;
    if (name === "call.changed" || name === "agent.state_changed") changed();
  });
  if (window.KefuLive && window.KefuLive.isOpen()) join();
})();
