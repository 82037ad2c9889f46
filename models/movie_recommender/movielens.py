"""MovieLens (r-cran-dslabs `movielens`, 100,004 ratings) data preparation and matrix factorization,
shared by `movie_recommender` and `similar_items` (which reuses the learned item embeddings).

Nothing here is committed data: the ratings are exported with Rscript into the cache dir at build
time, and the trained factors are cached next to them.

Split: each user's last HOLDOUT ratings (by timestamp, then movie id) are held out.
Model (two heads trained jointly, full batch):
  rating:  r_hat(u, i) = mu + b_u + b_i + p_u . q_i        (MSE + L2, "MF with biases")
  ranking: s(u, i)     = c_i + p'_u . q'_i                  (multinomial log-likelihood of the
                                                             user's training items, softmax over
                                                             all items: implicit-feedback MF)
"""
import csv
import hashlib
import os
import subprocess
import time
from typing import Dict, List

import torch

HOLDOUT = 5
DIM = 32
ITERS = 70
LR = 0.05
WD_RATING = 0.15
WD_BIAS = 0.01
WD_RANK = 0.01
RANK_WEIGHT = 1.0
SEED = 7
CODE_VERSION = "mf-v1"

EXPORT_R = r'''
suppressMessages(library(dslabs))
data(movielens)
m <- movielens
m$genres <- as.character(m$genres)
write.csv(m[, c("userId", "movieId", "rating", "timestamp", "year", "genres", "title")],
          OUTFILE, row.names = FALSE)
'''


def log(name, *a):
    print(f"[{name}]", *a, flush=True)


def export_csv(cache: str, name: str) -> str:
    path = os.path.join(cache, "movielens.csv")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        tmp = path + f".tmp{os.getpid()}"
        script = EXPORT_R.replace("OUTFILE", '"' + tmp + '"')
        subprocess.run(["Rscript", "-e", script], check=True)
        os.replace(tmp, path)
        log(name, f"exported r-cran-dslabs movielens to {path}")
    return path


class Data:
    pass


def load(cache: str, name: str) -> Data:
    path = export_csv(cache, name)
    rows = list(csv.DictReader(open(path, newline="", encoding="utf-8")))
    d = Data()
    d.csv_sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    by_user: Dict[int, list] = {}
    item_info: Dict[int, tuple] = {}
    for r in rows:
        u, m = int(r["userId"]), int(r["movieId"])
        by_user.setdefault(u, []).append((int(r["timestamp"]), m, float(r["rating"])))
        year = int(r["year"]) if r["year"] not in ("", "NA") else 0
        item_info[m] = (r["genres"].split("|"), year, r["title"])
    d.users = sorted(by_user)                       # raw user ids
    d.items = sorted(item_info)                     # raw movie ids
    d.uidx = {u: i for i, u in enumerate(d.users)}
    d.iidx = {m: i for i, m in enumerate(d.items)}
    d.genres = sorted({g for gs, _, _ in item_info.values() for g in gs})
    gidx = {g: i for i, g in enumerate(d.genres)}
    d.item_genres = torch.zeros(len(d.items), len(d.genres))
    d.item_year = torch.zeros(len(d.items))
    d.titles = []
    for m in d.items:
        gs, year, title = item_info[m]
        for g in gs:
            d.item_genres[d.iidx[m], gidx[g]] = 1.0
        d.item_year[d.iidx[m]] = float(year)
        d.titles.append(title)
    train, test = [], []
    for u in d.users:
        hist = sorted(by_user[u])
        for ts, m, r in hist[:-HOLDOUT]:
            train.append((d.uidx[u], d.iidx[m], r))
        for ts, m, r in hist[-HOLDOUT:]:
            test.append((d.uidx[u], d.iidx[m], r))
    d.n_ratings = len(rows)
    d.tu = torch.tensor([a for a, _, _ in train])
    d.ti = torch.tensor([b for _, b, _ in train])
    d.tr = torch.tensor([c for _, _, c in train])
    d.eu = torch.tensor([a for a, _, _ in test])
    d.ei = torch.tensor([b for _, b, _ in test])
    d.er = torch.tensor([c for _, _, c in test])
    d.U, d.I = len(d.users), len(d.items)
    d.rated = torch.zeros(d.U, d.I, dtype=torch.bool)
    d.rated[d.tu, d.ti] = True
    d.item_count = torch.bincount(d.ti, minlength=d.I).float()
    d.test_sets: List[set] = [set() for _ in range(d.U)]
    for a, b, _ in test:
        d.test_sets[a].add(b)
    d.last_train_item = [0] * d.U
    for u in d.users:
        hist = sorted(by_user[u])[:-HOLDOUT]
        d.last_train_item[d.uidx[u]] = d.iidx[hist[-1][1]]
    return d


