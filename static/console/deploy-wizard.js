// The deploy wizard's error summary (templates/deployments/deploy/configure.html), here and not
// inline: the Content-Security-Policy runs no inline script.

// After a failed Review the summary takes the focus, so keyboard and screen-reader users start there.
function focusSummary() {
  const summary = document.querySelector("[data-focus-on-load]");
  if (summary) summary.focus();
}

// A summary link goes to its field, opening the "Advanced settings" that may hide it.
document.addEventListener("click", (event) => {
  const link = event.target.closest(".error-summary a[href^='#']");
  if (!link) return;
  const target = document.getElementById(link.getAttribute("href").slice(1));
  if (!target) return;
  event.preventDefault();
  const details = target.closest("details");
  if (details) details.open = true;
  target.scrollIntoView({ block: "center" });
  target.focus();
});

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", focusSummary);
} else {
  focusSummary();
}
