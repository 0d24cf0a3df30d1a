// Remember this result in the browser, so the form can link back to it.
(function () {
  "use strict";
  var card = document.getElementById("result");
  if (!card || !card.dataset.link) { return; }
  var url;
  try { url = new URL(card.dataset.link); } catch (e) { return; }
  var total = document.getElementById("total-score");
  var entry = {id: card.dataset.id, problem: card.dataset.problem, path: url.pathname + url.search,
               score: total ? total.textContent : ""};
  var list = [];
  try { list = JSON.parse(localStorage.getItem("grader-results") || "[]") || []; } catch (e) { list = []; }
  list = list.filter(function (r) { return r.id !== entry.id; });
  list.push(entry);
  try { localStorage.setItem("grader-results", JSON.stringify(list.slice(-20))); } catch (e) { /* ignore */ }
})();
