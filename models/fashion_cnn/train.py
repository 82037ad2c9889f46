#!/usr/bin/python3
"""fashion_cnn: Fashion-MNIST clothing classifier (Debian package dataset-fashion-mnist).

/usr/bin/python3 models/fashion_cnn/train.py --out models/repository/fashion_cnn \
    --eval models/eval/fashion_cnn --cache models/.cache/fashion_cnn

Data: /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (IDX files),
installed by models/build.py from models/fashion_cnn/debian-packages. Trained on the official
60,000 training images; measured on the official 10,000 test images, never seen in training
(fixed epoch count, no model selection on the test set). The first 500 test images are the e2e
evaluation set. Model input: image FP32 [B,1,28,28], pixel/255 in [0,1].
"""
import argparse
import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NAME = "fashion_cnn"
HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = "/usr/share/datasets/fashion-mnist"
DEB_PKG = "dataset-fashion-mnist"
SEED = 1234
EPOCHS = 6
WIDTHS = (16, 32, 64, 128)  # conv1..3 channels, hidden units
BATCH = 64
LR = 3e-3
MIN_ACC = 0.90
AUG_FLIP = 0.5
AUG_SHIFT = 2.0
EVAL_COUNT = 500


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", buf[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, buf[4:4 + 4 * ndim])
    arr = np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: size mismatch" % path)
    return arr.reshape(dims)


def deb_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def load_data(cache):
    """Returns (xtr uint8 [60000,28,28], ytr, xte uint8 [10000,28,28], yte, source id)."""
    files = {k: os.path.join(DATA_DIR, "%s-%s-ubyte.gz" % k) for k in
             [("train", "images-idx3"), ("train", "labels-idx1"), ("t10k", "images-idx3"),
              ("t10k", "labels-idx1")]}
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        sys.exit("missing %s: install the Debian package %s (models/build.py does)" % (
            ", ".join(missing), DEB_PKG))
    h = hashlib.sha256()
    for p in files.values():
        st = os.stat(p)
        h.update(("%s %d %d\n" % (os.path.basename(p), st.st_size, int(st.st_mtime))).encode())
    source = "%s %s %s" % (DEB_PKG, deb_version(DEB_PKG), h.hexdigest()[:12])
    npz = os.path.join(cache, "fashion.npz")
    if os.path.isfile(npz):
        d = np.load(npz)
        if str(d["source"]) == source:
            return d["xtr"], d["ytr"], d["xte"], d["yte"], source
    log("reading IDX files from %s" % DATA_DIR)
    xtr = read_idx(files[("train", "images-idx3")])
    ytr = read_idx(files[("train", "labels-idx1")]).astype(np.int64)
    xte = read_idx(files[("t10k", "images-idx3")])
    yte = read_idx(files[("t10k", "labels-idx1")]).astype(np.int64)
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28), (xtr.shape, xte.shape)
    np.savez(npz, xtr=xtr, ytr=ytr, xte=xte, yte=yte, source=np.array(source))
    return xtr, ytr, xte, yte, source


def to_float(x):
    return (x.astype(np.float32) / 255.0)[:, None, :, :]


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
        self.fc1 = nn.Linear(c * 7 * 7, h)
        self.fc2 = nn.Linear(h, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)  # 14
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2)  # 7
        x = F.relu(self.b3(self.c3(x)))  # 7x7, no third pooling
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


def augment(x, g, flip_p=AUG_FLIP, shift=AUG_SHIFT):
    """Random horizontal flip and shift of up to `shift` pixels (per sample)."""
    b = x.shape[0]
    sx = torch.where(torch.rand(b, generator=g) < flip_p, -1.0, 1.0)
    tx = (torch.rand(b, generator=g) - 0.5) * (2 * shift / 14)
    ty = (torch.rand(b, generator=g) - 0.5) * (2 * shift / 14)
    zero = torch.zeros(b)
    theta = torch.stack([torch.stack([sx, zero, tx], 1), torch.stack([zero, torch.ones(b), ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def evaluate(model, x, bs=500):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out.append(model(torch.from_numpy(x[i:i + bs])))
    return torch.cat(out).numpy()


def train(xtr, ytr):
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
        log("epoch %d/%d train loss %.4f (%.1fs)" % (ep + 1, EPOCHS, tot / len(xt), time.time() - t0))
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

    xtr8, ytr, xte8, yho, source = load_data(args.cache)
    xtr, xho = to_float(xtr8), to_float(xte8)
    log("data: %s, %d train / %d official test" % (source, len(ytr), len(yho)))

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
        model = train(xtr, ytr)
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
    log("official test-set accuracy %.4f on %d images (majority-class baseline %.4f)" % (
        acc, len(yho), majority))
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
        "task": "clothing image classification (Fashion-MNIST, 28x28 grey, 10 classes)",
        "data_source": "Debian %s (Zalando Research Fashion-MNIST IDX files)" % source.rsplit(" ", 1)[0],
        "licence": "MIT/Expat, (c) 2017 Zalando SE (/usr/share/doc/dataset-fashion-mnist/copyright)",
        "train_samples": int(len(ytr)),
        "heldout_samples": int(len(yho)),
        "heldout_split": "official Fashion-MNIST test set (t10k)",
        "architecture": "CNN: 3x [conv3x3 (%d/%d/%d) + BN + ReLU] with 2 maxpools (28->14->7) -> FC %d -> FC 10, "
                        "softmax; "
                        "normalization inside; trained with flip/shift augmentation" % WIDTHS,
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
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)

    n = min(EVAL_COUNT, len(yho))
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
