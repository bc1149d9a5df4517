#!/usr/bin/env python3
"""PyTorch eager reference for `circuit bench`: the same shapes and operations, so the bench table can show
TorchSharp / PyTorch ratios. Runs where Python and PyTorch exist (not needed for CircuitDsl itself).

    python3 bench/pytorch_reference.py [--threads 2] [--json reports/bench/pytorch.json]

Beware: Debian's python3-torch links the reference (netlib) BLAS by default, 14-20x slower than OpenBLAS; install
libopenblas0 (update-alternatives --config libblas.so.3-x86_64-linux-gnu) or the comparison flatters CircuitDsl.
Shape: GPT-2 small (12 layers, 12 heads, d 768, vocab 50257), T = 16, one pair, all 144 heads, 48-row chunks.
"""
import argparse, json, math, statistics, time

import torch
import torch.nn.functional as F

L, H, D, V, T, CHUNK = 12, 12, 768, 50257, 16, 48
DH = D // H


def make_model(seed=1):
    g = torch.Generator().manual_seed(seed)
    def w(*shape): return torch.randn(*shape, generator=g) / math.sqrt(shape[-1])
    layers = [dict(ln1=(torch.ones(D), torch.zeros(D)), qkv=(w(3 * D, D), torch.zeros(3 * D)), o=(w(D, D), torch.zeros(D)),
                   ln2=(torch.ones(D), torch.zeros(D)), up=(w(4 * D, D), torch.zeros(4 * D)), down=(w(D, 4 * D), torch.zeros(D)))
              for _ in range(L)]
    return dict(wte=torch.randn(V, D, generator=g) * 0.1, wpe=torch.randn(1024, D, generator=g) * 0.1, layers=layers, lnf=(torch.ones(D), torch.zeros(D)))


def forward(m, ids, offsets=None, first=0, resid=None):
    """Explicit attention (no fused SDPA: it has no double backward). offsets[l]: added to z of layer l, [B,T,H,DH]."""
    B = ids.shape[0]
    x = resid if resid is not None else m["wte"][ids] + m["wpe"][:T]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for l in range(first, L):
        p = m["layers"][l]
        h = F.layer_norm(x, (D,), *p["ln1"])
        q, k, v = F.linear(h, *p["qkv"]).split(D, -1)
        q, k, v = (t.view(B, T, H, DH).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(DH)
        z = (s.masked_fill(mask, -1e30).softmax(-1) @ v).transpose(1, 2)
        if offsets is not None and offsets.get(l) is not None:
            z = z + offsets[l]
        x = x + F.linear(z.reshape(B, T, D), *p["o"])
        h = F.layer_norm(x, (D,), *p["ln2"])
        x = x + F.linear(F.gelu(F.linear(h, *p["up"]), approximate="tanh"), *p["down"])
    return F.layer_norm(x, (D,), *m["lnf"]) @ m["wte"].T


def metric(logits): return logits[:, -1, 11] - logits[:, -1, 22]


def timed(fn, repeats=3):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = make_model()
    g = torch.Generator().manual_seed(5)
    clean = torch.randint(0, V, (1, T), generator=g)
    corrupt = clean.clone(); corrupt[0, 3] += 1; corrupt[0, 9] += 1

    def zs(ids):
        cache = {}
        offs = {l: torch.zeros(1, T, H, DH, requires_grad=True) for l in range(L)}
        out = metric(forward(m, ids, offs)).sum()
        return out, offs

    def fwd():
        with torch.inference_mode(): metric(forward(m, clean))

    def fwd_bwd():
        out, offs = zs(clean); torch.autograd.grad(out, list(offs.values()))

    def atp():
        with torch.no_grad(): forward(m, corrupt)
        fwd_bwd()

    delta = {l: torch.randn(1, T, H, DH) * 0.1 for l in range(L)}

    def rows(order, comps):
        for start in range(0, len(comps), CHUNK):
            chunk = comps[start:start + CHUNK]; r = len(chunk)
            t = torch.zeros(r, requires_grad=order > 0)
            offs = {}
            for i, (l, h) in enumerate(chunk):
                mask = torch.zeros(r, 1, H, 1); mask[i, 0, h, 0] = 1
                offs[l] = offs.get(l, 0) + mask * delta[l] * t.view(r, 1, 1, 1)
            ids = clean.expand(r, T)
            if order == 0:
                with torch.no_grad(): metric(forward(m, ids, offs))
                continue
            phi = metric(forward(m, ids, offs)).sum()
            g1, = torch.autograd.grad(phi, t, create_graph=order > 1)
            if order > 1: torch.autograd.grad(g1.sum(), t)

    comps = [(l, h) for l in range(L) for h in range(H)]
    results = {"forward": timed(fwd), "forward_backward": timed(fwd_bwd), "atp": timed(atp),
               "patching_all": timed(lambda: rows(0, comps), 1), "hvp_all": timed(lambda: rows(2, comps), 1)}
    for k, v in results.items(): print(f"{k:18s} {v:8.3f} s")
    print(f"AtP / (2F+1B)      {results['atp'] / (results['forward'] + results['forward_backward']):.2f}")
    print(f"HVP-all / patching {results['hvp_all'] / results['patching_all']:.2f}")
    if a.json:
        with open(a.json, "w") as f: json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
