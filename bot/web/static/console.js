// Live updates for the hotline console: no build step, no framework.
// The server sends "change" events (bot/web/console.py); the page re-fetches its live part.
(function () {
  "use strict";
  var body = document.body;
  var live = body.getAttribute("data-live");
  var target = live && document.getElementById(body.getAttribute("data-target"));
  var knownUrgent = (body.getAttribute("data-urgent-now") || "").split(" ").filter(Boolean)
    .map(Number);


  // Browsers only play sound after the person has interacted with the page: the first
  // click anywhere unlocks it, and a hint says so until then.
  var audio = null;
  function unlockSound() {
    if (audio) { return; }
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      audio = new Ctx();
      audio.resume();
    } catch (e) { audio = null; }
    var hint = document.getElementById("sound-hint");
    if (hint && audio) { hint.hidden = true; }
  }
  document.addEventListener("click", unlockSound);
  document.addEventListener("keydown", unlockSound);

  function beep() {
    try {
      var ctx = audio;
      if (!ctx) { return; }
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.6);
    } catch (e) { /* no sound available: the banner still shows */ }
  }

  function alertUrgent() {
    var banner = document.getElementById("alert");
    if (banner) { banner.hidden = false; }
    document.title = "(!) URGENT: " + document.title.replace(/^\(!\) URGENT: /, "");
    beep();
  }

  // Every page listens: staff spend their time on ticket pages, not on the queue.
  function checkUrgent(ids) {
    if (knownUrgent !== null && ids.some(function (id) { return knownUrgent.indexOf(id) < 0; })) {
      alertUrgent();
    }
    knownUrgent = ids;
  }

  function stateOf(root) {
    var el = root.querySelector("[data-state]");
    return el ? el.getAttribute("data-state") : null;
  }

  var renderedState = target ? stateOf(target) : null;

  function refresh() {
    fetch(live, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.status === 401) { window.location = "/staff/login"; return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html === null || html === undefined) { return; }
      target.innerHTML = html;
      var state = stateOf(target);
      var draft = document.getElementById("reply-text");
      if (renderedState !== null && state !== renderedState && !(draft && draft.value)) {
        window.location.reload();  // claimed or closed elsewhere: show the right forms
      }
    });
  }

  // A stream for the visible tab; a hidden tab asks every 10 s instead (still alerting):
  // browsers allow six connections to a host, and a stream held by every background tab
  // would stall the forms of the tab in use.
  var signedIn = !!document.querySelector("header nav");
  var source = null;
  var poller = null;
  function changed(data) {
    try { checkUrgent(JSON.parse(data).urgent || []); } catch (e) { /* keep going */ }
  }
  function listen() {
    if (poller) { clearInterval(poller); poller = null; }
    if (source || !window.EventSource) { return; }
    source = new EventSource("/staff/events");
    source.addEventListener("change", function (event) {
      changed(event.data);
      if (live && target) { refresh(); }
    });
  }
  function poll() {
    if (source) { source.close(); source = null; }
    if (poller) { return; }
    poller = setInterval(function () {
      fetch("/staff/events?once=1", { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) { if (text) { changed(text); } });
    }, 10000);
  }
  if (signedIn) {
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { poll(); } else { listen(); if (live && target) { refresh(); } }
    });
    if (document.hidden) { poll(); } else { listen(); }
  }

  var banner = document.getElementById("alert");
  if (banner) {
    banner.addEventListener("click", function () { banner.hidden = true; });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.use") : null;
    if (!button) { return; }
    var box = document.getElementById("reply-text");
    if (box) { box.value = button.getAttribute("data-text"); box.focus(); }
  });
})();
