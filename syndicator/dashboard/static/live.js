// Live regions of the dashboard (syndicator/dashboard/live.py): listen to /live/events; on "change" fetch
// this page again and swap every element marked data-live for its fresh copy, then show "更新于 HH:MM:SS".
// A region holding a form someone is filling in is left alone until they leave it. No inline script: this
// file is allowed by the Content-Security-Policy's script-src 'self'.
(function () {
  "use strict";
  var stamp = document.querySelector("[data-live-stamp]");
  if (!stamp || !window.EventSource || !window.fetch || !window.DOMParser) { return; }
  var busy = false, again = false, waitingForBlur = false;

  function say(text, stale) {
    stamp.textContent = text;
    if (stale) { stamp.classList.add("stale"); } else { stamp.classList.remove("stale"); }
  }

  function editing(region) {
    var a = document.activeElement;
    return !!(a && a !== document.body && region.contains(a) && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(a.tagName));
  }

  function afterBlur() {
    if (waitingForBlur) { return; }
    waitingForBlur = true;
    document.addEventListener("focusout", function () {
      waitingForBlur = false;
      setTimeout(refresh, 200);
    }, { once: true });
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var held = false;
    document.querySelectorAll("[data-live]").forEach(function (region) {
      var fresh = doc.querySelector('[data-live="' + region.getAttribute("data-live") + '"]');
      if (!fresh) { return; }
      if (editing(region)) { held = true; return; }
      region.replaceWith(document.importNode(fresh, true));
    });
    var freshStamp = doc.querySelector("[data-live-stamp]");
    if (freshStamp) { say(freshStamp.textContent + (held ? "（您正在填写的部分稍后更新）" : ""), false); }
    if (held) { afterBlur(); }
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", redirect: "manual", cache: "no-store" })
      .then(function (resp) {
        if (resp.status !== 200) { throw new Error("status " + resp.status); }
        return resp.text();
      })
      .then(swap)
      .catch(function () { say("自动更新失败（可能登录已过期），请刷新页面", true); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var events = new EventSource(stamp.getAttribute("data-live-stamp"));
  events.addEventListener("change", refresh);
  events.addEventListener("trouble", function (e) { say(e.data, true); });
  events.addEventListener("bye", function (e) { say(e.data, true); });
  events.onerror = function () {
    if (events.readyState === EventSource.CLOSED) {
      say("自动更新已停止，请刷新页面", true);
    } else {
      say("与服务器的连接中断，正在重新连接…", true);
    }
  };
  var opened = false;
  events.addEventListener("hello", function () {
    stamp.classList.remove("stale");
    if (opened) { refresh(); }          // reconnected: changes made meanwhile were not announced
    opened = true;
  });
}());
