// The page's tracking beacon, inlined (with the CSP nonce) so the page needs no other
// request. It reads its settings from <body data-slug data-track>, reports with
// navigator.sendBeacon (JSON as text/plain: no CORS preflight, survives navigation):
//   view on load; heartbeat every 15 s while visible; leave when hidden or left; section
//   once per section scrolled into view; video at 25/50/75/100 % of playback; cta on a
//   click of a call to action. All but view carry the seconds the page has been visible.
export const beaconScript = `(function () {
  "use strict";
  var body = document.body, slug = body.dataset.slug, endpoint = body.dataset.track;
  if (!slug || !endpoint) return;
  var bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  var visitId = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  function send(kind, extra) {
    // Every report after the first carries the time so far, so a lost leave loses little.
    var report = { slug: slug, visitId: visitId, kind: kind };
    if (kind !== "view") report.seconds = seconds();
    for (var k in extra || {}) report[k] = extra[k];
    var text = JSON.stringify(report);
    if (!(navigator.sendBeacon && navigator.sendBeacon(endpoint, text))) {
      fetch(endpoint, { method: "POST", body: text, keepalive: true, headers: { "content-type": "text/plain" } }).catch(function () {});
    }
  }
  var visibleMs = 0, shownAt = document.visibilityState === "visible" ? Date.now() : null;
  function seconds() { return Math.round((visibleMs + (shownAt === null ? 0 : Date.now() - shownAt)) / 100) / 10; }
  function leave() {
    if (shownAt !== null) { visibleMs += Date.now() - shownAt; shownAt = null; }
    send("leave");
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") leave();
    else if (shownAt === null) shownAt = Date.now();
  });
  // Navigating away (the CTA) does not always hide the page first.
  window.addEventListener("pagehide", function () { if (shownAt !== null) leave(); });
  setInterval(function () { if (shownAt !== null) send("heartbeat"); }, 15000);

  var seen = {};
  if ("IntersectionObserver" in window) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        var name = entry.target.getAttribute("data-section");
        if (entry.isIntersecting && !seen[name]) { seen[name] = true; send("section", { section: name }); observer.unobserve(entry.target); }
      });
    }, { threshold: 0.3 });
    document.querySelectorAll("[data-section]").forEach(function (el) { observer.observe(el); });
  }

  var passed = 0;
  document.querySelectorAll("video").forEach(function (video) {
    function progress(ended) {
      var percent = ended ? 100 : (video.duration > 0 ? video.currentTime / video.duration * 100 : 0);
      [25, 50, 75, 100].forEach(function (mark) {
        if (mark > passed && percent >= (mark === 100 ? 99 : mark)) { passed = mark; send("video", { percent: mark }); }
      });
    }
    video.addEventListener("timeupdate", function () { progress(false); });
    video.addEventListener("ended", function () { progress(true); });
  });

  document.querySelectorAll("[data-cta]").forEach(function (link) {
    link.addEventListener("click", function () { send("cta", { label: link.textContent.trim().slice(0, 200), url: link.href }); });
  });
  send("view");
})();`;
