// The student form: live "read as" preview per part, drafts kept in this browser.
(function () {
  "use strict";
  var form = document.getElementById("answers-form");
  if (!form) { return; }
  var problem = form.dataset.problem;
  var previewUrl = form.dataset.previewUrl;
  var draftKey = "grader-draft:" + problem;
  var drafts = {};
  try { drafts = JSON.parse(localStorage.getItem(draftKey) || "{}") || {}; } catch (e) { drafts = {}; }

  function saveDraft(name, value) {
    drafts[name] = value;
    try { localStorage.setItem(draftKey, JSON.stringify(drafts)); } catch (e) { /* storage full or off */ }
  }

  function show(box, cls, nodes) {
    box.className = "preview " + cls;
    box.replaceChildren.apply(box, nodes);
  }

  // Control characters are shown as signs, never as themselves (as on the server's pages).
  var CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  function visible(text) {
    return String(text).replace(CONTROL, function (c) {
      var code = c.charCodeAt(0);
      if (code < 0x20) { return String.fromCharCode(0x2400 + code); }
      if (code === 0x7f) { return "\u2421"; }
      return "[U+" + ("000" + code.toString(16).toUpperCase()).slice(-4) + "]";
    });
  }

  function label(text) {
    var span = document.createElement("span");
    span.className = "label";
    span.textContent = text;
    return span;
  }

  function errorNodes(latex, data) {
    var message = document.createElement("span");
    message.className = "message";
    message.textContent = visible(data.error || "could not read this answer");
    var nodes = [label("Cannot read: "), message];
    if (typeof data.position === "number" && data.position >= 0 && data.position <= latex.length) {
      var where = document.createElement("code");
      where.className = "where";
      where.appendChild(document.createTextNode(visible(latex.slice(0, data.position))));
      var mark = document.createElement("mark");
      mark.textContent = visible(latex.charAt(data.position) || " ");
      where.appendChild(mark);
      where.appendChild(document.createTextNode(visible(latex.slice(data.position + 1))));
      nodes.push(where);
    }
    return nodes;
  }

  function preview(field) {
    var part = field.dataset.part;
    var box = document.getElementById("preview-" + part);
    var latex = field.value;
    if (!latex.trim()) {
      var hint = document.createElement("span");
      hint.className = "muted";
      hint.textContent = "Read as: (type an answer)";
      show(box, "", [hint]);
      return;
    }
    var sent = latex;
    field.dataset.pending = sent;
    fetch(previewUrl, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      credentials: "omit",
      body: JSON.stringify({problem: problem, part: part, latex: latex})
    }).then(function (response) {
      return response.json().then(function (data) { return {ok: response.ok, data: data}; });
    }).then(function (reply) {
      if (field.dataset.pending !== sent) { return; }   // a newer keystroke is on its way
      if (reply.ok) {
        var math = document.createElement("span");
        math.className = "math";
        math.innerHTML = reply.data.mathml;   // MathML from the grader's own renderer
        show(box, "ok", [label("Read as: "), math]);
      } else {
        show(box, "error", errorNodes(sent, reply.data));
      }
    }).catch(function () {
      if (field.dataset.pending !== sent) { return; }
      show(box, "error", [label("Preview unavailable (offline?). Your answer is kept in this browser.")]);
    });
  }

  var timers = {};
  Array.prototype.forEach.call(form.querySelectorAll("textarea.answer"), function (field) {
    if (!field.value && drafts[field.name]) { field.value = drafts[field.name]; }
    field.addEventListener("input", function () {
      saveDraft(field.name, field.value);
      clearTimeout(timers[field.name]);
      timers[field.name] = setTimeout(function () { preview(field); }, 200);
    });
    if (field.value) { preview(field); }
  });

  var student = document.getElementById("student");
  if (student) {
    if (!student.value && drafts.student) { student.value = drafts.student; }
    student.addEventListener("input", function () { saveDraft("student", student.value); });
  }

  // Earlier submissions made from this browser (saved by the result page).
  var earlier = document.getElementById("earlier");
  var list = [];
  try { list = JSON.parse(localStorage.getItem("grader-results") || "[]") || []; } catch (e) { list = []; }
  list = list.filter(function (r) { return r.problem === problem && /^\/submissions\/\d+\?token=[\w-]+$/.test(r.path); });
  if (earlier && list.length) {
    earlier.appendChild(document.createTextNode("Your earlier results: "));
    list.slice(-5).forEach(function (r, i) {
      if (i) { earlier.appendChild(document.createTextNode(", ")); }
      var a = document.createElement("a");
      a.href = r.path;
      a.textContent = "#" + r.id + (r.score ? " (" + r.score + ")" : "");
      earlier.appendChild(a);
    });
    earlier.hidden = false;
  }
})();
