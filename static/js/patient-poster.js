/* The QR poster's Print button. */
(function () {
  "use strict";
  const button = document.getElementById("print-poster");
  if (button) button.addEventListener("click", function () { window.print(); });
})();
