/* okrflow web UI behaviour. Loaded with <script src>; the CSP forbids inline scripts. */
(function () {
  "use strict";

  var toastTimer = null;

  function toast(message) {
    var el = document.getElementById("toast");
    if (!el) { return; }
    el.textContent = message;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, 6000);
  }

  function copyText(text, button) {
    function done() {
      if (!button) { return; }
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1800);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { toast("Copy failed; select the text and copy it."); });
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } catch (e) { toast("Copy failed; select the text and copy it."); }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) {
      var source = document.querySelector(button.getAttribute("data-copy-target"));
      if (source) { copyText(source.value !== undefined ? source.value : source.textContent, button); }
      return;
    }
    // close the workspace switcher when clicking elsewhere
    document.querySelectorAll("details.switcher[open]").forEach(function (d) {
      if (!d.contains(event.target)) { d.removeAttribute("open"); }
    });
  });

  // Filters that apply on change (the form keeps a submit button inside <noscript>).
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-autosubmit]");
    if (!form) { return; }
    // A form HTMX has just swapped in is bound only when it settles (~20 ms later): bind it now, or this
    // submit would load the whole page instead of swapping the part.
    if (window.htmx && (form.hasAttribute("hx-get") || form.hasAttribute("hx-post"))) { window.htmx.process(form); }
    form.requestSubmit ? form.requestSubmit() : form.submit();
  });

  // Keep a range slider and its number field in step (check-in confidence).
  document.addEventListener("input", function (event) {
    var el = event.target;
    var sel = el.getAttribute && el.getAttribute("data-sync");
    if (!sel) { return; }
    var other = document.querySelector(sel);
    if (other && other.value !== el.value) { other.value = el.value; }
  });

  // The key-result form shows only the fields of the chosen direction.
  function showDirectionFields(root) {
    (root || document).querySelectorAll("form[data-kr-form]").forEach(function (form) {
      var select = form.querySelector("[data-direction-select]");
      if (!select) { return; }
      form.querySelectorAll("[data-for-direction]").forEach(function (el) {
        var show = el.getAttribute("data-for-direction").split(" ").indexOf(select.value) >= 0;
        el.hidden = !show;
        el.querySelectorAll("input, textarea, select").forEach(function (input) { input.disabled = !show; });
      });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-direction-select]")) { showDirectionFields(document); }
  });
  document.addEventListener("DOMContentLoaded", function () { showDirectionFields(document); });
  document.addEventListener("htmx:afterSettle", function () { showDirectionFields(document); });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) { event.target.select(); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll("details.switcher[open]").forEach(function (d) { d.removeAttribute("open"); });
    }
  });

  // HTMX does not swap error responses (except 422 with inline errors); say what happened instead.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var message = xhr.getResponseHeader("X-Okrflow-Error");
    toast(message ? decodeURIComponent(message) : "The request failed (" + xhr.status + "). Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    toast("okrflow cannot be reached. Check the connection and try again.");
  });
})();
