/* The knowledge base in the workspace: the quick search ("b" opens it from any page; copy an answer or insert it
   into the conversation reply box), and the confirmations of its forms. */
(function () {
  "use strict";

  function typing(target) {
    var tag = (target.tagName || "").toLowerCase();
    return target.isContentEditable || tag === "input" || tag === "textarea" || tag === "select";
  }
  function composer() { return document.querySelector("[data-composer-text]"); }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "b" && document.querySelector("[data-testid=kb-quick]")) {
      event.preventDefault();
      window.dispatchEvent(new CustomEvent("kb-quick"));
    }
  });

  function done(button, text) {
    var slot = button.closest(".kb-quick-actions").querySelector(".kb-quick-done");
    if (slot) slot.textContent = text;
  }
  function insertText(box, text) {
    var start = box.selectionStart || 0, end = box.selectionEnd || start;
    var before = box.value.slice(0, start), after = box.value.slice(end);
    var lead = before && !/\s$/.test(before) ? "\n" : "";
    box.value = before + lead + text + after;
    var at = (before + lead + text).length;
    box.setSelectionRange(at, at);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    var copy = event.target.closest && event.target.closest("[data-kb-copy]");
    var insert = event.target.closest && event.target.closest("[data-kb-insert]");
    var button = copy || insert;
    if (!button) return;
    var results = button.closest("#kb-quick-results");
    var text = button.closest(".kb-quick-hit").querySelector("[data-kb-text]").textContent;
    if (copy) {
      var fallback = function () {
        var area = document.createElement("textarea");
        area.value = text;
        document.body.appendChild(area);
        area.select();
        try { document.execCommand("copy"); } catch (e) { /* the text stays selectable */ }
        area.remove();
      };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).catch(fallback);
      else fallback();
      done(button, results.getAttribute("data-copied"));
      return;
    }
    var box = composer();
    if (!box) return;
    insertText(box, text);
    done(button, results.getAttribute("data-inserted"));
    window.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    box.focus();
  });

  // "insert into reply" only where there is a reply box (a conversation page)
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "kb-quick-results") return;
    var show = !!composer();
    Array.prototype.forEach.call(event.detail.target.querySelectorAll("[data-kb-insert]"), function (b) { b.hidden = !show; });
  });

  // the attachment form shows the chosen file's name (the browser's own file button speaks its own language)
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-kb-file]")) return;
    var slot = input.closest("form").querySelector("[data-kb-file-name]");
    if (slot) slot.textContent = input.files && input.files.length ? input.files[0].name : "";
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-kb-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
})();
