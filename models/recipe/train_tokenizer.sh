#!/bin/sh
# Trains the 4096-piece sentencepiece BPE tokenizer of models/tiny-en on
# models/recipe/work/train.txt (run prepare_corpus.sh first).
# Same conventions as the fixture tokenizer (tests/fixtures/make_tokenizer.sh):
# unk=0, bos=1, eos=2, no pad, byte fallback, identity normalization, spaces kept
# as written -- so the engine needs no normalizer.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/work"
# Relative paths: spm_train records --input/--model_prefix in the model file.
# All sentences, unshuffled, one thread: the output is reproducible.
# max_sentence_length: Brown paragraphs are single lines up to ~10 KB, and
# longer lines would be silently skipped by the default limit (4192 bytes).
spm_train \
  --input=train.txt \
  --model_prefix=tokenizer \
  --vocab_size=4096 \
  --model_type=bpe \
  --byte_fallback=true \
  --character_coverage=1.0 \
  --normalization_rule_name=identity \
  --remove_extra_whitespaces=false \
  --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
  --input_sentence_size=0 \
  --shuffle_input_sentence=false \
  --max_sentence_length=16384 \
  --num_threads=1 \
  --minloglevel=1
mkdir -p "$here/../tiny-en"
cp tokenizer.model "$here/../tiny-en/tokenizer.model"
sha256sum tokenizer.model
