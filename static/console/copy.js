// Copy buttons. An element marked data-copy-label="Copy token" (with an id) gets a button after it that
// copies its text. The buttons are made here, so a page without JavaScript shows none that would do
// nothing (its text stays selectable). In a file, not inline: the Content-Security-Policy runs no inline script.
(() => {
  const DONE_MS = 2000;

  function copyBySelection(element) {
    // Where the Clipboard API is missing (plain http on a host other than localhost).
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    const copied = document.execCommand("copy");
    selection.removeAllRanges();
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(element) {
    const text = element.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(() => copyBySelection(element));
    }
    return copyBySelection(element);
  }

  function say(button, label) {
    button.textContent = label;
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(() => { button.textContent = button.dataset.label; }, DONE_MS);
  }

  function addButtons() {
    document.querySelectorAll("[data-copy-label][id]:not([data-copy-ready])").forEach((element) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary copy";
      button.dataset.copy = element.id;
      button.dataset.label = element.dataset.copyLabel;
      button.textContent = element.dataset.copyLabel;
      element.dataset.copyReady = "true";
      element.after(button);
    });
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    const target = button && document.getElementById(button.dataset.copy);
    if (!target) return;
    copy(target).then(() => say(button, "Copied"), () => say(button, "Press Ctrl+C to copy"));
  });
  document.addEventListener("DOMContentLoaded", () => {
    addButtons();
    // Fragments swapped in later (htmx responses, the live socket's out-of-band updates) get theirs too.
    new MutationObserver(addButtons).observe(document.body, {childList: true, subtree: true});
  });
})();
