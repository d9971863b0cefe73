// Prediction tab: flags a request that is not JSON, or larger than the limit, before anything is sent,
// and puts a history row's request back in the editor. In a file, not inline: the Content-Security-Policy
// runs no inline script. Without it the server says the same after a normal form post.
(() => {
  function check(field) {
    const form = field.closest("form");
    const limit = Number(form && form.dataset.maxBytes) || 0;
    const picker = form && form.querySelector("#predict-file");
    const file = picker && picker.files && picker.files[0];
    if (file) return checkFile(file, limit, form);
    const text = field.value;
    if (!text.trim()) return "Type a JSON request body first.";
    const size = new Blob([text]).size;
    if (limit && size > limit) {
      return `The request body is ${(size / 1024 / 1024).toFixed(1)} MB; the limit for a test prediction is ` +
        `${form.dataset.maxLabel} (${limit.toLocaleString("en")} bytes). Nothing was sent.`;
    }
    try {
      JSON.parse(text);
    } catch (error) {
      return `Not valid JSON: ${error.message}. Nothing was sent.`;
    }
    return "";
  }

  // A chosen file is sent instead of the text: the same limits as the server's (deployments/prediction/files.py).
  function checkFile(file, limit, form) {
    if (!/\.(json|csv)$/i.test(file.name)) {
      return `${file.name}: this deployment's model takes JSON, so send a .json file (a request body) or a .csv ` +
        "file with a header row. Nothing was sent.";
    }
    if (limit && file.size > limit) {
      return `The request body is ${(file.size / 1024 / 1024).toFixed(1)} MB; the limit for a test prediction is ` +
        `${form.dataset.maxLabel} (${limit.toLocaleString("en")} bytes). Nothing was sent.`;
    }
    return "";
  }

  // The element the user sees and types in: json-editor.js's editor, when it has replaced the textarea.
  function shown(field) {
    return field.editorView ? field.editorView.contentDOM : field;
  }

  function setJson(field, text) {
    if (window.berthSetJson) window.berthSetJson(field, text);
    else field.value = text;
  }

  function mark(field) {
    const message = check(field);
    const box = document.getElementById(field.getAttribute("aria-describedby") || "");
    for (const element of [field, shown(field)]) element.setAttribute("aria-invalid", message ? "true" : "false");
    if (box) {
      box.replaceChildren();
      if (message) {
        const item = document.createElement("li");
        item.textContent = message;
        box.appendChild(item);
      }
    }
    return message;
  }

  function refuse(event) {
    const field = event.target.querySelector && event.target.querySelector("#predict-body");
    if (field && mark(field)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      shown(field).focus();
    }
  }

  document.addEventListener("submit", refuse, true);  // before htmx or the browser sends it
  document.addEventListener("htmx:beforeRequest", refuse);

  let timer = null;
  document.addEventListener("change", (event) => {
    if (event.target.id !== "predict-file") return;
    const field = document.getElementById("predict-body");
    if (field) mark(field);
  });

  document.addEventListener("input", (event) => {
    if (event.target.id !== "predict-body") return;
    clearTimeout(timer);
    timer = setTimeout(() => mark(event.target), 250);
  });

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.refill[data-refill]");
    const field = document.getElementById("predict-body");
    if (!link || !field) return;
    event.preventDefault();
    let text = link.dataset.refill;
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch (error) {
      // not JSON (a request refused before sending): put it back as it was
    }
    setJson(field, text);
    const variation = document.getElementById("predict-variation");
    if (variation) variation.value = link.dataset.variation || "";
    mark(field);
    shown(field).focus();
  });
})();
