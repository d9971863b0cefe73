// The Prediction tab's JSON editor: CodeMirror 6 (static/vendor/codemirror-json.min.js) over a textarea marked
// data-json-editor, with JSON highlighting, bracket matching, undo, and syntax errors marked at their place
// as you type. The textarea stays the form's field: every change is copied into it (and announced with an
// input event, so predict.js checks it as before); without JavaScript the plain textarea is the editor.
(() => {
  const CM = window.BerthCodeMirror;
  if (!CM) return;

  function enhance(textarea) {
    if (textarea.editorView) return;
    const holder = document.createElement("div");
    holder.className = "json-editor";
    holder.id = `${textarea.id}-editor`;
    const label = document.querySelector(`label[for="${textarea.id}"]`);
    const copyIntoField = CM.EditorView.updateListener.of((update) => {
      if (!update.docChanged) return;
      textarea.value = update.state.doc.toString();
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    });
    const view = new CM.EditorView({
      parent: holder,
      state: CM.EditorState.create({
        doc: textarea.value,
        extensions: [
          CM.lineNumbers(), CM.history(), CM.bracketMatching(),
          CM.syntaxHighlighting(CM.defaultHighlightStyle),
          CM.keymap.of([...CM.defaultKeymap, ...CM.historyKeymap]),
          CM.json(), CM.linter(CM.jsonParseLinter(), { delay: 250 }), CM.lintGutter(),
          CM.EditorView.contentAttributes.of({
            "aria-label": label ? label.textContent.trim() : "JSON",
            "aria-describedby": textarea.getAttribute("aria-describedby") || "",
            "aria-multiline": "true",
          }),
          copyIntoField,
          // Its styles go in a <style> element: this response's nonce lets the page's policy accept it.
          CM.EditorView.cspNonce.of(textarea.dataset.styleNonce || ""),
        ],
      }),
    });
    textarea.after(holder);
    textarea.hidden = true;
    textarea.editorView = view;
    if (label) label.addEventListener("click", () => view.focus());
  }

  function enhanceAll(root) {
    (root || document).querySelectorAll("textarea[data-json-editor]").forEach(enhance);
  }

  // For predict.js: put text in a field, through its editor when it has one.
  window.berthSetJson = (textarea, text) => {
    const view = textarea.editorView;
    if (!view) {
      textarea.value = text;
      return;
    }
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => enhanceAll());
  } else {
    enhanceAll();
  }
  document.addEventListener("htmx:load", (event) => enhanceAll(event.target));
})();
