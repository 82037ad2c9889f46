#!/usr/bin/python3
"""Batch-classifies a folder of images through gridserve's fashion_cnn or mnist_cnn into a CSV.

Every .png/.jpg/.jpeg/.bmp/.gif in `--images` (sorted by name) is read with Pillow, turned grey,
resized to 28x28 and scaled to 0..1: the models' input (a light object or digit on a dark
background, as in their training data; `--invert` for dark-on-light pictures such as meter dial
photos). Images go in batches of `--batch` (at most the model's max_batch_size). The top classes
come from Triton's classification extension (`score:index:label` with the labels of the model's
config) when the server supports it, else from the probabilities (labels from `--labels`, else
class indices). Writes one CSV row per image (file, label, score, top-k) and a PNG: a sample of
images with their labels, and how many images fell in each class.

    examples/classify_meter_images.py --images DIR --model mnist_cnn --out-csv digits.csv

Exit codes: 0 done; 1 the server failed a call; 2 bad arguments or no readable image.
"""
import argparse
import csv
import os
import sys

import numpy as np
from PIL import Image

try:
    import gridserve
except ImportError:  # run from a source checkout: use the package the build assembled
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                    "client", "python"))
    import gridserve

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SIDE = 28


def load_image(path, invert):
    with Image.open(path) as img:
        grey = img.convert("L").resize((SIDE, SIDE), Image.BILINEAR)
        pixels = np.asarray(grey, dtype=np.float32) / 255.0
    return 1.0 - pixels if invert else pixels


def parse_classification(entries):
    """[(score, index, label)] from Triton's BYTES "score:index[:label]" entries."""
    out = []
    for entry in entries:
        parts = entry.decode("utf-8").split(":", 2)
        out.append((float(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else parts[1]))
    return out


def top_k_from_probabilities(row, k, labels):
    order = np.argsort(-row, kind="stable")[:k]
    return [(float(row[i]), int(i), labels[i] if i < len(labels) else str(i)) for i in order]


def classify(client, model, images, k, labels, batch):
    """[(score, index, label)] * k per image."""
    results = []
    use_extension = True
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch][:, None, :, :]  # [B, 1, 28, 28]
        out = None
        if use_extension:
            try:
                out = client.infer(model, {"image": chunk},
                                   outputs={"probabilities": {"classification": k}})
            except gridserve.GridserveError as e:
                if e.code.name not in ("INVALID_ARGUMENT", "UNIMPLEMENTED"):
                    raise
            if out is not None and out["probabilities"].dtype == object:
                results.extend(parse_classification(row) for row in out["probabilities"])
                continue
            use_extension = False  # the server does not classify: top-k from probabilities
        if out is None:
            out = client.infer(model, {"image": chunk}, outputs=["probabilities"])
        results.extend(top_k_from_probabilities(r, k, labels) for r in out["probabilities"])
    return results


def plot(path, model, names, images, results, class_names):
    counts = {}
    for r in results:
        counts[r[0][2]] = counts.get(r[0][2], 0) + 1
    shown = min(len(images), 16)
    fig = plt.figure(figsize=(12, 5.5), dpi=100)
    grid = fig.add_gridspec(4, 8)
    for j in range(shown):
        ax = fig.add_subplot(grid[j // 4, j % 4])
        ax.imshow(images[j], cmap="viridis", vmin=0, vmax=1)
        ax.set_title("%s %.2f" % (results[j][0][2], results[j][0][0]), fontsize=8)
        ax.axis("off")
    bars = fig.add_subplot(grid[:, 4:])
    order = [c for c in class_names if c in counts] + sorted(set(counts) - set(class_names))
    colours = plt.cm.tab10(np.arange(len(order)) % 10)
    bars.barh(order, [counts[c] for c in order], color=colours)
    bars.invert_yaxis()
    bars.set_xlabel("images")
    bars.set_title("%s: predicted class of %d images" % (model, len(images)))
    bars.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", required=True, help="folder of images")
    p.add_argument("--model", default="fashion_cnn", choices=["fashion_cnn", "mnist_cnn"])
    p.add_argument("--url", default="localhost:8001", help="gridserve gRPC address")
    p.add_argument("--top", type=int, default=3, help="classes per image in the CSV (default 3)")
    p.add_argument("--batch", type=int, default=64, help="images per request (default 64)")
    p.add_argument("--invert", action="store_true", help="dark object on a light background")
    p.add_argument("--labels", help="labels file (one per line) when the server sends no labels")
    p.add_argument("--out-csv", default="classified.csv")
    p.add_argument("--out-png", default="classified.png")
    args = p.parse_args()
    if args.top < 1 or args.batch < 1:
        print("error: --top and --batch must be at least 1", file=sys.stderr)
        return 2
    try:
        names = sorted(n for n in os.listdir(args.images) if n.lower().endswith(EXTENSIONS))
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    images, kept, skipped = [], [], 0
    for name in names:
        try:
            images.append(load_image(os.path.join(args.images, name), args.invert))
            kept.append(name)
        except OSError as e:  # not an image after all, truncated, unreadable
            print("skipping %s: %s" % (name, e), file=sys.stderr)
            skipped += 1
    if not images:
        print("error: no readable image in %s" % args.images, file=sys.stderr)
        return 2
    images = np.stack(images).astype(np.float32)
    labels = []
    if args.labels:
        with open(args.labels) as f:
            labels = [line.strip() for line in f if line.strip()]
    try:
        with gridserve.Client(args.url, timeout=60) as client:
            results = classify(client, args.model, images, args.top, labels, args.batch)
    except gridserve.GridserveError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1

    with open(args.out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "index", "score", "top"])
        for name, r in zip(kept, results):
            w.writerow([name, r[0][2], r[0][1], "%.4f" % r[0][0],
                        ";".join("%s=%.4f" % (label, s) for s, _, label in r)])
    class_names = labels or sorted({r[0][2] for r in results})
    plot(args.out_png, args.model, kept, images, results, class_names)
    print("classified %d images (%d skipped) with %s: wrote %s and %s"
          % (len(kept), skipped, args.model, args.out_csv, args.out_png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
