#!/usr/bin/python3
"""cifar10_resnet: CIFAR-10 ResNet-20 (He et al. 2016, section 4.2), trained on the official
CIFAR-10 *binary* batches from a folder the user supplies. Real CIFAR-10 data is not packaged in
Debian and nothing may be downloaded, so without that folder this script trains nothing, writes
nothing into the repository (never serves untrained weights) and says that it skipped.

Normal run (models/build.py does this):
  /usr/bin/python3 models/cifar10_resnet/train.py --out models/repository/cifar10_resnet \
      --eval models/eval/cifar10_resnet --cache models/.cache/cifar10_resnet [--cifar-dir DIR]
  DIR (or env CIFAR10_DIR) holds data_batch_1.bin .. data_batch_5.bin and test_batch.bin (the
  "CIFAR-10 binary version"; a parent folder holding cifar-10-batches-bin/ works too). Each record:
  1 label byte, then 1024 red, 1024 green, 1024 blue bytes (32x32, row-major).
  Epochs: --epochs N or env CIFAR10_EPOCHS (default 30; on 2 CPU cores an epoch over the 50,000
  training images takes several minutes).
Self-test (no real data needed; writes only to a temp dir):
  /usr/bin/python3 models/cifar10_resnet/train.py --self-test
  writes a few records in the official binary format, checks the reader decodes them exactly, runs
  one short epoch, exports, reloads the TorchScript model and checks its outputs and eval files.

Served model: image FP32 [B,3,32,32] RGB in [0,1] -> probabilities FP32 [B,10]; per-channel
normalization and softmax are inside the module.
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NAME = "cifar10_resnet"
HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 1234
DEFAULT_EPOCHS = 30
BATCH = 128
LR = 0.1
WEIGHT_DECAY = 1e-4
EVAL_COUNT = 500
RECORD = 1 + 3 * 32 * 32
LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------- data
def read_batch(path):
    """One official CIFAR-10 binary batch -> (uint8 [N,3,32,32], int64 [N])."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise ValueError("%s: %d bytes is not a whole number of %d-byte CIFAR-10 records"
                         % (path, raw.size, RECORD))
    raw = raw.reshape(-1, RECORD)
    labels = raw[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ValueError("%s: label byte > 9: not the CIFAR-10 binary format" % path)
    return raw[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def write_batch(path, images, labels):
    """Inverse of read_batch (used by the self-test)."""
    rec = np.empty((len(labels), RECORD), dtype=np.uint8)
    rec[:, 0] = labels
    rec[:, 1:] = images.reshape(len(labels), -1)
    rec.tofile(path)


def find_batches(root):
    """Folder with the .bin files (root itself or root/cifar-10-batches-bin)."""
    for d in (root, os.path.join(root, "cifar-10-batches-bin")):
        if os.path.isfile(os.path.join(d, "test_batch.bin")):
            train = [os.path.join(d, "data_batch_%d.bin" % i) for i in range(1, 6)]
            train = [p for p in train if os.path.isfile(p)]
            if train:
                return d, train, os.path.join(d, "test_batch.bin")
    raise FileNotFoundError("%s holds no CIFAR-10 binary batches (expected data_batch_1..5.bin and "
                            "test_batch.bin, or a cifar-10-batches-bin/ folder with them)" % root)


def load(root):
    d, train_files, test_file = find_batches(root)
    xs, ys = zip(*(read_batch(p) for p in train_files))
    xtr, ytr = np.concatenate(xs), np.concatenate(ys)
    xte, yte = read_batch(test_file)
    labels = LABELS
    meta = os.path.join(d, "batches.meta.txt")
    if os.path.isfile(meta):
        names = [l.strip() for l in open(meta, encoding="utf-8", errors="replace") if l.strip()]
        if len(names) == 10:
            labels = names
    h = hashlib.sha256()
    for p in train_files + [test_file]:
        st = os.stat(p)
        h.update(("%s %d %d\n" % (os.path.basename(p), st.st_size, int(st.st_mtime))).encode())
    return xtr, ytr, xte, yte, labels, train_files, test_file, h.hexdigest()[:16]


# ----------------------------------------------------------------------------- model
class BasicBlock(nn.Module):
    """3x3-3x3 residual block; option A shortcut (stride-2 subsampling + zero channel padding)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride = stride
        self.pad = cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x
        if self.stride != 1 or self.pad != 0:
            sc = x[:, :, ::self.stride, ::self.stride]
            sc = F.pad(sc, [0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2])
        return F.relu(out + sc)


class ResNet20(nn.Module):
    def __init__(self, n=3, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        layers = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class Served(nn.Module):
    """image [B,3,32,32] RGB in [0,1] -> probabilities [B,10]."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, image):
        x = (image.to(torch.float32) - self.mean) / self.std
        return torch.softmax(self.net(x), dim=1)


def augment(xb, g):
    """Standard CIFAR augmentation: pad 4 + random 32x32 crop, random horizontal flip."""
    b = xb.shape[0]
    padded = F.pad(xb, [4, 4, 4, 4])
    ox = torch.randint(0, 9, (b,), generator=g)
    oy = torch.randint(0, 9, (b,), generator=g)
    flip = torch.rand(b, generator=g) < 0.5
    out = torch.empty_like(xb)
    for i in range(b):
        crop = padded[i, :, oy[i]:oy[i] + 32, ox[i]:ox[i] + 32]
        out[i] = crop.flip(2) if flip[i] else crop
    return out


def evaluate(model, x8, bs=500):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x8), bs):
            out.append(model(torch.from_numpy(x8[i:i + bs].astype(np.float32) / 255.0)))
    return torch.cat(out).numpy()


