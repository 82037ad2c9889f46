#!/usr/bin/python3
"""Inputs for and measurements of the examples, for tests/e2e/examples_test.cc (which asserts).

  example_checks.py png PATH                 -> "width W height H bytes B colours C"
  example_checks.py images NPY DIR COUNT     writes COUNT 28x28 PNGs from an eval image.npy
  example_checks.py messages JSON OUT COUNT  writes COUNT eval texts, blank-line separated
  example_checks.py accuracy CSV COLUMN LABELS_NPY [LABEL ...]
                                             -> "rows N accuracy A": CSV COLUMN vs labels, with
                                                label i named LABEL[i]
  example_checks.py nonempty CSV COLUMN      -> "rows N empty E"

`colours` counts the colours that cover at least 0.05% of the picture each (anti-aliasing
shades do not count), so a blank or one-colour image scores 1.
"""
import csv
import json
import os
import sys

import numpy as np
from PIL import Image


def png(path):
    with Image.open(path) as img:
        if img.format != "PNG":
            raise SystemExit("%s is %s, not PNG" % (path, img.format))
        rgb = np.asarray(img.convert("RGB")).reshape(-1, 3)
        width, height = img.size
    _, counts = np.unique(rgb, axis=0, return_counts=True)
    significant = int(np.sum(counts >= 0.0005 * len(rgb)))
    print("width %d height %d bytes %d colours %d"
          % (width, height, os.path.getsize(path), significant))


def images(npy, out_dir, count):
    x = np.load(npy)[:count]  # [N, 1, 28, 28] in 0..1
    os.makedirs(out_dir, exist_ok=True)
    for i, image in enumerate(x):
        pixels = np.clip(np.rint(image[0] * 255), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(os.path.join(out_dir, "img%04d.png" % i))


def messages(json_path, out, count):
    with open(json_path, encoding="utf-8") as f:
        rows = json.load(f)[:count]
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(" ".join(row[0].split("\n")).strip() + "\n\n")


def read_column(path, column):
    with open(path, newline="", encoding="utf-8") as f:
        return [row[column] for row in csv.DictReader(f)]


def accuracy(path, column, labels_npy, names):
    got = read_column(path, column)
    labels = np.load(labels_npy)[:len(got)]
    want = [names[i] if names else str(i) for i in labels]
    correct = sum(1 for g, w in zip(got, want) if g == w)
    print("rows %d accuracy %.4f" % (len(got), correct / max(1, len(got))))


def nonempty(path, column):
    got = read_column(path, column)
    print("rows %d empty %d" % (len(got), sum(1 for g in got if not g.strip())))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "png":
        png(args[0])
    elif cmd == "images":
        images(args[0], args[1], int(args[2]))
    elif cmd == "messages":
        messages(args[0], args[1], int(args[2]))
    elif cmd == "accuracy":
        accuracy(args[0], args[1], args[2], args[3:])
    elif cmd == "nonempty":
        nonempty(args[0], args[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
