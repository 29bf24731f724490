"""Builds a transformers LlamaConfig with RoPE settings that work on transformers 4.x
(rope_theta + rope_scaling) and 5.x (rope_parameters), and checks that they took effect."""
import math

import torch


def expected_inv_freq(head_dim, theta, scaling=None):
    """inv_freq as transformers computes it, with optional llama3 scaling (float32)."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    if scaling is None:
        return inv
    factor, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    orig = scaling["original_max_position_embeddings"]
    low_wl, high_wl = orig / lo, orig / hi
    wavelen = 2 * math.pi / inv
    out = torch.where(wavelen > low_wl, inv / factor, inv)
    smooth = (orig / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
    return torch.where(medium, smoothed, out)


def llama_config(fields, theta, scaling=None):
    from transformers import LlamaConfig
    import transformers
    major = int(transformers.__version__.split(".")[0])
    fields = dict(fields)
    if major >= 5:
        rp = {"rope_type": "default", "rope_theta": theta}
        if scaling is not None:
            rp = dict(scaling, rope_type="llama3", rope_theta=theta)
        cfg = LlamaConfig(**fields, rope_parameters=rp)
    else:
        rs = None if scaling is None else dict(scaling, rope_type="llama3")
        cfg = LlamaConfig(**fields, rope_theta=theta, rope_scaling=rs)
    return cfg


def check_rope(model, head_dim, theta, scaling=None):
    """Fails loudly if the model's rotary embedding is not the one asked for."""
    got = model.model.rotary_emb.inv_freq.detach().float().cpu()
    want = expected_inv_freq(head_dim, theta, scaling)
    err = (got - want).abs().max().item()
    if err > 1e-6 * want.abs().max().item():
        raise SystemExit(f"RoPE mismatch: max |inv_freq - expected| = {err}")


@torch.no_grad()
def greedy(model, prompt, max_new, device="cpu"):
    """Greedy continuation with transformers' forward, full re-run each step (no EOS stop)."""
    ids = list(prompt)
    for _ in range(max_new):
        logits = model(input_ids=torch.tensor([ids], device=device)).logits
        ids.append(int(logits[0, -1].float().argmax().item()))
    return ids[len(prompt):]
