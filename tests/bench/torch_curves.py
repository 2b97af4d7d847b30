#!/usr/bin/python3
"""The PyTorch side of tests/bench/curves.sh: learning curves of the reference conditional VAE
(tests/tools/torch_cvae.py, cvae's architecture with cvae's parameter names) trained as
`cvae train` trains it, so that the two curves differ only by what the two programs do
differently (initialization, arithmetic), never by the data they see:

    torch_curves.py [--data DIR] [--epochs 5] [--batch 128] [--lr 1e-3] [--seed 1]
                    [--threads 1] [--init torch|he_glorot] [--save PATH]
                    [--check-order LIBCVAE_SO]
    epoch 1  train loss 270.123  test -ELBO 250.456  (12.3s)
    ...
    {"impl":"torch","seed":1,"init":"torch","test_elbo":[...],"train_loss":[...],"seconds":[...]}

Protocol (the same as `cvae train --data DIR --epochs 5 --batch 128 --lr 1e-3 --seed S`):
- Data: the IDX files of DIR (default /usr/share/datasets/fashion-mnist), grey values
  b * (1 / 255.0f) in float32, bit for bit the inputs cvae trains on.
- Order: the same batches in the same order as cvae's loader (lib/train/loader.c). Each epoch
  e visits the training set in a Fisher-Yates order keyed by (seed, e): for i = n-1 .. 1,
  j = (u * (i + 1)) >> 32 with u the next 32-bit output of cvae's Philox4x32-10 stream
  (key = seed, stream = 0x5348554646 + e; lib/core/rng.c), reimplemented below in numpy.
  Batches are consecutive runs of `batch` samples of that order; the last one of an epoch is
  smaller (60000 = 468 x 128 + 96), as in cvae. --check-order LIBCVAE_SO checks this against
  cvae's own loader through ctypes (curves.sh does, before training).
- Training: Adam (lr, betas 0.9/0.999, eps 1e-8), each step minimizing the batch mean of the
  per-image negative ELBO (BCE summed over pixels + KL, one z per image).
- Test -ELBO after each epoch: the mean over the whole test set of BCE + KL with one z per
  image (eps from torch's generator seeded 12345), as `cvae train` prints it.
- Initialization (--init, tests/tools/torch_cvae.py's initialize): torch = PyTorch's defaults
  for every Conv2d, ConvTranspose2d and Linear (weights and biases U(+-1/sqrt(fan_in)),
  PyTorch's fan_in: ConvTranspose2d's is C_out kH kW); the label-indexed tables as the
  PyTorch layer whose filters they hold (Conv2d 1->Cc 3x3 in the encoder, ConvTranspose2d
  64->Cc 4x4 in the decoder), table and table bias alike: cvae's CVAE_INIT_TORCH.
  he_glorot = cvae's former default (He-normal before ReLU, Glorot-uniform otherwise, cvae's
  fans, zero biases) drawn with torch's generator: the diagnostic of whether the
  initialization explains a gap.
The random draws (initial weights, eps) come from torch's generator seeded with --seed, so
they differ from cvae's in value but not in distribution.

Speed: the script re-executes itself with OPENBLAS_NUM_THREADS=1, OMP_WAIT_POLICY=PASSIVE and
glibc's malloc thresholds raised (each unless set): on these shared 2-core machines an untuned
PyTorch step costs 0.6-1.4 s of CPU against 0.07 s so (see docs/model-format.md, "PyTorch on
this machine"). Curves do not depend on speed; they depend on --threads only by rounding.
"""
import argparse
import ctypes
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

