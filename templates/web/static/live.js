// Live updates where JavaScript runs: the page reads without it. Every 2 s the read model
// (/api/v1/status, the same JSON as `pullrekun status --json`) updates each environment's row.
"use strict";
(function () {
  function text(row, selector, value) {
    var cell = row.querySelector(selector);
    if (cell && cell.textContent !== value) { cell.textContent = value; }
  }
  function update(snapshot) {
    var known = {};
    snapshot.environments.forEach(function (env) {
      known[String(env.pr)] = true;
      var row = document.querySelector('tr[data-pr="' + env.pr + '"]');
      if (!row) { document.body.dataset.stale = "new environment"; return; }
      var shown = env.shown;
      var cell = row.querySelector(".status");
      cell.className = "status status-" + shown;
      text(row, ".status .value", shown);
      text(row, ".status .failure", env.failed_step ? "at " + env.failed_step + ": " + (env.failed_task || "") : "");
      text(row, ".status .message", env.message || "");
      text(row, ".sha code", (env.sha || "").slice(0, 12));
      text(row, ".instance-state", env.instance_state);
    });
    document.querySelectorAll("tr[data-pr]").forEach(function (row) {
      if (!known[row.dataset.pr]) { row.classList.add("gone"); }
    });
    document.body.dataset.updated = String(Date.now());
  }
  function poll() {
    fetch("/api/v1/status", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { update(data); } })
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
