#!/usr/bin/env python3
"""Produces the Hugging Face transformers reference that kvsvd's forward pass is tested against.

Builds a random-init LlamaForCausalLM of a deliberately unusual shape (GQA ratio 3, explicit
head_dim 40 that differs from hidden/heads, llama3 RoPE scaling with positions past
original_max_position_embeddings, untied head), stores it in bf16 across several safetensors
shards, and dumps transformers' fp32 logits (the stored bf16 weights upcast), the mean NLL and a
greedy continuation. Run on the GPU box (or any machine with transformers):
    make-reference.py --out tests/data/hf-ref
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_config import check_rope, greedy, llama_config  # noqa: E402

THETA = 500000.0
SCALING = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
           "original_max_position_embeddings": 32}
SEQ_LEN, VOCAB, HEAD_DIM = 80, 1000, 40


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    import transformers
    from transformers import LlamaForCausalLM

    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    cfg = llama_config(dict(vocab_size=VOCAB, hidden_size=192, intermediate_size=352,
                            num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=2,
                            head_dim=HEAD_DIM, max_position_embeddings=1024, rms_norm_eps=1e-5,
                            tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                            hidden_act="silu", attention_bias=False, initializer_range=0.08),
                       theta=THETA, scaling=SCALING)
    model = LlamaForCausalLM(cfg)
    check_rope(model, HEAD_DIM, THETA, SCALING)
    with torch.no_grad():  # non-trivial norms, so that RMSNorm weights are really tested
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
    mdir = os.path.join(a.out, "model")
    os.makedirs(mdir, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(mdir, safe_serialization=True, max_shard_size="400KB")
    shards = [f for f in os.listdir(mdir) if f.endswith(".safetensors")]
    if len(shards) < 2:
        raise SystemExit(f"expected several shards, got {shards}")

    ref = LlamaForCausalLM.from_pretrained(mdir, dtype=torch.float32).eval()
    g = torch.Generator().manual_seed(a.seed + 1)
    ids = torch.randint(3, VOCAB, (2, SEQ_LEN), generator=g)
    with torch.no_grad():
        logits = ref(input_ids=ids).logits.float()
        lp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
        nll = -lp.gather(-1, ids[:, 1:].unsqueeze(-1)).mean().item()
        prompt = ids[0, :20].tolist()
        new_ids = greedy(ref, prompt, 40)
    logits.numpy().astype("<f4").tofile(os.path.join(a.out, "logits.f32"))
    with open(os.path.join(a.out, "reference.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "logits_file": "logits.f32",
                   "logits_shape": list(logits.shape), "nll_mean": nll, "prompt_ids": prompt,
                   "greedy_new_ids": new_ids, "max_new_tokens": 40,
                   "transformers": transformers.__version__, "torch": torch.__version__,
                   "note": "fp32 forward of the stored bf16 weights; greedy without EOS stop"}, f)
    print(f"reference: shards {sorted(shards)}, logits {tuple(logits.shape)}, "
          f"max |logit| {logits.abs().max().item():.3f}, nll {nll:.5f}")


if __name__ == "__main__":
    main()
