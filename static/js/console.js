// The lead's console: small progressive enhancements; every page works without this script.
// - guidelines editor: Ctrl/Cmd+S saves, leaving with unsaved changes asks first
// - forms with data-confirm ask before they submit (removing a member)
// The markdown preview itself is htmx posting the text to the server (no markdown in the browser).
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  var editor = document.querySelector("form[data-unsaved-warning]");
  if (!editor) {
    return;
  }
  var textarea = editor.querySelector("textarea");
  var saved = textarea ? textarea.value : "";
  var submitting = false;

  editor.addEventListener("submit", function () {
    submitting = true;
  });
  window.addEventListener("beforeunload", function (event) {
    if (!submitting && textarea && textarea.value !== saved) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && (event.key === "s" || event.key === "S")) {
      event.preventDefault();
      submitting = true;
      editor.requestSubmit();
    }
  });
})();
