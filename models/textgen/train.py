#!/usr/bin/python3
"""textgen: character-level GRU language model trained on the Debian `fortunes` collection.

Vocabulary: 0 = fortune boundary (start/end of a fortune), 1 = unknown, then "\\n" and the 95
printable ASCII characters. Prompts are mapped byte by byte (TorchScript strings are UTF-8 byte
strings), so any non-ASCII byte becomes "unknown" and never breaks decoding; generation only
emits printable ASCII and newlines, so outputs are always valid UTF-8.

forward(prompt, max_chars=None, temperature=None, seed=None) returns the continuation of each
prompt (not the prompt itself): at least 1 and at most max_chars characters (default 200, range
1..2000); generation stops early when the model ends the fortune. Sampling uses a per-request
MINSTD generator seeded from `seed`, so a given (prompt, max_chars, temperature, seed) always
yields the same text; without `seed` each call draws a fresh one (repeated calls differ).
temperature 0 means greedy decoding (default 0.8, range 0..10). Out-of-range parameters and
prompts over 4000 bytes raise ValueError (INVALID_ARGUMENT, models/CONVENTIONS.md).

Held-out evaluation: every 20th fortune; per-character perplexity of the GRU vs a unigram
(character frequency) model fitted on the training fortunes.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import shutil
import time
from typing import Dict, List, Optional

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "textgen"
FORTUNE_DIR = "/usr/share/games/fortunes"
SKIP_FILES = {"ascii-art"}  # pictures, not text
HOLDOUT_EVERY = 20
EMB, HIDDEN = 48, 192
BATCH, SEQ = 64, 100
STEPS = 500
LR = 6e-3
EVAL_COUNT = 60

T_START = time.time()


def log(msg):
    print(f"[{NAME}] {time.time() - T_START:6.1f}s {msg}", flush=True)


def vocabulary() -> List[str]:
    # index 0: fortune boundary, 1: unknown (placeholders, never emitted)
    return ["", ""] + ["\n"] + [chr(c) for c in range(32, 127)]


class TextGen(torch.nn.Module):
    char_to_id: Dict[str, int]

    def __init__(self):
        super().__init__()
        chars = vocabulary()
        self.id_to_char: List[str] = chars
        self.char_to_id = {c: i for i, c in enumerate(chars) if i >= 2}
        self.char_to_id["\t"] = self.char_to_id[" "]
        self.n_vocab = len(chars)
        self.boundary = 0
        self.unknown = 1
        self.embed = torch.nn.Embedding(len(chars), EMB)
        self.gru = torch.nn.GRU(EMB, HIDDEN, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, len(chars))

    @torch.jit.export
    def encode(self, text: str) -> List[int]:
        """Byte-wise: every byte that is not printable ASCII / newline / tab is `unknown`."""
        ids: List[int] = []
        for c in text:
            ids.append(self.char_to_id.get(c, self.unknown))
        return ids

    @torch.jit.export
    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """[B, T] ids -> [B, T, V] next-character logits (training and evaluation)."""
        h, _ = self.gru(self.embed(ids))
        return self.head(h)

    @torch.jit.export
    def generate(self, prompt: str, max_chars: int, temperature: float, seed: int) -> str:
        max_chars = min(max(max_chars, 1), 2000)
        # MINSTD (Park-Miller) generator; a few warm-up draws decorrelate neighbouring seeds.
        m = 2147483647
        state = seed % (m - 1)
        if state < 0:
            state += m - 1
        state += 1
        for _ in range(4):
            state = (state * 48271) % m
        ids = [self.boundary] + self.encode(prompt)
        x = self.embed(torch.tensor(ids, dtype=torch.long)).unsqueeze(0)
        out, h = self.gru(x)
        last = out[0, out.shape[1] - 1]
        pieces: List[str] = []
        while len(pieces) < max_chars:
            logit = self.head(last)
            # never emit `unknown`; the boundary (end of fortune) only after a first character
            logit[self.unknown] = -1e9
            if len(pieces) == 0:
                logit[self.boundary] = -1e9
            if temperature <= 0.0:
                nxt = int(torch.argmax(logit).item())
            else:
                state = (state * 48271) % m
                u = float(state) / float(m)
                cdf = torch.cumsum(torch.softmax(logit / temperature, dim=0), dim=0)
                nxt = int((cdf < u * float(cdf[cdf.shape[0] - 1].item())).sum().item())
                nxt = min(nxt, self.n_vocab - 1)
                if nxt == self.unknown:
                    nxt = int(torch.argmax(logit).item())
            if nxt == self.boundary:
                break
            pieces.append(self.id_to_char[nxt])
            out, h = self.gru(self.embed(torch.tensor([[nxt]], dtype=torch.long)), h)
            last = out[0, 0]
        return "".join(pieces)

    def forward(self, prompt: List[str], max_chars: Optional[torch.Tensor] = None,
                temperature: Optional[torch.Tensor] = None,
                seed: Optional[torch.Tensor] = None) -> List[str]:
        # Input contract (models/CONVENTIONS.md): out-of-range parameters raise ValueError, which
        # the server answers as INVALID_ARGUMENT with this message.
        out: List[str] = []
        with torch.no_grad():
            for b in range(len(prompt)):
                n = 200
                t = 0.8
                if max_chars is not None:
                    n = int(max_chars.reshape(-1)[b].item())
                if temperature is not None:
                    t = float(temperature.reshape(-1)[b].item())
                if seed is not None:
                    s = int(seed.reshape(-1)[b].item())
                else:  # a fresh seed per call, so repeated calls give different text
                    s = int(torch.randint(0, 2147483646, [1]).item())
                if n < 1 or n > 2000:
                    raise ValueError("max_chars must be in [1, 2000], got {}".format(n))
                if not (t >= 0.0 and t <= 10.0):
                    raise ValueError(
                        "temperature must be in [0, 10] (0 = greedy), got {}".format(t))
                if len(prompt[b]) > 4000:
                    raise ValueError("prompt has {} bytes; at most 4000".format(len(prompt[b])))
                out.append(self.generate(prompt[b], n, t, s))
        return out


def read_fortunes():
    docs = []
    for path in sorted(glob.glob(os.path.join(FORTUNE_DIR, "*"))):
        base = os.path.basename(path)
        if "." in base or base in SKIP_FILES or os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            docs.extend(d.strip("\n") for d in f.read().split("\n%\n") if d.strip())
    return docs


def fortune_files():
    return sorted(p for p in glob.glob(os.path.join(FORTUNE_DIR, "*"))
                  if "." not in os.path.basename(p) and os.path.isfile(p) and not os.path.islink(p))


def digest(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def encode_corpus(docs, char_to_id):
    """Stream: boundary, fortune 1, boundary, fortune 2, ..., boundary; byte-wise like
    TextGen.encode (each byte of a non-ASCII character is one `unknown`)."""
    ids = [0]
    for d in docs:
        ids.extend(char_to_id.get(chr(b), 1) if b < 128 else 1 for b in d.encode("utf-8"))
        ids.append(0)
    return torch.tensor(ids, dtype=torch.long)


def train(result):
    torch.manual_seed(0)
    docs = read_fortunes()
    train_docs = [d for i, d in enumerate(docs) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
    held_docs = [d for i, d in enumerate(docs) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
    model = TextGen()
    c2i = dict(model.char_to_id)
    train_ids = encode_corpus(train_docs, c2i)
    held_ids = encode_corpus(held_docs, c2i)
    log(f"{len(train_docs)} training fortunes ({len(train_ids)} chars), {len(held_docs)} held out "
        f"({len(held_ids)} chars)")

    t0, c0 = time.time(), time.process_time()
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    warm = max(STEPS // 20, 1)  # linear warm-up, then cosine decay to 0
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / (STEPS - warm))))
    offsets = torch.arange(SEQ + 1)
    model.train()
    for step in range(STEPS):
        start = torch.randint(0, len(train_ids) - SEQ - 1, (BATCH, 1), generator=gen)
        batch = train_ids[start + offsets]
        logits = model.logits(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == STEPS - 1:
            log(f"step {step + 1}/{STEPS} loss {loss.item():.3f} ({loss.item() / math.log(2):.2f} bits/char)")
    train_seconds = time.time() - t0
    train_cpu_seconds = time.process_time() - c0
    model.eval()

    # held-out per-character cross-entropy, fortune by fortune in chunks (state carried within)
    with torch.no_grad():
        nll, count = 0.0, 0
        chunk = 4096
        h = None
        for i in range(0, len(held_ids) - 1, chunk):
            x = held_ids[i:i + chunk + 1]
            out, h = model.gru(model.embed(x[:-1].unsqueeze(0)), h)
            lp = torch.log_softmax(model.head(out[0]), dim=1)
            nll -= lp.gather(1, x[1:].unsqueeze(1)).sum().item()
            count += len(x) - 1
        ppl = math.exp(nll / count)
        freq = torch.bincount(train_ids, minlength=model.n_vocab).double() + 1.0
        logp = torch.log(freq / freq.sum())
        uni_ppl = math.exp(-logp[held_ids[1:]].sum().item() / count)
    log(f"held-out perplexity per char {ppl:.3f} ({math.log2(ppl):.3f} bits/char); "
        f"unigram baseline {uni_ppl:.3f} ({math.log2(uni_ppl):.3f} bits/char)")

    for p in model.parameters():
        p.requires_grad_(False)
    scripted = torch.jit.script(model)
    os.makedirs(result, exist_ok=True)
    scripted.save(os.path.join(result, "model.pt"))
    loaded = torch.jit.load(os.path.join(result, "model.pt"))

    # eval prompts: starts of held-out fortunes, plus a few awkward ones
    prompts = ["", "crème brûlée ☕ ", "Q: ", "The ", "A \u00e9\u00e8 \U0001F600", "\t\n"]
    for d in held_docs:
        if len(prompts) >= EVAL_COUNT:
            break
        words = d.split()
        if len(words) >= 3:
            prompts.append(" ".join(words[:3]) + " ")
    max_chars = np.full((len(prompts), 1), 80, dtype="<i4")
    seeds = np.arange(len(prompts), dtype="<i8").reshape(-1, 1)
    samples = loaded(prompts, torch.from_numpy(max_chars), None, torch.from_numpy(seeds))
    for p, s in list(zip(prompts, samples))[6:9]:
        log(f"sample: {p!r} -> {s!r}")
    assert all(len(s) > 0 and s.encode("utf-8").decode("utf-8") == s for s in samples)

    edir = os.path.join(result, "eval")
    os.makedirs(edir, exist_ok=True)
    with open(os.path.join(edir, "prompt.json"), "w", encoding="utf-8") as f:
        json.dump([[p] for p in prompts], f, ensure_ascii=False)
    np.save(os.path.join(edir, "max_chars.npy"), max_chars)
    np.save(os.path.join(edir, "seed.npy"), seeds)
    with open(os.path.join(edir, "spec.json"), "w") as f:
        json.dump({"model": NAME, "count": len(prompts),
                   "inputs": {"prompt": "prompt.json", "max_chars": "max_chars.npy",
                              "seed": "seed.npy"},
                   "metric": "nonempty_utf8", "output": "text"}, f, indent=1)

    metrics = {
        "task": "character-level text generation (continuation of a prompt)",
        "data_source": f"Debian fortunes / fortunes-min (all files but {sorted(SKIP_FILES)}); "
                       f"every {HOLDOUT_EVERY}th fortune held out",
        "licence": "BSD (fortune-mod; see /usr/share/doc/fortunes/copyright)",
        "train_samples": len(train_docs),
        "heldout_samples": len(held_docs),
        "train_chars": int(len(train_ids)),
        "heldout_chars": int(count),
        "architecture": f"char embedding {EMB} -> GRU {HIDDEN} (1 layer) -> linear over "
                        f"{model.n_vocab} symbols; seeded MINSTD sampling loop in TorchScript",
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "training": f"{STEPS} steps of {BATCH}x{SEQ} chars (~{STEPS * BATCH * SEQ / len(train_ids):.2f} "
                    "epochs), Adam, warm-up + cosine learning rate",
        "metric": "held-out perplexity per character",
        "value": round(ppl, 3),
        "bits_per_char": round(math.log2(ppl), 3),
        "baseline": "unigram character model",
        "baseline_value": round(uni_ppl, 3),
        "baseline_bits_per_char": round(math.log2(uni_ppl), 3),
        "eval_metric": "nonempty_utf8",
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
    # One thread: the small GRU gains little from a second one, and with the cores shared (other
    # models building in parallel) two OpenMP threads slow training down by an order of magnitude.
    torch.set_num_threads(1)
    os.makedirs(args.cache, exist_ok=True)
    if not os.path.exists(os.path.join(FORTUNE_DIR, "fortunes")):
        raise SystemExit(f"[{NAME}] {FORTUNE_DIR} missing: install models/{NAME}/debian-packages")

    key = digest([os.path.abspath(__file__)] + fortune_files())
    result = os.path.join(args.cache, "result-" + key)
    if os.path.exists(os.path.join(result, "done")):
        log(f"cached result {key}: reusing trained weights")
    else:
        train(result)
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
    log(f"done: perplexity/char {m['value']} vs unigram {m['baseline_value']} -> {args.out}")


if __name__ == "__main__":
    main()
