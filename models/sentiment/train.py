#!/usr/bin/python3
"""sentiment: review text -> P(negative), P(positive).

Data: r-cran-modeldata `small_fine_foods` (Amazon fine-food reviews), exported with Rscript. The
package ships its own split: `training_data` (4,000 reviews) and `testing_data` (1,000 reviews of
products not in the training set). Label: positive = 5-star review (`score == "great"`),
negative = 1-4 stars (`score == "other"`).

Model: binarized multinomial naive Bayes over unigram + bigram features (log-count ratios, chosen
over logistic regression by 4-fold cross-validation on the training split: 81.8% vs 80.8%), with a
Platt scale/offset fitted on out-of-fold scores so the probabilities are calibrated. Served as an
EmbeddingBag of dim 2 over a vocabulary baked into the TorchScript module as Dict[str, int]. The tokenizer runs inside the
scripted module: ASCII-only lowercasing, ASCII punctuation handling by str.replace, split on " ".
Non-ASCII bytes are left untouched (a token holding them is simply out of vocabulary).
"""
import argparse
import collections
import csv
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "sentiment"
MIN_COUNT = 2        # feature must occur in >= 2 training reviews
ALPHA = 1.0          # Laplace smoothing of the naive Bayes counts
EVAL_COUNT = 500     # rows of the test split written to the eval set (contract: <= 500)

R_EXPORT = r"""
suppressMessages(library(modeldata))
data(small_fine_foods)
args <- commandArgs(trailingOnly = TRUE)
write.csv(training_data, file.path(args[1], "train.csv"), row.names = FALSE, fileEncoding = "UTF-8")
write.csv(testing_data, file.path(args[1], "test.csv"), row.names = FALSE, fileEncoding = "UTF-8")
"""


def log(msg):
    print(f"[{NAME}] {msg}", flush=True)


