#!/usr/bin/env python3
"""PyTorch eager counterpart of `circuit bench` on the GPT-2-small shape: the same operations under the same row names,
so `circuit bench --pytorch FILE` can print TorchSharp / PyTorch ratios. Runs where Python and PyTorch exist (not
needed for CircuitDsl itself).

    python3 bench/pytorch_reference.py [--threads 2] [--json reports/bench/pytorch.json]
    python3 bench/pytorch_reference.py --serve   # what `circuit bench --pytorch run` starts

With --serve it prints one JSON line (machine, operations) and then times each operation named on a line of stdin,
answering with one JSON line: the bench times each operation here right after its own run of it, so the drift of a
shared machine (±30 % over minutes) affects both sides of a ratio alike.

Two traps that flatter CircuitDsl if ignored:
- Debian's python3-torch links the reference (netlib) BLAS by default, 14-20x slower than OpenBLAS: install
  libopenblas0-pthread (update-alternatives --config libblas.so.3-x86_64-linux-gnu picks it).
- With OpenBLAS's own threads beside libgomp's, busy-waiting OpenMP threads steal the cores: a GPT-2 forward takes
  200-400 ms instead of 65 ms on 2 cores. This script sets OMP_WAIT_POLICY=PASSIVE unless the caller set it.
Shape: GPT-2 small (12 layers, 12 heads, d 768, vocab 50257), T = 16, one pair, all 144 heads, 48-row chunks.
"""
import argparse, json, math, os, platform, statistics, sys, time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402  (after the environment is set)
import torch.nn.functional as F  # noqa: E402

L, H, D, V, T, CHUNK = 12, 12, 768, 50257, 16, 48
DH = D // H
ANSWER, WRONG = 11, 22


def make_model(seed=1):
    g = torch.Generator().manual_seed(seed)
    def w(*shape): return torch.randn(*shape, generator=g) / math.sqrt(shape[-1])
    layers = [dict(ln1=(torch.ones(D), torch.zeros(D)), qkv=(w(3 * D, D), torch.zeros(3 * D)), o=(w(D, D), torch.zeros(D)),
                   ln2=(torch.ones(D), torch.zeros(D)), up=(w(4 * D, D), torch.zeros(4 * D)), down=(w(D, 4 * D), torch.zeros(D)))
              for _ in range(L)]
    return dict(wte=torch.randn(V, D, generator=g) * 0.1, wpe=torch.randn(1024, D, generator=g) * 0.1, layers=layers, lnf=(torch.ones(D), torch.zeros(D)))


MASK = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)


def layers(m, x, first=0, offsets=None, cache=None):
    """Blocks first..L-1 with explicit attention (fused SDPA has no double backward). offsets[l] is added to z [B,T,H,DH].
    As CircuitDsl's metric-only runs, the last block computes only the last query when nothing hooks it (the metric
    reads the last position): the returned x is then [B, 1, D]."""
    for l in range(first, L):
        p = m["layers"][l]
        if cache is not None: cache["resid", l] = x
        B = x.shape[0]
        offset = offsets.get(l) if offsets is not None else None
        tq = 1 if l == L - 1 and cache is None and offset is None else T
        h = F.layer_norm(x, (D,), *p["ln1"])
        w, b = p["qkv"]
        q = F.linear(h[:, T - tq:], w[:D], b[:D]).view(B, tq, H, DH).transpose(1, 2)
        k, v = (t.view(B, T, H, DH).transpose(1, 2) for t in F.linear(h, w[D:], b[D:]).split(D, -1))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(DH)
        z = (s.masked_fill(MASK[T - tq:], -1e30).softmax(-1) @ v).transpose(1, 2)
        if offset is not None: z = z + offset
        if cache is not None: cache["z", l] = z
        x = x[:, T - tq:] + F.linear(z.reshape(B, tq, D), *p["o"])
        x = x + F.linear(F.gelu(F.linear(F.layer_norm(x, (D,), *p["ln2"]), *p["up"]), approximate="tanh"), *p["down"])
    return x


def metric(m, x):
    """Logit difference at the last position, unembedding only the two tokens read (as CircuitDsl's metric-only runs)."""
    last = F.layer_norm(x[:, -1], (D,), *m["lnf"])
    return last @ (m["wte"][ANSWER] - m["wte"][WRONG])


def embed(m, ids): return m["wte"][ids] + m["wpe"][:T]


