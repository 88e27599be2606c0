// Copy buttons on the manual unit's copy-ready page (no inline script: CSP script-src 'self').
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target) { return; }
      var done = function () { button.textContent = "已复制"; };
      var html = target.innerHTML, text = target.innerText;
      if (navigator.clipboard && window.ClipboardItem) {
        var item = new ClipboardItem({
          "text/html": new Blob([html], {type: "text/html"}),
          "text/plain": new Blob([text], {type: "text/plain"})
        });
        navigator.clipboard.write([item]).then(done, function () { fallback(target); done(); });
      } else {
        fallback(target); done();
      }
    });
  });
  function fallback(target) {
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    document.execCommand("copy");
  }
});
