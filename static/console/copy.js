// Copy buttons: <button type="button" data-copy="ELEMENT_ID" hidden>Copy</button> copies that element's
// text. Buttons start hidden, so a page without JavaScript shows none that would do nothing; the text
// stays selectable. In a file, not inline: the Content-Security-Policy runs no inline script.
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
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = label;
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(() => { button.textContent = button.dataset.label; }, DONE_MS);
  }

  function reveal(root) {
    root.querySelectorAll("button[data-copy][hidden]").forEach((button) => { button.hidden = false; });
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    const target = button && document.getElementById(button.dataset.copy);
    if (!target) return;
    copy(target).then(() => say(button, "Copied"), () => say(button, "Press Ctrl+C to copy"));
  });
  document.addEventListener("DOMContentLoaded", () => {
    reveal(document);
    // Fragments swapped in later (htmx responses, the live socket's out-of-band updates) bring their own buttons.
    new MutationObserver(() => reveal(document)).observe(document.body, {childList: true, subtree: true});
  });
})();
