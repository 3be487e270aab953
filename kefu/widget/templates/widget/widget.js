/* Kefu chat widget: <script src="https://kefu.example.com/chat/CODE/widget.js" async></script>
   Optional attributes: data-lang="en" | "zh-hans", data-identity="<token signed by your server>".
   Adds a launcher button and the chat frame (served by Kefu) to the page; window.KefuChat.open() / close() /
   toggle() open and close it from your own buttons. Styles live in a shadow root: the page's CSS is untouched. */
(function () {
  "use strict";
  var config = {{ config|safe }};
  var registry = window.__kefuChat = window.__kefuChat || {};
  if (registry[config.code]) { return; }  // included twice
  registry[config.code] = true;

  var marker = "/chat/" + config.code + "/widget.js";
  var script = document.currentScript;
  if (!script || (script.src || "").indexOf(marker) < 0) {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) {
      if ((all[i].src || "").indexOf(marker) >= 0) { script = all[i]; break; }
    }
  }
  var base = new URL(script.src, location.href).origin;

  function pickLanguage() {
    var asked = (script.getAttribute("data-lang") || "").toLowerCase();
    if (asked === "en" || asked === "zh-hans") { return asked; }
    var wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (var i = 0; i < wanted.length; i++) {
      var tag = String(wanted[i]).toLowerCase();
      if (tag.indexOf("zh") === 0) { return "zh-hans"; }
      if (tag.indexOf("en") === 0) { return "en"; }
    }
    return "zh-hans";
  }
  var lang = pickLanguage();
  var labels = config.labels[lang];
  var fragment = new URLSearchParams({
    identity: script.getAttribute("data-identity") || "", page: location.href.slice(0, 500), origin: location.origin,
  });
  var frameUrl = base + "/chat/" + encodeURIComponent(config.code) + "/frame?lang=" + lang + "#" + fragment.toString();

  var css = [
    ":host { all: initial; }",
    ".launcher { position: fixed; right: 24px; bottom: 24px; z-index: 2147483000; width: 60px; height: 60px;",
    "  border-radius: 50%; border: 0; cursor: pointer; color: #fff; display: grid; place-items: center;",
    "  background: linear-gradient(135deg, #3d7bff 0%, #2456e0 100%);",
    "  box-shadow: 0 10px 28px rgba(36, 86, 224, .38), 0 2px 6px rgba(16, 24, 40, .18);",
    "  transition: transform .18s ease, box-shadow .18s ease; }",
    ".launcher:hover { transform: translateY(-2px) scale(1.03); box-shadow: 0 14px 32px rgba(36, 86, 224, .45); }",
    ".launcher:focus-visible { outline: 3px solid #9ab8ff; outline-offset: 3px; }",
    ".launcher svg { width: 28px; height: 28px; }",
    ".launcher .when-open { display: none; }",
    ".launcher[aria-expanded=true] .when-open { display: block; }",
    ".launcher[aria-expanded=true] .when-closed { display: none; }",
    ".badge { position: absolute; top: -2px; right: -2px; min-width: 22px; height: 22px; padding: 0 6px;",
    "  border-radius: 11px; background: #f04438; color: #fff; border: 2px solid #fff; box-sizing: border-box;",
    "  font: 600 12px/18px -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Arial, sans-serif; text-align: center; }",
    ".badge[hidden] { display: none; }",
    ".panel { position: fixed; right: 24px; bottom: 100px; z-index: 2147483000; width: 380px;",
    "  height: min(640px, calc(100vh - 124px)); border-radius: 16px; overflow: hidden; background: #f4f6fb;",
    "  box-shadow: 0 24px 60px rgba(16, 24, 40, .22), 0 4px 14px rgba(16, 24, 40, .10);",
    "  transform-origin: bottom right; transition: opacity .18s ease, transform .18s ease; }",
    ".panel[hidden] { display: block; visibility: hidden; opacity: 0; transform: translateY(12px) scale(.98);",
    "  pointer-events: none; }",
    ".panel iframe { width: 100%; height: 100%; border: 0; display: block; color-scheme: light; }",
    "@media (max-width: 480px) {",
    "  .panel { inset: 0; right: 0; bottom: 0; width: 100%; height: 100%; border-radius: 0; }",
    "  .launcher { right: 16px; bottom: 16px; }",
    "  .launcher[aria-expanded=true] { display: none; }",
    "}",
    "@media (prefers-reduced-motion: reduce) { .launcher, .panel { transition: none; } }",
  ].join("\n");

  var host = document.createElement("div");
  host.id = "kefu-chat-" + config.code;
  var shadow = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [sheet];
  } catch (e) {
    var style = document.createElement("style");
    style.textContent = css;
    shadow.appendChild(style);
  }

  var launcher = document.createElement("button");
  launcher.type = "button";
  launcher.className = "launcher";
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "kefu-panel");
  launcher.setAttribute("aria-label", labels.open);
  launcher.title = labels.open;
  launcher.setAttribute("part", "launcher");
  launcher.innerHTML =
    '<svg class="when-closed" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.9" ' +
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 11.5a8.4 8.4 0 0 1-9 8.4 9.4 9.4 ' +
    '0 0 1-3.9-.8L3 20.5l1.4-4.2A7.9 7.9 0 0 1 3 11.5 8.6 8.6 0 0 1 12 3a8.6 8.6 0 0 1 9 8.5z"/><path d="M8.5 ' +
    '11.5h.01M12 11.5h.01M15.5 11.5h.01" stroke-width="2.6"/></svg>' +
    '<svg class="when-open" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" ' +
    'stroke-linecap="round" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
  var badge = document.createElement("span");
  badge.className = "badge";
  badge.hidden = true;
  launcher.appendChild(badge);

  var panel = document.createElement("div");
  panel.className = "panel";
  panel.id = "kefu-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", labels.title);
  var frame = document.createElement("iframe");
  frame.title = labels.title;
  frame.src = frameUrl;
  frame.setAttribute("allow", "clipboard-write");
  frame.setAttribute("referrerpolicy", "origin");
  panel.appendChild(frame);

  shadow.appendChild(panel);
  shadow.appendChild(launcher);

  // The visit (the visitor's token, the conversation, unsent messages) is kept here, in the page's own storage:
  // browsers refuse storage to a frame of another site. The frame asks for it when it loads ("ready").
  var storeKey = "kefu.chat." + config.code;
  var memory = "";
  function loadVisit() {
    try { return window.localStorage.getItem(storeKey) || ""; } catch (e) { return memory; }
  }
  function saveVisit(value) {
    if (typeof value !== "string" || value.length > 500000) { return; }
    memory = value;
    try { window.localStorage.setItem(storeKey, value); } catch (e) { /* storage off or full: memory only */ }
  }

  var isOpen = false;
  function tell(message) {
    if (frame.contentWindow) { frame.contentWindow.postMessage(message, base); }
  }
  function setOpen(open) {
    if (open === isOpen) { return; }
    isOpen = open;
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", open ? labels.close : labels.open);
    launcher.title = open ? labels.close : labels.open;
    tell({kefu: open ? "open" : "hidden"});
    if (open) {
      badge.hidden = true;
      frame.focus();
    } else {
      launcher.focus();
    }
  }
  launcher.addEventListener("click", function () { setOpen(!isOpen); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen) { setOpen(false); }
  });
  window.addEventListener("message", function (event) {
    if (event.origin !== base || event.source !== frame.contentWindow || !event.data) { return; }
    var data = event.data;
    if (data.kefu === "close") { setOpen(false); }
    else if (data.kefu === "ready") {
      tell({kefu: "state", value: loadVisit()});
      if (isOpen) { tell({kefu: "open"}); }
    }
    else if (data.kefu === "save") { saveVisit(data.value); }
    else if (data.kefu === "unread") {
      var count = +data.count || 0;
      badge.hidden = isOpen || !count;
      badge.textContent = count > 99 ? "99+" : String(count);
      launcher.setAttribute("aria-label", isOpen || !count ? (isOpen ? labels.close : labels.open)
        : labels.open + " (" + labels.unread.replace("{n}", String(count)) + ")");
    }
  });

  function mount() { (document.body || document.documentElement).appendChild(host); }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }

  window.KefuChat = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    toggle: function () { setOpen(!isOpen); },
  };
})();
