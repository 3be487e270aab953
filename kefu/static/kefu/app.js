/* Kefu workspace behaviour: htmx settings, the live websocket, keyboard shortcuts, the chart. */
(function () {
  "use strict";

  // htmx: swap 409/422 answers too (they carry the reason of a refused action, shown next to the form).
  function configureHtmx() {
    if (!window.htmx) return;
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "409", swap: true, error: false },
      { code: "422", swap: true, error: false },
      { code: "[45]..", swap: false, error: true },
    ];
    htmx.config.historyCacheSize = 0;  // pages carry live data: always refetch on back
    htmx.config.includeIndicatorStyles = false;
    htmx.config.allowEval = false;
  }

  // --- live updates: one websocket joined to the user's own audiences (kefu/web/live.py) -----------------
  // "counters" messages set the figures in place (no request); "event" messages tell the page what changed:
  // a page showing that order says so, lists refresh once per burst. Pushes are at least once: ids dedupe.
  var seenEvents = [];
  function applyCounters(data) {
    var values = data.counters || {};
    document.querySelectorAll('[data-counter-scope="' + data.scope + '"]').forEach(function (el) {
      var name = el.dataset.counter;
      if (!(name in values)) return;
      el.textContent = String(values[name]);
      var holder = el.closest(".counter, [data-counter-holder]");
      if (holder) holder.classList.toggle(holder.classList.contains("counter") ? "zero" : "is-zero", values[name] === 0);
    });
  }
  function applyNotification(notice) {
    document.querySelectorAll("[data-bell-count]").forEach(function (badge) {
      badge.textContent = String(notice.unread);
      badge.hidden = !notice.unread;
    });
    var stack = document.querySelector(".toast-stack");
    if (!stack) {
      stack = document.createElement("div");
      stack.className = "toast-stack";
      stack.setAttribute("role", "status");
      stack.setAttribute("aria-live", "polite");
      document.body.appendChild(stack);
    }
    // At most three notices at a time; a burst (a sweep breaching many orders) is summed up in one more line.
    var shown = stack.querySelectorAll(".toast[data-notice]");
    if (shown.length >= 3) {
      var more = stack.querySelector(".toast-more");
      if (!more) {
        more = document.createElement("a");
        more.className = "toast toast-more";
        more.href = "/notifications/";
        more.dataset.count = "0";
        stack.appendChild(more);
      }
      more.dataset.count = String(Number(more.dataset.count) + 1);
      more.textContent = (document.body.dataset.moreNotices || "+%s").replace("%s", more.dataset.count);
      clearTimeout(more.timer);
      more.timer = setTimeout(function () { more.remove(); }, 8000);
      return;
    }
    var toast = document.createElement("div");
    toast.className = "toast";
    toast.dataset.testid = "toast";
    toast.dataset.notice = String(notice.id);
    var link = document.createElement("a");
    link.href = "/notifications/" + notice.id + "/";
    link.textContent = notice.title;  // text, never HTML
    toast.appendChild(link);
    stack.insertBefore(toast, stack.querySelector(".toast-more"));
    setTimeout(function () { toast.remove(); }, 8000);
  }
  // Screen pop (来电弹屏): a call ringing this agent opens the caller's card (kefu/web/views/calls.py); a call
  // hung up before it was answered stays shown, marked missed, until closed.
  function loadPop(holder, callId) {
    fetch("/calls/" + encodeURIComponent(callId) + "/pop/", { credentials: "same-origin",
                                                              headers: { "HX-Request": "true" } })
      .then(function (answer) { return answer.ok ? answer.text() : ""; })
      .then(function (html) {
        if (!html || holder.dataset.call !== String(callId)) return;
        holder.innerHTML = html;
        if (window.htmx) htmx.process(holder);  // its forms (转接) post through htmx
      });
  }
  function screenPop(data) {
    var me = document.body.dataset.userId;
    var call = data.call || {}, cti = data.cti || {};
    var holder = document.querySelector(".screen-pop-holder");
    if (cti.event === "ringing" && me && String(cti.agent_id) === me) {
      if (!holder) {
        holder = document.createElement("div");
        holder.className = "screen-pop-holder";
        document.body.appendChild(holder);
      }
      if (holder.dataset.call === String(call.id)) return;
      holder.dataset.call = String(call.id);
      loadPop(holder, call.id);
    } else if (holder && holder.dataset.call === String(call.id) && cti.event === "answered") {
      loadPop(holder, call.id);  // answered: the card now offers 转接
    } else if (holder && holder.dataset.call === String(call.id) && (call.state === "abandoned" || call.state === "voicemail")) {
      var card = holder.querySelector(".screen-pop");
      if (card) card.classList.add("is-missed");
    }
  }
  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-screen-pop-close]");
    if (!close) return;
    var holder = close.closest(".screen-pop-holder");
    if (holder) holder.remove();
  });
  function applyEvent(data, refresh) {
    if (seenEvents.indexOf(data.id) >= 0) return;
    seenEvents.push(data.id);
    if (seenEvents.length > 500) seenEvents.shift();
    document.body.dispatchEvent(new CustomEvent("kefu:event", { detail: data }));
    if (data.event === "notification.created" && data.notification) applyNotification(data.notification);
    if (data.event === "call.changed") screenPop(data);
    if (data.ticket) refresh();  // a work order's page says who changed it (presence.js, on "kefu:event")
  }
  // The inbox badge of the sidebar: counted by the socket (never by the page's request), asked again after
  // a conversation event (bursts ask once).
  function applyInboxCounts(counts) {
    document.querySelectorAll("[data-inbox-badge]").forEach(function (badge) {
      var waiting = counts.waiting || 0;
      badge.textContent = waiting > 99 ? "99+" : String(waiting);
      badge.hidden = !waiting;
      badge.title = (badge.dataset.title || "").replace("{waiting}", waiting).replace("{mine}", counts.mine || 0);
    });
    document.querySelectorAll("[data-inbox-count]").forEach(function (el) {
      var name = el.dataset.inboxCount;
      if (!(name in counts)) return;
      el.textContent = String(counts[name]);
      if (name === "waiting") el.classList.toggle("hot", counts[name] > 0);
    });
  }
  var countsTimer = null;
  function askInboxCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(function () { live.send({ type: "inbox_counts" }); }, 600);
  }

  // What other scripts of a page (the inbox) use of the one socket: send a frame, hear the others.
  var live = window.KefuLive = {
    socket: null,
    send: function (frame) {
      var socket = live.socket;
      if (!socket || socket.readyState !== 1) return false;
      socket.send(JSON.stringify(frame));
      return true;
    },
    isOpen: function () { return !!live.socket && live.socket.readyState === 1; },
  };

  function connectSocket(delay) {
    var url = document.body.dataset.wsUrl;
    if (!url || !window.WebSocket || !document.body.dataset.live) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try { socket = new WebSocket(scheme + location.host + url); } catch (e) { return; }
    live.socket = socket;
    var timer = null;
    function refresh() {  // bursts of changes refresh the lists once
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (window.htmx) htmx.trigger(document.body, "kefu:changed", {});
      }, 400);
    }
    socket.onmessage = function (event) {
      var data = {};
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "counters") applyCounters(data);
      else if (data.type === "event") {
        applyEvent(data, refresh);
        if (data.conversation && document.querySelector("[data-inbox-badge]")) askInboxCounts();
      } else if (data.type === "inbox_counts") applyInboxCounts(data.counts || {});
      else document.body.dispatchEvent(new CustomEvent("kefu:frame", { detail: data }));
    };
    socket.onopen = function () {
      document.body.dataset.liveState = "open";  // pages and browser tests can tell the pushes will arrive
      document.body.dispatchEvent(new CustomEvent("kefu:live-open", { detail: { resumed: delay > 1000 } }));
      // after a break, what was pushed meanwhile is gone: the header and the lists read afresh
      if (delay > 1000 && window.htmx) {
        htmx.trigger(document.body, "kefu:resync", {});
        htmx.trigger(document.body, "kefu:changed", {});
      }
      delay = 1000;
    };
    socket.onclose = function (event) {
      document.body.dataset.liveState = "closed";
      if (live.socket === socket) live.socket = null;
      document.body.dispatchEvent(new CustomEvent("kefu:live-closed", {}));
      if (event.code === 4401) return;  // signed out
      setTimeout(function () { connectSocket(Math.min(delay * 2, 60000)); }, delay);
    };
  }

  // --- keyboard shortcuts ------------------------------------------------------------------------------
  function typing(target) {
    var tag = (target.tagName || "").toLowerCase();
    return target.isContentEditable || tag === "input" || tag === "textarea" || tag === "select";
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-row]")); }
  function selected() { return document.querySelector("[data-row].selected"); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); });
    if (row) { row.classList.add("selected"); row.scrollIntoView({ block: "nearest" }); }
  }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(selected());
    index = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, index + step));
    select(all[index]);
  }
  function open(row) {
    row = row || selected();
    var link = row && row.querySelector("a[data-open]");
    if (link) link.click();
  }
  function focusSearch() {
    var box = document.querySelector("[data-shortcut=filter-search]") || document.querySelector("[data-shortcut=search]");
    if (box) { box.focus(); box.select(); }
  }
  function compose(kind) {
    window.dispatchEvent(new CustomEvent("kefu-compose", { detail: kind }));
    setTimeout(function () {
      var box = document.querySelector("[data-composer=" + kind + "] textarea");
      if (box) box.focus();
    }, 30);
  }
  function clickAction(name) {
    var el = document.querySelector("[data-action=" + name + "]");
    if (el) { el.click(); return true; }
    return false;
  }
  function toggleHelp(show) {
    window.dispatchEvent(new CustomEvent("kefu-help", { detail: show }));
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { toggleHelp(false); if (typing(event.target)) event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    switch (event.key) {
      case "/": event.preventDefault(); focusSearch(); break;
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o": case "Enter": if (selected()) { event.preventDefault(); open(); } break;
      case "r": if (document.querySelector("[data-composer=reply]")) { event.preventDefault(); compose("reply"); } break;
      case "n": if (document.querySelector("[data-composer=note]")) { event.preventDefault(); compose("note"); } break;
      case "e": if (clickAction("escalate")) event.preventDefault(); break;
      case "d": if (clickAction("dispatch")) event.preventDefault(); break;
      case "a": if (clickAction("assign")) event.preventDefault(); break;
      case "c": if (clickAction("create")) event.preventDefault(); break;
      case "u": if (clickAction("back")) event.preventDefault(); break;
      case "?": event.preventDefault(); toggleHelp(true); break;
    }
  });

  // clicking anywhere on a row opens it (the subject link keeps middle-click / new tab behaviour)
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("[data-row]");
    if (!row || event.target.closest("a, button, input, select, textarea, label")) return;
    select(row);
    open(row);
  });

  // Ctrl/Cmd+Enter sends the composer form
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA") {
      var form = event.target.form;
      if (form) { event.preventDefault(); form.requestSubmit(); }
    }
  });

  // --- the home page's charts: each bar links to the list it counts ---------------------------------------
  var AXIS = { axisTick: { show: false }, axisLine: { lineStyle: { color: "#d3d9e3" } },
               axisLabel: { color: "#8e98ab", fontSize: 11 } };
  var VALUE_AXIS = { type: "value", minInterval: 1, splitLine: { lineStyle: { color: "#eef1f5" } },
                     axisLabel: { color: "#8e98ab", fontSize: 11 } };

  function dailyOption(data) {
    return {
      animation: false,
      grid: { left: 36, right: 12, top: 30, bottom: 28 },
      legend: { top: 0, right: 0, itemWidth: 10, itemHeight: 10, textStyle: { color: "#5b6478", fontSize: 12 } },
      tooltip: { trigger: "axis" },
      xAxis: Object.assign({ type: "category", data: data.labels }, AXIS),
      yAxis: VALUE_AXIS,
      series: [
        { type: "bar", name: data.series[0], data: data.created, barMaxWidth: 14,
          itemStyle: { color: "#4f7dff", borderRadius: [3, 3, 0, 0] } },
        { type: "line", name: data.series[1], data: data.resolved, symbol: "circle", symbolSize: 4,
          lineStyle: { color: "#2f9e44", width: 2 }, itemStyle: { color: "#2f9e44" } },
      ],
    };
  }

  function groupsOption(data) {
    var labels = data.labels.slice().reverse();
    return {
      animation: false,
      grid: { left: 8, right: 24, top: 30, bottom: 8, containLabel: true },
      legend: { top: 0, right: 0, itemWidth: 10, itemHeight: 10, textStyle: { color: "#5b6478", fontSize: 12 } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: VALUE_AXIS,
      yAxis: Object.assign({ type: "category", data: labels }, AXIS),
      series: [
        { type: "bar", name: data.series[0], data: data.open.slice().reverse(), barMaxWidth: 14,
          itemStyle: { color: "#4f7dff", borderRadius: [0, 3, 3, 0] } },
        { type: "bar", name: data.series[1], data: data.breached.slice().reverse(), barMaxWidth: 14,
          itemStyle: { color: "#e03131", borderRadius: [0, 3, 3, 0] } },
      ],
    };
  }

  function drawCharts() {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (!window.echarts || el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.chart);
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var kind = el.dataset.chartKind || "daily";
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(kind === "groups" ? groupsOption(data) : dailyOption(data));
      var links = kind === "groups" ? (data.links || []).slice().reverse() : (data.links || []);
      chart.on("click", function (params) {
        var link = links[params.dataIndex];
        if (link) window.location.href = link;
      });
      el.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  // A select whose options come from a shared, cached list says which one is chosen in data-value.
  function selectValues(root) {
    (root || document).querySelectorAll("select[data-value]").forEach(function (select) {
      if (select.dataset.value !== undefined) select.value = select.dataset.value;
    });
  }
  document.addEventListener("htmx:afterSwap", function (event) { selectValues(event.target); });
  // a form marked data-reset-on-success empties itself once its htmx request succeeded (no inline handler: CSP)
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (form && form.matches && form.matches("form[data-reset-on-success]") && event.detail.successful &&
        event.detail.xhr.status === 200) form.reset();
  });

  function ready() {
    configureHtmx();
    selectValues();
    connectSocket(1000);
    drawCharts();
    var first = rows()[0];
    if (first && !selected()) select(first);
  }
  // deferred scripts run before DOMContentLoaded, while the page is "interactive": wait for the others
  if (document.readyState === "complete") ready();
  else document.addEventListener("DOMContentLoaded", ready);
  document.addEventListener("htmx:afterSettle", function () {
    drawCharts();
    if (rows().length && !selected()) select(rows()[0]);
  });
})();
