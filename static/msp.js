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

// Flask-Admin's date and time pickers (bootstrap-daterangepicker, which knows only English) in
// the staff member's language: buttons, range labels, day and month names and the first day of
// the week come from the page (#date-picker-data, admin/msp_base.html). The picker's script loads
// after this one and Flask-Admin builds the pickers of active filters as soon as its filter
// script runs, so the plugin is wrapped the moment it is installed on jQuery.
(function ($) {
  var data = document.getElementById("date-picker-data");
  if (!$ || !data) {
    return;
  }
  var texts = JSON.parse(data.textContent);
  var picker;
  Object.defineProperty($.fn, "daterangepicker", {
    configurable: true,
    get: function () {
      return picker;
    },
    set: function (original) {
      picker = function (options, callback) {
        var own = options || {};
        var localised = $.extend({}, own, { locale: $.extend({}, texts, own.locale) });
        return original.call(this, localised, callback);
      };
    }
  });
})(window.jQuery);

// Flask-Admin's "With selected" menu (admin/actions.html): run the chosen bulk action on the
// ticked rows (its actions.js asks for the confirmation and posts the action form).
document.addEventListener("click", function (event) {
  var item = event.target.closest && event.target.closest("[data-bulk-action]");
  if (item && window.modelActions) {
    event.preventDefault();
    window.modelActions.execute(item.dataset.bulkAction);
  }
});

// A record's page with tabs (the customer overview): open the tab the address's #anchor names
// (a link, or the page a change returns to), and keep the open tab in the address.
(function () {
  var tabs = document.querySelectorAll('[data-toggle="tab"]');
  if (!tabs.length || !window.jQuery) {
    return;
  }
  function openNamedTab() {
    var wanted = window.location.hash;
    Array.prototype.forEach.call(tabs, function (tab) {
      if (wanted && tab.getAttribute("href") === wanted) {
        window.jQuery(tab).tab("show");
      }
    });
  }
  openNamedTab();
  window.addEventListener("hashchange", openNamedTab);
  window.jQuery(tabs).on("shown.bs.tab", function (event) {
    window.history.replaceState(null, "", event.target.getAttribute("href"));
  });
})();

// A list the staff member came back to after an action: scroll the row it changed into view,
// if it is not in view already (admin/model/list.html marks it; the address names it in
// ``highlight``).
(function () {
  var row = document.querySelector("tr.msp-highlight");
  if (row && row.scrollIntoView) {
    row.scrollIntoView({ block: "nearest" });
  }
})();
