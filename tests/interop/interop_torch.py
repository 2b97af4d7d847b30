#!/usr/bin/python3
"""ctest interop_torch: cvae and PyTorch run the same model file and agree.

Usage: interop_torch.py INTEROP_CHECK WORKDIR

1. PyTorch -> cvae, twice (the default configuration on 16 real test digits, and a small
   non-default one with 2 image channels, a frozen table and a conditional decoder on
   random images): random weights (fixed seed, non-zero biases) saved with
   torch_cvae.save_model; PyTorch's mu, logvar, decoder probabilities and logits
   (computed in float64 from the float32 weights) go to a cases file; `interop_check check`
   recomputes them with cvae and re-saves the model, which must be byte-identical.
2. cvae -> PyTorch: `interop_check export` writes a freshly initialized cvae model and its
   outputs; torch_cvae.load_model reads the file, PyTorch recomputes, and save_model must
   reproduce the file byte for byte.
Error of a tensor: max|cvae - torch| / max|torch|, tolerance 1e-4.
Exits 77 (ctest SKIP_RETURN_CODE) when torch or numpy cannot be imported."""
import os
import subprocess
import sys

TOL = 1e-4
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

try:
    import numpy as np
    import torch
except ImportError as e:
    print("SKIP: PyTorch or numpy not importable by %s (%s); install python3-torch" % (sys.executable, e))
    sys.exit(77)

import torch_cvae as tc  # noqa: E402


def rel_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def expected(model, images, labels, z):
    """PyTorch's outputs in float64 from the model's float32 weights."""
    ref = tc.CVAE(model.cfg).double()
    ref.load_state_dict(model.state_dict())
    with torch.no_grad():
        x, y = torch.from_numpy(images).double(), torch.from_numpy(labels)
        mu, logvar = ref.encode(x, y)
        logits = ref.decode(torch.from_numpy(z).double(), y)
    return mu.numpy(), logvar.numpy(), torch.sigmoid(logits).numpy(), logits.numpy()


def randomize(model, gen):
    """Default PyTorch weights, plus non-zero biases and tables (He-normal)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.2, 0.2, generator=gen)
            elif name.endswith("table"):
                fan_in = p.shape[2] * p.shape[3] * p.shape[4]
                p.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    sys.stdout.write(r.stdout)
    return r.returncode == 0


def torch_to_cvae(check, work, name, cfg, images, labels, seed):
    print("== PyTorch -> cvae: %s" % name)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = tc.CVAE(cfg)
    randomize(model, gen)
    z = torch.randn(len(labels), cfg.latent, generator=gen).numpy()
    mu, logvar, probs, logits = expected(model, images, labels, z)
    model_path = os.path.join(work, name + ".safetensors")
    cases = os.path.join(work, name + "-cases.safetensors")
    tc.save_model(model_path, model)
    tc.write_safetensors(cases, [("images", images), ("labels", labels.astype(np.float32)), ("z", z),
                                 ("mu", mu), ("logvar", logvar), ("probs", probs), ("logits", logits)])
    return run([check, "check", model_path, cases, os.path.join(work, name + "-resaved.safetensors")])


def cvae_to_torch(check, work, images, labels):
    print("== cvae -> PyTorch: a default model initialized by cvae_model_new")
    model_path = os.path.join(work, "from-cvae.safetensors")
    cases = os.path.join(work, "from-cvae-cases.safetensors")
    results = os.path.join(work, "from-cvae-results.safetensors")
    z = torch.randn(len(labels), 16, generator=torch.Generator().manual_seed(3)).numpy()
    tc.write_safetensors(cases, [("images", images), ("labels", labels.astype(np.float32)), ("z", z)])
    if not run([check, "export", model_path, cases, results]):
        return False
    model = tc.load_model(model_path)
    got, _ = tc.read_safetensors(results)
    mu, logvar, probs, _ = expected(model, images, labels, z)
    ok = True
    for key, want in (("mu", mu), ("logvar", logvar), ("probs", probs)):
        err = rel_err(got[key], want)
        ok &= err < TOL
        print("%-7s rel_err %.3e over %d values (tolerance %.0e) %s" % (key, err, want.size, TOL,
                                                                       "ok" if err < TOL else "FAIL"))
    again = os.path.join(work, "from-cvae-resaved.safetensors")
    tc.save_model(again, model)
    same = open(again, "rb").read() == open(model_path, "rb").read()
    print("torch_cvae.save_model reproduces cvae's file: %s" % ("yes" if same else "NO"))
    return ok and same


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: interop_torch.py INTEROP_CHECK WORKDIR")
    check, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(1)
    digits, digit_labels = tc.read_idx(tc.DATA_DIR, "t10k")
    pick = np.arange(16) * 61
    images = (digits[pick].astype(np.float32) / 255.0)[:, None]
    labels = digit_labels[pick]
    ok = torch_to_cvae(check, work, "default", tc.Config(), images, labels, 1234)

    small = tc.Config(image_channels=2, image_h=12, image_w=16, num_labels=5, latent=4,
                      enc_channels=6, cond_channels=3, enc2_channels=5, dec_channels=4,
                      table_trainable=0, table_init="gabor", cond_decoder=1, beta=0.5, seed=99)
    rng = np.random.RandomState(5)
    ok &= torch_to_cvae(check, work, "small", small, rng.rand(7, 2, 12, 16).astype(np.float32),
                        rng.randint(0, 5, 7).astype(np.int64), 77)
    ok &= cvae_to_torch(check, work, images, labels)
    print("interop_torch: %s" % ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
