// The review queue's keyboard: 1-9 pick an annotation, Enter/A approve it, E edit it into a
// final, R reject, S/J skip, Ctrl+Enter submit, ? help. The pane is swapped by htmx after each
// decision, so every lookup starts from the document, never from a cached element.
(function () {
  "use strict";

  const $ = (selector) => document.querySelector("#review-pane " + selector);
  const cards = () => Array.from(document.querySelectorAll("#review-pane .annotation"));

  function typing(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    if (el.tagName === "INPUT") return !["radio", "checkbox", "button", "submit"].includes(el.type);
    return false;
  }

  function hint(text) {
    const el = $("#review-hint");
    if (el) el.textContent = text;
  }

  function sync() {
    for (const card of cards()) {
      card.classList.toggle("picked", card.querySelector('input[name="pick"]').checked);
    }
  }

  function pickedCard() {
    const radio = $('input[name="pick"]:checked');
    return radio ? radio.closest(".annotation") : null;
  }

  function pick(number) {
    const card = cards()[number - 1];
    if (!card) return;
    card.querySelector('input[name="pick"]').checked = true;
    sync();
    card.scrollIntoView({ block: "nearest" });
    hint(card.querySelector("strong").textContent + " picked: Enter approves it, E edits it.");
  }

  function payloads() {
    const el = document.getElementById("review-payloads");
    return el ? JSON.parse(el.textContent) : {};
  }

  // The edit panel's fields are named after the payload: "final_<field>" or, for a field
  // inside an object, "final_<field>.<key>" (templates/kinds/<kind>/review_edit.html), so one
  // walk fills every kind's form. A list is shown comma-separated, a pass/fail score as
  // "pass"/"fail".
  function formValue(value) {
    if (value === undefined || value === null) return "";
    if (value === true) return "pass";
    if (value === false) return "fail";
    if (Array.isArray(value)) return value.join(", ");
    return String(value);
  }

  function fillEdit(payload) {
    if (!payload) return;
    for (const field of document.querySelectorAll('#review-edit [name^="final_"]')) {
      let value = payload;
      for (const key of field.name.slice("final_".length).split(".")) {
        value = value !== null && typeof value === "object" && key in value ? value[key] : undefined;
      }
      field.value = formValue(value);
    }
  }

  function show(id) {
    const panel = $("#" + id);
    if (panel) panel.hidden = false;
    return panel;
  }

  function openEdit() {
    const panel = $("#review-edit");
    if (!panel) return;
    if (panel.hidden) {
      const card = pickedCard() || cards()[0];
      if (card) fillEdit(payloads()[card.dataset.annotation]);
      panel.hidden = false;
      hint(card ? "Editing " + card.querySelector("strong").textContent + ": Ctrl+Enter approves the final." : "");
    }
    const first = panel.querySelector("select, textarea");
    if (first) first.focus();
  }

  function openReject() {
    if (!show("review-reject")) return;
    const note = $('textarea[name="note"]');
    if (note) note.focus();
    hint("Write why, then Ctrl+Enter rejects the item.");
  }

  function click(selector) {
    const button = $(selector);
    if (button && !button.disabled) button.click();
    return Boolean(button);
  }

  function approvePicked() {
    if (!pickedCard()) {
      hint("Pick an annotation first: press its number.");
      return;
    }
    click('button[value="approve_picked"]');
  }

  function submitOpen() {
    const edit = $("#review-edit");
    const reject = $("#review-reject");
    if (edit && !edit.hidden) click('button[value="edit"]');
    else if (reject && !reject.hidden) click('button[value="reject"]');
    else approvePicked();
  }

  function toggleHelp() {
    const dialog = document.getElementById("review-help");
    if (!dialog) return;
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  document.addEventListener("change", (event) => {
    if (event.target.name === "pick") sync();
  });

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-review], [data-review-help]");
    if (!target) return;
    if (target.hasAttribute("data-review-help")) toggleHelp();
    else if (target.dataset.review === "edit") openEdit();
    else if (target.dataset.review === "reject") openReject();
  });

  document.addEventListener("keydown", (event) => {
    if (!document.getElementById("review-pane")) return;
    const help = document.getElementById("review-help");
    if (help && help.open) {
      if (event.key === "?") {
        event.preventDefault();
        help.close();
      }
      return;
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (!$("#review-form")) return;
      event.preventDefault();
      submitOpen();
      return;
    }
    if (event.key === "Escape") {
      if (typing(event.target)) event.target.blur();
      else for (const id of ["review-edit", "review-reject"]) {
        const panel = $("#" + id);
        if (panel) panel.hidden = true;
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const tag = event.target.tagName;
    if (event.key === "Enter" && (tag === "BUTTON" || tag === "A")) return; // native activation
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (!$("#review-form")) return;
    const key = event.key.toLowerCase();
    if (/^[1-9]$/.test(key)) pick(Number(key));
    else if (key === "enter" || key === "a") approvePicked();
    else if (key === "e") openEdit();
    else if (key === "r") openReject();
    else if (key === "s" || key === "j") click('button[data-review="skip"]');
    else return;
    event.preventDefault();
  });

  // After a swap the new pane takes the focus, so the keys keep working without a click; a
  // decision shown again with errors puts the focus back where the typing was.
  document.addEventListener("htmx:afterSettle", () => {
    const pane = document.getElementById("review-pane");
    if (!pane || pane.contains(document.activeElement)) return;
    sync();
    const edit = pane.querySelector("#review-edit:not([hidden]) select, #review-edit:not([hidden]) textarea");
    const reject = pane.querySelector("#review-reject:not([hidden])") && pane.querySelector('textarea[name="note"]');
    (edit || reject || pane).focus({ preventScroll: true });
  });
  document.addEventListener("DOMContentLoaded", sync);
})();
