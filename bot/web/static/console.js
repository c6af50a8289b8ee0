// The hotline console's script: no build step, no framework, no dependencies.
// The server sends "change" events (bot/web/console.py); the page re-reads its live parts.
// Actions (claim, reply, note, pass on, return, close) are posted in place: nothing
// reloads, so the alert sound stays on after the first click, and scroll, focus and
// drafts survive. Drafts live in sessionStorage: this tab only, kept across a dropped
// connection and a new login, cleared at logout.
(function () {
  "use strict";
  var body = document.body;
  var live = body.getAttribute("data-live");
  var kind = body.getAttribute("data-target");  // "queue", "ticket", or the id of a live part
  var ticketId = body.getAttribute("data-ticket") || body.getAttribute("data-scope");  // drafts per page
  var baseTitle = body.getAttribute("data-title") || document.title;
  var signedIn = body.hasAttribute("data-me");
  var knownUrgent = (body.getAttribute("data-urgent-now") || "").split(" ").filter(Boolean)
    .map(Number);
  var knownHanded = null;  // ticket id -> who passed it, as first seen
  var attention = 0;
  var urgentShown = false;
  var texts = document.getElementById("texts");

  function say(name, values) {
    var text = (texts && texts.getAttribute("data-" + name)) || name;
    Object.keys(values || {}).forEach(function (key) {
      text = text.split("%(" + key + ")s").join(String(values[key]));
    });
    return text;
  }

  function $(id) { return document.getElementById(id); }

  function announce(text) {
    var region = $("announce");
    if (!region) { return; }
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 50);
  }

  // ---- sound: browsers allow it only after the person interacted with the page ----
  var audio = null;
  function unlockSound() {
    if (audio) { return; }
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      audio = new Ctx();
      audio.resume();
    } catch (e) { audio = null; }
    var hint = $("sound-hint");
    if (hint && audio) { hint.hidden = true; }
  }
  document.addEventListener("click", unlockSound);
  document.addEventListener("keydown", unlockSound);

  function beep() {
    try {
      if (!audio) { return; }
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.6);
    } catch (e) { /* no sound available: the banner still shows */ }
  }

  // ---- desktop notifications, where the browser allows them ----
  var notifyButton = $("notify");
  if (notifyButton && window.Notification && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(function () { notifyButton.hidden = true; });
    });
  }
  function notify(text, url) {
    if (!window.Notification || Notification.permission !== "granted" || !document.hidden) { return; }
    try {
      var n = new Notification(text, { tag: url || "kyr" });
      n.onclick = function () { window.focus(); if (url) { window.location = url; } };
    } catch (e) { /* some browsers allow notifications only from a service worker */ }
  }

  // ---- the tab title counts what needs attention ----
  function setTitle() {
    var prefix = urgentShown ? "(!) " : "";
    document.title = prefix + (attention ? "(" + attention + ") " : "") + baseTitle;
  }

  function alertUrgent() {
    var banner = $("alert");
    if (banner) { banner.textContent = say("urgent"); banner.hidden = false; }
    urgentShown = true;
    setTitle();
    beep();
    notify(say("urgent"), "/staff");
  }

  function checkUrgent(ids) {
    if (ids.some(function (id) { return knownUrgent.indexOf(id) < 0; })) { alertUrgent(); }
    knownUrgent = ids;
  }

  function checkHanded(handed) {
    if (knownHanded === null) { knownHanded = handed; return; }
    Object.keys(handed).forEach(function (id) {
      if (knownHanded[id] === handed[id]) { return; }
      var text = say("handed", { id: id, by: handed[id] });
      var banner = $("handed");
      if (banner) {
        banner.textContent = "";
        var link = document.createElement("a");
        link.href = "/staff/tickets/" + id;
        link.textContent = text;
        banner.appendChild(link);
        banner.hidden = false;
      }
      beep();
      notify(text, "/staff/tickets/" + id);
    });
    knownHanded = handed;
  }

  // ---- session expiry: warn first, then keep the draft and come back after login ----
  var deadline = null;
  function setDeadline(seconds) {
    if (typeof seconds === "number" && seconds > 0) { deadline = Date.now() + seconds * 1000; }
  }
  setDeadline(Number(body.getAttribute("data-ends-in") || 0));
  function toLogin() {
    var here = window.location.pathname;
    window.location = "/staff/login?expired=1&next=" + encodeURIComponent(here);
  }
  function checkExpiry() {
    if (!deadline || !signedIn) { return; }
    var left = deadline - Date.now();
    var box = $("expiry");
    if (left <= 0) { toLogin(); return; }
    if (box) {
      box.hidden = left > 5 * 60 * 1000;
      $("expiry-text").textContent = say("expiry", { min: Math.max(1, Math.ceil(left / 60000)) });
    }
  }
  setInterval(checkExpiry, 15000);
  function keepAlive() {
    post("/staff/keepalive", new URLSearchParams({ csrf: body.getAttribute("data-csrf") || "" }))
      .then(function (answer) {
        if (answer.status === 401) { toLogin(); return; }
        if (answer.data) { setDeadline(answer.data.ends_in); }
        checkExpiry();
      })
      .catch(function () { /* offline: the next action or event tries again */ });
  }
  var stay = $("stay");
  if (stay) { stay.addEventListener("click", keepAlive); }
  var lastTyped = 0;
  document.addEventListener("input", function () {  // typing is activity too
    if (signedIn && Date.now() - lastTyped > 120000) { lastTyped = Date.now(); keepAlive(); }
  });

  // ---- live "waiting" minutes ----
  function tick() {
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll("[data-since]"), function (el) {
      var minutes = Math.max(0, Math.floor((now - Date.parse(el.getAttribute("data-since"))) / 60000));
      el.textContent = minutes < 120 ? minutes + " min" : Math.floor(minutes / 60) + " h";
    });
  }
  setInterval(tick, 20000);

  // ---- drafts ----
  function draftKey(box) { return "kyr-draft:" + (ticketId || "-") + ":" + box.getAttribute("data-draft"); }
  function restoreDrafts(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("textarea[data-draft]"), function (box) {
      try {
        var kept = sessionStorage.getItem(draftKey(box));
        if (kept && !box.value) { box.value = kept; }
      } catch (e) { /* storage off: drafts live only in the box */ }
    });
  }
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.hasAttribute || !box.hasAttribute("data-draft")) { return; }
    try { sessionStorage.setItem(draftKey(box), box.value); } catch (e) { /* full or off */ }
  });
  function clearDraft(box) {
    box.value = "";
    try { sessionStorage.removeItem(draftKey(box)); } catch (e) { /* nothing kept */ }
  }
  function clearAllDrafts() {
    try {
      Object.keys(sessionStorage).forEach(function (key) {
        if (key.indexOf("kyr-draft:") === 0) { sessionStorage.removeItem(key); }
      });
    } catch (e) { /* nothing kept */ }
  }
  var logoutForm = document.querySelector("form[action='/staff/logout']");
  if (logoutForm) { logoutForm.addEventListener("submit", clearAllDrafts); }
  restoreDrafts();
  Array.prototype.forEach.call(document.querySelectorAll("input.here"), function (el) {
    el.value = window.location.pathname;  // settings forms come back to this page
  });

  // ---- the live parts of the page ----
  function hasDraft() {
    var box = $("reply-text");
    return !!(box && box.value.trim());
  }

  function warnTicket(text) {
    var box = $("ticket-warning");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
  }

  var renderedState = null;
  var renderedCount = null;
  function stateEl() { return document.querySelector("#state [data-state]"); }
  if (kind === "ticket") {
    renderedState = stateEl() ? stateEl().getAttribute("data-state") : null;
    var count = document.querySelector("#transcript [data-count]");
    renderedCount = count ? Number(count.getAttribute("data-count")) : 0;
  }

  function applyTicket(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var part = function (name) { return holder.querySelector("[data-part='" + name + "']"); };
    var newState = part("state").querySelector("[data-state]");
    var state = newState.getAttribute("data-state");
    $("state").innerHTML = part("state").innerHTML;
    // The path before the ticket stays folded if they folded it.
    var before = document.querySelector("#transcript details.before");
    var folded = before && !before.open;
    $("transcript").innerHTML = part("transcript").innerHTML;
    if (folded) { document.querySelector("#transcript details.before").open = false; }
    // The actions only change with the ticket's state: a half-written transfer note stays.
    var actions = $("actions");
    var shown = actions.querySelector("[data-for]");
    if (!shown || shown.getAttribute("data-for") !== state) {
      actions.innerHTML = part("actions").innerHTML;
      restoreDrafts(actions);
    }
    var mine = newState.getAttribute("data-mine") === "1";
    var status = newState.getAttribute("data-status");
    if (renderedState !== null && state !== renderedState && hasDraft() && !mine) {
      if (status === "closed") {
        warnTicket(say("closed", { by: newState.getAttribute("data-closed-by") }));
      } else {
        warnTicket(say("moved", { by: newState.getAttribute("data-assignee") || "—" }));
      }
      $("send").hidden = true;  // the draft stays where it is, to copy
    } else {
      var reply = $("reply-section");
      if (reply) { reply.hidden = !mine; }
      if ($("send")) { $("send").hidden = false; }
      if (mine) { $("ticket-warning").hidden = true; }
    }
    var note = document.querySelector(".note-box");
    if (note) { note.hidden = status === "closed"; }
    var countEl = document.querySelector("#transcript [data-count]");
    var count = countEl ? Number(countEl.getAttribute("data-count")) : 0;
    var lastMsg = document.querySelector("#transcript ol.live > li:last-child");
    if (renderedCount !== null && count > renderedCount && lastMsg &&
        (lastMsg.classList.contains("resident") || lastMsg.classList.contains("tap") ||
         lastMsg.classList.contains("bot"))) {
      announce(say("new"));
    }
    renderedCount = count;
    renderedState = state;
    tick();
  }

  function applyQueue(html) {
    var target = $(kind);
    var focused = document.activeElement && document.activeElement.getAttribute &&
      document.activeElement.getAttribute("data-ticket");
    target.innerHTML = html;
    if (focused) {
      var again = target.querySelector("[data-ticket='" + focused + "']");
      if (again) { again.focus(); }
    }
    tick();
  }

  // The network's pages (reports, alerts): the fragment's [data-part] pieces replace the
  // page's; a piece with data-for (a form someone may be typing in) only when that changed.
  function applyParts(html) {
    var target = $(kind);
    if (!target) { return; }
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var parts = holder.querySelectorAll("[data-part]");
    if (!parts.length) { applyQueue(html); return; }
    Array.prototype.forEach.call(parts, function (part) {
      var here = target.querySelector("[data-part='" + part.getAttribute("data-part") + "']");
      if (!here) { return; }
      var keep = part.getAttribute("data-for");
      if (keep !== null && here.getAttribute("data-for") === keep) { return; }
      here.replaceWith(part);
      restoreDrafts(part);
    });
    tick();
  }

  var refreshing = null;
  function refresh() {
    if (!live) { return Promise.resolve(); }
    if (refreshing) { return refreshing; }
    refreshing = fetch(live, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.status === 401) { toLogin(); return null; }
      if (r.status === 404 && kind === "ticket") {
        warnTicket(say("erased"));
        if ($("send")) { $("send").hidden = true; }
        return null;
      }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      if (kind === "ticket") { applyTicket(html); } else if (kind === "queue") { applyQueue(html); } else { applyParts(html); }
      $("offline").hidden = true;
    }).catch(function () {
      $("offline").hidden = false;
    }).then(function () { refreshing = null; });
    return refreshing;
  }

  // ---- actions posted in place ----
  function post(url, data) {
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin", cache: "no-store",
      headers: { "X-Console": "fetch" }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) {
        return { status: r.status, data: json };
      });
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id === "shift-form") {
      event.preventDefault();
      post(form.action, new URLSearchParams(new FormData(form))).then(function (answer) {
        if (answer.status === 401) { toLogin(); return; }
        if (!answer.data.ok) { return; }
        var on = answer.data.on_shift;
        var button = $("shift");
        form.querySelector("[name=on_shift]").value = on ? "0" : "1";
        button.setAttribute("aria-pressed", on ? "true" : "false");
        button.textContent = on ? button.getAttribute("data-on") : button.getAttribute("data-off");
        announce(button.textContent);
      });
      return;
    }
    if (!form.classList.contains("act")) { return; }
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    post(form.action, new URLSearchParams(new FormData(form))).then(function (answer) {
      if (answer.status === 401) { toLogin(); return; }
      $("offline").hidden = true;
      var data = answer.data || {};
      setDeadline(data.ends_in);
      if (data.ok) {
        var clear = form.getAttribute("data-clear");
        if (clear && $(clear)) { clearDraft($(clear)); }
        form.querySelectorAll("textarea[data-draft]").forEach(clearDraft);
        announce(data.message || "");
        return refresh().then(function () {
          var focus = form.getAttribute("data-focus");
          var el = focus && $(focus);
          if (el && el.offsetParent !== null) { el.focus(); } else { $("status") && $("status").focus(); }
        });
      }
      if (data.message) { warnTicket(data.message); announce(data.message); }
      return refresh();
    }).catch(function () {
      warnTicket(say("offline"));
      $("offline").hidden = false;
    }).then(function () { if (button) { button.disabled = false; } });
  });

  // Ctrl+Enter (or Cmd+Enter) sends the reply.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.id === "reply-text") {
      event.preventDefault();
      var form = $("reply-form");
      if (form.requestSubmit) { form.requestSubmit(); } else { form.dispatchEvent(new Event("submit", { cancelable: true, bubbles: true })); }
    }
  });

  // ---- events: a stream for the visible tab; a hidden tab asks every 10 s instead ----
  // (browsers allow six connections to a host; a stream per background tab would stall
  // the forms of the tab in use)
  var source = null;
  var poller = null;
  function changed(text) {
    var data;
    try { data = JSON.parse(text); } catch (e) { return; }
    checkUrgent(data.urgent || []);
    checkHanded(data.handed || {});
    attention = data.attention || 0;
    ["reports_waiting", "alerts_to_approve"].forEach(function (name) {
      Array.prototype.forEach.call(document.querySelectorAll("[data-badge='" + name + "']"), function (el) {
        el.textContent = String(data[name] || 0);
        el.hidden = !data[name];
      });
    });
    setDeadline(data.ends_in);
    checkExpiry();
    setTitle();
  }
  function listen() {
    if (poller) { clearInterval(poller); poller = null; }
    if (source || !window.EventSource) { return; }
    source = new EventSource("/staff/events");
    source.addEventListener("change", function (event) {
      changed(event.data);
      refresh();
    });
    source.addEventListener("signedout", function () { source.close(); source = null; toLogin(); });
    source.addEventListener("error", function () {
      if (!navigator.onLine) { $("offline").hidden = false; }
    });
    source.addEventListener("open", function () { $("offline").hidden = true; });
  }
  function poll() {
    if (source) { source.close(); source = null; }
    if (poller) { return; }
    poller = setInterval(function () {
      fetch("/staff/events?once=1", { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) { if (text) { changed(text); } })
        .catch(function () { /* offline: try again in 10 s */ });
    }, 10000);
  }
  if (signedIn) {
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { poll(); } else { listen(); refresh(); }
    });
    if (document.hidden) { poll(); } else { listen(); }
    window.addEventListener("online", function () { $("offline").hidden = true; refresh(); });
    window.addEventListener("offline", function () { $("offline").hidden = false; });
  }

  ["alert", "handed"].forEach(function (id) {
    var banner = $(id);
    if (banner) {
      banner.addEventListener("click", function (event) {
        if (event.target.tagName === "A") { return; }
        banner.hidden = true;
        if (id === "alert") { urgentShown = false; setTitle(); }
      });
    }
  });

  // A canned reply goes into the reply box (staff read it before sending).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.use") : null;
    if (!button) { return; }
    var box = $("reply-text");
    if (box) {
      box.value = button.getAttribute("data-text");
      try { sessionStorage.setItem(draftKey(box), box.value); } catch (e) { /* off */ }
      box.focus();
    }
  });
  // ---- "typing…" to the resident while the reply box is typed in ----
  // At most every 4 s (the server holds the same limit); only where the platform has an
  // indicator does anything reach the resident (Telegram, WhatsApp).
  var typingSent = 0;
  document.addEventListener("input", function (event) {
    if (!ticketId || !event.target || event.target.id !== "reply-text") { return; }
    if (!event.target.value.trim() || Date.now() - typingSent < 4000) { return; }
    typingSent = Date.now();
    post("/staff/tickets/" + ticketId + "/typing",
         new URLSearchParams({ csrf: body.getAttribute("data-csrf") || "" }))
      .catch(function () { /* only a courtesy */ });
  });
  // A sending alert's counts move without events of their own: its page asks every 2 s
  // while a part of it says so (data-polling: approved or sending), not before or after.
  if (signedIn && body.hasAttribute("data-poll")) {
    setInterval(function () {
      if (document.querySelector("[data-polling='1']") && !document.hidden) { refresh(); }
    }, 2000);
  }
  tick();
})();
