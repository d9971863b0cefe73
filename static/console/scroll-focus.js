// A box that scrolls (a wide table on a phone, a long line in a <pre>) joins the tab order, so the keyboard
// can scroll it as a mouse can (WCAG 2.1.1; Chromium does this by itself, Safari does not); a box that fits
// stays out of it. Checked on load, after htmx swaps, when a <details> opens and when the window is resized.
(() => {
  const BOXES = ".table-scroll, pre";
  const update = () => {
    for (const box of document.querySelectorAll(BOXES)) {
      const scrolls = box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.tabIndex = 0;
        box.dataset.scrollFocus = "";
      } else if (!scrolls && "scrollFocus" in box.dataset) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollFocus;
      }
    }
  };
  document.addEventListener("DOMContentLoaded", update);
  document.addEventListener("htmx:afterSettle", update);
  document.addEventListener("htmx:oobAfterSwap", update);
  document.addEventListener("toggle", update, true);  // toggle does not bubble
  let pending;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(update, 100); });
})();
