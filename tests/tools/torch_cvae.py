"""The cvae reference architecture (include/cvae/model.h) in PyTorch, and cvae's
model-file layout (docs/model-format.md) written and read with json + struct + numpy.

    import torch_cvae as tc
    cfg = tc.Config()                      # the defaults of cvae_model_config_default()
    model = tc.CVAE(cfg)                   # parameter names = cvae's tensor names
    loss = model.loss(x, y)                # x: [N, C, H, W] in [0, 1], y: int64 [N]
    tc.save_model("m.safetensors", model)  # cvae_model_load() reads it
    model = tc.load_model("m.safetensors") # a cvae_model_save() file (or checkpoint)

Layer by layer (default sizes):
    h1 = relu(conv 1->32, 3x3 s2 p1)(x); c = relu(conv(x, table[y]) + table_bias[y])
    h = cat(h1, c) [40x14x14]; h2 = relu(conv 40->64, 3x3 s2 p1)(h) [64x7x7]
    (mu, logvar) = split(linear 3146 -> 32)(cat(flatten(h2), onehot(y))), mu first
    z = mu + exp(logvar / 2) eps
    d = relu(linear 26 -> 3136)(cat(z, onehot(y))) viewed [64x7x7]
    d1 = relu(convT 64->32, 4x4 s2 p1)(d)  (+ cat relu(convT(d, dtable[y]) + dtable_bias[y])
                                             when cond_decoder)
    logits = convT 32->1, 4x4 s2 p1 (d1)
    loss = mean over the batch of [sum over pixels BCE(logits, x) + beta KL(N(mu, e^logvar) || N(0, I))]
"""
import gzip
import json
import os
import struct
import zlib
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    """Mirror of cvae_model_config (field names and defaults identical)."""

    FIELDS = ("image_channels", "image_h", "image_w", "num_labels", "latent", "enc_channels",
              "cond_channels", "enc2_channels", "dec_channels", "table_trainable", "table_init",
              "cond_decoder", "init", "beta", "kl_warmup", "seed")
    INITS = ("he_glorot", "glorot_uniform", "he_normal", "he_uniform", "torch")

    def __init__(self, **kw):
        self.image_channels, self.image_h, self.image_w = 1, 28, 28
        self.num_labels, self.latent = 10, 16
        self.enc_channels, self.cond_channels, self.enc2_channels, self.dec_channels = 32, 8, 64, 32
        self.table_trainable, self.table_init, self.cond_decoder = 1, "random", 0
        self.init, self.beta, self.kl_warmup, self.seed = "torch", 1.0, 0, 1
        for k, v in kw.items():
            if k not in self.FIELDS:
                raise ValueError("unknown config field %r" % k)
            setattr(self, k, v)
        if self.init not in self.INITS:
            raise ValueError("unknown init %r" % self.init)

    def to_json(self):
        """Byte for byte what cvae_model_config_to_json writes."""
        beta = "%.9g" % float(np.float32(self.beta))
        return ('{"image_channels":%d,"image_h":%d,"image_w":%d,"num_labels":%d,"latent":%d,'
                '"enc_channels":%d,"cond_channels":%d,"enc2_channels":%d,"dec_channels":%d,'
                '"table_trainable":%d,"table_init":"%s","cond_decoder":%d,"init":"%s","beta":%s,'
                '"kl_warmup":%d,"seed":"%d"}'
                % (self.image_channels, self.image_h, self.image_w, self.num_labels, self.latent,
                   self.enc_channels, self.cond_channels, self.enc2_channels, self.dec_channels,
                   self.table_trainable, self.table_init, self.cond_decoder, self.init, beta,
                   self.kl_warmup, self.seed))

    @classmethod
    def from_json(cls, text):
        d = json.loads(text)
        if "seed" in d:
            d["seed"] = int(d["seed"])
        d.setdefault("init", "he_glorot")  # written before the key existed: the scheme it was made with
        return cls(**d)


def conditional_conv2d(x, y, table, bias, stride, padding, impl="grouped"):
    """out[n] = conv2d(x[n], table[y[n]]) + bias[y[n]].
    x: [N, Cin, H, W], y: int64 [N], table: [K, Cout, Cin, kh, kw], bias: [K, Cout].
    grouped: one grouped conv (groups = N) over per-sample kernels gathered from the table;
    all: one conv against all K*Cout kernels, then a gather of each sample's Cout channels
    (K times the work, but one dense conv: wins when K*Cout is small)."""
    n, cin, hh, ww = x.shape
    k, cout = table.shape[0], table.shape[1]
    if impl == "grouped":
        w = table[y].reshape(n * cout, cin, *table.shape[3:])
        out = F.conv2d(x.reshape(1, n * cin, hh, ww), w, None, stride, padding, groups=n)
        out = out.view(n, cout, out.shape[2], out.shape[3])
    elif impl == "all":
        out = F.conv2d(x, table.reshape(k * cout, cin, *table.shape[3:]), None, stride, padding)
        out = out.view(n, k, cout, out.shape[2], out.shape[3])
        out = out[torch.arange(n, device=x.device), y]
    else:
        raise ValueError("unknown conditional conv impl %r" % impl)
    return out + bias[y][:, :, None, None]


