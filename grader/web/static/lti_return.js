// The deep linking response goes back to the LMS by itself (the button is there without script).
(function () {
  "use strict";
  var form = document.getElementById("deep-link-return");
  if (form) { form.submit(); }
})();
