// upkeep UI: refresh the live part without a full reload; send actions to the JSON API.
// No framework, no external file: this runs on an office LAN without internet.
(function () {
  "use strict";
  var body = document.body;
  var seconds = parseInt(body.dataset.refresh || "15", 10);
  var fragment = document.getElementById("fragment");
  var statusEl = document.getElementById("refresh-status");
  var updated = document.getElementById("updated");
  var TOKEN = "upkeep-token";

  function refresh() {
    fetch(body.dataset.fragment, {cache: "no-store", credentials: "same-origin"})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        fragment.innerHTML = html;
        var stamp = document.getElementById("stamp");
        if (stamp) { updated.textContent = stamp.textContent; }
        statusEl.textContent = "";
        body.dataset.refreshed = String((parseInt(body.dataset.refreshed || "0", 10)) + 1);
      })
      .catch(function () { statusEl.textContent = "⚠"; })
      .finally(function () { window.setTimeout(refresh, seconds * 1000); });
  }
  window.setTimeout(refresh, seconds * 1000);

  function token() {
    try { return window.sessionStorage.getItem(TOKEN) || ""; } catch (e) { return ""; }
  }

  var tokenForm = document.getElementById("token-form");
  if (tokenForm) {
    var tokenState = document.getElementById("token-state");
    var show = function () { tokenState.textContent = token() ? " ✓" : ""; };
    tokenForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = document.getElementById("token");
      window.sessionStorage.setItem(TOKEN, input.value.trim());
      input.value = "";
      show();
    });
    document.getElementById("forget-token").addEventListener("click", function () {
      window.sessionStorage.removeItem(TOKEN);
      show();
    });
    show();
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.action"), function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var out = form.querySelector("output.result");
      var data = new FormData(form);
      var url = form.dataset.endpoint.replace(/\{(\w+)\}/g, function (_, name) {
        var value = String(data.get(name) || "");
        data.delete(name);
        return encodeURIComponent(value);
      });
      var headers = {};
      var t = token();
      if (t) { headers.Authorization = "Bearer " + t; }
      var payload;
      if (form.dataset.encoding === "raw") {
        var file = form.querySelector("input[type=file]").files[0];
        if (!file) { return; }
        url += (url.indexOf("?") < 0 ? "?" : "&") + "filename=" + encodeURIComponent(file.name);
        payload = file;
      } else {
        var obj = {};
        data.forEach(function (value, key) {
          if (value === "") { return; }
          var input = form.elements[key];
          // datetime-local inputs are local wall time: send Unix seconds, unambiguous
          if (input && input.type === "datetime-local") { value = Date.parse(value) / 1000; }
          obj[key] = value;
        });
        var into = form.dataset.mergeBy;
        if (into && obj.by) {
          obj[into] = obj.by + ": " + (obj[into] || "");
          delete obj.by;
        }
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(obj);
      }
      out.textContent = "…";
      fetch(url, {method: form.dataset.method, headers: headers, body: payload,
                  credentials: "same-origin"})
        .then(function (r) {
          return r.text().then(function (text) {
            var detail = text;
            try { var j = JSON.parse(text); detail = j.detail || ""; } catch (e) { /* text */ }
            if (r.ok) {
              out.className = "result ok";
              out.textContent = form.dataset.done;
              form.reset();
            } else {
              out.className = "result bad";
              out.textContent = form.dataset.refused + " (" + r.status + ") " +
                (typeof detail === "string" ? detail : JSON.stringify(detail));
            }
          });
        })
        .catch(function (err) { out.className = "result bad"; out.textContent = String(err); });
    });
  });
})();