def factorize(d: Data, cache: str, name: str) -> Dict[str, torch.Tensor]:
    """Train (or load from the cache) both heads. Returns the factors and train_seconds."""
    key = hashlib.sha256((d.csv_sha + CODE_VERSION + open(__file__).read() +
                          torch.__version__).encode()).hexdigest()[:16]
    path = os.path.join(cache, f"mf-{key}.pt")
    if os.path.exists(path):
        log(name, f"reusing cached factors {os.path.basename(path)}")
        return torch.load(path)
    torch.manual_seed(SEED)
    U, I = d.U, d.I
    mask = d.rated.float()
    R = torch.zeros(U, I)
    R[d.tu, d.ti] = d.tr
    n = mask.sum()
    row_n, col_n = mask.sum(1), mask.sum(0)
    mu = d.tr.mean()
    P = torch.nn.Parameter(0.1 * torch.randn(U, DIM))
    Q = torch.nn.Parameter(0.1 * torch.randn(I, DIM))
    bu = torch.nn.Parameter(torch.zeros(U, 1))
    bi = torch.nn.Parameter(torch.zeros(1, I))
    P2 = torch.nn.Parameter(0.1 * torch.randn(U, DIM))
    Q2 = torch.nn.Parameter(0.1 * torch.randn(I, DIM))
    c = torch.nn.Parameter(torch.zeros(1, I))
    opt = torch.optim.Adam([P, Q, bu, bi, P2, Q2, c], lr=LR)
    t0, c0 = time.time(), time.process_time()
    for it in range(ITERS):
        err = (mu + bu + bi + P @ Q.T - R) * mask
        mse = (err * err).sum() / n
        reg = WD_RATING * (((P * P).sum(1) @ row_n) + ((Q * Q).sum(1) @ col_n)) / n \
            + WD_BIAS * (((bu * bu)[:, 0] @ row_n) + ((bi * bi)[0] @ col_n)) / n
        nll = -(torch.log_softmax(P2 @ Q2.T + c, dim=1) * mask).sum() / n
        reg2 = WD_RANK * ((P2 * P2).sum() + (Q2 * Q2).sum()) / U
        loss = mse + reg + RANK_WEIGHT * (nll + reg2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (it + 1) % 10 == 0:
            log(name, f"MF iteration {it + 1}/{ITERS}: train mse {float(mse):.3f}, "
                      f"rank nll {float(nll):.3f} ({time.time() - t0:.0f}s wall, "
                      f"{time.process_time() - c0:.0f}s cpu)")
    f = {k: v.detach().clone() for k, v in
         dict(P=P, Q=Q, bu=bu[:, 0], bi=bi[0], P2=P2, Q2=Q2, c=c[0]).items()}
    f["mu"] = mu.reshape(1)
    f["train_seconds"] = torch.tensor([time.time() - t0])
    f["train_cpu_seconds"] = torch.tensor([time.process_time() - c0])
    os.makedirs(cache, exist_ok=True)
    torch.save(f, path + f".tmp{os.getpid()}")
    os.replace(path + f".tmp{os.getpid()}", path)
    return f


def hit_rate(d: Data, scores: torch.Tensor, k: int = 10):
    """scores [U, I]; rated training items are excluded. Returns (hit rate, recall)."""
    top = scores.masked_fill(d.rated, float("-inf")).topk(k, dim=1).indices
    hits = found = 0
    for u in range(d.U):
        n = len(set(top[u].tolist()) & d.test_sets[u])
        hits += n > 0
        found += n
    return hits / d.U, found / sum(len(s) for s in d.test_sets)
