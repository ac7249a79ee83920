// scimapp's only script: copy buttons. No inline script anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";

  function announce(id, text) {
    var status = document.getElementById(id + "-status");
    if (status) { status.textContent = text; }
  }

  function fallbackCopy(input) {
    input.focus();
    input.select();
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var id = button.getAttribute("data-copy");
    var input = document.getElementById(id);
    if (!input) { return; }
    var done = function () {
      announce(id, "Copied.");
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = "Copy"; announce(id, ""); }, 3000);
    };
    var failed = function () { announce(id, "Press Ctrl+C (or ⌘C) to copy the selected text."); input.select(); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { fallbackCopy(input) ? done() : failed(); });
    } else {
      fallbackCopy(input) ? done() : failed();
    }
  });
})();
