#!/usr/bin/env bash
# Build a few pages of the book on their own, for an author checking a chapter (not used by CI):
#   bash book/_scripts/build_one.sh book/02_cross_attention [book/appendix_guidance ...]
# writes /tmp/jb-<first page's name>/_build/html (its own execution cache, so parallel builds of
# different chapters do not share state). The reference pages (notation, bibliography) are always
# included (the notation page is the root, so the pages are numbered from 1); links and {numref} to pages left out are reported as warnings, which a full `make book`
# resolves.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 book/NN_name [more pages]" >&2; exit 2; }
name=$(basename "$1")
out="/tmp/jb-${name}"
mkdir -p "$out"
toc="$out/_toc.yml"
{
  echo "format: jb-book"
  echo "root: book/notation"
  echo "parts:"
  echo "  - caption: Pages"
  echo "    numbered: true"
  echo "    chapters:"
  for page in "$@"; do echo "      - file: $page"; done
  echo "  - caption: Reference"
  echo "    chapters:"
  echo "      - file: book/references"
} > "$toc"
[ -f _vendor/_static/vendor/.complete ] || bash book/_scripts/vendor.sh
env -u MPLBACKEND HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0 \
  .venv/bin/jupyter-book build . --builder html --toc "$toc" --path-output "$out" -n --keep-going \
  2>&1 | tee "$out/build.log" | grep -E "WARNING|ERROR|build succeeded|build finished" || true
echo "HTML: $out/_build/html"
