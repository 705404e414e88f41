#!/usr/bin/env bash
# Vendor the site's front-end into _vendor/, so the built site needs no CDN (works offline, on a
# classroom intranet, in the browser tests):
#   * @jupyter-widgets/html-manager: dist/embed.js (the core widgets, no require.js) and its fonts;
#   * mathjax 3: the tex-mml-chtml component, its CHTML fonts and the parts it loads on demand
#     (TeX extensions, the menu, the accessibility extensions and the speech engine they use).
# Versions are pinned by package.json / package-lock.json (npm checks every tarball's integrity).
# npm installs into .cache/npm-vendor (ignored); only the files the site serves are copied.
# _vendor/ is ignored by git (it holds its own .gitignore) and rebuilt when the pins change:
# _vendor/versions.json records what it holds, and the book build refuses a stale one.
#
#   bash tools/vendor.sh          # needs npm and the npm registry (or a warm npm cache)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=_vendor
WORK=.cache/npm-vendor
say() { printf '\033[1m[vendor]\033[0m %s\n' "$*"; }

if ! command -v npm >/dev/null; then
  say "error: npm is missing. Install Node.js and npm (Debian/Ubuntu: apt-get install nodejs npm);"
  say "  the site's widget manager and MathJax are installed from npm at the versions of package-lock.json."
  exit 1
fi

rm -rf "$WORK"
mkdir -p "$WORK"
cp package.json package-lock.json "$WORK/"
say "installing the pinned front-end packages (npm ci)"
(cd "$WORK" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)

NM="$WORK/node_modules"
TMP="$OUT.new"
rm -rf "$TMP"
mkdir -p "$TMP/jupyter-widgets" "$TMP/mathjax/output"
# the widget manager: the bundle and the font files its CSS refers to (same folder)
HM="$NM/@jupyter-widgets/html-manager"
cp "$HM/dist/embed.js" "$HM/dist/embed.js.LICENSE.txt" "$TMP/jupyter-widgets/"
find "$HM/dist" -maxdepth 1 -type f \( -name '*.woff2' -o -name '*.woff' -o -name '*.ttf' \
     -o -name '*.eot' -o -name '*.svg' \) -exec cp {} "$TMP/jupyter-widgets/" \;
# MathJax: the component Sphinx loads by default, and everything it may load on demand
MJ="$NM/mathjax"
cp "$MJ/LICENSE" "$MJ/es5/tex-mml-chtml.js" "$TMP/mathjax/"
cp -r "$MJ/es5/input" "$MJ/es5/ui" "$MJ/es5/a11y" "$MJ/es5/sre" "$TMP/mathjax/"
cp -r "$MJ/es5/output/chtml" "$TMP/mathjax/output/"

node -e '
const lock = require(process.argv[1]);
const out = {};
for (const [k, v] of Object.entries(lock.packages)) {
  const name = k.replace(/^node_modules\//, "");
  if (k && !name.includes("node_modules/") && lock.packages[""].dependencies[name]) out[name] = v.version;
}
console.log(JSON.stringify(out, null, 1));
' "$PWD/package-lock.json" > "$TMP/versions.json"
printf '*\n' > "$TMP/.gitignore"
rm -rf "$OUT"
mv "$TMP" "$OUT"
say "vendored $(tr -d '\n ' < "$OUT/versions.json") into $OUT/ ($(du -sh "$OUT" | cut -f1))"
