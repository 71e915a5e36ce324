/* Service selection: join without a page load (POST /queue/join/), then show the ticket.
   "Who is this for?": "Me" joins as the signed-in patient; "Someone else" sends the name typed,
   so a parent can queue for a child on the same phone. Without JavaScript the same form posts
   to /service/selection/ (each service's button carries its service_id). */
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("selection-data").textContent);
  const form = document.getElementById("join-form");
  if (!form) return;
  const nameBox = document.getElementById("who-name");
  const nameInput = document.getElementById("id_for_name");
  const nameError = document.getElementById("who-name-error");

  function forSomeoneElse() {
    const checked = form.querySelector('input[name="for"]:checked');
    return checked && checked.value === "other";
  }

  /* Only the choice that applies is shown: the name field for "Someone else", and no "for
     someone else" button while "Me" is chosen on a service where I already hold a ticket. */
  function sync() {
    const other = forSomeoneElse();
    nameBox.hidden = !other;
    form.querySelectorAll("[data-self-held]").forEach(function (button) { button.hidden = !other; });
  }

  form.querySelectorAll('input[name="for"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      sync();
      if (forSomeoneElse()) nameInput.focus();
    });
  });
  sync();

  function showNameError(text) {
    nameError.textContent = text || "";
    if (text) nameInput.setAttribute("aria-invalid", "true");
    else nameInput.removeAttribute("aria-invalid");
  }

  form.addEventListener("submit", function (event) {
    const button = event.submitter;
    if (!button || button.name !== "service_id") return;  // let anything else post normally
    event.preventDefault();
    const card = button.closest(".service-card");
    const error = card.querySelector(".join-error");
    if (button.disabled) return;
    const label = button.textContent;
    const fields = { service_id: button.value };
    if (forSomeoneElse()) fields.name = nameInput.value;
    const priority = form.querySelector('input[name="priority"]:checked');
    if (priority && priority.value) fields.priority = priority.value;
    const notify = document.getElementById("id_notify");
    if (notify) fields.notify = notify.checked;
    button.disabled = true;
    button.textContent = button.dataset.busyText;
    error.hidden = true;
    error.className = "alert alert-error join-error";
    showNameError("");
    QueueLive.post(data.joinUrl, fields).then(function (result) {
      if (result.ok && result.data.ticket) {
        const url = data.dashboardUrl + "?ticket=" + encodeURIComponent(result.data.ticket.id);
        if (result.status === 201 || !result.data.message) { window.location.assign(url); return; }
        // 200: that person already holds a ticket for this service; say so and link to it.
        button.disabled = false;
        button.textContent = label;
        error.className = "alert alert-info join-error";
        error.textContent = result.data.message + " ";
        const link = document.createElement("a");
        link.href = url;
        link.textContent = result.data.ticket.queue_id;
        error.appendChild(link);
        error.hidden = false;
        return;
      }
      button.disabled = false;
      button.textContent = label;
      const message = (result.data && result.data.error) || "";
      if (result.data && (result.data.code === "invalid_name" || (result.data.fields && result.data.fields.name))) {
        showNameError(message);
        nameInput.focus();
        return;
      }
      error.textContent = message;
      error.hidden = !message;
      if (result.status === 403 && result.data && result.data.code === "not_authenticated") window.location.reload();
    });
  });
})();
