/* Service selection: join without a page load (POST /queue/join/), then show the ticket.
   Without JavaScript the same forms post to /service/selection/. */
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("selection-data").textContent);

  document.querySelectorAll(".join-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const error = form.parentNode.querySelector(".join-error");
      if (button.disabled) return;
      const label = button.textContent;
      button.disabled = true;
      button.textContent = button.dataset.busyText;
      error.hidden = true;
      QueueLive.post(data.joinUrl, { service_id: form.elements.service_id.value }).then(function (result) {
        if (result.ok && result.data.ticket) {
          window.location.assign(data.dashboardUrl + "?ticket=" + encodeURIComponent(result.data.ticket.id));
          return;
        }
        button.disabled = false;
        button.textContent = label;
        error.textContent = (result.data && result.data.error) || "";
        error.hidden = !error.textContent;
        if (result.status === 403 && result.data && result.data.code === "not_authenticated") window.location.reload();
      });
    });
  });
})();
