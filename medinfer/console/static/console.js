// Progressive enhancement only: every page works without this file (CSP allows 'self' scripts, nothing inline).
// The Models page refreshes itself every 10 s so rates and canary weights stay current.
(function () {
  "use strict";
  if (document.getElementById("models") && !document.querySelector("form :focus")) {
    window.setTimeout(function () { window.location.reload(); }, 10000);
  }
})();