SHUFFLE_STREAM = 0x5348554646  # lib/train/loader.c: stream of epoch e = this + e
M32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(key, ctr_hi, ctr_lo):
    """cvae's philox() (lib/core/rng.c) on arrays of counters: key, ctr_hi: Python ints
    (64-bit), ctr_lo: uint64 array -> 4 uint32 arrays (the four lanes)."""
    ctr_lo = np.asarray(ctr_lo, dtype=np.uint64)
    c0 = ctr_lo & M32
    c1 = ctr_lo >> np.uint64(32)
    c2 = np.full_like(c0, ctr_hi & 0xFFFFFFFF)
    c3 = np.full_like(c0, (ctr_hi >> 32) & 0xFFFFFFFF)
    k0, k1 = key & 0xFFFFFFFF, (key >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        n0 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0)
        n2 = (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1)
        c1 = p1 & M32
        c3 = p0 & M32
        c0, c2 = n0, n2
        k0 = (k0 + 0x9E3779B9) & 0xFFFFFFFF
        k1 = (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return [c.astype(np.uint32) for c in (c0, c1, c2, c3)]


def rng_u32(seed, stream, count):
    """The first `count` outputs of cvae_rng_u32 on cvae_rng_make(seed, stream): output i
    is lane i % 4 of block i / 4."""
    blocks = (count + 3) // 4
    lanes = philox4x32_10(seed, stream, np.arange(blocks, dtype=np.uint64))
    return np.stack(lanes, axis=1).reshape(-1)[:count]


def epoch_order(n, seed, epoch):
    """The sample order of cvae's loader in epoch `epoch` (make_order in lib/train/loader.c)."""
    u = rng_u32(seed, SHUFFLE_STREAM + epoch, max(n - 1, 0)).astype(np.uint64)
    i = np.arange(n - 1, 0, -1, dtype=np.uint64)
    j = ((u * (i + np.uint64(1))) >> np.uint64(32)).astype(np.int64)
    order = np.arange(n, dtype=np.int64)
    for a, b in zip(range(n - 1, 0, -1), j.tolist()):
        order[a], order[b] = order[b], order[a]
    return order


def grey(images):
    """uint8 images -> float32 b * (1 / 255.0f), bit for bit cvae_dataset_batch's grey values."""
    return images.astype(np.float32) * np.float32(1.0 / 255.0)


def check_order(lib_path, data, seed, batch, epochs=2):
    """Compares epoch_order with cvae's loader (labels of every batch of `epochs` epochs)
    and rng_u32 with cvae_rng_u32; raises on the first difference."""
    import torch_cvae as tc

    class Rng(ctypes.Structure):
        _fields_ = [("seed", ctypes.c_uint64), ("stream", ctypes.c_uint64),
                    ("counter", ctypes.c_uint64)]

    lib = ctypes.CDLL(lib_path)
    lib.cvae_rng_make.restype = Rng
    lib.cvae_rng_make.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
    lib.cvae_rng_u32.restype = ctypes.c_uint32
    lib.cvae_rng_u32.argtypes = [ctypes.POINTER(Rng)]
    for s, stream in ((seed, SHUFFLE_STREAM), (2**64 - 1, 2**63 + 5), (0, 0)):
        r = lib.cvae_rng_make(s, stream)
        want = [lib.cvae_rng_u32(ctypes.byref(r)) for _ in range(11)]
        got = rng_u32(s, stream, 11).tolist()
        if got != want:
            raise SystemExit("check-order: philox differs for (%d, %d): %s vs cvae %s"
                             % (s, stream, got[:4], want[:4]))
    lib.cvae_dataset_load_dir.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.c_void_p)]
    lib.cvae_loader_new.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int,
                                    ctypes.c_uint64, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
    lib.cvae_loader_next.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_float)),
                                     ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                                     ctypes.POINTER(ctypes.c_int64)]
    lib.cvae_loader_free.argtypes = [ctypes.c_void_p]
    lib.cvae_dataset_free.argtypes = [ctypes.c_void_p]
    ds, ld = ctypes.c_void_p(), ctypes.c_void_p()
    if lib.cvae_dataset_load_dir(data.encode(), b"train", ctypes.byref(ds)) or \
            lib.cvae_loader_new(ds, batch, 0, seed, 1, ctypes.byref(ld)):
        raise SystemExit("check-order: cvae could not load %s" % data)
    images, labels = tc.read_idx(data, "train")
    n = len(labels)
    x = ctypes.POINTER(ctypes.c_float)()
    y = ctypes.POINTER(ctypes.c_int32)()
    count = ctypes.c_int64()
    try:
        for e in range(epochs):
            order = epoch_order(n, seed, e)
            at = 0
            while True:
                if lib.cvae_loader_next(ld, ctypes.byref(x), ctypes.byref(y), ctypes.byref(count)):
                    raise SystemExit("check-order: cvae_loader_next failed")
                k = count.value
                if k == 0:
                    break
                mine = order[at:at + k]
                theirs = np.ctypeslib.as_array(y, shape=(k,))
                pix = np.ctypeslib.as_array(x, shape=(k * images.shape[1] * images.shape[2],))
                if k != min(batch, n - at) or not np.array_equal(labels[mine], theirs) or \
                        not np.array_equal(grey(images[mine]).reshape(-1), pix):
                    raise SystemExit("check-order: epoch %d batch at %d differs from cvae's" % (e, at))
                at += k
            if at != n:
                raise SystemExit("check-order: epoch %d has %d samples, not %d" % (e, at, n))
    finally:
        lib.cvae_loader_free(ld)
        lib.cvae_dataset_free(ds)
    print("check-order: %d epochs of batches (seed %d, batch %d) and the Philox stream equal "
          "cvae's" % (epochs, seed, batch))


