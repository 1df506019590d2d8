#!/bin/sh
# Refreshes the vendored uPlot in web/static/vendor from npm, pinned by version and checksum.
# Run by hand when upgrading (then rename the files in web/src/lib.rs and base.html); the build
# never downloads anything.
set -eu
VERSION=1.6.32
SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
DEST="$(cd "$(dirname "$0")/.." && pwd)/web/static/vendor/uplot-$VERSION"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack "uplot@$VERSION" >/dev/null
echo "$SHA256  uplot-$VERSION.tgz" | sha256sum -c -
tar xzf "uplot-$VERSION.tgz"
mkdir -p "$DEST"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$DEST/"
echo "uPlot $VERSION in $DEST"
