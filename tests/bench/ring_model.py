#!/usr/bin/env python3
"""An alpha-beta model of data-parallel training with ring all-reduce (docs/distributed.md).

    python3 tests/bench/ring_model.py --sample-ms S --fixed-ms F --backward-share B --bytes N

Inputs, measured on one node by tests/bench/bench_mpi (a node = this machine, 2 cores):
  S  compute per sample (forward + backward) in ms, F  the per-step part that does not shrink
  with the node's batch (the gradient tail, the optimizer: every node runs it whole),
  B  the backward pass's share of the per-sample compute, N  bytes summed per step.

Per step on P nodes, global batch G (each node G / P samples):
  compute   t(P) = F + S G / P
  ring      c(P) = 2 (P - 1) alpha + 2 (P - 1) / P * N / bandwidth        (reduce-scatter + all-gather)
            + 2 ceil(log2 P) alpha for the step's small sum (loss and flags, 12 bytes: MPI's
              recursive doubling, not a ring)
  step      T(P) = t(P) + c(P)
  efficiency E(P) = T(1) / (P T(P))                                      (strong scaling at fixed G)
Overlap with the backward pass in k buckets (PyTorch DDP): each bucket pays the latency term,
  c_k(P) = 2 (P - 1) (k alpha + N / (P bandwidth)); the last bucket cannot overlap:
  exposed = c_k / k + max(0, c_k (k - 1) / k - B S G / P), with the best k in 1..32.
The networks' latencies alpha are assumptions (stated in the output), not measurements.
"""
import argparse
import math

NETWORKS = [  # (name, Gb/s, alpha in us)
    ("10 Gb/s Ethernet (TCP, alpha 20 us)", 10, 20.0),
    ("25 Gb/s Ethernet (RoCE, alpha 5 us)", 25, 5.0),
    ("100 Gb/s InfiniBand (alpha 1.5 us)", 100, 1.5),
]
NODES = [2, 4, 8, 16, 32, 64, 128, 256]


def ring_ms(p, nbytes, gbps, alpha_us, buckets=1, halving=False):
    """The gradient's ring all-reduce in `buckets` pieces (halving: Rabenseifner's recursive
    halving and doubling instead, the same bytes in 2 log2 P messages)."""
    bw = gbps * 1e9 / 8  # bytes/s
    hops = 2 * math.ceil(math.log2(p)) if halving else 2 * (p - 1)
    return 1e3 * (hops * buckets * alpha_us * 1e-6 + 2 * (p - 1) / p * nbytes / bw)


def small_ms(p, alpha_us):
    """The step's small sum (loss, failure and checksum flags) by recursive doubling."""
    return 1e3 * 2 * math.ceil(math.log2(p)) * alpha_us * 1e-6 if p > 1 else 0.0


def step_ms(a, p, g, gbps, alpha_us, overlap, halving=False):
    t = a.fixed_ms + a.sample_ms * g / p
    if p == 1:
        return t
    t += small_ms(p, alpha_us)  # before the backward pass's gradients are summed: never hidden
    if not overlap:
        return t + ring_ms(p, a.bytes, gbps, alpha_us, 1, halving)
    backward = a.backward_share * a.sample_ms * g / p
    best = math.inf
    for k in range(1, 33):
        c = ring_ms(p, a.bytes, gbps, alpha_us, k)
        best = min(best, c / k + max(0.0, c * (k - 1) / k - backward))
    return t + best


def efficiency(a, p, g, net, overlap=False, halving=False):
    _, gbps, alpha = net
    return step_ms(a, 1, g, gbps, alpha, overlap) / (
        p * step_ms(a, p, g, gbps, alpha, overlap, halving))


def batch_for(a, p, net, target, overlap=False, halving=False):
    """The smallest global batch, a multiple of p, with efficiency >= target."""
    lo, hi = 1, 1
    while efficiency(a, p, hi * p, net, overlap, halving) < target:
        hi *= 2
        if hi > 1 << 30:
            return math.inf
    while lo < hi:
        mid = (lo + hi) // 2
        if efficiency(a, p, mid * p, net, overlap, halving) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo * p


def table(title, header, rows):
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--sample-ms", type=float, required=True)
    ap.add_argument("--fixed-ms", type=float, required=True)
    ap.add_argument("--backward-share", type=float, required=True)
    ap.add_argument("--bytes", type=float, required=True)
    ap.add_argument("--batches", default="128,1024,8192", help="global batches of the tables")
    a = ap.parse_args()
    batches = [int(b) for b in a.batches.split(",")]
    print(f"inputs: {a.sample_ms} ms per sample, {a.fixed_ms} ms fixed per step, backward "
          f"{100 * a.backward_share:.0f}% of the compute, {a.bytes:.0f} bytes summed per step")
    names = [n[0] for n in NETWORKS]
    table("sums per step (ms): the gradient's ring all-reduce + the small sum", ["nodes"] + names,
          [[str(p)] + [f"{ring_ms(p, a.bytes, n[1], n[2]):.3f} + {small_ms(p, n[2]):.3f}"
                       for n in NETWORKS] for p in NODES])
    for g in batches:
        table(f"scaling efficiency at global batch {g}: no overlap (DDP-style overlap)",
              ["nodes"] + names,
              [[str(p)] + [f"{100 * efficiency(a, p, g, n):.1f}% "
                           f"({100 * efficiency(a, p, g, n, True):.1f}%)" for n in NETWORKS]
               for p in NODES])
    table("smallest global batch with efficiency >= 90% (no overlap; with DDP-style overlap)",
          ["nodes"] + names,
          [[str(p)] + [f"{batch_for(a, p, n, 0.9)} ({batch_for(a, p, n, 0.9, True)})"
                       for n in NETWORKS] for p in NODES])
    rows = []
    for n in NETWORKS:
        g = batch_for(a, 64, n, 0.9)
        rows.append([n[0], str(g), f"{100 * efficiency(a, 64, g, n):.1f}%",
                     f"{100 * efficiency(a, 64, g, n, True):.1f}%",
                     f"{100 * efficiency(a, 64, g, n, False, True):.1f}%",
                     f"{ring_ms(64, a.bytes, n[1], n[2]):.3f}",
                     f"{ring_ms(64, a.bytes, n[1], n[2], 1, True):.3f}",
                     f"{a.backward_share * a.sample_ms * g / 64:.3f}",
                     f"{batch_for(a, 64, n, 0.9, True)}",
                     f"{batch_for(a, 64, n, 0.9, False, True)}"])
    table("64 nodes at the 90% batch: overlap with the backward pass (DDP buckets), or "
          "recursive halving instead of the ring",
          ["network", "global batch", "ring", "ring + overlap (best k)", "halving", "ring ms",
           "halving ms", "backward ms per node", "90% batch with overlap",
           "90% batch with halving"], rows)


if __name__ == "__main__":
    main()
