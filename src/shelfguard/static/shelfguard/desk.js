/* The circulation desk, scanner first. Loaded from this site only (CSP 'self').
 *
 * Forms inside #circ-desk marked data-desk-form="..." are sent with fetch()
 * asking for JSON; the answer is shown in place (the aria-live region
 * #desk-outcome and the lists on the page), with no page load, and the focus
 * goes back to the scan box. Scans are sent one after another in the order
 * they were made, so a fast scanner loses none. Without JavaScript the same
 * forms are ordinary POSTs answered with a redirect.
 *
 * No text is written here: messages come from the server, and the few this
 * script needs are read from data-msg-* attributes of #circ-desk (translated
 * in the template). Escape presses "Done / next patron" on the check-out page.
 */
(function () {
  "use strict";

  var root = document.getElementById("circ-desk");
  if (!root || !window.fetch || !window.FormData || !window.Promise) { return; }
  // Set once per page load: a test can see that answers came without a reload.
  window.shelfguardDeskLoadedAt = Date.now();

  var live = document.getElementById("desk-outcome");
  var log = document.getElementById("scan-log");
  var queue = Promise.resolve();

  function say(text, ok, code) {
    if (!live) { return; }
    live.textContent = text || "";
    live.className = ok ? "notice" : "problem";
    live.setAttribute("data-code", code || "");
    if (log) {
      var item = document.createElement("li");
      item.className = ok ? "notice" : "problem";
      item.setAttribute("data-code", code || "");
      item.textContent = text || "";
      log.insertBefore(item, log.firstChild);
    }
  }

  function visible(el) {
    for (var node = el; node && node !== document; node = node.parentNode) {
      if (node.hidden) { return false; }
    }
    return true;
  }

  function focusScan() {
    var boxes = root.querySelectorAll("input[data-scan]");
    for (var i = 0; i < boxes.length; i++) {
      if (visible(boxes[i])) { boxes[i].focus(); return; }
    }
  }

  function show(id, on) {
    var el = document.getElementById(id);
    if (el) { el.hidden = !on; }
  }

  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html || "";  // rendered and escaped by the server's templates
    return t.content;
  }

  function countLoans() {
    var rows = document.getElementById("loan-rows");
    var count = document.getElementById("loan-count");
    if (rows && count) { count.textContent = String(rows.querySelectorAll("tr").length); }
  }

  function patronMode(on) {
    show("card-form", !on);
    show("item-form", on);
    show("done-form", on);
    if (!on) {
      var panel = document.getElementById("patron-panel");
      if (panel) { panel.textContent = ""; }
      if (log) { log.textContent = ""; }
    }
  }

  var after = {
    card: function (form, data) {
      if (!data.ok) { return; }
      var panel = document.getElementById("patron-panel");
      panel.textContent = "";
      panel.appendChild(fragment(data.html));
      patronMode(true);
    },
    item: function (form, data) {
      if (data.code === "no_patron") { patronMode(false); return; }
      if (!data.ok) { return; }
      var rows = document.getElementById("loan-rows");
      if (rows) { rows.appendChild(fragment(data.html)); countLoans(); }
    },
    done: function () { patronMode(false); },
    renew: function (form, data) {
      if (!data.ok) { return; }
      var row = form.closest("tr");
      var due = row && row.querySelector(".due");
      if (due) { due.textContent = data.due_on; }
    },
    cancel: function (form, data) {
      if (!data.ok) { return; }
      var row = form.closest("tr");
      if (row) { row.parentNode.removeChild(row); }
    },
    checkin: function (form, data) {
      var list = document.getElementById("checkin-results");
      if (!list) { return; }
      if (data.ok) {
        list.insertBefore(fragment(data.html), list.firstChild);
      } else {
        var item = document.createElement("li");
        item.className = "problem";
        item.setAttribute("data-code", data.code || "");
        item.textContent = data.message || "";
        list.insertBefore(item, list.firstChild);
      }
    },
    plain: function () {}
  };

  function send(form, body) {
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    return fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-CSRFToken": token ? token.value : ""
      }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) { throw new Error("not json"); }
      return response.json();
    });
  }

  root.addEventListener("submit", function (event) {
    var form = event.target;
    var kind = form.getAttribute("data-desk-form");
    if (!kind || !after[kind]) { return; }
    event.preventDefault();
    // Read the form now and empty the scan box at once: the next scan may come
    // before this one is answered.
    var body = new FormData(form);
    var box = form.querySelector("input[data-scan]");
    if (box && kind !== "plain") { box.value = ""; }
    if (kind === "plain") {
      var boxes = form.querySelectorAll("input[type=text]");
      for (var i = 0; i < boxes.length; i++) { boxes[i].value = ""; }
    }
    queue = queue.then(function () {
      return send(form, body).then(function (data) {
        say(data.message, data.ok, data.code);
        after[kind](form, data);
      }, function () {
        say(root.getAttribute("data-msg-failed"), false, "no_answer");
      }).then(focusScan);
    });
  });

  // "Done / next patron" from the keyboard.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var done = document.getElementById("done-form");
    if (!done || !visible(done)) { return; }
    event.preventDefault();
    if (done.requestSubmit) { done.requestSubmit(); } else { done.querySelector("button").click(); }
  });

  // Enter in a box that is not the last moves to the next one (place a hold:
  // the scanner presses Enter after the card).
  root.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key !== "Enter" || box.id !== "hold-card") { return; }
    event.preventDefault();
    var next = document.getElementById("hold-title");
    if (next) { next.focus(); }
  });
})();
