#!/usr/bin/python3
"""Trains the reference conditional VAE (torch_cvae.py) in PyTorch with `cvae train`'s protocol
and saves it as a cvae model file, so that `cvae eval --model` judges a PyTorch-trained model
through the interop path:

    /usr/bin/python3 tests/tools/torch_train_cvae.py --out torch.safetensors [--data DIR]
        [--epochs 30] [--batch 128] [--lr 1e-3] [--seed 1] [--threads 2] [--cond-decoder]
    build/examples/cvae/cvae eval --model torch.safetensors [--data DIR]

Protocol: grey values x / 255, Adam (lr 1e-3, betas 0.9 / 0.999, eps 1e-8), batches of 128
from a fresh permutation each epoch (torch.randperm under torch.manual_seed(seed)), the loss
of torch_cvae.CVAE.loss (mean over the batch of BCE summed over pixels + beta KL), PyTorch's
default initialization with zero biases (torch_cvae.CVAE). Prints the test -ELBO each epoch
(one z per image)."""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_cvae as tc  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--data", default=tc.DATA_DIR, help="MNIST-format directory")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cond-decoder", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = tc.read_idx(a.data, "train")
    xte, yte = tc.read_idx(a.data, "t10k")
    to_x = lambda im: torch.from_numpy(im.astype(np.float32) / 255.0).unsqueeze(1)  # noqa: E731
    xtr, xte, ytr, yte = to_x(xtr), to_x(xte), torch.from_numpy(ytr), torch.from_numpy(yte)
    cfg = tc.Config(image_h=xtr.shape[2], image_w=xtr.shape[3],
                    num_labels=int(max(ytr.max(), yte.max())) + 1, seed=a.seed,
                    cond_decoder=int(a.cond_decoder))
    model = tc.CVAE(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    t0 = time.time()
    for epoch in range(1, a.epochs + 1):
        model.train()
        perm, total = torch.randperm(len(xtr)), 0.0
        for s in range(0, len(xtr), a.batch):
            idx = perm[s:s + a.batch]
            opt.zero_grad()
            loss = model.loss(xtr[idx], ytr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        with torch.no_grad():
            test = sum(model.loss(xte[s:s + 500], yte[s:s + 500]).item() * len(yte[s:s + 500])
                       for s in range(0, len(xte), 500)) / len(xte)
        print("epoch %3d  train loss %8.3f  test -ELBO %8.3f  %.1fs"
              % (epoch, total / len(xtr), test, time.time() - t0), flush=True)
    tc.save_model(a.out, model)
    print("saved %s" % a.out)


if __name__ == "__main__":
    main()
