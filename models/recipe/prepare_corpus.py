#!/usr/bin/env python3
"""Turn the KJV Bible and the tagged Brown corpus into plain-text documents.

Usage: prepare_corpus.py KJV_TXT BROWN_DIR OUT_DIR
KJV_TXT is the output of `bible "Gen1:1-Rev22:21"`; BROWN_DIR holds the Brown
files ca01..cr09.  Writes OUT_DIR/train.txt, OUT_DIR/heldout.txt and
OUT_DIR/fixture_text.txt (the first ~20 KB of held-out documents): one blank
line between documents and none inside one, so a reader can split documents
at blank lines (the perplexity windowing relies on that).
"""
import os
import re
import sys

HOLDOUT_EVERY = 40   # hold out 1 document in 40 -> ~250 KB, both sources
HOLDOUT_PHASE = 20   # not 0: Genesis 1 stays in training (it is the greedy prompt)
FIXTURE_TEXT_BYTES = 20000

HEADER = re.compile(r"^\S.* \d+$")      # "Genesis 1", "1 Kings 3"
VERSE = re.compile(r"^\s+\d+ (.*)$")    # "  12 And God said, ..."


def kjv_chapters(path):
    """One document per chapter, one verse per line, references dropped."""
    lines = open(path, encoding="ascii").read().split("\n")
    docs, verses = [], None
    for i, line in enumerate(lines):
        blank_around = (i > 0 and not lines[i - 1].strip()
                        and i + 1 < len(lines) and not lines[i + 1].strip())
        if HEADER.match(line) and blank_around:
            # A header is only recognised between blank lines: wrapped verse
            # text can also start at column 0 and end in a number.
            if verses:
                docs.append("\n".join(verses))
            verses = []
            continue
        m = VERSE.match(line)
        if m:
            verses.append(m.group(1).strip())
        elif line.strip():
            verses[-1] += " " + line.strip()  # wrapped continuation line
    if verses:
        docs.append("\n".join(verses))
    return docs


# Brown tokens are split off punctuation; these rules put the spacing back the
# way edited English prints it.
NO_SPACE_BEFORE = {".", ",", ";", ":", "?", "!", ")", "]", "''"}
NO_SPACE_AFTER = {"(", "[", "``"}
RENDER = {"``": '"', "''": '"'}  # Brown writes double quotes as `` and ''
DOUBLED = {";", "?", "!", ":", ","}


def detokenize(words):
    out, glue, open_single = [], True, False
    for w in words:
        if w == "'":
            # Brown writes both single quotes as "'": alternate open/close.
            open_single = not open_single
            nospace_before, nospace_after = not open_single, open_single
        else:
            nospace_before, nospace_after = w in NO_SPACE_BEFORE, w in NO_SPACE_AFTER
        if out and not glue and not nospace_before:
            out.append(" ")
        out.append(RENDER.get(w, w))
        glue = nospace_after
    return "".join(out)


def brown_document(path):
    """One document per Brown file, one paragraph per line."""
    paragraphs, current = [], []
    for line in open(path, encoding="ascii"):
        if not line.strip():
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        # word/tag: the tag follows the last slash (words like 1-1/2 contain one)
        words = []
        for tok in line.split():
            w = tok.rsplit("/", 1)[0]
            if w != "''":
                w = w.replace("''", '"')  # inch marks: 1/8'' -> 1/8"
            # The tagged files repeat some punctuation (";/. ;/."): keep one.
            if words and w == words[-1] and w in DOUBLED:
                continue
            words.append(w)
        current.append(detokenize(words))
    if current:
        paragraphs.append(" ".join(current))
    return "\n".join(paragraphs)


def main():
    kjv, brown_dir, out_dir = sys.argv[1:4]
    docs = kjv_chapters(kjv)
    n_kjv = len(docs)
    names = sorted(f for f in os.listdir(brown_dir) if re.fullmatch(r"c[a-r]\d\d", f))
    docs += [brown_document(os.path.join(brown_dir, f)) for f in names]
    docs = [d.strip() for d in docs if d.strip()]
    assert all("\n\n" not in d for d in docs)
    train, held = [], []
    for i, d in enumerate(docs):
        (held if i % HOLDOUT_EVERY == HOLDOUT_PHASE else train).append(d)
    os.makedirs(out_dir, exist_ok=True)
    for name, part in (("train.txt", train), ("heldout.txt", held)):
        text = "\n\n".join(part) + "\n"
        with open(os.path.join(out_dir, name), "w", encoding="ascii", newline="\n") as f:
            f.write(text)
        print(f"{name}: {len(part)} documents, {len(text.encode())} bytes")
    print(f"sources: {n_kjv} KJV chapters, {len(names)} Brown files")
    # A ~20 KB prefix of whole held-out documents: the text the C++ perplexity
    # tests score with the tiny random fixture models (their context is short).
    small = []
    for d in held:
        if len("\n\n".join(small)) >= FIXTURE_TEXT_BYTES:
            break
        small.append(d)
    with open(os.path.join(out_dir, "fixture_text.txt"), "w", encoding="ascii", newline="\n") as f:
        f.write("\n\n".join(small) + "\n")
    print(f"fixture_text.txt: {len(small)} documents")


if __name__ == "__main__":
    main()