def timed(fn, repeats=3):
    """As `circuit bench`: the first run is a warm-up; slow operations are timed by it alone, millisecond ones get
    about a second of runs (at least `repeats`, at most 25) and report the median."""
    first = time.perf_counter(); fn(); first = time.perf_counter() - first
    if first > 1: return first
    runs = repeats if repeats == 1 else min(max(int(1.0 / max(first, 1e-4)), repeats), 25)
    times = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--serve", action="store_true", help="time operations named on stdin, one JSON line each")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = make_model()
    g = torch.Generator().manual_seed(5)
    clean = torch.randint(0, V, (1, T), generator=g)
    corrupt = clean.clone(); corrupt[0, 3] = (corrupt[0, 3] + 1) % V; corrupt[0, 9] = (corrupt[0, 9] + 1) % V

    def forward(rows):
        with torch.inference_mode(): metric(m, layers(m, embed(m, clean.expand(rows, T))))

    def forward_backward(ids, cache=None):
        offs = {l: torch.zeros(ids.shape[0], T, H, DH, requires_grad=True) for l in range(L)}
        out = metric(m, layers(m, embed(m, ids), offsets=offs, cache=cache)).sum()
        return dict(zip(range(L), torch.autograd.grad(out, list(offs.values()))))

    def atp():
        cache = {}
        grads = forward_backward(clean, cache)
        corrupted = {}
        with torch.no_grad(): layers(m, embed(m, corrupt), cache=corrupted)
        return {l: ((corrupted["z", l] - cache["z", l].detach()) * grads[l]).sum((0, 1, 3)) for l in range(L)}, cache

    _, clean_cache = atp()
    resid = {l: clean_cache["resid", l].detach() for l in range(L)}
    corrupted = {}
    with torch.no_grad(): layers(m, embed(m, corrupt), cache=corrupted)
    delta = {l: (corrupted["z", l] - clean_cache["z", l]).detach() for l in range(L)}
    comps = [(l, h) for l in range(L) for h in range(H)]

    def chunks(order, work):
        """CircuitDsl's chunking of (component, t) rows: sorted by layer; forward-only chunks close at a layer change
        once they hold a quarter of the maximum, differentiated chunks stay full."""
        minimum = max(1, CHUNK // 4) if order == 0 else CHUNK
        chunk = []
        for row in sorted(work, key=lambda x: x[0]):
            if chunk and (len(chunk) == CHUNK or (row[0][0] != chunk[-1][0][0] and len(chunk) >= minimum)):
                yield chunk; chunk = []
            chunk.append(row)
        if chunk: yield chunk

    def rows(order, cached, components=comps, ts=(0.0,)):
        for sel in chunks(order, [(c, t) for c in components for t in ts]):
            r = len(sel)
            t = torch.tensor([t for _, t in sel], requires_grad=order > 0)
            offs = {}
            for i, ((l, h), _) in enumerate(sel):
                mask = torch.zeros(r, 1, H, 1); mask[i, 0, h, 0] = 1
                offs[l] = offs.get(l, 0) + mask * delta[l] * t.view(r, 1, 1, 1)
            first = min(l for (l, _), _ in sel) if cached else 0
            x = resid[first].expand(r, T, D) if cached else embed(m, clean.expand(r, T))
            if order == 0:
                with torch.inference_mode(): metric(m, layers(m, x, first, offs))
                continue
            phi = metric(m, layers(m, x, first, offs)).sum()
            g1, = torch.autograd.grad(phi, t, create_graph=order > 1)
            if order > 1: torch.autograd.grad(g1.sum(), t)

    some = comps[::len(comps) // 16][:16]

    ops = {  # name: (operation, repeats)
        "forward (1 row)": (lambda: forward(1), 3),
        "forward (8 rows)": (lambda: forward(8), 3),
        "forward + backward (1 row)": (lambda: forward_backward(clean), 3),
        "forward + backward (8 rows)": (lambda: forward_backward(clean.expand(8, T)), 3),
        "AtP, all heads (2F + 1B)": (atp, 3),
        "patching, all heads (cached start)": (lambda: rows(0, True), 3),
        "patching, all heads (full forward)": (lambda: rows(0, False), 3),
        "HVP, all heads (cached start, double backward)": (lambda: rows(2, True), 1),
        "HVP, all heads (full forward, double backward)": (lambda: rows(2, False), 1),
        "MS-HVP K=5, 16 heads": (lambda: rows(2, True, some, [k / 5 for k in range(6)]), 1),
        "IG m=32, 16 heads": (lambda: rows(1, True, some, [k / 31 for k in range(32)]), 1),
    }
    machine = dict(torch=torch.__version__, threads=torch.get_num_threads(), python=platform.python_version(),
                   omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"), blas=os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"))
    if a.serve:
        print(json.dumps(dict(machine=machine, operations=list(ops))), flush=True)
        for line in sys.stdin:
            name = line.strip()
            # Idle spells around each timing: OpenBLAS's worker threads keep spinning for a while after a GEMM
            # (2^28 cycles, ~0.1 s) and would take a core from the bench's next runs; the bench's threads likewise.
            time.sleep(0.1)
            answer = dict(op=name, seconds=timed(*ops[name])) if name in ops else dict(op=name, error="unknown operation")
            time.sleep(0.3)
            print(json.dumps(answer), flush=True)
        return
    results = {name: timed(*op) for name, op in ops.items()}
    for k, v in results.items(): print(f"{k:50s} {v:8.3f} s")
    if a.json:
        with open(a.json, "w") as f: json.dump(dict(machine=machine, rows=results), f, indent=2)


if __name__ == "__main__":
    main()
