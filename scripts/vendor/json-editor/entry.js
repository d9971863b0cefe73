// The pieces of CodeMirror 6 the Prediction tab's JSON editor uses, as one global (window.BerthCodeMirror),
// so static/console/json-editor.js needs no bundler. Built by build.sh into static/vendor/.
export { EditorState } from "@codemirror/state";
export { EditorView, keymap, lineNumbers, highlightActiveLine } from "@codemirror/view";
export { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
export { syntaxHighlighting, defaultHighlightStyle, bracketMatching } from "@codemirror/language";
export { json, jsonParseLinter } from "@codemirror/lang-json";
export { linter, lintGutter, forceLinting } from "@codemirror/lint";
