// Shows a short message when an htmx request fails, instead of failing silently.
document.addEventListener("htmx:responseError", (event) => {
  const toast = document.getElementById("toast");
  if (!toast) return;
  const status = event.detail.xhr.status;
  toast.textContent = status >= 500 ? "The server had a problem; try again." : `Request refused (${status}).`;
  toast.hidden = false;
  setTimeout(() => { toast.hidden = true; }, 4000);
});
