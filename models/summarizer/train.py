#!/usr/bin/python3
"""summarizer: extractive summary (the k best sentences, kept in their original order).

Scoring: a linear scorer over 9 sentence features (position, length, TF-IDF centrality against the
rest of the document, mean IDF, digit share, topic-word overlap, quotes), all computed inside the
TorchScript module with an IDF table baked in as Dict[str, float].

- IDF statistics: every fortune of the Debian `fortunes` packages plus the long descriptions of the
  installed Debian packages (/var/lib/dpkg/status).
- Sentence weights are learned on (long description -> synopsis) pairs from /var/lib/dpkg/status:
  a listwise softmax loss whose target favours the sentences with the highest ROUGE-1 F1 against
  the package synopsis.
- Evaluation (never used for training or tuning): the 70 Reuters-21578 articles of r-cran-tm's
  `crude` and `acq` corpora, ROUGE-1 of the 1-sentence summary against the article headline,
  compared with the lead (first) sentence. ROUGE-1 here: lowercased ASCII alphanumeric tokens, no
  stemming, stop words kept, clipped unigram counts; F1 is the headline figure, recall is reported
  too.
"""
import argparse
import collections
import csv
import glob
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "summarizer"
FORTUNE_DIR = "/usr/share/games/fortunes"
DPKG_STATUS = "/var/lib/dpkg/status"
DEFAULT_K = 3        # sentences returned when max_sentences is absent
EVAL_K = 1           # headline-length summaries for the ROUGE evaluation
TARGET_TEMP = 0.1    # softmax temperature over the per-sentence ROUGE targets
EPOCHS = 150
FEATURES = ["first", "rel_position", "inv_position", "log_length", "centrality", "mean_idf",
            "digit_share", "topic_overlap", "has_quote"]

R_EXPORT = r"""
suppressMessages(library(tm))
data(crude); data(acq)
docs <- c(crude, acq)
args <- commandArgs(trailingOnly = TRUE)
df <- data.frame(topic = c(rep("crude", length(crude)), rep("acq", length(acq))),
                 id = sapply(docs, function(d) meta(d, "id")),
                 heading = sapply(docs, function(d) meta(d, "heading")),
                 text = sapply(docs, function(d) paste(content(d), collapse = "\n")))
write.csv(df, file.path(args[1], "reuters.csv"), row.names = FALSE, fileEncoding = "UTF-8")
"""


T_START = time.time()


def log(msg):
    print(f"[{NAME}] {time.time() - T_START:6.1f}s {msg}", flush=True)


