#!/usr/bin/env bash
# Installs DuckDB's prebuilt shared library (the one the official Node bindings ship on npm)
# into DIR, so Rust clients link it instead of compiling DuckDB from source (~40 min on
# 2 cores). Idempotent: does nothing when DIR already holds the right version.
set -euo pipefail
dir=${1:?usage: fetch-libduckdb.sh DIR}
version=1.5.6
package="@duckdb/node-bindings-linux-x64@${version}-r.1"
stamp="$dir/.version"
if [[ -f "$dir/libduckdb.so" && "$(cat "$stamp" 2>/dev/null)" == "$package" ]]; then
  exit 0
fi
case "$(uname -m)" in
  x86_64) ;;
  *) echo "fetch-libduckdb: only linux x86_64 is wired up (got $(uname -m))" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "fetch-libduckdb: npm is needed to fetch $package" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null && tar xzf ./*.tgz)
mkdir -p "$dir"
install -m 644 "$work/package/libduckdb.so" "$dir/libduckdb.so.tmp"
mv "$dir/libduckdb.so.tmp" "$dir/libduckdb.so"
echo "$package" > "$stamp"
echo "fetch-libduckdb: installed libduckdb $version into $dir" >&2
