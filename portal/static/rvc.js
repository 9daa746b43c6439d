// Progressive enhancement of the application form: the regional value
// content of each goods line's cost sheet, updated as the exporter types.
// The server computes the same figures (and the rule's threshold) on
// "Recalculate"; without this script the form works the same.
(function () {
  "use strict";
  function minor(s) {
    s = (s || "").replace(/,/g, "").trim();
    if (s === "") return 0;
    if (!/^\d{1,13}(\.\d{1,2})?$/.test(s)) return NaN;
    var p = s.split(".");
    var f = (p[1] || "") + "00";
    return parseInt(p[0], 10) * 100 + parseInt(f.slice(0, 2), 10);
  }
  // hundredths of a percent, rounded down, as the server does
  function pct(num, den) {
    var v = Math.floor((num * 10000) / den);
    return Math.floor(v / 100) + "." + ("0" + (v % 100)).slice(-2) + "%";
  }
  function update(box) {
    var v = {};
    box.querySelectorAll("input.csv").forEach(function (i) { v[i.dataset.k] = minor(i.value); });
    var out = document.getElementById("rvc" + box.dataset.line);
    if (!out) return;
    for (var k in v) { if (isNaN(v[k])) { out.textContent = "an amount is not a number"; return; } }
    if (!(v.price > 0)) { out.textContent = "enter the price"; return; }
    var vom = v.originatingMaterials + v.labour + v.overheads + v.profit + v.other;
    out.textContent = "build-down " + pct(v.price - v.nonOriginatingMaterials, v.price) + ", build-up " + pct(vom, v.price);
  }
  document.querySelectorAll(".cs").forEach(function (box) {
    box.addEventListener("input", function () { update(box); });
  });
})();
