// Shows a short message when an htmx request fails, instead of failing silently.
document.addEventListener("htmx:responseError", (event) => {
  const toast = document.getElementById("toast");
  if (!toast) return;
  const status = event.detail.xhr.status;
  toast.textContent = status >= 500 ? "The server had a problem; try again." : `Request refused (${status}).`;
  toast.hidden = false;
  setTimeout(() => { toast.hidden = true; }, 4000);
});

// A link marked data-history-back goes back in history (keeping what was typed on the page before);
// its href is where it goes without history or JavaScript. Here, not in an onclick attribute: the
// Content-Security-Policy runs no inline script.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-history-back]");
  if (!link || window.history.length < 2) return;
  event.preventDefault();
  window.history.back();
});
