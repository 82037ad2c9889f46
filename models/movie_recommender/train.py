#!/usr/bin/python3
"""Movie recommendation + user-interest analysis on r-cran-dslabs `movielens`.

forward(user_id [B,1] int64) -> {"item_ids": [B,10] int64 (movieIds the user has not rated in
training, best first), "scores": [B,10] fp32 (probability of each item being the user's next
one: softmax of the ranking head over the items not yet rated), "interests": [B,G] fp32 (the
user's genre affinity index: the share of each genre in the user's predicted next-movie
distribution over all movies, divided by the average user's share; 1 = average interest,
2 = twice as interested; labels in genres.txt), "titles": [B,10] BYTES (the title of each of
item_ids)}, returned as a tuple in config order. user_id 0 (MovieLens ids start at 1) asks for an
anonymous user: the most popular movies (training rating counts) and an affinity of 1 for every
genre. Any other id that is not a known user raises ValueError (INVALID_ARGUMENT, see
models/CONVENTIONS.md) instead of a made-up answer.
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no busy-waiting threads on shared cores
import argparse
import json
import shutil
import sys
from typing import List, Tuple

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import movielens as ml  # noqa: E402

NAME = "movie_recommender"
K = 10
N_GENRES = 20  # must match config.pbtxt


class Recommender(torch.nn.Module):
    def __init__(self, d, f, genre_w: torch.Tensor, genre_avg: torch.Tensor):
        super().__init__()
        self.titles: List[str] = list(d.titles)  # by item row, like item_ids
        self.n_known = len(d.users)
        max_uid = max(d.users)
        user_row = torch.full((max_uid + 1,), -1, dtype=torch.long)
        user_row[torch.tensor(d.users)] = torch.arange(d.U)
        self.register_buffer("user_row", user_row)
        self.register_buffer("item_ids", torch.tensor(d.items, dtype=torch.long))
        # rated training items per user, CSR
        order = torch.argsort(d.tu * d.I + d.ti)
        self.register_buffer("rated_items", d.ti[order].clone())
        ptr = torch.zeros(d.U + 1, dtype=torch.long)
        ptr[1:] = torch.cumsum(torch.bincount(d.tu, minlength=d.U), 0)
        self.register_buffer("rated_ptr", ptr)
        self.register_buffer("P2", f["P2"])
        self.register_buffer("Q2", f["Q2"])
        self.register_buffer("c", f["c"])
        pop = d.item_count / d.item_count.sum()
        self.register_buffer("pop_logp", torch.log(pop + 1e-9))
        self.register_buffer("genre_w", genre_w)          # [G, I], columns sum to 1
        self.register_buffer("genre_avg", genre_avg)      # [G], the average user's shares
        self.k = K

    def forward(self, user_id: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, List[str]]:
        ids = user_id.reshape(-1).to(torch.long)
        B = ids.size(0)
        titles: List[str] = []
        out_items = torch.zeros(B, self.k, dtype=torch.long)
        out_scores = torch.zeros(B, self.k, dtype=torch.float32)
        interests = torch.zeros(B, self.genre_w.size(0), dtype=torch.float32)
        n_users = self.user_row.size(0)
        for b in range(B):
            uid = int(ids[b].item())
            row = -1
            if uid > 0 and uid < n_users:
                row = int(self.user_row[uid].item())
            if row < 0 and uid != 0:
                raise ValueError("user_id {} is not a known user ({} MovieLens users, ids 1..{}); "
                                 "0 asks for the most popular movies".format(uid, self.n_known,
                                                                             n_users - 1))
            if row >= 0:
                logits = self.c + self.Q2 @ self.P2[row]
                interests[b] = (self.genre_w @ torch.softmax(logits, dim=0)) / self.genre_avg
                rated = self.rated_items[int(self.rated_ptr[row].item()):
                                         int(self.rated_ptr[row + 1].item())]
                logits = logits.index_fill(0, rated, float("-inf"))
            else:  # unknown user: popularity
                logits = self.pop_logp
                interests[b] = torch.ones_like(self.genre_avg)
            probs = torch.softmax(logits, dim=0)
            top = torch.topk(probs, self.k)
            out_items[b] = self.item_ids[top.indices]
            out_scores[b] = top.values
            rows: List[int] = top.indices.tolist()
            for i in rows:
                titles.append(self.titles[i])
        return out_items, out_scores, interests, titles


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--cache", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)

    d = ml.load(args.cache, NAME)
    assert len(d.genres) == N_GENRES, d.genres
    ml.log(NAME, f"{d.n_ratings} ratings, {d.U} users, {d.I} movies, {len(d.genres)} genres; "
                 f"{len(d.tr)} train / {len(d.er)} held out (last {ml.HOLDOUT} per user)")
    f = ml.factorize(d, args.cache, NAME)

    # item -> genre shares (an item with n genres gives 1/n to each): [G, I]
    genre_w = (d.item_genres / d.item_genres.sum(1, keepdim=True).clamp(min=1)).T.contiguous()
    with torch.no_grad():
        all_probs = torch.softmax(f["c"][None, :] + f["P2"] @ f["Q2"].T, dim=1)   # [U, I]
        genre_avg = (all_probs @ genre_w.T).mean(0).clamp(min=1e-9)              # [G]

    with torch.no_grad():
        mu = d.tr.mean()
        pred = (f["mu"] + f["bu"][d.eu] + f["bi"][d.ei] + (f["P"][d.eu] * f["Q"][d.ei]).sum(1))
        rmse = float(((pred.clamp(0.5, 5) - d.er) ** 2).mean().sqrt())
        rmse_mean = float(((mu - d.er) ** 2).mean().sqrt())
        item_mean = torch.zeros(d.I).index_add_(0, d.ti, d.tr) / d.item_count.clamp(min=1)
        item_mean[d.item_count == 0] = mu
        rmse_item = float(((item_mean[d.ei] - d.er) ** 2).mean().sqrt())
        S = f["c"][None, :] + f["P2"] @ f["Q2"].T
        hr, recall = ml.hit_rate(d, S)
        hr_pop, recall_pop = ml.hit_rate(d, d.item_count[None, :].expand(d.U, d.I).clone())
    ml.log(NAME, f"held-out RMSE {rmse:.4f} (global mean {rmse_mean:.4f}, item mean {rmse_item:.4f}); "
                 f"hit-rate@10 {hr:.3f} (popularity {hr_pop:.3f})")

    module = torch.jit.script(Recommender(d, f, genre_w, genre_avg).eval())
    os.makedirs(os.path.join(args.out, "1"), exist_ok=True)
    module.save(os.path.join(args.out, "1", "model.pt"))
    # the saved file must load and answer like the served model (known and unknown users)
    loaded = torch.jit.load(os.path.join(args.out, "1", "model.pt"))
    items, _, interests, titles = loaded(torch.tensor([[d.users[0]], [0]], dtype=torch.long))
    assert items.shape == (2, K) and interests.shape == (2, N_GENRES) and len(titles) == 2 * K
    assert titles[0] == d.titles[d.items.index(int(items[0, 0]))]
    try:  # unknown users are refused, not answered with a made-up list
        loaded(torch.tensor([[max(d.users) + 1]], dtype=torch.long))
        raise AssertionError("an unknown user_id was accepted")
    except torch.jit.Error as e:
        assert "not a known user" in str(e), e
    shutil.copy(os.path.join(HERE, "config.pbtxt"), os.path.join(args.out, "config.pbtxt"))
    with open(os.path.join(args.out, "genres.txt"), "w") as fh:
        fh.write("\n".join(d.genres) + "\n")

    n_params = sum(int(f[k].numel()) for k in ("P", "Q", "bu", "bi", "P2", "Q2", "c", "mu"))
    m = {
        "task": "movie recommendation (top 10 unrated) + user genre interests",
        "data_source": "r-cran-dslabs movielens (MovieLens latest-small subset: "
                       f"{d.n_ratings} ratings, {d.U} users, {d.I} movies), exported with Rscript",
        "licence": "dslabs: GPL-2/GPL-3; MovieLens data: GroupLens research licence "
                   "(non-commercial use; not redistributed here)",
        "train_samples": len(d.tr),
        "heldout_samples": len(d.er),
        "architecture": f"matrix factorization with biases (dim {ml.DIM}, MSE) for ratings (RMSE) + "
                        f"implicit MF with item biases (dim {ml.DIM}, softmax over items) for "
                        f"ranking and interests (the served head)",
        "parameters": n_params,
        "metric": "rmse",
        "value": round(rmse, 4),
        "baseline": "global mean rating",
        "baseline_value": round(rmse_mean, 4),
        "rmse_item_mean_baseline": round(rmse_item, 4),
        "hit_rate_at_10": round(hr, 4),
        "hit_rate_at_10_popularity_baseline": round(hr_pop, 4),
        "recall_at_10": round(recall, 4),
        "recall_at_10_popularity_baseline": round(recall_pop, 4),
        "heldout_definition": f"each user's last {ml.HOLDOUT} ratings by timestamp",
        "train_seconds": round(float(f["train_seconds"][0]), 1),
        "train_cpu_seconds": round(float(f["train_cpu_seconds"][0]), 1),
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as fh:
        json.dump(m, fh, indent=1)

    # eval set: 499 known users + the anonymous id 0; exclude = the user's rated training items
    os.makedirs(args.eval, exist_ok=True)
    rows, excl = [], []
    for u in d.users[:499]:
        r = d.uidx[u]
        rows.append(u)
        excl.append(sorted(d.items[i] for i in d.ti[d.tu == r].tolist()))
    rows.append(0)
    excl.append([])
    np.save(os.path.join(args.eval, "user_id.npy"), np.array(rows, dtype="<i8").reshape(-1, 1))
    with open(os.path.join(args.eval, "exclude.json"), "w") as fh:
        json.dump(excl, fh)
    with open(os.path.join(args.eval, "spec.json"), "w") as fh:
        json.dump({"model": NAME, "count": len(rows), "inputs": {"user_id": "user_id.npy"},
                   "metric": "exclude_rated", "output": "item_ids", "exclude": "exclude.json",
                   "k": K}, fh, indent=1)
    ml.log(NAME, f"wrote {args.out}/1/model.pt and {len(rows)} eval rows")


if __name__ == "__main__":
    main()
