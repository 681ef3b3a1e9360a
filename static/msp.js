// Loaded on every admin page (admin/msp_base.html). No inline scripts or handlers: the
// Content-Security-Policy refuses them.

// Confirmation prompts for destructive buttons: <button data-confirm="question">.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});

// Flask-Admin's menu links (and select2's) point at "javascript:void(0)"; the policy refuses to
// run such URLs, so a click on one only opens its menu instead of reporting a violation.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest('a[href^="javascript:"]');
  if (link) {
    event.preventDefault();
  }
}, true);

// Flask-Admin's "With selected" menu (admin/actions.html): run the chosen bulk action on the
// ticked rows (its actions.js asks for the confirmation and posts the action form).
document.addEventListener("click", function (event) {
  var item = event.target.closest && event.target.closest("[data-bulk-action]");
  if (item && window.modelActions) {
    event.preventDefault();
    window.modelActions.execute(item.dataset.bulkAction);
  }
});
