// IP Distribution form: total, slider and the two boxes stay in sync; the price preview
// is fetched from the server (the same rules as saving) whenever a value changes, its amounts
// and date written in the reader's language ("text"). Without this script the form's
// "Show price effect" button asks the server for the preview instead.
(function () {
  var form = document.getElementById("ip-distribution-form");
  if (!form) { return; }
  var total = form.querySelector("#total_ips");
  var internal = form.querySelector("#internal_ips");
  var external = form.querySelector("#external_ips");
  var slider = document.getElementById("split");
  var instantly = form.querySelector("#instantly");
  var instantlyGroup = document.getElementById("instantly-group");
  var currentTotal = parseInt(form.dataset.currentTotal, 10) || 0;
  var texts = document.getElementById("preview-texts").dataset;
  var previewButton = document.getElementById("preview-button");
  if (previewButton) { previewButton.hidden = true; }
  var timer = null;

  function num(input) { var n = parseInt(input.value, 10); return isNaN(n) ? 0 : n; }

  function fromTotal() {
    var t = Math.max(num(total), 0);
    var i = Math.min(num(internal), t);
    internal.value = i;
    external.value = t - i;
    slider.max = t;
    slider.value = i;
  }
  function fromInternal() {
    var i = Math.max(num(internal), 0);
    total.value = i + Math.max(num(external), 0);
    slider.max = num(total);
    slider.value = i;
  }
  function fromExternal() { fromInternal(); }
  function fromSlider() {
    internal.value = slider.value;
    external.value = num(total) - num(slider);
  }

  function show(data) {
    var written = data.text || {};
    Object.keys(written).forEach(function (key) {
      var el = document.querySelector('[data-preview="' + key + '"]');
      if (el) { el.textContent = written[key]; }
    });
    var note = texts[data.kind] || "";
    if (data.replaces_pending) { note += " " + texts.replaces; }
    document.querySelector('[data-preview="note"]').textContent = note;
  }

  function refresh() {
    var rising = num(total) > currentTotal && currentTotal > 0;
    instantlyGroup.style.display = rising ? "" : "none";
    if (!rising) { instantly.checked = false; }
    clearTimeout(timer);
    timer = setTimeout(function () {
      var params = new URLSearchParams({
        total: num(total), internal: num(internal), external: num(external),
        instantly: instantly.checked ? "1" : "0"
      });
      fetch(form.dataset.previewUrl + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (data.error) {
            document.querySelector('[data-preview="note"]').textContent = data.error;
          } else { show(data); }
        });
    }, 150);
  }

  total.addEventListener("input", function () { fromTotal(); refresh(); });
  internal.addEventListener("input", function () { fromInternal(); refresh(); });
  external.addEventListener("input", function () { fromExternal(); refresh(); });
  slider.addEventListener("input", function () { fromSlider(); refresh(); });
  instantly.addEventListener("change", refresh);
  refresh();
})();
