/* The help centre's only script of its own: the "在线咨询" links open the chat widget in the page when it has
   loaded (window.KefuChat, from /chat/<code>/widget.js); without it they lead to the chat page itself. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-chat-open]") : null;
    if (!link || !window.KefuChat || event.metaKey || event.ctrlKey || event.shiftKey) { return; }
    event.preventDefault();
    window.KefuChat.open();
  });
})();
