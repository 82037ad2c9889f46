#!/usr/bin/python3
"""English -> Spanish translation: a small word-level GRU encoder-decoder with attention.

Data: human translations from the Spanish gettext catalogs (.mo files) installed by the Debian
packages listed in `debian-packages` (msgid -> msgstr, short pairs only), parsed here with struct.
Held-out split: ~5% of the distinct English sources (by a hash of the normalized source).
Baseline: word-by-word translation with a dictionary learned by IBM Model 1 on the training pairs.
Optional reference: Apertium (`apertium eng-spa`) on the same held-out split, when installed.

The exported TorchScript module holds the tokenizer, the vocabularies, a greedy decoding loop,
<unk> replacement (the most attended source word, translated with the IBM-1 dictionary, or copied
when it is short printable ASCII; so every output is valid UTF-8 whatever bytes come in) and the
detokenizer: forward(text: List[str]) -> List[str]. Empty or blank input, and input of more than
48 tokens (the model translates short messages; nothing is cut silently), raise ValueError
(INVALID_ARGUMENT, models/CONVENTIONS.md).
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no busy-waiting threads on shared cores
import argparse
import collections
import hashlib
import json
import math
import random
import re
import shutil
import struct
import subprocess
import time
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "translate_en_es"
MAX_SRC_WORDS = 8          # short pairs only
MAX_TGT_TOKENS = 14
# .mo files that are mostly proper names copied verbatim (language names, regions) are skipped
SKIP_MO = ("iso_639", "iso_3166-2", "iso_3166_2", "iso_3166-3", "iso_639_3")
PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
EMB, HID = 128, 160
EPOCHS, BATCH, LR = 12, 64, 2e-3
UNK_DICT_MIN_P = 0.3
DICT_AUG = True
SEED = 1234


def log(*a):
    print(f"[{NAME}]", *a, flush=True)


# ----------------------------------------------------------------------------------------------
# tokenizer / detokenizer (TorchScript: the same code is used for training and serving)
# ----------------------------------------------------------------------------------------------
@torch.jit.script
def tokenize_en(text: str) -> List[str]:
    """ASCII-lowercase, punctuation split off, split on ASCII space. Non-ASCII bytes are kept
    inside words (TorchScript strings are bytes; splitting only at ASCII keeps UTF-8 intact)."""
    s = text.lower()
    for code in [9, 10, 11, 12, 13]:  # control whitespace; built with chr(): a "\r" literal in
        s = s.replace(chr(code), " ")  # scripted code is saved in a form torch 1.13 cannot load
    for p in [".", ",", ":", ";", "!", "?", "(", ")", "[", "]", "\"", "'", "/", "-", "*", "=", "+"]:
        s = s.replace(p, " " + p + " ")
    out: List[str] = []
    for t in s.split(" "):
        if t != "":
            out.append(t)
    return out


@torch.jit.script
def detokenize_es(tokens: List[str]) -> str:
    no_space_before = [".", ",", ":", ";", "!", "?", ")", "]", "»"]
    no_space_after = ["(", "[", "«", "¿", "¡"]
    out = ""
    prev = ""
    for i, t in enumerate(tokens):
        if i > 0 and not (t in no_space_before) and not (prev in no_space_after):
            out += " "
        out += t
        prev = t
    return out


_TGT_PUNCT = re.compile(r"([.,:;!?()\[\]\"'/\-*=+«»¿¡“”…])")


def tokenize_es(text: str) -> List[str]:
    """Target-side tokenizer (training and BLEU only): lowercase, punctuation split off."""
    s = _TGT_PUNCT.sub(r" \1 ", text.lower())
    return [t for t in s.replace("\t", " ").replace("\n", " ").split(" ") if t]


# ----------------------------------------------------------------------------------------------
# data: gettext catalogs
# ----------------------------------------------------------------------------------------------
def read_mo(path: str) -> List[Tuple[bytes, bytes]]:
    b = open(path, "rb").read()
    if len(b) < 28:
        return []
    magic = struct.unpack("<I", b[:4])[0]
    if magic == 0x950412DE:
        e = "<"
    elif magic == 0xDE120495:
        e = ">"
    else:
        return []
    _rev, n, orig_off, trans_off = struct.unpack(e + "4I", b[4:20])
    out = []
    for i in range(n):
        l1, o1 = struct.unpack(e + "2I", b[orig_off + 8 * i: orig_off + 8 * i + 8])
        l2, o2 = struct.unpack(e + "2I", b[trans_off + 8 * i: trans_off + 8 * i + 8])
        out.append((b[o1:o1 + l1], b[o2:o2 + l2]))
    return out


def catalog_files() -> List[Tuple[str, str]]:
    pkgs = [l.strip() for l in open(os.path.join(HERE, "debian-packages")) if l.strip()
            and not l.startswith("#") and not l.strip().startswith("apertium")]
    files = []
    for p in pkgs:
        r = subprocess.run(["dpkg", "-L", p], capture_output=True, text=True)
        if r.returncode != 0:
            log(f"warning: package {p} not installed; its catalog is skipped")
            continue
        for line in sorted(r.stdout.split("\n")):
            base = os.path.basename(line)
            if "/locale/es/LC_MESSAGES/" in line and line.endswith(".mo") and \
                    not base.startswith(SKIP_MO) and os.path.isfile(line):
                files.append((p, line))
    return files


_ACCEL = re.compile(r"(?<![A-Za-z0-9])_(?=[A-Za-z])")
_BAD_SRC = re.compile(r"[%$\\{}<>`|~@#&_^]")


def clean(s: str) -> str:
    s = _ACCEL.sub("", s)
    return " ".join(s.split(" ")).strip()


def load_pairs(files) -> List[Tuple[List[str], List[str], str]]:
    by_src: Dict[Tuple[str, ...], collections.Counter] = {}
    original: Dict[Tuple[str, ...], str] = {}  # first spelling seen (original casing)
    for _pkg, path in files:
        for mid, mstr in read_mo(path):
            if not mid or not mstr or b"\x00" in mid or b"\x04" in mid:
                continue  # header, plural forms, message contexts
            try:
                en, es = clean(mid.decode("utf-8")), clean(mstr.decode("utf-8"))
            except UnicodeDecodeError:
                continue
            if "\n" in en or "\n" in es or _BAD_SRC.search(en) or _BAD_SRC.search(es):
                continue
            if not re.search(r"[A-Za-z]{2}", en):
                continue
            src = tokenize_en(en)
            tgt = tokenize_es(es)
            if not (1 <= len(src) <= MAX_SRC_WORDS + 2) or not (1 <= len(tgt) <= MAX_TGT_TOKENS):
                continue
            if sum(1 for t in src if t.isalpha()) > MAX_SRC_WORDS:
                continue
            by_src.setdefault(tuple(src), collections.Counter())[tuple(tgt)] += 1
            original.setdefault(tuple(src), en)
    pairs = []
    for src in sorted(by_src):
        tgt = sorted(by_src[src].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        pairs.append((list(src), list(tgt), original[src]))
    return pairs


def is_heldout(src: List[str]) -> bool:
    return int(hashlib.sha1(" ".join(src).encode()).hexdigest(), 16) % 20 == 0


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------
class Seq2Seq(nn.Module):
    def __init__(self, n_src: int, n_tgt: int):
        super().__init__()
        self.src_emb = nn.Embedding(n_src, EMB, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(n_tgt, EMB, padding_idx=PAD)
        self.encoder = nn.GRU(EMB, HID // 2, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(HID, HID)
        self.decoder = nn.GRU(EMB, HID, batch_first=True)
        self.attn = nn.Linear(HID, HID, bias=False)          # Luong "general" attention
        self.combine = nn.Linear(2 * HID, HID)
        self.out = nn.Linear(HID, n_tgt)
        self.drop = nn.Dropout(0.2)

    def encode(self, src: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        enc, h = self.encoder(self.drop(self.src_emb(src)))           # enc [B,S,HID]
        h0 = torch.tanh(self.bridge(torch.cat([h[0], h[1]], dim=-1))).unsqueeze(0)
        return enc, h0

    def attend(self, dec: torch.Tensor, enc: torch.Tensor, src_mask: torch.Tensor):
        # dec [B,T,HID], enc [B,S,HID], src_mask [B,S] (True = real token)
        scores = torch.bmm(self.attn(dec), enc.transpose(1, 2))       # [B,T,S]
        scores = scores.masked_fill(~src_mask.unsqueeze(1), -1e9)
        w = torch.softmax(scores, dim=-1)
        ctx = torch.bmm(w, enc)
        hcat = torch.tanh(self.combine(torch.cat([dec, ctx], dim=-1)))
        return self.out(self.drop(hcat)), w

    @torch.jit.unused
    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced training pass (not part of the served module)."""
        enc, h0 = self.encode(src)
        dec, _ = self.decoder(self.drop(self.tgt_emb(tgt_in)), h0)
        logits, _ = self.attend(dec, enc, src != PAD)
        return logits