def test_elbo(model, x, y, gen, bs=1000):
    """Mean over the test set of BCE + KL per image, one z per image."""
    import torch
    import torch.nn.functional as F
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(y), bs):
            xb, yb = x[s:s + bs], y[s:s + bs]
            mu, logvar = model.encode(xb, yb)
            eps = torch.randn(mu.shape, generator=gen)
            logits = model.decode(mu + torch.exp(0.5 * logvar) * eps, yb)
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
            kl = -0.5 * torch.sum(1.0 + logvar - mu * mu - torch.exp(logvar))
            total += float(rec) + float(kl)
    return total / len(y)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--init", choices=("torch", "he_glorot"), default="torch",
                   help="initialization (tests/tools/torch_cvae.py, initialize)")
    p.add_argument("--save", metavar="PATH",
                   help="write the trained model as a cvae model file (cvae eval, cvae sample)")
    p.add_argument("--check-order", metavar="LIBCVAE_SO",
                   help="only check the batch order against cvae's loader in this libcvae.so")
    a = p.parse_args()
    if a.check_order:
        check_order(a.check_order, a.data, a.seed, a.batch)
        return
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
           "MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "1073741824",
           "MALLOC_TOP_PAD_": "268435456"}
    missing = {k: v for k, v in env.items() if k not in os.environ}
    if missing:  # read when the libraries load: restart with them set
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, **missing))
    import torch
    import torch_cvae as tc
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    tr_img, tr_lab = tc.read_idx(a.data, "train")
    te_img, te_lab = tc.read_idx(a.data, "t10k")
    x_train = torch.from_numpy(grey(tr_img))[:, None]
    y_train = torch.from_numpy(tr_lab)
    x_test = torch.from_numpy(grey(te_img))[:, None].contiguous()
    y_test = torch.from_numpy(te_lab)
    num_labels = int(max(tr_lab.max(), te_lab.max())) + 1
    cfg = tc.Config(image_h=tr_img.shape[1], image_w=tr_img.shape[2], num_labels=num_labels,
                    init=a.init, seed=a.seed)
    model = tc.CVAE(cfg)  # drawn by torch_cvae.initialize
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    gen_eval = torch.Generator().manual_seed(12345)
    n = len(tr_lab)
    curve, train_loss, seconds = [], [], []
    for e in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.from_numpy(epoch_order(n, a.seed, e))
        total = 0.0
        model.train()
        for s in range(0, n, a.batch):
            idx = order[s:s + a.batch]
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad(set_to_none=True)
            loss = model.loss(xb, yb)
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        model.eval()
        dt = time.perf_counter() - t0
        curve.append(test_elbo(model, x_test, y_test, gen_eval))
        train_loss.append(total / n)
        seconds.append(dt)
        print("epoch %d  train loss %.3f  test -ELBO %.3f  (%.1fs)"
              % (e + 1, train_loss[-1], curve[-1], dt), flush=True)
    if a.save:
        tc.save_model(a.save, model)
    print(json.dumps({"impl": "torch", "seed": a.seed, "init": a.init, "test_elbo": curve,
                      "train_loss": train_loss, "seconds": seconds}))


if __name__ == "__main__":
    main()
