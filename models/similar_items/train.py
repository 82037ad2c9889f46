#!/usr/bin/python3
"""Content-based similar movies on r-cran-dslabs `movielens` (cold-start content recommendation).

Item representation: x_i = [sqrt(A) * genres_i / |genres_i|,  conf_i * q_i / |q_i|] where q_i is
the item embedding learned by the movie_recommender ranking head and conf_i = n_i / (n_i + C)
shrinks it for items with few training ratings, so that cold items (no ratings) are matched on
genres alone. Shared code: movielens.py, a symlink to models/movie_recommender/movielens.py (so
that the zoo's build stamp of this model follows it); shared cache: models/.cache/movie_recommender.
similarity(i, j) = x_i . x_j + B * popularity_j (log count, scaled to [0, 1]).

forward(item_id [B,1] int64 movieId) -> (item_ids [B,10] int64 (the query item excluded),
titles [B,10] BYTES (their titles)). item_id 0 (MovieLens ids start at 1) asks for the most
popular movies; any other id that is not a known movie raises ValueError (INVALID_ARGUMENT, see
models/CONVENTIONS.md).
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no busy-waiting threads on shared cores
import argparse
import json
import shutil
import sys
import time

from typing import List, Tuple

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import movielens as ml  # noqa: E402  (symlink to ../movie_recommender/movielens.py, shared code)

NAME = "similar_items"
K = 10
A, B, C = 0.3, 0.1, 5.0


class SimilarItems(torch.nn.Module):
    def __init__(self, item_ids: torch.Tensor, feats: torch.Tensor, pop: torch.Tensor,
                 titles: List[str]):
        super().__init__()
        self.titles: List[str] = list(titles)  # by item row, like item_ids
        max_id = int(item_ids.max())
        row = torch.full((max_id + 1,), -1, dtype=torch.long)
        row[item_ids] = torch.arange(item_ids.numel())
        self.register_buffer("item_row", row)
        self.register_buffer("item_ids", item_ids.clone())
        self.register_buffer("feats", feats)
        self.register_buffer("pop", pop)
        self.k = K

    def forward(self, item_id: torch.Tensor) -> Tuple[torch.Tensor, List[str]]:
        ids = item_id.reshape(-1).to(torch.long)
        out = torch.zeros(ids.size(0), self.k, dtype=torch.long)
        titles: List[str] = []
        n = self.item_row.size(0)
        for b in range(ids.size(0)):
            q = int(ids[b].item())
            row = -1
            if q > 0 and q < n:
                row = int(self.item_row[q].item())
            if row < 0 and q != 0:
                raise ValueError("item_id {} is not a known movie ({} MovieLens movieIds); 0 asks "
                                 "for the most popular movies".format(q, self.item_ids.size(0)))
            if row >= 0:
                s = self.feats @ self.feats[row] + self.pop
                s[row] = float("-inf")
            else:
                s = self.pop.clone()
            top = torch.topk(s, self.k).indices
            out[b] = self.item_ids[top]
            rows: List[int] = top.tolist()
            for i in rows:
                titles.append(self.titles[i])
        return out, titles


def next_item_hit_rate(d, scores_fn) -> float:
    q = torch.tensor(d.last_train_item)
    S = scores_fn(q)
    S[torch.arange(d.U), q] = float("-inf")
    top = S.topk(K, dim=1).indices
    return sum(len(set(top[u].tolist()) & d.test_sets[u]) > 0 for u in range(d.U)) / d.U


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--cache", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    t0 = time.time()

    # the data and factors are the movie_recommender's (same code, same cache when it exists)
    rec_cache = os.path.join(os.path.dirname(os.path.abspath(args.cache)), "movie_recommender")
    d = ml.load(rec_cache, NAME)
    f = ml.factorize(d, rec_cache, NAME)

    g = d.item_genres / d.item_genres.norm(dim=1, keepdim=True).clamp(min=1e-6)
    e = f["Q2"] / f["Q2"].norm(dim=1, keepdim=True).clamp(min=1e-6)
    conf = d.item_count / (d.item_count + C)
    feats = torch.cat([g * A ** 0.5, e * conf[:, None]], dim=1)
    pop = torch.log1p(d.item_count)
    pop = B * pop / pop.max()
    with torch.no_grad():
        hr = next_item_hit_rate(d, lambda q: feats[q] @ feats.T + pop)
        hr_pop = next_item_hit_rate(d, lambda q: pop.expand(len(q), d.I).clone())
        hr_genre = next_item_hit_rate(d, lambda q: g[q] @ g.T + pop)
        # cold items: no training ratings; their neighbours' genre overlap (Jaccard)
        cold = torch.nonzero(d.item_count == 0).reshape(-1)
        gb = d.item_genres > 0
        S = feats[cold] @ feats.T + pop
        S[torch.arange(len(cold)), cold] = float("-inf")
        top = S.topk(K, dim=1).indices
        inter = (gb[cold][:, None, :] & gb[top]).sum(-1).float()
        union = (gb[cold][:, None, :] | gb[top]).sum(-1).float().clamp(min=1)
        cold_jaccard = float((inter / union).mean()) if len(cold) else 0.0
    ml.log(NAME, f"next-item hit-rate@10 {hr:.3f} (popularity {hr_pop:.3f}, genres only "
                 f"{hr_genre:.3f}); {len(cold)} cold items, neighbour genre Jaccard {cold_jaccard:.2f}")

    module = torch.jit.script(SimilarItems(torch.tensor(d.items), feats, pop, d.titles).eval())
    os.makedirs(os.path.join(args.out, "1"), exist_ok=True)
    module.save(os.path.join(args.out, "1", "model.pt"))
    loaded = torch.jit.load(os.path.join(args.out, "1", "model.pt"))
    check, titles = loaded(torch.tensor([[d.items[0]], [0]], dtype=torch.long))  # known, anonymous
    assert check.shape == (2, K) and check.dtype == torch.long and len(titles) == 2 * K
    assert titles[0] == d.titles[d.items.index(int(check[0, 0]))]
    try:  # unknown ids are refused, not answered with a made-up list
        loaded(torch.tensor([[max(d.items) + 1]], dtype=torch.long))
        raise AssertionError("an unknown item_id was accepted")
    except torch.jit.Error as e:
        assert "not a known movie" in str(e), e
    shutil.copy(os.path.join(HERE, "config.pbtxt"), os.path.join(args.out, "config.pbtxt"))
    m = {
        "task": "similar movies (content-based, cold-start capable)",
        "data_source": f"r-cran-dslabs movielens ({d.n_ratings} ratings, {d.I} movies with genres), "
                       "exported with Rscript",
        "licence": "dslabs: GPL-2/GPL-3; MovieLens data: GroupLens research licence "
                   "(non-commercial use; not redistributed here)",
        "train_samples": len(d.tr),
        "heldout_samples": d.U,
        "architecture": f"cosine similarity over [genres (weight {A}), learned item embedding "
                        f"(movie_recommender ranking head, dim {ml.DIM}) x n/(n+{C:g})] + "
                        f"{B} x log-popularity",
        "parameters": int(feats.numel() + pop.numel()),
        "metric": "next_item_hit_rate_at_10",
        "metric_definition": "query = the user's last training movie; hit if any of the 10 "
                             f"similar movies is among the user's {ml.HOLDOUT} held-out movies",
        "value": round(hr, 4),
        "baseline": "most popular movies",
        "baseline_value": round(hr_pop, 4),
        "genres_only_value": round(hr_genre, 4),
        "cold_items": int(len(cold)),
        "cold_item_neighbour_genre_jaccard": round(cold_jaccard, 3),
        "train_seconds": round(time.time() - t0, 1),
        "note": "item embeddings come from the movie_recommender factorization (shared cache)",
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as fh:
        json.dump(m, fh, indent=1)

    # eval set: the 491 most rated movies, 8 cold ones, the anonymous id 0; exclude = the query
    os.makedirs(args.eval, exist_ok=True)
    order = torch.argsort(-d.item_count, stable=True).tolist()
    rows = [d.items[i] for i in order[:491]] + [d.items[i] for i in cold.tolist()[:8]]
    rows += [0]
    np.save(os.path.join(args.eval, "item_id.npy"), np.array(rows, dtype="<i8").reshape(-1, 1))
    with open(os.path.join(args.eval, "exclude.json"), "w") as fh:
        json.dump([[r] for r in rows], fh)
    with open(os.path.join(args.eval, "spec.json"), "w") as fh:
        json.dump({"model": NAME, "count": len(rows), "inputs": {"item_id": "item_id.npy"},
                   "metric": "exclude_rated", "output": "item_ids", "exclude": "exclude.json",
                   "k": K}, fh, indent=1)
    ml.log(NAME, f"wrote {args.out}/1/model.pt and {len(rows)} eval rows")


if __name__ == "__main__":
    main()