class Translator(nn.Module):
    """Served module: List[str] -> List[str], tokenizer and greedy decoding inside."""

    def __init__(self, net: Seq2Seq, src_vocab: Dict[str, int], tgt_words: List[str],
                 dictionary: Dict[str, str]):
        super().__init__()
        self.net = net
        self.src_vocab = src_vocab
        self.tgt_words = tgt_words
        self.dictionary = dictionary  # English word -> Spanish word (IBM Model 1), for <unk>
        self.max_src = 48
        self.pad, self.bos, self.eos, self.unk = PAD, BOS, EOS, UNK

    def _is_ascii_word(self, w: str) -> bool:
        """Printable ASCII and short: safe (valid UTF-8) and sensible to copy to the output."""
        if len(w) > 40:
            return False
        for c in w:
            o = ord(c)
            if o < 33 or o > 126:
                return False
        return True

    def translate_one(self, text: str) -> str:
        # Input contract (models/CONVENTIONS.md): ValueError -> INVALID_ARGUMENT with this message.
        toks = tokenize_en(text)
        if len(toks) == 0:
            raise ValueError("text is empty: nothing to translate")
        if len(toks) > self.max_src:
            raise ValueError("text has {} tokens; this model translates at most {} (short UI "
                             "messages): send one sentence per element".format(len(toks),
                                                                               self.max_src))
        ids: List[int] = []
        for t in toks:
            ids.append(self.src_vocab.get(t, self.unk))
        src = torch.tensor([ids], dtype=torch.long)
        enc, h = self.net.encode(src)
        mask = torch.ones(1, len(ids), dtype=torch.bool)
        prev = self.bos
        out: List[str] = []
        used: List[int] = []
        max_len = 2 * len(ids) + 6
        for step in range(max_len):
            emb = self.net.tgt_emb(torch.tensor([[prev]], dtype=torch.long))
            dec, h = self.net.decoder(emb, h)
            logits, w = self.net.attend(dec, enc, mask)
            lg = logits[0, 0].clone()
            lg[self.pad] = -1e9
            lg[self.bos] = -1e9
            if step == 0:
                lg[self.eos] = -1e9
            elif prev != self.unk:
                lg[prev] = -1e9  # no immediate repetition ("de de", ". .")
            nxt = int(torch.argmax(lg).item())
            word = ""
            if nxt == self.unk:
                pos = int(torch.argmax(w[0, 0]).item())  # most attended source word
                src_word = toks[pos]
                fresh = not (pos in used)  # each source word is replaced at most once
                if fresh and src_word in self.dictionary:
                    word = self.dictionary[src_word]
                    used.append(pos)
                elif fresh and self._is_ascii_word(src_word):
                    word = src_word
                    used.append(pos)
                else:  # never emit a possibly invalid byte sequence: take the best real word
                    lg[self.unk] = -1e9
                    if step == 0:
                        lg[self.eos] = -1e9
                    nxt = int(torch.argmax(lg).item())
            if nxt == self.eos:
                break
            if word == "":
                word = self.tgt_words[nxt]
            out.append(word)
            prev = nxt
        return detokenize_es(out)

    def forward(self, text: List[str]) -> List[str]:
        res: List[str] = []
        with torch.no_grad():
            for s in text:
                res.append(self.translate_one(s))
        return res


