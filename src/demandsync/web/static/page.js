// demandsync page: progressive enhancement only; every page works without it.
// - tables with class "sortable" sort on a header click (numbers by data-value);
// - the epic filter filters rows as you type;
// - decision forms post in the background and mark their row as decided;
// - "Copy" copies a theme's draft epic to the clipboard.
(function () {
  "use strict";

  function sortTable(table, index, type, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = !th.classList.contains("sorted-asc") && (type === "text" || th.classList.contains("sorted-desc"));
    rows.sort(function (a, b) {
      var x = a.cells[index] ? a.cells[index].getAttribute("data-value") || "" : "";
      var y = b.cells[index] ? b.cells[index].getAttribute("data-value") || "" : "";
      var r = type === "number" ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(asc ? "sorted-asc" : "sorted-desc");
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.addEventListener("click", function (ev) {
        ev.preventDefault();
        sortTable(table, index, th.getAttribute("data-type") || "text", th);
      });
    });
  });

  var filter = document.getElementById("filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      document.querySelectorAll("#epics tbody tr[data-filter]").forEach(function (tr) {
        tr.classList.toggle("hidden", q !== "" && tr.getAttribute("data-filter").indexOf(q) === -1);
      });
    });
  }

  document.querySelectorAll("form.decide").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      var pick = form.querySelector("input[list=epic-keys]");
      if (pick && !pick.value.trim()) { ev.preventDefault(); pick.focus(); return; }
      ev.preventDefault();
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" }
      }).then(function (res) {
        if (!res.ok) { return res.text().then(function (t) { throw new Error(t); }); }
        var box = form.closest("li.inbox-item, tr[data-item], section.theme");
        if (box) { box.classList.add("decided"); }
        var note = document.getElementById("pending");
        var span = document.createElement("span");
        span.className = "pending";
        span.textContent = "saved: counts on the next sync";
        form.replaceWith(span);
        if (note) { note.textContent = "decisions saved: they count on the next sync"; }
      }).catch(function (err) {
        buttons.forEach(function (b) { b.disabled = false; });
        window.alert("Not saved: " + err.message);
      });
    });
  });

  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var theme = document.querySelector(button.getAttribute("data-copy"));
      var text = theme.querySelector(".draft-title").value + "\n\n" + theme.querySelector(".draft-body").value;
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done);
      } else {
        var area = theme.querySelector(".draft-body");
        area.select();
        document.execCommand("copy");
        done();
      }
    });
  });
})();
