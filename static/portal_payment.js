// Portal → Payment: Stripe.js collects the card and confirms a SetupIntent created by the
// server; then the form posts the SetupIntent and payment method ids, and the server checks
// them at Stripe and keeps the card. No card number ever reaches the server.
(function () {
  var form = document.getElementById("card-form");
  if (!form) { return; }
  var errors = document.getElementById("card-errors");
  var button = form.querySelector("button[type=submit]");
  if (typeof Stripe === "undefined") {
    errors.textContent = form.dataset.unavailable;
    button.disabled = true;
    return;
  }
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");

  function fail(message) {
    errors.textContent = message || form.dataset.failed;
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    errors.textContent = "";
    fetch(form.dataset.setupUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": form.querySelector("[name=csrf_token]").value }
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok || !data.client_secret) { throw new Error(data.error || ""); }
          return stripe.confirmCardSetup(data.client_secret, { payment_method: { card: card } });
        });
      })
      .then(function (result) {
        if (result.error) { throw new Error(result.error.message || ""); }
        var method = result.setupIntent.payment_method;
        form.querySelector("[name=setup_intent]").value = result.setupIntent.id;
        form.querySelector("[name=payment_method]").value =
          typeof method === "string" ? method : method.id;
        form.submit();
      })
      .catch(function (error) { fail(error && error.message); });
  });
})();
