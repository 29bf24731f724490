#!/usr/bin/env python3
"""The Python side of the LLaMA-3-8B-shaped GPU benchmark (scripts/gpu-bench.sh).

  make DIR [--shape 8b|70b] [--num-layers N]
                           writes an 8B- (default) or 70B-shaped checkpoint: LLaMA-3-8B's or
                           LLaMA-3-70B's exact config.json and random bf16 weights (std 0.02) in
                           safetensors shards, four layers a shard; cheap (on GPU). --num-layers
                           keeps the first N layers (num_hidden_layers = N; 70B in full is 141 GB)
  python-profile DIR       "the obvious Python way" of building a weight_svd profile:
                           transformers from_pretrained of the whole model + torch.linalg.svd
                           per KV head of W_K and W_V; prints JSON timings
  windows DIR OUT N L      N random token windows of L tokens (seeded) as a token-id JSON file
  prefill DIR WINDOWS B [DUMP]  transformers (bf16, SDPA) perplexity pass over the windows, batch
                           B; prints tokens/s and the mean NLL (for agreement with kvsvd); DUMP:
                           raw float32 logits of the last 16 positions of the first 2 windows
  decode DIR BS CTXS NEW   transformers generate (dynamic cache) for every batch in BS and context
                           in CTXS (comma lists), NEW tokens each; one JSON line per point
  decode-static DIR PTS NEW  transformers generate over one StaticCache of fixed length per point
                           (PTS: BxC comma list), reused for every call, so the decoding step it
                           compiles is compiled before the timing; one JSON line per point
  compare A B              max |A - B| and top-1 agreement of two raw float32 logit dumps
  bandwidth                device-to-device copy bandwidth (bytes read + written per second)
Speed does not depend on what the weights learned, so random weights are fine here.
"""
import json
import math
import os
import sys
import time

import torch

CONFIG_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
    "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 128,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": False,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_cache": True, "vocab_size": 128256,
}

# LLaMA-3-70B's config.json: the 8B's with the 70B's widths and depth.
CONFIG_70B = dict(CONFIG_8B, hidden_size=8192, intermediate_size=28672, num_attention_heads=64,
                  num_hidden_layers=80)
SHAPES = {"8b": CONFIG_8B, "70b": CONFIG_70B}


def now():
    torch.cuda.synchronize()
    return time.perf_counter()


