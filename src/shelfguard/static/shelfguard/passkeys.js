/* Passkeys (WebAuthn) for the staff pages and the patron portal (/account/).
 * Loaded from this site only (CSP 'self').
 *
 * Nothing here knows a URL: every endpoint comes from the form's data
 * attributes, so staff and portal pages share it.
 *
 * Forms marked data-passkey="signin" | "register" | "add" | "reauth" get their
 * passkey step here: the options come from data-options-url (a same-origin
 * POST carrying the page's CSRF token), the browser's answer is put into the
 * form's hidden "credential" (or "reauth_credential") field and the form is
 * submitted normally. Without WebAuthn support nothing changes: the passkey
 * parts stay hidden and the code forms work as before.
 *
 * A "reauth" form (removing a passkey, changing the password, new recovery
 * codes) asks the passkey only when the code box is empty; a submit button
 * marked data-passkey-use empties the code box first, so it always does.
 */
(function () {
  "use strict";

  var supported = !!(window.PublicKeyCredential && navigator.credentials &&
                     navigator.credentials.create && window.fetch);

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: { clientDataJSON: toText(r.clientDataJSON) },
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
    if (cred.authenticatorAttachment) { out.authenticatorAttachment = cred.authenticatorAttachment; }
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) { out.response.userHandle = toText(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  function token(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function fetchOptions(url, form, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": token(form), "Accept": "application/json" },
      body: body || new FormData()
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.error || form.dataset.failed); }
        return data;
      });
    });
  }

  function showError(form, message) {
    var p = form.querySelector(".passkey-error");
    if (!p) { return; }
    p.textContent = message;
    p.hidden = false;
    p.focus && p.setAttribute("tabindex", "-1");
  }

  function explain(form, error) {
    // The browser's own errors (cancelled, timed out, not allowed) get one plain message.
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return form.dataset.cancelled;
    }
    if (error && error.name && error.name !== "Error") { return form.dataset.failed; }
    return (error && error.message) || form.dataset.failed;
  }

  function setField(form, name, value) {
    var input = form.querySelector("input[name=" + name + "]");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    input.value = value;
  }

  function assertion(url, form) {
    return fetchOptions(url, form).then(function (options) {
      return navigator.credentials.get({ publicKey: requestOptions(options) });
    }).then(credentialJSON);
  }

  function creation(url, form, body) {
    return fetchOptions(url, form, body).then(function (options) {
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    }).then(credentialJSON);
  }

  function codeEmpty(form) {
    var code = form.querySelector("input[name=code]");
    return !code || !code.value.trim();
  }

  var steps = {
    signin: function (form) {
      return assertion(form.dataset.optionsUrl, form).then(function (answer) {
        setField(form, "credential", answer);
      });
    },
    register: function (form) {
      return creation(form.dataset.optionsUrl, form).then(function (answer) {
        setField(form, "credential", answer);
      });
    },
    reauth: function (form) {
      if (!codeEmpty(form)) {
        // A code confirms this time: no answer from an earlier try goes with it.
        setField(form, "reauth_credential", "");
        return Promise.resolve();
      }
      return assertion(form.dataset.optionsUrl, form).then(function (answer) {
        setField(form, "reauth_credential", answer);
      });
    },
    add: function (form) {
      var first = Promise.resolve();
      if (codeEmpty(form) && form.dataset.reauthUrl) {
        first = assertion(form.dataset.reauthUrl, form).then(function (answer) {
          setField(form, "reauth_credential", answer);
        });
      }
      return first.then(function () {
        return creation(form.dataset.optionsUrl, form, new FormData(form));
      }).then(function (answer) {
        setField(form, "credential", answer);
        setField(form, "reauth_credential", "");
        // The password and code were checked already; they need not travel again.
        // (data-clear-fields names them when a page's fields are named otherwise.)
        var clear = (form.dataset.clearFields || "current_password code").split(/\s+/);
        clear.forEach(function (name) {
          if (!name) { return; }
          var input = form.querySelector("input[name=" + name + "]");
          if (input) { input.value = ""; }
        });
      });
    }
  };

  function wire(form) {
    var step = steps[form.dataset.passkey];
    if (!step) { return; }
    var busy = false;
    form.querySelectorAll("[data-passkey-use]").forEach(function (button) {
      // Runs before the submit event: the code box is emptied, so the passkey is asked.
      button.addEventListener("click", function () {
        if (busy) { return; }
        var code = form.querySelector("input[name=code]");
        if (code) { code.value = ""; }
      });
    });
    form.addEventListener("submit", function (event) {
      if (form.dataset.passkeyDone === "1") { return; }
      event.preventDefault();
      if (busy) { return; }
      busy = true;
      var error = form.querySelector(".passkey-error");
      if (error) { error.hidden = true; }
      step(form).then(function () {
        form.dataset.passkeyDone = "1";
        form.submit();
      }).catch(function (err) {
        busy = false;
        showError(form, explain(form, err));
      });
    });
  }

  function start() {
    if (!supported) {
      document.querySelectorAll("[data-passkey-unsupported]").forEach(function (el) {
        el.hidden = false;
      });
      // "reauth" forms still work with a code; the others need WebAuthn.
      return;
    }
    document.querySelectorAll("[data-passkey-show]").forEach(function (el) { el.hidden = false; });
    document.querySelectorAll("form[data-passkey]").forEach(wire);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