# ----------------------------------------------------------------------------------------------
# metrics and baselines
# ----------------------------------------------------------------------------------------------
def corpus_bleu(hyps: List[List[str]], refs: List[List[str]], n: int = 4) -> float:
    match = [0] * n
    total = [0] * n
    hyp_len = ref_len = 0
    for h, r in zip(hyps, refs):
        hyp_len += len(h)
        ref_len += len(r)
        for k in range(1, n + 1):
            hc = collections.Counter(tuple(h[i:i + k]) for i in range(len(h) - k + 1))
            rc = collections.Counter(tuple(r[i:i + k]) for i in range(len(r) - k + 1))
            match[k - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            total[k - 1] += max(len(h) - k + 1, 0)
    if min(match) == 0 or hyp_len == 0:
        return 0.0
    logp = sum(math.log(match[k] / total[k]) for k in range(n)) / n
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100.0 * bp * math.exp(logp)


def ibm1_dictionary(pairs, iters: int = 6, min_p: float = 0.0) -> Dict[str, str]:
    """IBM Model 1 t(es|en) with a NULL English word; dictionary = argmax_es t(es|en) (kept when
    t >= min_p)."""
    t: Dict[Tuple[str, str], float] = {}
    for src, tgt in pairs:
        for f in tgt:
            for e in src + ["<null>"]:
                t[(f, e)] = 1.0
    for _ in range(iters):
        count: Dict[Tuple[str, str], float] = collections.defaultdict(float)
        total: Dict[str, float] = collections.defaultdict(float)
        for src, tgt in pairs:
            es = src + ["<null>"]
            for f in tgt:
                z = sum(t[(f, e)] for e in es)
                for e in es:
                    c = t[(f, e)] / z
                    count[(f, e)] += c
                    total[e] += c
        t = {k: v / total[k[1]] for k, v in count.items()}
    best: Dict[str, Tuple[float, str]] = {}
    for (f, e), p in t.items():
        if e != "<null>" and (e not in best or p > best[e][0]):
            best[e] = (p, f)
    return {e: f for e, (p, f) in best.items() if p >= min_p}


def apertium_bleu(test_src_text: List[str], refs: List[List[str]]):
    if shutil.which("apertium") is None:
        return None
    try:
        inp = "\n".join(s.replace("\n", " ") for s in test_src_text) + "\n"
        r = subprocess.run(["apertium", "-u", "eng-spa"], input=inp, capture_output=True,
                           text=True, timeout=120)
        outs = r.stdout.split("\n")[: len(test_src_text)]
        if r.returncode != 0 or len(outs) != len(test_src_text):
            return None
        return corpus_bleu([tokenize_es(o) for o in outs], refs)
    except Exception:
        return None


# ----------------------------------------------------------------------------------------------
def batches(data, bs, rng):
    idx = sorted(range(len(data)), key=lambda i: (len(data[i][0]), len(data[i][1]), i))
    chunks = [idx[i:i + bs] for i in range(0, len(idx), bs)]
    rng.shuffle(chunks)
    for ch in chunks:
        S = max(len(data[i][0]) for i in ch)
        T = max(len(data[i][1]) for i in ch) + 1
        src = torch.full((len(ch), S), PAD, dtype=torch.long)
        tin = torch.full((len(ch), T), PAD, dtype=torch.long)
        tout = torch.full((len(ch), T), PAD, dtype=torch.long)
        for j, i in enumerate(ch):
            s, t = data[i]
            src[j, :len(s)] = torch.tensor(s)
            tin[j, :len(t) + 1] = torch.tensor([BOS] + t)
            tout[j, :len(t) + 1] = torch.tensor(t + [EOS])
        yield src, tin, tout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--cache", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    random.seed(SEED)
    os.makedirs(args.cache, exist_ok=True)

    files = catalog_files()
    pairs = load_pairs(files)
    pkgs_used = sorted({p for p, _ in files})
    train = [(s, t) for s, t, _ in pairs if not is_heldout(s)]
    test = [(s, t) for s, t, _ in pairs if is_heldout(s)]
    test_text = [en for s, _, en in pairs if is_heldout(s)]  # original spelling, sent to the model
    log(f"{len(files)} catalogs from {len(pkgs_used)} packages: {len(pairs)} distinct short pairs, "
        f"{len(train)} train / {len(test)} held out")
    with open(os.path.join(args.cache, "pairs.tsv"), "w") as f:
        for s, t, _ in pairs:
            f.write(" ".join(s) + "\t" + " ".join(t) + "\n")

    src_count = collections.Counter(w for s, _ in train for w in s)
    tgt_count = collections.Counter(w for _, t in train for w in t)
    src_words = SPECIALS + sorted(w for w, c in src_count.items() if c >= 2)
    tgt_words = SPECIALS + sorted(w for w, c in tgt_count.items() if c >= 2)
    src_vocab = {w: i for i, w in enumerate(src_words)}
    tgt_vocab = {w: i for i, w in enumerate(tgt_words)}
    log(f"vocabulary: {len(src_words)} English, {len(tgt_words)} Spanish words")

    h = hashlib.sha256()
    h.update(open(os.path.abspath(__file__), "rb").read())
    h.update(open(os.path.join(HERE, "debian-packages"), "rb").read())
    for s, t, _ in pairs:
        h.update((" ".join(s) + "\t" + " ".join(t) + "\n").encode())
    h.update(torch.__version__.encode())
    key = h.hexdigest()[:16]
    wpath = os.path.join(args.cache, f"weights-{key}.pt")
    mpath = os.path.join(args.cache, f"metrics-{key}.json")

    dpath = os.path.join(args.cache, f"ibm1-{key}.json")
    if os.path.exists(dpath):
        dicts = json.load(open(dpath))
    else:
        full = ibm1_dictionary(train)
        dicts = {"baseline": full,
                 "unk": {e: f for e, f in ibm1_dictionary(train, min_p=UNK_DICT_MIN_P).items()}}
        with open(dpath, "w") as f:
            json.dump(dicts, f, ensure_ascii=False)
    log(f"IBM Model 1 dictionary: {len(dicts['baseline'])} entries "
        f"({len(dicts['unk'])} used for <unk> replacement)")

    net = Seq2Seq(len(src_words), len(tgt_words))
    n_params = sum(p.numel() for p in net.parameters())
    if os.path.exists(wpath):
        saved = torch.load(wpath)
        net.load_state_dict(saved["state"])
        train_seconds = saved["train_seconds"]
        train_cpu = saved.get("train_cpu_seconds")
        log(f"reusing cached weights {os.path.basename(wpath)}")
    else:
        enc = lambda s, t: ([src_vocab.get(w, UNK) for w in s], [tgt_vocab.get(w, UNK) for w in t])
        data = [enc(s, t) for s, t in train]
        if DICT_AUG:  # confident single-word dictionary entries as extra pairs
            data += [enc([e], [f]) for e, f in sorted(dicts["unk"].items())
                     if src_count[e] >= 2 and tgt_count[f] >= 2]
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
        rng = random.Random(SEED)
        t0, c0 = time.time(), time.process_time()
        for ep in range(EPOCHS):
            net.train()
            tot, ntok = 0.0, 0
            for src, tin, tout in batches(data, BATCH, rng):
                logits = net(src, tin)
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tout.reshape(-1),
                                       ignore_index=PAD, label_smoothing=0.1)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                k = int((tout != PAD).sum())
                tot += float(loss) * k
                ntok += k
            sched.step()
            log(f"epoch {ep + 1}/{EPOCHS} loss {tot / ntok:.3f} ({time.time() - t0:.0f}s wall, "
                f"{time.process_time() - c0:.0f}s cpu)")
        train_seconds = round(time.time() - t0, 1)
        train_cpu = round(time.process_time() - c0, 1)
        torch.save({"state": net.state_dict(), "train_seconds": train_seconds,
                    "train_cpu_seconds": train_cpu}, wpath + ".tmp")
        os.replace(wpath + ".tmp", wpath)
    net.eval()

    os.makedirs(os.path.join(args.out, "1"), exist_ok=True)
    torch.jit.script(Translator(net, src_vocab, tgt_words, dicts["unk"])).save(
        os.path.join(args.out, "1", "model.pt"))
    module = torch.jit.load(os.path.join(args.out, "1", "model.pt"))  # evaluate what is served
    shutil.copy(os.path.join(HERE, "config.pbtxt"), os.path.join(args.out, "config.pbtxt"))

    if os.path.exists(mpath):
        m = json.load(open(mpath))
    else:
        refs = [t for _, t in test]
        t0 = time.time()
        hyps_txt = module(test_text)
        hyps = [tokenize_es(x) for x in hyps_txt]
        bleu = corpus_bleu(hyps, refs)
        log(f"held-out greedy decoding: {time.time() - t0:.1f}s for {len(test)} sentences")
        dic = dicts["baseline"]
        base = [[dic.get(w, w) for w in s] for s, _ in test]
        base_bleu = corpus_bleu(base, refs)
        ap_bleu = apertium_bleu(test_text, refs)
        examples = [{"en": test_text[i], "model": hyps_txt[i], "reference": " ".join(refs[i])}
                    for i in range(0, len(test), max(1, len(test) // 8))][:8]
        m = {
            "task": "English -> Spanish translation (short software/UI messages)",
            "data_source": "Spanish gettext catalogs (msgid -> msgstr) shipped in Debian packages: "
                           + ", ".join(pkgs_used),
            "licence": "GPL/LGPL-family free-software translations (per package, see "
                       "/usr/share/doc/<package>/copyright)",
            "train_samples": len(train),
            "heldout_samples": len(test),
            "architecture": f"word-level GRU encoder-decoder (bi-GRU {HID // 2}x2 encoder, GRU {HID} "
                            f"decoder, Luong attention), greedy decoding; <unk> replaced by the "
                            f"most attended source word, translated by the IBM-1 dictionary or "
                            f"copied when printable ASCII",
            "parameters": n_params,
            "src_vocab": len(src_words),
            "tgt_vocab": len(tgt_words),
            "metric": "bleu",
            "value": round(bleu, 2),
            "baseline": "word-by-word dictionary (IBM Model 1 on the training pairs)",
            "baseline_value": round(base_bleu, 2),
            "apertium_bleu": None if ap_bleu is None else round(ap_bleu, 2),
            "train_seconds": train_seconds,
            "train_cpu_seconds": train_cpu,
            "hyperparameters": {"emb": EMB, "hidden": HID, "epochs": EPOCHS, "batch": BATCH,
                                "lr": LR, "dictionary_pairs_added": DICT_AUG,
                                "unk_dictionary_min_p": UNK_DICT_MIN_P},
            "examples": examples,
        }
        with open(mpath, "w") as f:
            json.dump(m, f, indent=1, ensure_ascii=False)
    log(f"held-out BLEU {m['value']} vs dictionary baseline {m['baseline_value']} "
        f"(apertium {m['apertium_bleu']})")
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(m, f, indent=1, ensure_ascii=False)

    os.makedirs(args.eval, exist_ok=True)
    ev = test_text[:500]
    with open(os.path.join(args.eval, "text.json"), "w") as f:
        json.dump([[s] for s in ev], f, ensure_ascii=False)
    with open(os.path.join(args.eval, "spec.json"), "w") as f:
        json.dump({"model": NAME, "count": len(ev), "inputs": {"text": "text.json"},
                   "metric": "nonempty_utf8", "output": "translation"}, f, indent=1)
    log(f"wrote {args.out}/1/model.pt and {len(ev)} eval rows")


if __name__ == "__main__":
    main()