class Sentiment(torch.nn.Module):
    vocab: Dict[str, int]

    def __init__(self, vocab: Dict[str, int]):
        super().__init__()
        self.upper: List[str] = [chr(c) for c in range(65, 91)]
        self.lower: List[str] = [chr(c) for c in range(97, 123)]
        self.drop: List[str] = ["'", "`"]          # "don't" -> "dont"
        self.keep: List[str] = ["!", "?"]          # kept as tokens of their own
        self.space: List[str] = [c for c in '"#$%&()*+,-./:;<=>@[\\]^_{|}~\t\n\r\x0b\x0c']
        self.vocab: Dict[str, int] = vocab
        self.bag = torch.nn.EmbeddingBag(max(len(vocab), 1), 2, mode="sum")
        self.bias = torch.nn.Parameter(torch.zeros(2))
        torch.nn.init.zeros_(self.bag.weight)

    @torch.jit.export
    def tokens(self, s: str) -> List[str]:
        # Only ASCII bytes are rewritten, so multi-byte UTF-8 sequences pass through intact.
        for i in range(len(self.upper)):
            s = s.replace(self.upper[i], self.lower[i])
        s = s.replace("<br />", " ")
        for p in self.drop:
            s = s.replace(p, "")
        for p in self.keep:
            s = s.replace(p, " " + p + " ")
        for p in self.space:
            s = s.replace(p, " ")
        out: List[str] = []
        for t in s.split(" "):
            if t != "":
                out.append(t)
        return out

    @torch.jit.export
    def features(self, s: str) -> List[str]:
        """Distinct unigrams and bigrams ("a b"), in first-seen order."""
        w = self.tokens(s)
        seen: Dict[str, int] = {}
        out: List[str] = []
        for i in range(len(w)):
            f = w[i]
            if f not in seen:
                seen[f] = 1
                out.append(f)
            if i + 1 < len(w):
                f = w[i] + " " + w[i + 1]
                if f not in seen:
                    seen[f] = 1
                    out.append(f)
        return out

    @torch.jit.export
    def logits(self, idx: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.bag(idx, offsets) + self.bias

    def forward(self, text: List[str]) -> torch.Tensor:
        idx: List[int] = []
        offsets: List[int] = []
        for s in text:
            offsets.append(len(idx))
            feats = self.features(s)
            # Input contract (models/CONVENTIONS.md): ValueError -> INVALID_ARGUMENT.
            if len(feats) == 0:
                raise ValueError("text is empty: it has no words to classify")
            for f in feats:
                if f in self.vocab:
                    idx.append(self.vocab[f])
        with torch.no_grad():
            logits = self.logits(torch.tensor(idx, dtype=torch.long),
                                 torch.tensor(offsets, dtype=torch.long))
            return torch.softmax(logits, dim=1)


def export_data(cache):
    train_csv, test_csv = os.path.join(cache, "train.csv"), os.path.join(cache, "test.csv")
    if os.path.exists(train_csv) and os.path.exists(test_csv):
        return train_csv, test_csv
    if shutil.which("Rscript") is None:
        sys.exit(f"[{NAME}] Rscript not found: install the Debian packages in models/{NAME}/debian-packages")
    log("exporting small_fine_foods with Rscript")
    script = os.path.join(cache, "export.R")
    with open(script, "w") as f:
        f.write(R_EXPORT)
    subprocess.run(["Rscript", script, cache], check=True)
    return train_csv, test_csv


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [r["review"] for r in rows]
    labels = [1 if r["score"] == "great" else 0 for r in rows]
    return texts, labels


def file_digest(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def naive_bayes(feats, labels, vocab):
    """Log-count ratios of binarized multinomial naive Bayes (Laplace smoothing ALPHA)."""
    pos = [ALPHA] * len(vocab)
    neg = [ALPHA] * len(vocab)
    for fs, y in zip(feats, labels):
        counts = pos if y == 1 else neg
        for f in fs:
            i = vocab.get(f)
            if i is not None:
                counts[i] += 1
    sp, sn = sum(pos), sum(neg)
    r = [math.log(p / sp) - math.log(n / sn) for p, n in zip(pos, neg)]
    npos = sum(labels)
    return r, math.log(npos / (len(labels) - npos))


def train(cache, result):
    torch.manual_seed(0)
    train_csv, test_csv = export_data(cache)
    tr_text, tr_y = read_rows(train_csv)
    te_text, te_y = read_rows(test_csv)
    log(f"{len(tr_text)} training reviews, {len(te_text)} test reviews (package split)")

    t0, c0 = time.time(), time.process_time()
    featurizer = torch.jit.script(Sentiment({}))  # same tokenizer code as the exported model
    tr_f = [featurizer.features(s) for s in tr_text]
    te_f = [featurizer.features(s) for s in te_text]
    counts = collections.Counter(f for fs in tr_f for f in fs)
    vocab = {f: i for i, f in enumerate(sorted(k for k, v in counts.items() if v >= MIN_COUNT))}
    log(f"vocabulary: {len(vocab)} unigram/bigram features")

    # Out-of-fold NB scores on the training split fit a Platt scale/offset (calibrated probabilities).
    folds = 4
    oof = torch.zeros(len(tr_f))
    for k in range(folds):
        held = [i for i in range(len(tr_f)) if i % folds == k]
        fit = [i for i in range(len(tr_f)) if i % folds != k]
        r_k, prior_k = naive_bayes([tr_f[i] for i in fit], [tr_y[i] for i in fit], vocab)
        for i in held:
            oof[i] = prior_k + sum(r_k[vocab[f]] for f in tr_f[i] if f in vocab)
    scale = torch.ones(1, requires_grad=True)
    offset = torch.zeros(1, requires_grad=True)
    y = torch.tensor(tr_y, dtype=torch.float32)
    opt = torch.optim.LBFGS([scale, offset], max_iter=100)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(oof * scale + offset, y)
        loss.backward()
        return loss
    opt.step(closure)
    a, c = float(scale.item()), float(offset.item())
    oof_acc = float(((oof > 0).float() == y).float().mean())
    log(f"4-fold out-of-fold accuracy on the training split {oof_acc:.4f}; Platt scale {a:.3f} offset {c:.3f}")

    r, prior = naive_bayes(tr_f, tr_y, vocab)
    model = Sentiment(vocab)
    with torch.no_grad():
        model.bag.weight[:, 0] = 0.0
        model.bag.weight[:, 1] = torch.tensor(r, dtype=torch.float32) * a
        model.bias[0] = 0.0
        model.bias[1] = prior * a + c
    train_seconds = time.time() - t0
    train_cpu_seconds = time.process_time() - c0
    model.eval()

    for p in model.parameters():
        p.requires_grad_(False)
    scripted = torch.jit.script(model)
    os.makedirs(result, exist_ok=True)
    scripted.save(os.path.join(result, "model.pt"))
    loaded = torch.jit.load(os.path.join(result, "model.pt"))
    with torch.no_grad():
        probs = torch.cat([loaded(te_text[i:i + 64]) for i in range(0, len(te_text), 64)])
    pred = probs.argmax(1).numpy()
    te_arr = np.array(te_y, dtype=np.int64)
    acc = float((pred == te_arr).mean())
    acc_eval = float((pred[:EVAL_COUNT] == te_arr[:EVAL_COUNT]).mean())
    majority = int(np.bincount(np.array(tr_y)).argmax())
    base = float((te_arr == majority).mean())
    log(f"test accuracy {acc:.4f} (first {EVAL_COUNT}: {acc_eval:.4f}); majority baseline {base:.4f}")

    edir = os.path.join(result, "eval")
    os.makedirs(edir, exist_ok=True)
    with open(os.path.join(edir, "text.json"), "w", encoding="utf-8") as f:
        json.dump([[s] for s in te_text[:EVAL_COUNT]], f, ensure_ascii=False)
    np.save(os.path.join(edir, "labels.npy"), te_arr[:EVAL_COUNT].astype("<i8"))
    with open(os.path.join(edir, "spec.json"), "w") as f:
        json.dump({"model": NAME, "count": EVAL_COUNT, "inputs": {"text": "text.json"},
                   "metric": "accuracy", "output": "probabilities", "labels": "labels.npy",
                   "min": 0.76}, f, indent=1)

    metrics = {
        "task": "binary sentiment of food reviews (positive = 5 stars, negative = 1-4 stars)",
        "data_source": "Debian r-cran-modeldata: small_fine_foods (Amazon Fine Foods reviews, "
                       "SNAP); the package's training_data / testing_data split",
        "licence": "MIT (r-cran-modeldata)",
        "train_samples": len(tr_text),
        "heldout_samples": len(te_text),
        "architecture": "binarized multinomial naive Bayes (log-count ratios, Platt-calibrated) over "
                        "unigram+bigram features, served as EmbeddingBag(sum, dim 2) + bias; "
                        "tokenizer and vocabulary inside the TorchScript module",
        "train_oof_accuracy": round(oof_acc, 4),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "vocabulary": len(vocab),
        "metric": "accuracy",
        "value": round(acc, 4),
        "baseline": "majority class (positive)",
        "baseline_value": round(base, 4),
        "eval_set_rows": EVAL_COUNT,
        "eval_set_accuracy": round(acc_eval, 4),
        "eval_set_baseline": round(float((te_arr[:EVAL_COUNT] == majority).mean()), 4),
        "train_seconds": round(train_seconds, 2),
        "train_cpu_seconds": round(train_cpu_seconds, 2),
    }
    with open(os.path.join(result, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--cache", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.cache, exist_ok=True)

    train_csv, test_csv = export_data(args.cache)
    key = file_digest([os.path.abspath(__file__), train_csv, test_csv])
    result = os.path.join(args.cache, "result-" + key)
    if os.path.exists(os.path.join(result, "done")):
        log(f"cached result {key}: reusing trained weights")
    else:
        train(args.cache, result)
        open(os.path.join(result, "done"), "w").close()
        for d in os.listdir(args.cache):  # drop results of older script/data versions
            if d.startswith("result-") and d != "result-" + key:
                shutil.rmtree(os.path.join(args.cache, d))

    os.makedirs(os.path.join(args.out, "1"), exist_ok=True)
    shutil.copy(os.path.join(result, "model.pt"), os.path.join(args.out, "1", "model.pt"))
    shutil.copy(os.path.join(result, "metrics.json"), os.path.join(args.out, "metrics.json"))
    for f in ("config.pbtxt", "labels.txt"):
        shutil.copy(os.path.join(HERE, f), os.path.join(args.out, f))
    if os.path.exists(args.eval):
        shutil.rmtree(args.eval)
    shutil.copytree(os.path.join(result, "eval"), args.eval)
    with open(os.path.join(result, "metrics.json")) as f:
        m = json.load(f)
    log(f"done: accuracy {m['value']} vs baseline {m['baseline_value']} -> {args.out}")


if __name__ == "__main__":
    main()
