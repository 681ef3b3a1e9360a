// Project key wizard, split step: the slider and the two boxes always add up to the key's IPs.
(function () {
  var total = document.getElementById("total_ips");
  var slider = document.getElementById("split");
  if (!total || !slider) { return; }
  var internal = document.getElementById("internal_ips");
  var external = document.getElementById("external_ips");
  var n = parseInt(total.value, 10) || 0;
  function clamp(v) { v = parseInt(v, 10); return isNaN(v) ? 0 : Math.max(0, Math.min(n, v)); }
  slider.addEventListener("input", function () {
    internal.value = slider.value; external.value = n - clamp(slider.value);
  });
  internal.addEventListener("input", function () {
    external.value = n - clamp(internal.value); slider.value = clamp(internal.value);
  });
  external.addEventListener("input", function () {
    internal.value = n - clamp(external.value); slider.value = clamp(internal.value);
  });
})();
