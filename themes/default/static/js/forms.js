/* One click sends a form once. Many of our users double-click buttons: the second sending of
   a form could answer « le contrôle de sécurité a expiré » for a captcha the first one used, or
   leave the browser on the address of the form. The server refuses doubles anyway (the pages
   work without this script); this only keeps the browser from sending them. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement) ||
        (form.getAttribute("method") || "get").toLowerCase() !== "post") {
      return;  /* a search sent twice does no harm */
    }
    if (form.hasAttribute("data-sent")) {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", "");
    window.setTimeout(function () { form.removeAttribute("data-sent"); }, 4000);
  });
  window.addEventListener("pageshow", function () {  /* back from another page: free again */
    var sent = document.querySelectorAll("form[data-sent]");
    for (var i = 0; i < sent.length; i += 1) {
      sent[i].removeAttribute("data-sent");
    }
  });
}());
