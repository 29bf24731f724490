#!/usr/bin/env python3
"""kvsvd's model fingerprint (core/checkpoint/fingerprint.h) computed with Python's hashlib.

An independent implementation of the scheme, used to cross-check the C++ value pinned in
tests/core/store/fingerprint-pin-test.cpp. Reads one unsharded model.safetensors or the shards
named by model.safetensors.index.json.

    scripts/model-fingerprint.py MODEL_DIR
"""
import hashlib
import json
import os
import struct
import sys

EDGE, BLOCK, BLOCKS = 64 * 1024, 4 * 1024, 64


def u64(v):
    return struct.pack("<Q", v)


def put_str(h, s):
    h.update(u64(len(s)))
    h.update(s)


def sample(h, data):
    n = len(data)
    if n <= 2 * EDGE + BLOCKS * BLOCK:
        h.update(data)
        return
    h.update(data[:EDGE])
    first, last = EDGE, n - EDGE - BLOCK
    for k in range(BLOCKS):
        off = first + (last - first) * k // (BLOCKS - 1)
        h.update(data[off:off + BLOCK])
    h.update(data[n - EDGE:])


def tensors(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) \
        else ["model.safetensors"]
    out = {}
    for name in files:
        raw = open(os.path.join(model_dir, name), "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        base = 8 + n
        for key, t in header.items():
            if key == "__metadata__":
                continue
            b, e = t["data_offsets"]
            out[key] = (t["dtype"], t["shape"], raw[base + b:base + e])
    return out


def main():
    model_dir = sys.argv[1]
    ts = tensors(model_dir)
    h = hashlib.sha256()
    put_str(h, b"kvsvd-model-fp-v1")
    put_str(h, open(os.path.join(model_dir, "config.json"), "rb").read())
    names = sorted(ts)
    h.update(u64(len(names)))
    for name in names:
        dtype, shape, data = ts[name]
        put_str(h, name.encode())
        put_str(h, dtype.encode())
        h.update(u64(len(shape)))
        for d in shape:
            h.update(u64(d))
        h.update(u64(len(data)))
        if data:
            sample(h, data)
    print(h.hexdigest())


if __name__ == "__main__":
    main()
