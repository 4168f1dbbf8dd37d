#!/usr/bin/env python3
"""The default towerstream training step written in eager PyTorch, as a Python user would.

What trainer_bench measures in C++ (TwoTowerModel::Train), here the way a PyTorch user writes
it: nn.Embedding(sparse=True) tables trained by optim.Adagrad, 20 recent purchases pooled by
a masked mean, MLP towers with L2-normalised outputs trained by Adam, a streaming logQ
estimate (Yi et al. 2019) and the in-batch softmax with accidental hits masked. The ids are
already dense indices (a Python user maps them offline; towerstream maps them as they arrive),
and every batch is copied from pinned host memory. Prints examples/s and peak GPU memory for
each --batch given. scripts/gpu-bench runs it on a lent GPU machine beside trainer_bench.

usage: bench/eager_two_tower.py [--device cuda] [--batch 4096,16384] [--seconds 2]
"""
import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DIM, FIELD_DIM, HIDDEN, HISTORY, TEMPERATURE = 64, 16, 128, 20, 0.05
QUERY_BUCKETS = [16, 16, 16, 16, 4096, 16]  # club, news, FN, Active, postal code, channel
ITEM_BUCKETS = [16384] + [1024] * 11  # product code, then the other article codes
DENSE = 13  # age, age missing, month sin/cos, history size, 8 age bands


class Estimator:
    """Streaming item frequency (algorithm 2 of Yi et al.) over hashed buckets."""

    def __init__(self, buckets, alpha, device):
        self.buckets, self.alpha = buckets, alpha
        self.last = torch.full((buckets,), -1, dtype=torch.long, device=device)
        self.gap = torch.full((buckets,), 100.0, dtype=torch.double, device=device)

    def update(self, ids, step):
        b, counts = torch.unique(ids % self.buckets, return_counts=True)
        last, gap = self.last[b], self.gap[b]
        after = torch.where(last >= 0, gap * (1 - self.alpha) + (step - last) * self.alpha, gap)
        self.gap[b] = after * (1 - self.alpha) ** (counts - 1).double()
        self.last[b] = step

    def log_p(self, ids):
        return -torch.log(self.gap[ids % self.buckets].clamp(1e-3, 1e9)).float()


def mlp(inputs):
    return nn.Sequential(nn.Linear(inputs, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, DIM))


class TwoTower(nn.Module):
    def __init__(self, customers, articles):
        super().__init__()
        self.customer = nn.Embedding(customers, DIM, sparse=True)
        self.article = nn.Embedding(articles + 1, DIM, sparse=True, padding_idx=articles)
        self.query_codes = nn.ModuleList(nn.Embedding(b, FIELD_DIM, sparse=True) for b in QUERY_BUCKETS)
        self.item_codes = nn.ModuleList(nn.Embedding(b, FIELD_DIM, sparse=True) for b in ITEM_BUCKETS)
        self.query_tower = mlp(2 * DIM + DENSE + len(QUERY_BUCKETS) * FIELD_DIM)
        self.item_tower = mlp(DIM + len(ITEM_BUCKETS) * FIELD_DIM)
        self.padding = articles

    def forward(self, customer, article, recent, dense, qcodes, icodes, log_q):
        mask = (recent != self.padding).unsqueeze(-1).float()
        pooled = (self.article(recent) * mask).sum(1) / mask.sum(1).clamp_min(1)
        q_fields = [e(qcodes[:, k] % e.num_embeddings) for k, e in enumerate(self.query_codes)]
        i_fields = [e(icodes[:, k] % e.num_embeddings) for k, e in enumerate(self.item_codes)]
        query = F.normalize(self.query_tower(torch.cat([self.customer(customer), pooled, dense] + q_fields, 1)), dim=1)
        item = F.normalize(self.item_tower(torch.cat([self.article(article)] + i_fields, 1)), dim=1)
        logits = query @ item.T / TEMPERATURE - log_q.unsqueeze(0)
        same = article.unsqueeze(1) == article.unsqueeze(0)
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
        return F.cross_entropy(logits, torch.arange(len(article), device=logits.device))


def skewed(rng, n, power, size):
    return np.minimum(n - 1, (rng.random(size) ** power * n).astype(np.int64))


def make_batches(rng, batch, customers, articles, count, pin):
    product = np.arange(articles) // 3
    codes = np.concatenate([product[:, None], rng.integers(0, 200, (articles, 11)) * 7 + np.arange(1, 12)], 1)
    out = []
    for _ in range(count):
        customer = skewed(rng, customers, 2.0, batch)
        article = skewed(rng, articles, 3.0, batch)
        recent = skewed(rng, articles, 3.0, (batch, HISTORY))
        recent[rng.integers(0, HISTORY + 1, batch) == 0] = articles  # no history yet
        dense = rng.standard_normal((batch, DENSE)).astype(np.float32)
        qcodes = np.stack([customer % 3 + 1, customer % 3 + 1, customer % 2 + 1, customer % 2 + 1,
                           customer // 4, customer % 2 + 1], 1)
        tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in
                   (customer, article, recent, dense, qcodes, codes[article])]
        out.append([t.pin_memory() if pin else t for t in tensors])
    return out


def measure(args, batch):
    device = torch.device(args.device)
    torch.manual_seed(1)
    model = TwoTower(args.customers, args.articles).to(device)
    sparse = [p for n, p in model.named_parameters() if "tower" not in n]
    dense = [p for n, p in model.named_parameters() if "tower" in n]
    adagrad, adam = torch.optim.Adagrad(sparse, lr=0.05), torch.optim.Adam(dense, lr=2e-3)
    estimator = Estimator(1 << 20, 0.1, device)
    batches = make_batches(np.random.default_rng(7), batch, args.customers, args.articles, 8, device.type == "cuda")
    step = 0

    def train(host):
        nonlocal step
        customer, article, recent, dense_x, qcodes, icodes = (t.to(device, non_blocking=True) for t in host)
        estimator.update(article, step)
        loss = model(customer, article, recent, dense_x, qcodes, icodes, estimator.log_p(article))
        adagrad.zero_grad()
        adam.zero_grad()
        loss.backward()
        adagrad.step()
        adam.step()
        step += 1
        return loss

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for i in range(5):
        train(batches[i % len(batches)])
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        loss = train(batches[done % len(batches)])
        done += 1
    sync()
    elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    return done * batch / elapsed, peak, loss.item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", default="4096", help="comma-separated batch sizes")
    parser.add_argument("--customers", type=int, default=1371980)
    parser.add_argument("--articles", type=int, default=105542)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"eager_two_tower torch={torch.__version__} device={args.device} "
          f"customers={args.customers} articles={args.articles}")
    for batch in (int(b) for b in args.batch.split(",")):
        try:
            rate, peak, loss = measure(args, batch)
            print(f"  eager PyTorch batch={batch}: {rate:12.0f} examples/s, "
                  f"peak GPU memory {peak / 1e9:.2f} GB, last loss {loss:.3f}", flush=True)
        except torch.OutOfMemoryError:
            print(f"  eager PyTorch batch={batch}: out of GPU memory", flush=True)
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