def conditional_conv_transpose2d(x, y, table, bias, stride, padding):
    """out[n] = conv_transpose2d(x[n], table[y[n]]) + bias[y[n]].
    x: [N, Cin, H, W], table: [K, Cin, Cout, kh, kw] (PyTorch's ConvTranspose2d layout per label)."""
    n, cin, hh, ww = x.shape
    cout = table.shape[2]
    w = table[y].reshape(n * cin, cout, *table.shape[3:])
    out = F.conv_transpose2d(x.reshape(1, n * cin, hh, ww), w, None, stride, padding, groups=n)
    return out.view(n, cout, out.shape[2], out.shape[3]) + bias[y][:, :, None, None]


class CondTable(nn.Module):
    def __init__(self, k, a, b, kh, kw, bias_channels, trainable):
        super().__init__()
        self.table = nn.Parameter(torch.empty(k, a, b, kh, kw), requires_grad=bool(trainable))
        self.table_bias = nn.Parameter(torch.zeros(k, bias_channels), requires_grad=bool(trainable))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        if c.enc_channels:
            self.conv1 = nn.Conv2d(c.image_channels, c.enc_channels, 3, 2, 1)
        if c.cond_channels:
            self.cond = CondTable(c.num_labels, c.cond_channels, c.image_channels, 3, 3,
                                  c.cond_channels, c.table_trainable)
        self.conv2 = nn.Conv2d(c.enc_channels + c.cond_channels, c.enc2_channels, 3, 2, 1)
        flat = c.enc2_channels * (c.image_h // 4) * (c.image_w // 4)
        self.fc = nn.Linear(flat + c.num_labels, 2 * c.latent)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        flat = c.enc2_channels * (c.image_h // 4) * (c.image_w // 4)
        self.fc = nn.Linear(c.latent + c.num_labels, flat)
        self.deconv1 = nn.ConvTranspose2d(c.enc2_channels, c.dec_channels, 4, 2, 1)
        extra = 0
        if c.cond_decoder:
            self.cond = CondTable(c.num_labels, c.enc2_channels, c.cond_channels, 4, 4,
                                  c.cond_channels, c.table_trainable)
            extra = c.cond_channels
        self.deconv2 = nn.ConvTranspose2d(c.dec_channels + extra, c.image_channels, 4, 2, 1)


def initialize(model):
    """Draws the parameters with torch's generator from the distributions of cvae's
    cfg.init: "torch" = PyTorch's default for every Conv2d, ConvTranspose2d and Linear
    (weights and biases U(+-1/sqrt(fan_in)), a ConvTranspose2d's fan_in = C_out kH kW) and
    the label-indexed tables as the layer whose filters they hold; the other schemes with
    cvae's fans (a transposed conv's fan_in = C_in kH kW / stride^2) and zero biases,
    "he_glorot" being He-normal before a ReLU (every layer but enc.fc and dec.deconv2) and
    Glorot-uniform otherwise (lib/nn/layer.c)."""
    c = model.cfg
    with torch.no_grad():
        if c.init == "torch":
            for mod in model.modules():
                if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    mod.reset_parameters()
            tables = []
            if c.cond_channels:
                tables.append((model.enc.cond, c.image_channels * 9))  # Conv2d [Cc, Cin, 3, 3]
            if c.cond_decoder:
                tables.append((model.dec.cond, c.cond_channels * 16))  # ConvT [64, Cc, 4, 4]
            for t, fan_in in tables:
                bound = 1.0 / fan_in ** 0.5
                t.table.uniform_(-bound, bound)
                t.table_bias.uniform_(-bound, bound)
            return
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
        h4w4 = (c.image_h // 4) * (c.image_w // 4)
        e2 = c.enc_channels + c.cond_channels
        extra = c.cond_channels if c.cond_decoder else 0
        # (parameter, fan_in, fan_out, before a ReLU)
        specs = [(model.enc.conv2.weight, e2 * 9, c.enc2_channels * 9, True),
                 (model.enc.fc.weight, c.enc2_channels * h4w4 + c.num_labels, 2 * c.latent, False),
                 (model.dec.fc.weight, c.latent + c.num_labels, c.enc2_channels * h4w4, True),
                 (model.dec.deconv1.weight, c.enc2_channels * 4, c.dec_channels * 16, True),
                 (model.dec.deconv2.weight, (c.dec_channels + extra) * 4, c.image_channels * 16,
                  False)]
        if c.enc_channels:
            specs.append((model.enc.conv1.weight, c.image_channels * 9, c.enc_channels * 9, True))
        if c.cond_channels:
            specs.append((model.enc.cond.table, c.image_channels * 9, c.cond_channels * 9, True))
        if c.cond_decoder:
            specs.append((model.dec.cond.table, c.enc2_channels * 4, c.cond_channels * 16, True))
        for p, fan_in, fan_out, relu in specs:
            scheme = c.init if c.init != "he_glorot" else "he_normal" if relu else "glorot_uniform"
            if scheme == "he_normal":
                p.normal_(0.0, (2.0 / fan_in) ** 0.5)
            elif scheme == "he_uniform":
                a = (6.0 / fan_in) ** 0.5
                p.uniform_(-a, a)
            else:
                a = (6.0 / (fan_in + fan_out)) ** 0.5
                p.uniform_(-a, a)


# cvae's parameter order (lib/model/model.c), which is also the order of its files.
def param_names(c):
    names = []
    if c.enc_channels:
        names += ["enc.conv1.weight", "enc.conv1.bias"]
    if c.cond_channels:
        names += ["enc.cond.table", "enc.cond.table_bias"]
    names += ["enc.conv2.weight", "enc.conv2.bias", "enc.fc.weight", "enc.fc.bias",
              "dec.fc.weight", "dec.fc.bias", "dec.deconv1.weight", "dec.deconv1.bias"]
    if c.cond_decoder:
        names += ["dec.cond.table", "dec.cond.table_bias"]
    return names + ["dec.deconv2.weight", "dec.deconv2.bias"]


class CVAE(nn.Module):
    """cond_impl: how the encoder's conditional conv runs ("grouped" or "all", see
    conditional_conv2d); fuse: with "all", run conv1's learned filters and the K*Cc table
    filters as one conv (one lowering of x, as cvae does)."""

    def __init__(self, cfg=None, cond_impl="grouped", fuse=False):
        super().__init__()
        self.cfg = cfg or Config()
        self.cond_impl, self.fuse = cond_impl, fuse
        self.enc, self.dec = Encoder(self.cfg), Decoder(self.cfg)
        initialize(self)

    def onehot(self, y, dtype):
        return F.one_hot(y, self.cfg.num_labels).to(dtype)

    def first_layer(self, x, y):
        c, e = self.cfg, self.enc
        if not c.cond_channels:
            return F.conv2d(x, e.conv1.weight, e.conv1.bias, 2, 1)
        if self.fuse and c.enc_channels:
            k, cc, e1 = c.num_labels, c.cond_channels, c.enc_channels
            w = torch.cat([e.conv1.weight, e.cond.table.reshape(k * cc, *e.cond.table.shape[2:])])
            out = F.conv2d(x, w, None, 2, 1)
            n = x.shape[0]
            learned = out[:, :e1] + e.conv1.bias[None, :, None, None]
            cond = out[:, e1:].view(n, k, cc, *out.shape[2:])[torch.arange(n), y]
            return torch.cat([learned, cond + e.cond.table_bias[y][:, :, None, None]], 1)
        parts = [F.conv2d(x, e.conv1.weight, e.conv1.bias, 2, 1)] if c.enc_channels else []
        parts.append(conditional_conv2d(x, y, e.cond.table, e.cond.table_bias, 2, 1, self.cond_impl))
        return torch.cat(parts, 1) if len(parts) > 1 else parts[0]

    def encode(self, x, y):
        """x: [N, C, H, W], y: int64 [N] -> mu, logvar: [N, latent]."""
        h = F.relu(self.first_layer(x, y))
        h2 = F.relu(self.enc.conv2(h))
        stats = self.enc.fc(torch.cat([h2.flatten(1), self.onehot(y, x.dtype)], 1))
        return stats[:, :self.cfg.latent], stats[:, self.cfg.latent:]

    def decode(self, z, y):
        """z: [N, latent], y: int64 [N] -> logits: [N, C, H, W]."""
        c, d = self.cfg, self.dec
        h = F.relu(d.fc(torch.cat([z, self.onehot(y, z.dtype)], 1)))
        h = h.view(z.shape[0], c.enc2_channels, c.image_h // 4, c.image_w // 4)
        d1 = F.relu(d.deconv1(h))
        if c.cond_decoder:
            dc = conditional_conv_transpose2d(h, y, d.cond.table, d.cond.table_bias, 2, 1)
            d1 = torch.cat([d1, F.relu(dc)], 1)
        return d.deconv2(d1)

    def forward(self, x, y, eps=None):
        """Encode, sample, decode: returns logits, mu, logvar."""
        mu, logvar = self.encode(x, y)
        if eps is None:
            eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode(z, y), mu, logvar

    def loss(self, x, y, eps=None):
        """Mean over the batch of the per-image negative ELBO (nats, beta-weighted)."""
        logits, mu, logvar = self(x, y, eps)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1.0 + logvar - mu * mu - torch.exp(logvar))
        return (rec + self.cfg.beta * kl) / x.shape[0]


# ---- safetensors, cvae's flavour (json + struct + numpy only) ----

CRC_MARK = b'"crc32":"'  # cvae's format 2: the crc32 digits follow these bytes (once in the header)


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered (name, float32 array) pairs, packed in that order; metadata: ordered
    (key, string) pairs. Adds "format_version" "2" and "crc32" first, as cvae's writer does:
    the CRC-32 of the whole file written with "00000000" in place of its own digits."""
    arrays = [(name, np.ascontiguousarray(a, dtype="<f4")) for name, a in tensors]
    data = b"".join(a.tobytes() for _, a in arrays)
    meta = OrderedDict([("format_version", "2"), ("crc32", "00000000")])
    meta.update(metadata or [])
    header, at = OrderedDict([("__metadata__", meta)]), 0
    for name, a in arrays:
        header[name] = OrderedDict([("dtype", "F32"), ("shape", list(a.shape)),
                                    ("data_offsets", [at, at + a.nbytes])])
        at += a.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    blob = struct.pack("<Q", len(text)) + text + data
    at = blob.index(CRC_MARK) + len(CRC_MARK)
    blob = blob[:at] + (b"%08x" % zlib.crc32(blob)) + blob[at + 8:]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    """-> (OrderedDict name -> float32 array in header order, metadata dict). Checks the crc32."""
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    if "crc32" in meta:
        if meta.get("format_version") == "2":  # the whole file, its crc32 digits read as zeros
            at = blob.index(CRC_MARK, 8, 8 + n) + len(CRC_MARK)
            want = zlib.crc32(blob[:at] + b"00000000" + blob[at + 8:])
        else:  # format 1: the data section
            want = zlib.crc32(data)
        if int(meta["crc32"], 16) != want:
            raise ValueError("%s: crc32 mismatch" % path)
    out = OrderedDict()
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise ValueError("%s: tensor %s has dtype %s" % (path, name, t["dtype"]))
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"])
    return out, meta


def save_model(path, model):
    """Writes model as a cvae model file (what cvae_model_save writes for the same weights)."""
    params = dict(model.named_parameters())
    tensors = [(name, params[name].detach().cpu().float().numpy()) for name in param_names(model.cfg)]
    write_safetensors(path, tensors, [("cvae.kind", "model"), ("cvae.config", model.cfg.to_json())])


def load_model(path, **kw):
    """Reads a cvae model file (or checkpoint) into a new CVAE (kw go to CVAE())."""
    tensors, meta = read_safetensors(path)
    if meta.get("cvae.kind") not in ("model", "checkpoint"):
        raise ValueError("%s: not a cvae model file" % path)
    model = CVAE(Config.from_json(meta["cvae.config"]), **kw)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in param_names(model.cfg):
            params[name].copy_(torch.from_numpy(tensors[name].copy()))
    return model


# ---- data ----

def read_idx(directory, split):
    """The IDX pair <split>-images-idx3-ubyte.gz / <split>-labels-idx1-ubyte.gz ->
    (images uint8 [n, rows, cols], labels int64 [n])."""
    def raw(name):
        p = os.path.join(directory, name)
        return gzip.open(p + ".gz").read() if os.path.exists(p + ".gz") else open(p, "rb").read()
    img = raw("%s-images-idx3-ubyte" % split)
    lab = raw("%s-labels-idx1-ubyte" % split)
    magic, n, rows, cols = struct.unpack(">IIII", img[:16])
    magic2, n2 = struct.unpack(">II", lab[:8])
    if magic != 0x803 or magic2 != 0x801 or n != n2:
        raise ValueError("%s: bad IDX files" % directory)
    images = np.frombuffer(img, np.uint8, n * rows * cols, 16).reshape(n, rows, cols)
    return images, np.frombuffer(lab, np.uint8, n, 8).astype(np.int64)


DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-digits-5k")
