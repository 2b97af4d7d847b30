#!/usr/bin/python3
"""The PyTorch side of tests/bench/compare.sh: the reference model (tests/tools/torch_cvae.py)
timed exactly as build/tests/bench/bench_model times cvae, with the same command line and
the same one-line JSON output:

    torch_reference.py --what train|infer [--batch B] [--threads T] [--reps R] [--warmup W]
                       [--data DIR] [tuning options]
    {"impl":"torch","what":"train","batch":128,"threads":2,"ms_median":..,"ms_min":..,
     "reps":30,"corename":"Haswell","cpu_ms_median":.., ...}
(ms: wall time per call; cpu_ms: CPU time of the process, all its threads, per call.)

train: one optimizer step (zero_grad, loss, backward, Adam lr 1e-3) on a fixed batch of the
first B bundled training digits (grey values x / 255), as bench_model does.
infer: encode + sample + decode + sigmoid (cvae_model_forward) under torch.inference_mode().
T sets torch.set_num_threads(T) (its OpenMP pool). OpenBLAS (Debian's torch does its
linear layers and non-oneDNN convolutions through it) gets --blas-threads through
OPENBLAS_NUM_THREADS (default T; the script re-executes itself to set it).

--best applies the fastest settings measured on this machine (docs/model-format.md,
"PyTorch on this machine"): --blas-threads 1 (OpenMP threads only), --jit for infer
(traced and frozen forward: lower per-op overhead at batch 1), and re-executes itself
with OMP_WAIT_POLICY=ACTIVE (OpenMP workers spin between parallel regions: with OpenBLAS on
one thread they are the only pool, and on a quiet machine spinning beats sleeping by 1.2-2.5x
at 2 threads) and glibc malloc thresholds raised (MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_), each unless already set. OPENBLAS_CORETYPE is left to the caller.
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

BEST_ENV = {"OMP_WAIT_POLICY": "ACTIVE", "MALLOC_MMAP_THRESHOLD_": "1073741824",
            "MALLOC_TRIM_THRESHOLD_": "1073741824", "MALLOC_TOP_PAD_": "268435456"}
BEST_FLAGS = {"blas_threads": 1, "jit": True}


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--what", choices=("train", "infer"), default="train")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--data", default=None, help="IDX directory (default: the bundled digits)")
    p.add_argument("--best", action="store_true", help="the fastest settings found (see above)")
    p.add_argument("--blas-threads", type=int, default=None, help="OpenBLAS threads (default T)")
    p.add_argument("--cond", choices=("grouped", "all", "fused"), default="grouped",
                   help="conditional conv: grouped conv (groups = N) over gathered kernels; "
                        "all K*Cc kernels then a gather; fused = all + conv1 in one conv")
    p.add_argument("--mkldnn", type=int, choices=(0, 1), default=1,
                   help="torch.backends.mkldnn.enabled (oneDNN convolutions)")
    p.add_argument("--channels-last", action="store_true", help="NHWC activations and weights")
    p.add_argument("--foreach", type=int, choices=(0, 1), default=None,
                   help="Adam's multi-tensor (foreach) implementation (default: PyTorch's choice)")
    p.add_argument("--jit", action="store_true", help="infer: torch.jit.trace + freeze the forward"
                   " (train: ignored)")
    a = p.parse_args()
    for name in ("batch", "threads", "reps"):
        if getattr(a, name) < 1:
            p.error("--%s must be >= 1" % name)
    if a.best:
        for k, v in BEST_FLAGS.items():
            if k == "blas_threads" and a.blas_threads is not None:
                continue
            setattr(a, k, v)
    return a


def reexec_with(env_wanted):
    """Environment variables are read when the libraries load: restart with them set."""
    if any(os.environ.get(k) != v for k, v in env_wanted.items()):
        env = dict(os.environ, **env_wanted)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def corename():
    """OpenBLAS's kernel name, asked from the libopenblas torch loaded."""
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "libopenblas" in line})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


def main():
    a = parse()
    blas_threads = a.blas_threads if a.blas_threads is not None else a.threads
    env = {"OPENBLAS_NUM_THREADS": str(blas_threads)}
    if a.best:
        env.update({k: os.environ.get(k, v) for k, v in BEST_ENV.items()})
    reexec_with(env)
    import numpy as np
    import torch
    import torch_cvae as tc

    torch.set_num_threads(a.threads)
    torch.backends.mkldnn.enabled = bool(a.mkldnn)
    torch.manual_seed(1)

    digits, labels = tc.read_idx(a.data or tc.DATA_DIR, "train")
    idx = np.arange(a.batch) % len(labels)
    x = torch.from_numpy(digits[idx].astype(np.float32) / 255.0)[:, None].contiguous()
    y = torch.from_numpy(labels[idx].copy())
    model = tc.CVAE(tc.Config(), cond_impl="grouped" if a.cond == "grouped" else "all",
                    fuse=a.cond == "fused")
    if a.channels_last:
        with torch.no_grad():
            for prm in model.parameters():
                if prm.dim() == 4:
                    prm.data = prm.data.contiguous(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    if a.what == "train":
        kw = {} if a.foreach is None else {"foreach": bool(a.foreach)}
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, **kw)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = model.loss(x, y)
            loss.backward()
            opt.step()
    else:
        model.eval()
        fwd = model
        if a.jit:
            with torch.no_grad():
                fwd = torch.jit.freeze(torch.jit.trace(model.eval(), (x, y), check_trace=False))

        def step():
            with torch.inference_mode():
                logits, mu, logvar = fwd(x, y)
                torch.sigmoid(logits)

    for _ in range(a.warmup):
        step()
    ms, cpu = [], []
    for _ in range(a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        ms.append(1e3 * (time.perf_counter() - t0))
        cpu.append(1e3 * (time.process_time() - c0))
    out = {"impl": "torch", "what": a.what, "batch": a.batch, "threads": a.threads,
           "ms_median": round(statistics.median(ms), 4), "ms_min": round(min(ms), 4), "reps": a.reps,
           "corename": corename(), "cpu_ms_median": round(statistics.median(cpu), 4),
           "blas_threads": blas_threads, "cond": a.cond, "mkldnn": a.mkldnn,
           "channels_last": int(a.channels_last), "jit": int(a.jit and a.what == "infer"),
           "best_env": int(all(k in os.environ for k in BEST_ENV)), "torch": torch.__version__}
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
