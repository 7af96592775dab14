/* Progressive enhancement only: every form works without this file. */
(function () {
  "use strict";

  // A form is sent once: the button is disabled after the first click (the Idempotency-Key makes a
  // second send harmless anyway).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sending === "1") { event.preventDefault(); return; }
    form.dataset.sending = "1";
    Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) {
      window.setTimeout(function () { b.disabled = true; }, 0);
    });
  });

  // The password policy, ticked as the person types (the server still decides).
  function passwordRules() {
    var list = document.getElementById("password-rules");
    if (!list) { return; }
    var field = document.getElementById(list.dataset.for);
    var user = document.getElementById(list.dataset.username);
    function check() {
      var value = field.value || "";
      var name = (user && user.value || "").trim().toLowerCase();
      var kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/, /[\u0E00-\u0E7F]/].filter(function (r) { return r.test(value); }).length;
      var rules = {
        length: value.length >= 10,
        username: value.length > 0 && (!name || value.toLowerCase().indexOf(name) === -1),
        variety: value.length >= 12 || (value.length >= 10 && kinds >= 3)
      };
      Array.prototype.forEach.call(list.querySelectorAll("li"), function (li) {
        li.classList.toggle("ok", !!rules[li.dataset.rule]);
      });
    }
    field.addEventListener("input", check);
    if (user) { user.addEventListener("input", check); }
    check();
  }

  // A report being typed is kept in this browser (localStorage) until it is recorded: it survives a
  // reload, a closed tab or a lost connection. The page marks a form with data-draft="<unit>:<fy>:<round>"
  // and data-basis (when the latest recorded report was sent). Each row's values are kept under its item's
  // id, not its position, so a plan changed meanwhile never puts them on another item; a draft typed over
  // an older report than the one now recorded is dropped; signing out clears every draft.
  var PREFIX = "ncc-draft:";

  function drafts() {
    var form = document.querySelector("form[data-draft]");
    if (!form || !window.localStorage) { return; }
    var key = PREFIX + form.dataset.draft;
    var note = document.getElementById("draft-note");
    function fields() {
      return Array.prototype.filter.call(form.elements, function (el) {
        return el.name && el.name !== "csrf_token" && el.name !== "idempotency_key" && el.type !== "submit" && el.type !== "hidden";
      });
    }
    function slot(el) {
      var row = /^entries-(\d+)-(.+)$/.exec(el.name);
      if (!row) { return el.name; }
      var item = form.elements["entries-" + row[1] + "-item_id"];
      return item ? "item:" + item.value + ":" + row[2] : el.name;
    }
    if (form.dataset.recorded === "1") { localStorage.removeItem(key); }
    var saved = localStorage.getItem(key);
    if (saved && form.dataset.fresh === "1") {
      try {
        var draft = JSON.parse(saved);
        if ((draft.basis || "") !== (form.dataset.basis || "")) { throw new Error("typed over an older report"); }
        fields().forEach(function (el) {
          var name = slot(el);
          if (!(name in draft.values)) { return; }
          if (el.type === "checkbox" || el.type === "radio") { el.checked = draft.values[name] === el.value || draft.values[name] === true; }
          else { el.value = draft.values[name]; }
        });
        if (note) { note.hidden = false; }
      } catch (e) { localStorage.removeItem(key); }
    }
    function save() {
      var values = {};
      fields().forEach(function (el) {
        var name = slot(el);
        if (el.type === "radio") { if (el.checked) { values[name] = el.value; } }
        else if (el.type === "checkbox") { values[name] = el.checked; }
        else { values[name] = el.value; }
      });
      localStorage.setItem(key, JSON.stringify({basis: form.dataset.basis || "", values: values}));
    }
    form.addEventListener("input", save);
    form.addEventListener("change", save);
  }

  // Signing out forgets every draft kept in this browser (a shared office computer).
  document.addEventListener("submit", function (event) {
    if (!event.target.dataset.clearDrafts || !window.localStorage) { return; }
    Object.keys(localStorage).filter(function (k) { return k.indexOf(PREFIX) === 0; })
      .forEach(function (k) { localStorage.removeItem(k); });
  });

  // The recovery codes page: a print button (hidden without JavaScript, where the browser's own print remains).
  function printButtons() {
    Array.prototype.forEach.call(document.querySelectorAll(".js-print"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { passwordRules(); drafts(); printButtons(); });
}());
