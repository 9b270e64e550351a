// The annotators' workspace: keyboard shortcuts, draft autosave and time spent.
// htmx does the requests and swaps (submit, skip, heartbeat); this file stays small and
// binds everything on `document`, so a task panel swapped in needs no re-binding.
(function () {
  "use strict";

  var DRAFT_DELAY_MS = 1000;
  var MAX_SECONDS = 7 * 86400; // what the server accepts as time spent on one item
  var draftTimer = null;
  var draftForm = null;

  function taskForm() {
    return document.querySelector("#task form.task-form");
  }

  function status(text) {
    var el = document.getElementById("ws-status");
    if (el) el.textContent = text;
  }

  // A key pressed here is text being typed, not a shortcut.
  function isTyping(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    if (el.tagName === "INPUT") {
      return !/^(radio|checkbox|button|submit|reset|range|color|file|hidden|image)$/i.test(el.type);
    }
    return false;
  }

  // --- time spent: from when the task was shown, plus what an earlier page load recorded ---
  function markShown(root) {
    var forms = root.matches && root.matches("form.task-form") ? [root] : root.querySelectorAll("form.task-form");
    Array.prototype.forEach.call(forms, function (form) {
      if (!form._shownAt) form._shownAt = performance.now();
    });
  }

  function secondsSpent(form) {
    var before = parseFloat(form.dataset.secondsBefore || "0") || 0;
    var shown = form._shownAt || performance.now();
    var total = before + (performance.now() - shown) / 1000;
    return Math.min(total, MAX_SECONDS).toFixed(3);
  }

  // --- drafts: saved to the server a second after typing stops, and when the page is left ---
  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setDraftStatus(form, text) {
    var el = form.querySelector(".draft-status");
    if (el) el.textContent = text;
  }

  function saveDraft(form, leaving) {
    var body = new URLSearchParams(new FormData(form));
    body.set("seconds_spent", secondsSpent(form));
    var options = {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(form) },
      // keepalive lets the request outlive a closing tab (browsers cap its body at 64 KB).
      keepalive: Boolean(leaving) && body.toString().length < 60000,
    };
    setDraftStatus(form, "Saving draft…");
    return fetch(form.dataset.draftUrl, options)
      .then(function (response) {
        if (response.ok) {
          var now = new Date();
          setDraftStatus(form, "Draft saved " + now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
          form.dataset.draftSaved = String(Date.now());
        } else if (response.status !== 409) {
          setDraftStatus(form, "Draft not saved (HTTP " + response.status + "); keep this tab open.");
        }
      })
      .catch(function () {
        setDraftStatus(form, "Draft not saved: the server cannot be reached. Keep this tab open.");
      });
  }

  function scheduleDraft(form) {
    clearTimeout(draftTimer);
    draftForm = form;
    draftTimer = setTimeout(flushDraft, DRAFT_DELAY_MS);
  }

  function cancelDraft() {
    clearTimeout(draftTimer);
    draftTimer = null;
    draftForm = null;
  }

  function flushDraft(leaving) {
    clearTimeout(draftTimer);
    draftTimer = null;
    var form = draftForm;
    draftForm = null;
    if (form) saveDraft(form, leaving === true);
  }

  function onEdit(event) {
    var form = event.target.closest && event.target.closest("form.task-form");
    if (form) scheduleDraft(form);
  }
  document.addEventListener("input", onEdit);
  document.addEventListener("change", onEdit);
  window.addEventListener("pagehide", function () { flushDraft(true); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flushDraft(true);
  });

  // --- htmx: time spent goes with the submit ---
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.matches && elt.matches("form.task-form")) {
      event.detail.parameters["seconds_spent"] = secondsSpent(elt);
      // The submit carries every field; should it not go through, the server keeps them as
      // the draft. One request instead of two racing for the same row.
      cancelDraft();
    }
  });
  // A submit that never reached the server (offline) or failed there (5xx) saved nothing:
  // say so, and autosave what the form holds once more.
  function failed(message) {
    return function (event) {
      status(message(event));
      var elt = event.detail.elt;
      if (elt && elt.matches && elt.matches("form.task-form") && elt.isConnected) scheduleDraft(elt);
    };
  }
  document.addEventListener("htmx:sendError", failed(function () {
    return "The server cannot be reached. Your text is still here; try again when you are back online.";
  }));
  document.addEventListener("htmx:responseError", failed(function (event) {
    return "The server answered HTTP " + event.detail.xhr.status + ". Your text is still here; try again.";
  }));
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) status("");
  });

  // --- shortcuts ---
  function toggleHelp() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  function choose(radio) {
    if (!radio) return false;
    radio.checked = true;
    radio.focus();
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  // Rows of options keyed one by one (a rubric's criteria: [data-keyrow] holding radios with
  // data-key "1".."5", "P", "F"): a key answers the row that holds the focus, else the first
  // row still unanswered, then moves on to the next row.
  function chooseInKeyRow(form, event) {
    var rows = Array.prototype.slice.call(form.querySelectorAll("[data-keyrow]"));
    if (!rows.length || event.key.length !== 1) return false;
    var key = event.key.toUpperCase();
    var row = event.target && event.target.closest ? event.target.closest("[data-keyrow]") : null;
    if (!row) {
      row = rows.filter(function (r) { return !r.querySelector("input[type=radio]:checked"); })[0];
    }
    if (!row) return false;
    var radio = row.querySelector('input[type=radio][data-key="' + CSS.escape(key) + '"]');
    if (!radio) return false;
    event.preventDefault();
    choose(radio);
    var next = rows[rows.indexOf(row) + 1];
    if (next) {
      var target = next.querySelector("input[type=radio]:checked") || next.querySelector("input[type=radio]");
      if (target) target.focus();
    }
    return true;
  }

  // Single keys (templates/kinds/<kind>/task.html): on a focused radio, a key equal to the
  // value of another option of the same group chooses it (a preference's criterion row and
  // 1..7); anywhere else, the radio whose data-key is the key (a preference's overall scale,
  // a refusal's R, C, P), rows of [data-keyrow] aside.
  function chooseByKey(form, event) {
    if (event.key.length !== 1) return false;
    var key = event.key.toUpperCase();
    var target = event.target;
    var radios = Array.prototype.slice.call(form.querySelectorAll("input[type=radio]"));
    var found = null;
    if (target && target.type === "radio" && !target.closest("[data-keyrow]")) {
      found = radios.filter(function (r) { return r.name === target.name && r.value.toUpperCase() === key; })[0];
    }
    if (!found) {
      found = radios.filter(function (r) {
        return (r.dataset.key || "").toUpperCase() === key && !r.closest("[data-keyrow]");
      })[0];
    }
    if (!found) return false;
    event.preventDefault();
    choose(found);
    return true;
  }

  document.addEventListener("keydown", function (event) {
    var form = taskForm();
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (form && !form.dataset.lost) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyS") {
      var skip = document.querySelector("#task [data-action=skip]");
      if (skip) {
        event.preventDefault();
        skip.click();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (!form) return;
    if (chooseInKeyRow(form, event)) return;
    if (chooseByKey(form, event)) return;
    // Enter on a radio button would submit the form implicitly; only Ctrl+Enter submits.
    if (event.key === "Enter" && event.target && event.target.type === "radio") {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-action=help]")) toggleHelp();
  });

  function start() {
    markShown(document);
    if (window.htmx) window.htmx.onLoad(markShown);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  // A hook for tests and for the curious: the heartbeat normally fires on its own timer.
  window.RubricWorkspace = {
    heartbeat: function () {
      var lease = document.querySelector("#task #lease[hx-post]");
      if (lease && window.htmx) window.htmx.trigger(lease, "heartbeat");
    },
    saveDraft: function () { var form = taskForm(); return form ? saveDraft(form) : null; },
  };
})();

// A suggested label (shown to confirm) fills its field only when the annotator asks for it.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-suggest-field]");
  if (!button) return;
  var field = document.querySelector('#task [name="' + CSS.escape(button.dataset.suggestField) + '"]');
  if (field) {
    field.value = button.dataset.suggestValue;
    field.dispatchEvent(new Event("change", { bubbles: true }));
    field.focus();
  }
});