def make(d, *opts):
    from safetensors.torch import save_file
    shape, layers = "8b", None
    it = iter(opts)
    for o in it:
        v = next(it, None)
        if v is None:
            sys.exit(f"make: {o} needs a value")
        if o == "--shape" and v in SHAPES:
            shape = v
        elif o == "--num-layers" and v.isdigit() and int(v) >= 1:
            layers = int(v)
        else:
            sys.exit(f"make: bad option {o} {v} (--shape 8b|70b, --num-layers N >= 1)")
    c = dict(SHAPES[shape])
    if layers is not None:
        if layers > c["num_hidden_layers"]:
            sys.exit(f"make: --num-layers {layers}: the {shape} shape has {c['num_hidden_layers']}")
        c["num_hidden_layers"] = layers
    os.makedirs(d, exist_ok=True)
    H, I, V, L = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_hidden_layers"]
    qd, kvd = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(0)

    def rnd(*shape):
        return (torch.randn(*shape, generator=g, device=dev, dtype=torch.float32) * 0.02).to(torch.bfloat16)

    shards, weight_map = [], {}
    t0 = time.time()
    groups = [["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]]
    groups += [[f"model.layers.{l}." for l in range(s, min(L, s + 4))] for s in range(0, L, 4)]
    for i, grp in enumerate(groups):
        tensors = {}
        if i == 0:
            tensors["model.embed_tokens.weight"] = rnd(V, H)
            tensors["model.norm.weight"] = torch.ones(H, dtype=torch.bfloat16, device=dev)
            tensors["lm_head.weight"] = rnd(V, H)
        else:
            for p in grp:
                tensors[p + "input_layernorm.weight"] = torch.ones(H, dtype=torch.bfloat16, device=dev)
                tensors[p + "post_attention_layernorm.weight"] = torch.ones(H, dtype=torch.bfloat16, device=dev)
                tensors[p + "self_attn.q_proj.weight"] = rnd(qd, H)
                tensors[p + "self_attn.k_proj.weight"] = rnd(kvd, H)
                tensors[p + "self_attn.v_proj.weight"] = rnd(kvd, H)
                tensors[p + "self_attn.o_proj.weight"] = rnd(H, qd)
                tensors[p + "mlp.gate_proj.weight"] = rnd(I, H)
                tensors[p + "mlp.up_proj.weight"] = rnd(I, H)
                tensors[p + "mlp.down_proj.weight"] = rnd(H, I)
        name = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        save_file({k: v.cpu() for k, v in tensors.items()}, os.path.join(d, name), metadata={"format": "pt"})
        for k in tensors:
            weight_map[k] = name
        shards.append(name)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    print(json.dumps({"make_seconds": time.time() - t0, "shards": len(shards), "shape": shape,
                      "layers": c["num_hidden_layers"]}))


def python_profile(d):
    from transformers import LlamaForCausalLM
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.bfloat16, device_map="cuda")
    t1 = now()
    c, out = model.config, []
    hd, nkv = c.head_dim, c.num_key_value_heads
    for layer in model.model.layers:
        for w in (layer.self_attn.k_proj.weight, layer.self_attn.v_proj.weight):
            for h in range(nkv):
                u, s, _ = torch.linalg.svd(w[h * hd:(h + 1) * hd].float(), full_matrices=False)
                out.append((u.cpu(), s.cpu()))
    t2 = now()
    print(json.dumps({"python_load_s": t1 - t0, "python_svd_s": t2 - t1, "python_total_s": t2 - t0,
                      "heads": len(out)}))


def windows(d, out, n, seq):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, CONFIG_8B["vocab_size"], (int(n), int(seq)), generator=g)
    with open(out, "w") as f:
        json.dump(ids.tolist(), f)


@torch.no_grad()
def prefill(d, wfile, batch, dump=None):
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.bfloat16, device_map="cuda",
                                             attn_implementation="sdpa").eval()
    wins = torch.tensor(json.load(open(wfile)))
    batch = int(batch)
    x = wins[:batch].cuda()
    model(input_ids=x, use_cache=False)  # warm-up
    nll, count = 0.0, 0
    dumped = []
    t0 = now()
    for i in range(0, len(wins) - batch + 1, batch):
        x = wins[i:i + batch].cuda()
        logits = model(input_ids=x, use_cache=False, logits_to_keep=0).logits
        if dump and len(dumped) < 2:
            dumped += [logits[b, -16:].float().cpu() for b in range(min(batch, 2 - len(dumped)))]
        lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        nll -= lp.gather(-1, x[:, 1:].unsqueeze(-1)).double().sum().item()
        count += x[:, 1:].numel()
        del logits, lp
    t1 = now()
    if dump:
        torch.stack(dumped).numpy().astype("float32").tofile(dump)
    tokens = (len(wins) // batch) * batch * wins.shape[1]
    print(json.dumps({"hf_prefill_tokens_per_s": tokens / (t1 - t0), "hf_nll_mean": nll / count,
                      "windows": len(wins), "seq_len": wins.shape[1], "batch": batch,
                      "hf_peak_bytes": torch.cuda.max_memory_allocated()}))


@torch.no_grad()
def decode(d, batches, contexts, new):
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.bfloat16, device_map="cuda").eval()
    new = int(new)
    g = torch.Generator().manual_seed(2)
    x0 = torch.randint(0, CONFIG_8B["vocab_size"], (1, 64), generator=g).cuda()
    model.generate(x0, max_new_tokens=4, min_new_tokens=4, do_sample=False)  # warm-up
    for batch in [int(b) for b in batches.split(",")]:
        for ctx in [int(c) for c in contexts.split(",")]:
            x = torch.randint(0, CONFIG_8B["vocab_size"], (batch, ctx), generator=g).cuda()
            row = {"batch": batch, "context": ctx, "new_tokens": new}
            try:
                torch.cuda.reset_peak_memory_stats()
                t0 = now()
                model.generate(x, max_new_tokens=1, min_new_tokens=1, do_sample=False)
                t1 = now()
                model.generate(x, max_new_tokens=new + 1, min_new_tokens=new + 1, do_sample=False)
                t2 = now()
                decode_s = (t2 - t1) - (t1 - t0)  # subtract the prefill + first token
                row.update({"hf_decode_tokens_per_s": batch * new / decode_s,
                            "hf_peak_bytes": torch.cuda.max_memory_allocated()})
            except torch.OutOfMemoryError:
                row["hf_error"] = "out of memory"
            torch.cuda.empty_cache()
            print(json.dumps(row), flush=True)


