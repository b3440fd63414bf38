#!/usr/bin/env bash
# Fetch the JavaScript that the built book needs, so that no page loads anything from outside.
#
# By default a Jupyter Book 1.x page takes MathJax, RequireJS and the ipywidgets html-manager from
# CDNs. This script fetches pinned copies with `npm pack` (the npm registry only) and unpacks them into
#
#   _vendor/_static/vendor/mathjax/                    MathJax 3 `es5` folder (tex-mml-chtml.js + fonts)
#   _vendor/_static/vendor/require.js                  RequireJS
#   _vendor/_static/vendor/html-manager/dist/          embed-amd.js, its chunks and its font files
#
# _config.yml copies `_vendor` into the HTML output with `html_extra_path` (NOT `html_static_path`:
# Jupyter Book would add every .js file there as a script tag on every page), points `mathjax_path`
# at the local MathJax and replaces myst-nb's `nb_ipywidgets_js` with the local files.
#
# Idempotent: when `_vendor/_static/vendor/.complete` records the same versions it does nothing.
# Usage: bash book/_scripts/vendor.sh   (from anywhere; paths are relative to the repository root)
set -euo pipefail

MATHJAX=mathjax@3.2.2
HTML_MANAGER=@jupyter-widgets/html-manager@1.0.6   # the version myst-nb 1.x expects
REQUIREJS=requirejs@2.3.7
STAMP_TEXT="$MATHJAX $HTML_MANAGER $REQUIREJS"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/_vendor/_static/vendor"
STAMP="$DEST/.complete"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_TEXT" ]]; then
    echo "vendor.sh: $DEST is up to date ($STAMP_TEXT)"
    touch "$STAMP"  # newer than this script, so make does not ask again
    exit 0
fi

command -v npm >/dev/null || { echo "vendor.sh: npm is needed (apt-get install npm, or conda install nodejs)" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "vendor.sh: fetching $STAMP_TEXT"
(cd "$WORK" && npm pack --silent --quiet "$MATHJAX" "$HTML_MANAGER" "$REQUIREJS" >/dev/null)

unpack() {  # unpack <tarball glob> <folder>
    mkdir -p "$WORK/$2"
    tar -xzf "$WORK"/$1 -C "$WORK/$2"
}
unpack 'mathjax-3.2.2.tgz' mathjax
unpack 'jupyter-widgets-html-manager-1.0.6.tgz' html-manager
unpack 'requirejs-2.3.7.tgz' requirejs

# Assemble in a fresh folder, then swap it in, so an interrupted run never leaves a half folder.
NEW="$DEST.new"
rm -rf "$NEW"
mkdir -p "$NEW/html-manager/dist"
cp -r "$WORK/mathjax/package/es5" "$NEW/mathjax"
cp "$WORK/mathjax/package/LICENSE" "$NEW/mathjax/LICENSE"
cp "$WORK/requirejs/package/require.js" "$NEW/require.js"
# embed-amd.js with its lazily loaded chunks and the font files it references; no source maps,
# no non-AMD bundle.
find "$WORK/html-manager/package/dist" -maxdepth 1 -type f \
    ! -name '*.map' ! -name 'embed.js' ! -name 'libembed-amd.js' \
    -exec cp {} "$NEW/html-manager/dist/" \;
cp "$WORK/html-manager/package/LICENSE" "$NEW/html-manager/LICENSE" 2>/dev/null || true

test -f "$NEW/mathjax/tex-mml-chtml.js"
test -f "$NEW/require.js"
test -f "$NEW/html-manager/dist/embed-amd.js"

rm -rf "$DEST"
mv "$NEW" "$DEST"
echo "$STAMP_TEXT" > "$STAMP"
echo "vendor.sh: wrote $(du -sh "$DEST" | cut -f1) to $DEST"
