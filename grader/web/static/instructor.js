// The problem page: while a regrade runs, poll its progress and move the bar; reload the list
// when it is done.
(function () {
  "use strict";
  var box = document.getElementById("regrade");
  if (!box || box.dataset.running !== "true") { return; }
  var bar = document.getElementById("regrade-bar");
  var text = document.getElementById("regrade-text");
  var poll = function () {
    fetch(box.dataset.url, {headers: {"Accept": "application/json"}, credentials: "same-origin",
                            cache: "no-store"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        var r = data && data.regrade;
        if (!r) { setTimeout(poll, 2000); return; }
        bar.max = r.total || 1;
        bar.value = r.total ? r.done : 1;
        text.textContent = (r.running ? "Regrading: " : "Regrade finished: ") + r.done + " of " +
          r.total + " done" + (r.failed ? ", " + r.failed + " failed (see the server log)" : "") + ".";
        if (r.running) { setTimeout(poll, 1000); } else { box.dataset.running = "false"; window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  };
  setTimeout(poll, 1000);
})();
