#!/usr/bin/env bash
# Rebuild static/vendor/codemirror-json.min.js (and its licence file) from the versions in package.json.
# Needs Node.js and the npm registry; the output is committed, so `make run` and `make test` need neither.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../../static/vendor"
cd "$here"
npm install --no-audit --no-fund --silent
npx esbuild entry.js --bundle --minify --format=iife --global-name=BerthCodeMirror --legal-comments=none \
  --outfile="$out/codemirror-json.min.js"
{
  echo "static/vendor/codemirror-json.min.js bundles these packages (MIT licence), built by scripts/vendor/json-editor/build.sh:"
  for package in node_modules/@codemirror/* node_modules/@lezer/* node_modules/style-mod node_modules/w3c-keyname node_modules/crelt; do
    [ -f "$package/package.json" ] || continue
    node -e "const p=require('./$package/package.json'); console.log('- ' + p.name + ' ' + p.version)"
  done
  echo
  cat node_modules/@codemirror/view/LICENSE
} > "$out/codemirror-json.LICENSE"