def train(xtr8, ytr, epochs, log_every=50):
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    xf = xtr8.astype(np.float32) / 255.0
    mean = [float(v) for v in xf.mean(axis=(0, 2, 3))]
    std = [float(v) for v in xf.std(axis=(0, 2, 3))]
    net = ResNet20()
    model = Served(net, mean, std)
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9, weight_decay=WEIGHT_DECAY,
                          nesterov=True)
    steps_per_epoch = (len(xf) + BATCH - 1) // BATCH
    total = max(1, epochs * steps_per_epoch)
    warm = min(total // 10, 2 * steps_per_epoch)

    def lr_at(step):
        if step < warm:
            return LR * (step + 1) / warm
        return 0.5 * LR * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    xt, yt = torch.from_numpy(xf), torch.from_numpy(ytr)
    mt, st = model.mean, model.std
    step = 0
    for ep in range(epochs):
        t0 = time.time()
        net.train()
        perm = torch.randperm(len(xt), generator=g)
        tot, correct = 0.0, 0
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            xb = (augment(xt[idx], g) - mt) / st
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            logits = net(xb)
            loss = F.cross_entropy(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            tot += float(loss) * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
            if log_every and step % log_every == 0:
                log("  epoch %d step %d/%d loss %.3f" % (ep + 1, step, total, float(loss)))
        log("epoch %d/%d train loss %.4f train acc %.4f (%.0fs)" % (
            ep + 1, epochs, tot / len(xt), correct / len(xt), time.time() - t0))
    model.eval()
    return model


# ----------------------------------------------------------------------------- build
def build(data_dir, out, eval_dir, cache, epochs, min_acc=None, log_every=50):
    xtr8, ytr, xte8, yte, labels, train_files, test_file, data_id = load(data_dir)
    log("data: %s: %d training images (%d batch files), %d test images" % (
        os.path.dirname(test_file), len(ytr), len(train_files), len(yte)))
    os.makedirs(cache, exist_ok=True)
    with open(os.path.abspath(__file__), "rb") as f:
        key = hashlib.sha256(f.read() + data_id.encode() + str(epochs).encode()
                             + torch.__version__.encode()).hexdigest()[:16]
    wpath = os.path.join(cache, "model-%s.pt" % key)
    ipath = os.path.join(cache, "train-%s.json" % key)
    if os.path.isfile(wpath) and os.path.isfile(ipath):
        log("cached weights %s (training skipped)" % os.path.basename(wpath))
        scripted = torch.jit.load(wpath)
        with open(ipath) as f:
            info = json.load(f)
    else:
        for old in os.listdir(cache):
            if old.startswith(("model-", "train-")):
                os.remove(os.path.join(cache, old))
        t0, c0 = time.time(), time.process_time()
        model = train(xtr8, ytr, epochs, log_every)
        info = {"train_seconds": round(time.time() - t0, 1),
                "train_cpu_seconds": round(time.process_time() - c0, 1),
                "torch_threads": torch.get_num_threads()}
        scripted = torch.jit.script(model)
        scripted.save(wpath + ".tmp")
        os.replace(wpath + ".tmp", wpath)
        with open(ipath, "w") as f:
            json.dump(info, f)

    probs = evaluate(scripted, xte8)
    acc = float((probs.argmax(1) == yte).mean())
    majority = float((yte == np.bincount(ytr, minlength=10).argmax()).mean())
    log("official test-set accuracy %.4f on %d images (majority-class baseline %.4f)" % (
        acc, len(yte), majority))
    if min_acc is None:
        min_acc = max(0.0, math.floor((acc - 0.02) * 100) / 100)

    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(eval_dir, ignore_errors=True)
    os.makedirs(os.path.join(out, "1"))
    os.makedirs(eval_dir)
    scripted.save(os.path.join(out, "1", "model.pt"))
    shutil.copy(os.path.join(HERE, "config.pbtxt"), os.path.join(out, "config.pbtxt"))
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    params = sum(p.numel() for p in scripted.parameters())
    metrics = {
        "task": "object image classification (CIFAR-10, 32x32 RGB, 10 classes)",
        "data_source": "official CIFAR-10 binary batches supplied by the user (%s); not packaged in "
                       "Debian" % os.path.dirname(test_file),
        "licence": "CIFAR-10 (A. Krizhevsky, 2009): no licence file ships with the data; check the "
                   "terms under which you obtained it",
        "train_samples": int(len(ytr)),
        "heldout_samples": int(len(yte)),
        "heldout_split": "official CIFAR-10 test_batch",
        "architecture": "ResNet-20 (He et al. 2016): conv3x3 16 + 3 stages x 3 basic blocks "
                        "(16/32/64 ch, option-A shortcuts) + global avg pool + FC 10, softmax; "
                        "normalization inside; crop+flip augmentation",
        "parameters": int(params),
        "metric": "accuracy",
        "value": round(acc, 4),
        "baseline": "majority class",
        "baseline_value": round(majority, 4),
        "train_seconds": info["train_seconds"],
        "train_cpu_seconds": info.get("train_cpu_seconds"),
        "torch_threads": info.get("torch_threads"),
        "epochs": epochs,
        "seed": SEED,
    }
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    n = min(EVAL_COUNT, len(yte))
    np.save(os.path.join(eval_dir, "image.npy"),
            np.ascontiguousarray(xte8[:n].astype(np.float32) / 255.0, dtype="<f4"))
    np.save(os.path.join(eval_dir, "labels.npy"), np.ascontiguousarray(yte[:n], dtype="<i8"))
    spec = {"model": NAME, "count": n, "inputs": {"image": "image.npy"}, "metric": "accuracy",
            "output": "probabilities", "labels": "labels.npy", "min": min_acc}
    with open(os.path.join(eval_dir, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)

    # check the exported artefacts as the server and the e2e test use them
    m = torch.jit.load(os.path.join(out, "1", "model.pt"))
    xe = np.load(os.path.join(eval_dir, "image.npy"))
    ye = np.load(os.path.join(eval_dir, "labels.npy"))
    assert xe.shape == (n, 3, 32, 32) and xe.dtype == np.float32 and ye.dtype == np.int64
    with torch.no_grad():
        pr = m.forward(image=torch.from_numpy(xe))
    assert pr.dtype == torch.float32 and tuple(pr.shape) == (n, 10), (pr.dtype, pr.shape)
    assert torch.allclose(pr.sum(1), torch.ones(n), atol=1e-4)
    eacc = float((pr.argmax(1).numpy() == ye).mean())
    log("exported %s: %d parameters; eval set %d rows accuracy %.4f (min %.2f)" % (
        os.path.join(out, "1", "model.pt"), params, n, eacc, min_acc))
    if eacc < min_acc:
        raise SystemExit("eval-set accuracy below the figure")
    return metrics


def self_test():
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="cifar10_selftest_")
    try:
        rng = np.random.RandomState(0)
        data = os.path.join(tmp, "cifar-10-batches-bin")
        os.makedirs(data)

        def synth(count):
            # class c: a bright square at a class-specific place and colour, over noise
            labels = rng.randint(0, 10, size=count).astype(np.int64)
            imgs = rng.randint(0, 60, size=(count, 3, 32, 32)).astype(np.uint8)
            for i, c in enumerate(labels):
                y0, x0 = 4 + (c // 5) * 14, 2 + (c % 5) * 6
                imgs[i, c % 3, y0:y0 + 10, x0:x0 + 5] = 250
            return imgs, labels

        train_imgs, train_labels = synth(96)
        test_imgs, test_labels = synth(40)
        write_batch(os.path.join(data, "data_batch_1.bin"), train_imgs[:64], train_labels[:64])
        write_batch(os.path.join(data, "data_batch_2.bin"), train_imgs[64:], train_labels[64:])
        write_batch(os.path.join(data, "test_batch.bin"), test_imgs, test_labels)
        with open(os.path.join(data, "batches.meta.txt"), "w") as f:
            f.write("\n".join(LABELS) + "\n\n")
        # the on-disk layout is the official one: label byte, then R, G, B planes, row-major
        raw = np.fromfile(os.path.join(data, "test_batch.bin"), dtype=np.uint8)
        assert raw.size == 40 * 3073 and raw[0] == test_labels[0]
        assert raw[1 + 1024 + 32 * 5 + 7] == test_imgs[0, 1, 5, 7]
        xtr8, ytr, xte8, yte, labels, *_ = load(tmp)  # via the parent folder
        assert np.array_equal(xtr8, train_imgs) and np.array_equal(ytr, train_labels)
        assert np.array_equal(xte8, test_imgs) and np.array_equal(yte, test_labels)
        assert labels == LABELS
        log("self-test: reader decodes the official binary layout exactly")
        out, ev, cache = (os.path.join(tmp, d) for d in ("repository", "eval", "cache"))
        m = build(data, out, ev, cache, epochs=1, min_acc=0.0, log_every=0)
        assert m["train_samples"] == 96 and m["heldout_samples"] == 40
        for p in ("1/model.pt", "config.pbtxt", "labels.txt", "metrics.json"):
            assert os.path.isfile(os.path.join(out, p)), p
        spec = json.load(open(os.path.join(ev, "spec.json")))
        assert spec["model"] == NAME and spec["count"] == 40
        # the trained weights are cached: a second build reuses them
        m2 = build(data, out, ev, cache, epochs=1, min_acc=0.0, log_every=0)
        assert m2["value"] == m["value"]
        with open(os.path.join(out, "config.pbtxt")) as f:
            cfg = f.read()
        assert 'name: "%s"' % NAME in cfg and "dims: [ 3, 32, 32 ]" in cfg
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log("self-test passed (%.1fs)" % (time.time() - t0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--eval")
    ap.add_argument("--cache")
    ap.add_argument("--cifar-dir", default=os.environ.get("CIFAR10_DIR", ""))
    ap.add_argument("--epochs", type=int, default=int(os.environ.get("CIFAR10_EPOCHS", DEFAULT_EPOCHS)))
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.self_test:
        self_test()
        return
    if not (args.out and args.eval and args.cache):
        ap.error("--out, --eval and --cache are required (or --self-test)")
    if not args.cifar_dir:
        log("SKIPPED: no CIFAR-10 data given (set CIFAR10_DIR or pass --cifar-dir to a folder with "
            "the official binary batches). Real CIFAR-10 data is not packaged in Debian, so nothing "
            "was trained and nothing was written to %s: untrained weights are never served." % args.out)
        return
    if not os.path.isdir(args.cifar_dir):
        sys.exit("CIFAR-10 folder %s does not exist" % args.cifar_dir)
    build(args.cifar_dir, args.out, args.eval, args.cache, args.epochs)


if __name__ == "__main__":
    main()
