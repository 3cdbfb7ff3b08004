#!/usr/bin/env bash
# Fails when gen/ differs from what the protos in proto/ generate (someone edited a .proto
# and forgot `npm run generate`, or edited gen/ by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# buf comes from scripts/tool.mjs (installed on first use); the plugin protoc-gen-es from node_modules.
PATH="$PWD/node_modules/.bin:$PATH" node scripts/tool.mjs buf generate --output "$tmp"
if ! diff -r gen "$tmp/gen" >/dev/null; then
  echo "gen/ is out of date with proto/: run 'npm run generate' and commit the result." >&2
  diff -r gen "$tmp/gen" | head -40 >&2
  exit 1
fi
echo "gen/ is up to date with proto/"