class Summarizer(torch.nn.Module):
    idf: Dict[str, float]

    def __init__(self, idf: Dict[str, float], unknown_idf: float):
        super().__init__()
        self.idf = idf
        self.unknown_idf = unknown_idf
        self.default_k = DEFAULT_K
        self.upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        self.upper_list: List[str] = [chr(c) for c in range(65, 91)]
        self.lower_list: List[str] = [chr(c) for c in range(97, 123)]
        self.digits = "0123456789"
        self.whitespace: List[str] = ["\r", "\n", "\t", "\x0b", "\x0c"]  # -> " "
        self.punct: List[str] = [c for c in '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~']
        # tokens ending in "." that usually do not end a sentence
        self.abbrev: List[str] = ["mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "inc.", "corp.",
                                  "co.", "ltd.", "no.", "vs.", "etc.", "e.g.", "i.e.", "jan.",
                                  "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.",
                                  "oct.", "nov.", "dec.", "gen.", "gov.", "sen.", "rep.", "prof."]
        self.scorer = torch.nn.Linear(len(FEATURES), 1)
        torch.nn.init.zeros_(self.scorer.weight)
        torch.nn.init.zeros_(self.scorer.bias)

    def ascii_lower(self, s: str) -> str:
        for i in range(len(self.upper_list)):
            s = s.replace(self.upper_list[i], self.lower_list[i])
        return s

    def is_boundary(self, tok: str, nxt: str) -> bool:
        """tok ends a sentence when it ends in . ! ? (possibly before a closing quote/bracket)
        and the next token starts with an ASCII capital, a quote or a bracket."""
        t = tok
        while len(t) > 0 and (t[len(t) - 1] == '"' or t[len(t) - 1] == ")" or t[len(t) - 1] == "'"):
            t = t[:len(t) - 1]
        if len(t) == 0:
            return False
        last = t[len(t) - 1]
        if last != "." and last != "!" and last != "?":
            return False
        first = nxt[0]
        if not (first in self.upper or first == '"' or first == "(" or first == "<"):
            return False
        if last == ".":
            low = self.ascii_lower(t)
            while len(low) > 0 and (low[0] == '"' or low[0] == "(" or low[0] == "<"):
                low = low[1:]
            if low in self.abbrev:
                return False
            if len(low) == 2 and low[0] in self.ascii_lower(self.upper):  # initial: "J."
                return False
            if low[:len(low) - 1].find(".") >= 0:  # "U.S.", "N.V."
                return False
        return True

    @torch.jit.export
    def sentences(self, text: str) -> List[str]:
        for ws in self.whitespace:
            text = text.replace(ws, " ")
        toks: List[str] = []
        for t in text.split(" "):
            if t != "":
                toks.append(t)
        out: List[str] = []
        cur: List[str] = []
        for i in range(len(toks)):
            cur.append(toks[i])
            if i + 1 == len(toks) or self.is_boundary(toks[i], toks[i + 1]):
                out.append(" ".join(cur))
                # clear(), not `cur = []`: torch 1.13's graph optimizer shares a re-bound empty
                # list across iterations and calls (wrong output that grows call after call)
                cur.clear()
        return out

    @torch.jit.export
    def words(self, sentence: str) -> List[str]:
        s = self.ascii_lower(sentence)
        for p in self.punct:
            s = s.replace(p, " ")
        out: List[str] = []
        for w in s.split(" "):
            if w != "":
                out.append(w)
        return out

    def idf_of(self, w: str) -> float:
        if w in self.idf:
            return self.idf[w]
        return self.unknown_idf

    @torch.jit.export
    def features(self, sents: List[str]) -> torch.Tensor:
        n = len(sents)
        words: List[List[str]] = []
        doc_tf: Dict[str, float] = {}
        for s in sents:
            ws = self.words(s)
            words.append(ws)
            for w in ws:
                doc_tf[w] = doc_tf.get(w, 0.0) + 1.0
        idf: Dict[str, float] = {}
        doc_sq = 0.0  # squared norm of the document's TF-IDF vector
        for w, c in doc_tf.items():
            v = self.idf_of(w)
            idf[w] = v
            doc_sq += c * c * v * v
        rows: List[List[float]] = []
        for i in range(n):
            ws = words[i]
            tf: Dict[str, float] = {}
            for w in ws:
                tf[w] = tf.get(w, 0.0) + 1.0
            # cosine of TF-IDF vectors: sentence vs the rest of the document
            dot = 0.0
            ns = 0.0
            nr = doc_sq
            for w, c in tf.items():
                v2 = idf[w] * idf[w]
                d = doc_tf[w]
                dot += c * (d - c) * v2
                ns += c * c * v2
                nr -= (d * d - (d - c) * (d - c)) * v2
            cos = 0.0
            if ns > 0.0 and nr > 1e-9:
                cos = dot / math.sqrt(ns * nr)
            sum_idf = 0.0
            digits = 0.0
            overlap = 0.0
            for w in ws:
                sum_idf += idf[w]
                if w[0] in self.digits:
                    digits += 1.0
                if doc_tf[w] - tf[w] > 0.0:
                    overlap += 1.0
            m = float(max(len(ws), 1))
            rows.append([1.0 if i == 0 else 0.0,
                         float(i) / float(max(n - 1, 1)),
                         1.0 / float(i + 1),
                         math.log(1.0 + float(len(ws))),
                         cos,
                         sum_idf / m / self.unknown_idf,
                         digits / m,
                         overlap / m,
                         1.0 if sents[i].find('"') >= 0 else 0.0])
        if n == 0:
            return torch.zeros(0, 9)
        return torch.tensor(rows, dtype=torch.float32)

    @torch.jit.export
    def scores(self, sents: List[str]) -> torch.Tensor:
        return self.scorer(self.features(sents)).squeeze(1)

    @torch.jit.export
    def summarize(self, text: str, k: int) -> str:
        sents = self.sentences(text)
        n = len(sents)
        if k < 1:
            k = 1
        if n <= k:
            return " ".join(sents)
        # very short fragments ("Reuter", "1.") are only chosen when nothing else is left
        penalty: List[float] = []
        for i in range(n):
            penalty.append(1000.0 if len(self.words(sents[i])) < 4 else 0.0)
        sc = self.scores(sents).detach() - torch.tensor(penalty, dtype=torch.float32)
        keep: List[int] = torch.topk(sc, k).indices.sort().values.tolist()
        chosen: List[str] = []
        for i in keep:
            chosen.append(sents[i])
        return " ".join(chosen)

    def forward(self, text: List[str], max_sentences: Optional[torch.Tensor] = None) -> List[str]:
        # Input contract (models/CONVENTIONS.md): ValueError -> INVALID_ARGUMENT with this message.
        out: List[str] = []
        for b in range(len(text)):
            k = self.default_k
            if max_sentences is not None:
                k = int(max_sentences.reshape(-1)[b].item())
            if k < 1 or k > 100:
                raise ValueError("max_sentences must be in [1, 100], got {}".format(k))
            if len(self.sentences(text[b])) == 0:
                raise ValueError("text has no sentences to summarize")
            out.append(self.summarize(text[b], k))
        return out