def static_cache(model, batch, max_len):
    from transformers import StaticCache
    try:  # transformers 5: batch, device and dtype taken from the first update
        return StaticCache(config=model.config, max_cache_len=max_len)
    except TypeError:
        return StaticCache(config=model.config, max_batch_size=batch, max_cache_len=max_len,
                           device="cuda", dtype=torch.bfloat16)


def decode_static(d, points, new):
    """transformers generate with one StaticCache of fixed max_cache_len per point, reused for
    every call (warm-up and timed), so the decoding step that generate compiles for static caches
    is compiled once before the timing and never inside it."""
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.bfloat16, device_map="cuda").eval()
    new = int(new)
    g = torch.Generator().manual_seed(2)
    for p in points.split(","):
        batch, ctx = (int(v) for v in p.split("x"))
        max_len = ctx + new + 1
        x = torch.randint(0, CONFIG_8B["vocab_size"], (batch, ctx), generator=g).cuda()
        row = {"batch": batch, "context": ctx, "new_tokens": new, "hf_static_max_cache_len": max_len}
        try:
            cache = static_cache(model, batch, max_len)

            def gen(n):
                cache.reset()
                return model.generate(x, past_key_values=cache, max_new_tokens=n, min_new_tokens=n,
                                      do_sample=False)
            torch.cuda.reset_peak_memory_stats()
            t = now()
            for _ in range(2):  # compilation and CUDA-graph recording happen here
                gen(new + 1)
            row["hf_static_warmup_s"] = now() - t
            t0 = now()
            gen(1)
            t1 = now()
            gen(new + 1)
            t2 = now()
            decode_s = (t2 - t1) - (t1 - t0)
            row.update({"hf_static_decode_tokens_per_s": batch * new / decode_s,
                        "hf_static_ms_per_step": 1e3 * decode_s / new,
                        "hf_static_compiled": hasattr(model, "_compiled_call"),
                        "hf_static_peak_bytes": torch.cuda.max_memory_allocated()})
            del cache
        except torch.OutOfMemoryError:
            row["hf_static_error"] = "out of memory"
        torch.cuda.empty_cache()
        print(json.dumps(row), flush=True)


def bandwidth():
    n = 2 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    t0 = now()
    reps = 10
    for _ in range(reps):
        b.copy_(a)
    t1 = now()
    print(json.dumps({"copy_bandwidth_bytes_per_s": 2 * n * reps / (t1 - t0)}))


def compare(a, b):
    import numpy as np
    x, y = np.fromfile(a, dtype=np.float32), np.fromfile(b, dtype=np.float32)
    v = CONFIG_8B["vocab_size"]
    x, y = x.reshape(-1, v), y.reshape(-1, v)
    print(json.dumps({"logits_max_abs_diff": float(np.abs(x - y).max()),
                      "logits_max_abs": float(np.abs(y).max()),
                      "top1_agreement": float((x.argmax(-1) == y.argmax(-1)).mean()),
                      "positions": int(x.shape[0])}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"make": make, "python-profile": python_profile, "windows": windows, "prefill": prefill,
     "decode": decode, "decode-static": decode_static, "bandwidth": bandwidth, "compare": compare}[cmd](*args)
