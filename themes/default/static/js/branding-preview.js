// Live preview of the branding form (progressive enhancement: the form works without it, with
// the « Prévisualiser » button). Colours are applied through the CSSOM, which the CSP allows.
(function () {
  "use strict";
  var form = document.querySelector(".branding-form");
  var preview = document.querySelector(".preview");
  if (!form || !preview) { return; }
  var hex = /^#[0-9a-fA-F]{6}$/;
  function field(name) { return form.querySelector("[name=" + name + "]"); }
  function luminance(colour) {
    var channels = [1, 3, 5].map(function (i) {
      var c = parseInt(colour.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
  }
  function ratio(a, b) {
    var l1 = luminance(a), l2 = luminance(b);
    return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  }
  var status = document.createElement("p");
  status.className = "hint";
  status.setAttribute("aria-live", "polite");
  preview.appendChild(status);
  function update() {
    var v = {};
    ["primary_color", "on_primary_color", "accent_color", "on_accent_color"].forEach(function (n) {
      v[n] = field(n).value.trim();
    });
    var ok = Object.keys(v).every(function (n) { return hex.test(v[n]); });
    if (!ok) { status.textContent = preview.dataset.invalid || ""; return; }
    var low = Math.min(ratio(v.primary_color, v.on_primary_color), ratio(v.accent_color, v.on_accent_color),
                       ratio(v.primary_color, "#ffffff"));
    var text = (preview.dataset.lowest || "") + " " + low.toFixed(2).replace(".", ",") + ":1";
    if (low < 4.5) {  // never shown: a combination people could not read
      status.textContent = text + " — " + (preview.dataset.tooLow || "");
      return;
    }
    status.textContent = text;
    preview.querySelectorAll(".preview-primary").forEach(function (el) {
      el.style.backgroundColor = v.primary_color; el.style.color = v.on_primary_color;
    });
    preview.querySelectorAll(".preview-accent").forEach(function (el) {
      el.style.backgroundColor = v.accent_color; el.style.color = v.on_accent_color;
    });
    preview.querySelectorAll(".preview-link").forEach(function (el) { el.style.color = v.primary_color; });
  }
  form.addEventListener("input", update);
  update();
})();