# ---------------------------------------------------------------------------------------------
def rouge_words(s):
    return re.findall(r"[a-z0-9]+", s.lower())


def rouge1(candidate, reference):
    c, r = collections.Counter(rouge_words(candidate)), collections.Counter(rouge_words(reference))
    hit = sum((c & r).values())
    if hit == 0:
        return 0.0, 0.0, 0.0
    p, rec = hit / sum(c.values()), hit / sum(r.values())
    return 2 * p * rec / (p + rec), p, rec


def read_fortunes():
    docs = []
    for path in sorted(glob.glob(os.path.join(FORTUNE_DIR, "*"))):
        if "." in os.path.basename(path) or os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            docs.extend(d.strip() for d in f.read().split("\n%\n") if d.strip())
    return docs


def read_descriptions():
    """(synopsis, long description as plain text) for every package in the dpkg status file."""
    pairs = {}
    pkg, syn, lines, in_desc = None, None, [], False

    def flush():
        if pkg and syn and lines:
            text = "\n".join(lines)
            text = re.sub(r"\n\.\n", "\n\n", "\n" + text + "\n").strip()
            pairs.setdefault(text, (pkg, syn))  # one pair per distinct long description
    with open(DPKG_STATUS, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line == "":
                flush()
                pkg, syn, lines, in_desc = None, None, [], False
            elif line.startswith("Package: "):
                pkg = line[9:].strip()
            elif line.startswith("Description: "):
                syn, in_desc = line[13:].strip(), True
            elif in_desc and line.startswith(" "):
                lines.append("." if line == " ." else line[1:])
            else:
                in_desc = False
    flush()
    out = sorted(((p, s, t) for t, (p, s) in pairs.items()))
    return [(s, t) for _, s, t in out]


def export_reuters(cache):
    path = os.path.join(cache, "reuters.csv")
    if os.path.exists(path):
        return path
    if shutil.which("Rscript") is None:
        sys.exit(f"[{NAME}] Rscript not found: install the Debian packages in models/{NAME}/debian-packages")
    log("exporting Reuters crude + acq with Rscript")
    script = os.path.join(cache, "export.R")
    with open(script, "w") as f:
        f.write(R_EXPORT)
    subprocess.run(["Rscript", script, cache], check=True)
    return path


def digest(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def train(cache, result, reuters_csv):
    torch.manual_seed(0)
    t0, c0 = time.time(), time.process_time()
    fortunes = read_fortunes()
    descs = read_descriptions()
    log(f"IDF corpus: {len(fortunes)} fortunes + {len(descs)} package descriptions")
    tmp = torch.jit.script(Summarizer({"": 1.0}, 1.0))
    df = collections.Counter()
    for d in fortunes + [t for _, t in descs]:
        df.update(set(tmp.words(d)))
    n_docs = len(fortunes) + len(descs)
    idf = {w: math.log((n_docs + 1) / (c + 1)) + 1.0 for w, c in df.items() if c >= 2}
    unknown_idf = math.log(n_docs + 1) + 1.0
    log(f"IDF table: {len(idf)} words (df >= 2)")

    model = Summarizer(idf, unknown_idf)
    featurizer = torch.jit.script(model)
    xs, ts = [], []
    for syn, text in descs:
        sents = featurizer.sentences(text)
        if len(sents) < 2:
            continue
        xs.append(featurizer.features(sents))
        ts.append(torch.tensor([rouge1(s, syn)[0] for s in sents]))
    log(f"training pairs (long description -> synopsis, >= 2 sentences): {len(xs)}")
    lead_hits = sum(int(t.argmax() == 0) for t in ts)
    log(f"best-matching sentence is the first one in {lead_hits}/{len(ts)} descriptions")
    # pad to [docs, max sentences, features]; padded sentences are masked out of the softmax
    m = max(x.shape[0] for x in xs)
    X = torch.zeros(len(xs), m, len(FEATURES))
    T = torch.full((len(xs), m), -1e9)
    mask = torch.zeros(len(xs), m, dtype=torch.bool)
    for i, (x, t) in enumerate(zip(xs, ts)):
        X[i, :x.shape[0]] = x
        T[i, :x.shape[0]] = t / TARGET_TEMP
        mask[i, :x.shape[0]] = True
    target = torch.softmax(T, 1)
    opt = torch.optim.Adam(model.scorer.parameters(), lr=0.05)
    for epoch in range(EPOCHS):
        opt.zero_grad()
        logits = model.scorer(X).squeeze(2).masked_fill(~mask, -1e9)
        loss = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
        loss.backward()
        opt.step()
        if epoch % 100 == 0 or epoch == EPOCHS - 1:
            log(f"epoch {epoch + 1}/{EPOCHS} listwise loss {loss.item():.4f}")
    train_seconds = time.time() - t0
    train_cpu_seconds = time.process_time() - c0
    weights = {f: round(float(w), 4) for f, w in zip(FEATURES, model.scorer.weight[0])}
    log(f"learned weights {weights}")

    for p in model.parameters():
        p.requires_grad_(False)
    scripted = torch.jit.script(model.eval())
    os.makedirs(result, exist_ok=True)
    scripted.save(os.path.join(result, "model.pt"))
    loaded = torch.jit.load(os.path.join(result, "model.pt"))

    with open(reuters_csv, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [r["text"] for r in rows]
    ks = torch.full((len(texts), 1), EVAL_K, dtype=torch.int32)
    summaries = loaded(texts, ks)
    lead = [(loaded.sentences(t) or [""])[0] for t in texts]
    ours = np.array([rouge1(s, r["heading"]) for s, r in zip(summaries, rows)])
    base = np.array([rouge1(s, r["heading"]) for s, r in zip(lead, rows)])
    same = sum(a == b for a, b in zip(summaries, lead))
    log(f"Reuters ROUGE-1 F1 {ours[:, 0].mean():.4f} (recall {ours[:, 2].mean():.4f}) vs lead "
        f"sentence F1 {base[:, 0].mean():.4f} (recall {base[:, 2].mean():.4f}); "
        f"{same}/{len(texts)} summaries are the lead sentence")

    edir = os.path.join(result, "eval")
    os.makedirs(edir, exist_ok=True)
    with open(os.path.join(edir, "text.json"), "w", encoding="utf-8") as f:
        json.dump([[t] for t in texts], f, ensure_ascii=False)
    np.save(os.path.join(edir, "max_sentences.npy"), ks.numpy().astype("<i4"))
    with open(os.path.join(edir, "headlines.json"), "w", encoding="utf-8") as f:
        json.dump([r["heading"] for r in rows], f, ensure_ascii=False)
    with open(os.path.join(edir, "spec.json"), "w") as f:
        json.dump({"model": NAME, "count": len(texts),
                   "inputs": {"text": "text.json", "max_sentences": "max_sentences.npy"},
                   "metric": "nonempty_utf8", "output": "summary"}, f, indent=1)

    metrics = {
        "task": "extractive summarization (k best sentences in original order)",
        "data_source": "evaluation: Reuters-21578 articles in Debian r-cran-tm (crude + acq, 70 "
                       "with headlines); sentence weights: long descriptions -> synopses of the "
                       "installed Debian packages (/var/lib/dpkg/status); IDF: Debian fortunes + "
                       "those descriptions",
        "licence": "r-cran-tm GPL-3 (Reuters-21578 distributed for research use); fortunes BSD; "
                   "package descriptions under their packages' licences",
        "train_samples": len(xs),
        "heldout_samples": len(texts),
        "architecture": "linear sentence scorer over 9 features (position, length, TF-IDF "
                        "centrality, mean IDF, digit share, topic overlap, quotes) with a baked-in "
                        f"IDF table of {len(idf)} words; sentence splitter inside TorchScript",
        "parameters": len(FEATURES) + 1,
        "idf_words": len(idf),
        "learned_weights": weights,
        "metric": f"ROUGE-1 F1 vs headline ({EVAL_K}-sentence summary, no stemming)",
        "value": round(float(ours[:, 0].mean()), 4),
        "baseline": "lead sentence",
        "baseline_value": round(float(base[:, 0].mean()), 4),
        "rouge1_recall": round(float(ours[:, 2].mean()), 4),
        "baseline_rouge1_recall": round(float(base[:, 2].mean()), 4),
        "summaries_equal_to_lead": int(same),
        "eval_metric": "nonempty_utf8",
        "default_max_sentences": DEFAULT_K,
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

    reuters_csv = export_reuters(args.cache)
    sources = [os.path.abspath(__file__), reuters_csv, DPKG_STATUS]
    sources += sorted(p for p in glob.glob(os.path.join(FORTUNE_DIR, "*"))
                      if "." not in os.path.basename(p) and os.path.isfile(p) and not os.path.islink(p))
    key = digest(sources)
    result = os.path.join(args.cache, "result-" + key)
    if os.path.exists(os.path.join(result, "done")):
        log(f"cached result {key}: reusing trained weights")
    else:
        train(args.cache, result, reuters_csv)
        open(os.path.join(result, "done"), "w").close()
        for d in os.listdir(args.cache):  # drop results of older script/data versions
            if d.startswith("result-") and d != "result-" + key:
                shutil.rmtree(os.path.join(args.cache, d))

    os.makedirs(os.path.join(args.out, "1"), exist_ok=True)
    shutil.copy(os.path.join(result, "model.pt"), os.path.join(args.out, "1", "model.pt"))
    shutil.copy(os.path.join(result, "metrics.json"), os.path.join(args.out, "metrics.json"))
    shutil.copy(os.path.join(HERE, "config.pbtxt"), os.path.join(args.out, "config.pbtxt"))
    if os.path.exists(args.eval):
        shutil.rmtree(args.eval)
    shutil.copytree(os.path.join(result, "eval"), args.eval)
    with open(os.path.join(result, "metrics.json")) as f:
        m = json.load(f)
    log(f"done: {m['metric']} {m['value']} vs {m['baseline']} {m['baseline_value']} -> {args.out}")


if __name__ == "__main__":
    main()
