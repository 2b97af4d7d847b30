#!/usr/bin/env python3
"""Independent check of a cvae safetensors file (standard library only).

Usage: read_safetensors.py FILE

Validates the layout as the Hugging Face spec defines it (u64 little-endian
header length, UTF-8 JSON object starting with '{', header padded so the data
section starts at a multiple of 8, F32 tensors tiling the data section exactly,
string metadata) plus cvae's own metadata: format_version "2" (crc32: 8 lowercase
hex digits, the CRC-32 of the whole file with those digits read as "00000000",
found after the bytes "crc32":" which occur once in the header) or "1" (crc32
of the data section only). Prints one line per tensor in header
order: "tensor NAME SHAPE sum=%.17g crc=%08x" (sum of the values in double, in
order), then "meta KEY=VALUE" per user metadata entry in header order, then
"ok". Exits 1 with a message on stderr at the first violation.
"""
import json
import struct
import sys
import zlib


def fail(msg):
    sys.stderr.write("read_safetensors.py: %s\n" % msg)
    sys.exit(1)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        fail("duplicate key in %r" % keys)
    return dict(pairs)


def main():
    if len(sys.argv) != 2:
        fail("usage: read_safetensors.py FILE")
    blob = open(sys.argv[1], "rb").read()
    if len(blob) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        fail("header length %d beyond the file" % n)
    if (8 + n) % 8 != 0:
        fail("data section does not start at a multiple of 8")
    raw = blob[8:8 + n]
    if not raw.startswith(b"{"):
        fail("header does not start with '{'")
    text = raw.decode("utf-8")
    if text.rstrip(" ") != text.rstrip():
        fail("header padded with something other than spaces")
    header = json.loads(text, object_pairs_hook=no_duplicates)
    order = [k for k in json.loads(text, object_pairs_hook=lambda p: [k for k, _ in p])]
    data = blob[8 + n:]
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        fail("__metadata__ is not a map of strings")
    version = meta.get("format_version")
    crc = meta.get("crc32", "")
    if len(crc) != 8 or crc != crc.lower() or any(c not in "0123456789abcdef" for c in crc):
        fail("crc32 %r is not 8 lowercase hex digits" % crc)
    if version == "2":
        mark = b'"crc32":"'
        if raw.count(mark) != 1:
            fail("the header holds %r %d times, not once" % (mark, raw.count(mark)))
        at = 8 + raw.index(mark) + len(mark)
        if blob[at:at + 9] != crc.encode() + b'"':
            fail("the bytes after %r are not the crc32 value" % mark)
        covered, want = "the file", zlib.crc32(blob[:at] + b"00000000" + blob[at + 8:])
    elif version == "1":
        covered, want = "the data section", zlib.crc32(data)
    else:
        fail("format_version is %r" % version)
    if int(crc, 16) != want:
        fail("crc32 %s does not match %s (%08x)" % (crc, covered, want))
    spans = []
    out = []
    for name in order:
        if name == "__metadata__":
            continue
        info = header[name]
        if sorted(info) != ["data_offsets", "dtype", "shape"]:
            fail("tensor %r has fields %r" % (name, sorted(info)))
        if info["dtype"] != "F32":
            fail("tensor %r has dtype %r" % (name, info["dtype"]))
        shape = info["shape"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            fail("tensor %r has shape %r" % (name, shape))
        begin, end = info["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if not (0 <= begin <= end <= len(data)) or end - begin != 4 * count:
            fail("tensor %r has data_offsets %r for shape %r" % (name, [begin, end], shape))
        spans.append((begin, end))
        chunk = data[begin:end]
        total = 0.0
        for (v,) in struct.iter_unpack("<f", chunk):
            total += v
        out.append("tensor %s %s sum=%.17g crc=%08x" % (
            name, ",".join(str(d) for d in shape), total, zlib.crc32(chunk)))
    at = 0
    for begin, end in sorted(spans):
        if begin != at:
            fail("tensors do not tile the data section at byte %d" % at)
        at = end
    if at != len(data):
        fail("data section has %d bytes, tensors end at %d" % (len(data), at))
    for key in meta:
        if key not in ("format_version", "crc32"):
            out.append("meta %s=%s" % (key, meta[key]))
    out.append("ok")
    sys.stdout.buffer.write(("\n".join(out) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
