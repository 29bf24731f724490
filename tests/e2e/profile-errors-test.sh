#!/usr/bin/env bash
# `kvsvd profile` on bad input: every case must end non-zero with a message naming the culprit,
# and a rank that fails mid-run (KVSVD_FAULT_INJECT) must end the whole MPI job non-zero with no
# file at the final store name. Each failing case is paired with a run that succeeds, so that a
# case cannot pass because of an unrelated error.
#
#   tests/e2e/profile-errors-test.sh KVSVD_BINARY REPO_ROOT
set -euo pipefail
kvsvd=$(realpath "${1:?usage: $0 KVSVD_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: $0 KVSVD_BINARY REPO_ROOT}")
model=$root/assets/models/sotu-llama-tiny
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
work=$(mktemp -d /tmp/kvsvd-e2e-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
say() { printf '%s\n' "$*"; }

# expect_fail NAME PATTERN CMD...: CMD must exit non-zero and print PATTERN (grep -E) on stderr.
expect_fail() {
  local name=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$work/out.txt" 2>"$work/err.txt" || rc=$?
  if [ "$rc" -eq 0 ]; then
    say "FAIL [$name]: exit 0, expected non-zero"; failures=$((failures + 1)); return
  fi
  if ! grep -Eq -- "$pattern" "$work/err.txt"; then
    say "FAIL [$name]: exit $rc but stderr lacks /$pattern/:"; sed 's/^/    /' "$work/err.txt" | head -20
    failures=$((failures + 1)); return
  fi
  say "ok   [$name]: exit $rc, $(grep -Em1 -- "$pattern" "$work/err.txt" | cut -c1-160)"
}

# expect_ok NAME CMD...: CMD must exit 0.
expect_ok() {
  local name=$1; shift
  local rc=0
  "$@" >"$work/out.txt" 2>"$work/err.txt" || rc=$?
  if [ "$rc" -ne 0 ]; then
    say "FAIL [$name]: exit $rc:"; sed 's/^/    /' "$work/err.txt" | tail -20; failures=$((failures + 1)); return
  fi
  say "ok   [$name]"
}

# A tiny random float32 Llama checkpoint; MISSING (a tensor-name suffix) is left out.
write_model() {  # write_model DIR SEED [MISSING]
  python3 - "$1" "$2" "${3:-}" <<'PY'
import json, os, random, struct, sys
d, seed, missing = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(d, exist_ok=True)
rng = random.Random(seed)
H, L, Hq, Hkv, hd, I, V = 32, 4, 4, 2, 8, 48, 40
tensors = {"model.embed_tokens.weight": [V, H], "model.norm.weight": [H], "lm_head.weight": [V, H]}
for l in range(L):
    p = f"model.layers.{l}."
    tensors.update({p + "input_layernorm.weight": [H], p + "post_attention_layernorm.weight": [H],
                    p + "self_attn.q_proj.weight": [Hq * hd, H], p + "self_attn.k_proj.weight": [Hkv * hd, H],
                    p + "self_attn.v_proj.weight": [Hkv * hd, H], p + "self_attn.o_proj.weight": [H, Hq * hd],
                    p + "mlp.gate_proj.weight": [I, H], p + "mlp.up_proj.weight": [I, H],
                    p + "mlp.down_proj.weight": [H, I]})
header, data = {}, b""
for name, shape in tensors.items():
    if missing and name.endswith(missing):
        continue
    n = 1
    for s in shape:
        n *= s
    raw = struct.pack(f"<{n}f", *[rng.gauss(0, 0.2) for _ in range(n)])
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(d, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
       "intermediate_size": I, "num_hidden_layers": L, "num_attention_heads": Hq,
       "num_key_value_heads": Hkv, "head_dim": hd, "vocab_size": V, "max_position_embeddings": 128,
       "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 0, "eos_token_id": 1,
       "tie_word_embeddings": False, "torch_dtype": "float32"}
with open(os.path.join(d, "config.json"), "w") as f:
    json.dump(cfg, f)
PY
}
write_model "$work/rand-a" 1
write_model "$work/rand-b" 2
write_model "$work/no-kproj" 3 self_attn.k_proj.weight

# 1. rank above head_dim (64 for the bundled model), from a flag and from the value ranks.
expect_ok "valid ranks" "$kvsvd" profile --model "$model" --out "$work/ok.h5" --key-rank 64 --value-ranks low=8,high=64
expect_fail "key rank above head_dim" "--key-rank 65: must lie in 1\.\.head_dim \(head_dim = 64\)" \
  "$kvsvd" profile --model "$model" --out "$work/r.h5" --key-rank 65
expect_fail "value rank above head_dim" "--value-ranks high=96: rank above head_dim \(head_dim = 64\)" \
  "$kvsvd" profile --model "$model" --out "$work/r.h5" --value-ranks low=8,high=96
[ ! -e "$work/r.h5" ] && [ ! -e "$work/r.h5.partial" ] || { say "FAIL: a rejected run left a store"; failures=$((failures + 1)); }

# 2. unknown method / key space (the message lists the valid names from the method table).
expect_fail "unknown method" "--method 'svd_magic': unknown method \(expected weight_svd\|activation_pca\|output_aware\)" \
  "$kvsvd" profile --model "$model" --out "$work/m.h5" --method svd_magic
expect_fail "unknown method in YAML" "method.*unknown method" \
  bash -c "printf 'method: nope\n' > '$work/bad.yaml' && '$kvsvd' profile --model '$model' --out '$work/m.h5' --config '$work/bad.yaml'"
expect_fail "unknown YAML key" "key_rnak" \
  bash -c "printf 'key_rnak: 4\n' > '$work/typo.yaml' && '$kvsvd' profile --model '$model' --out '$work/m.h5' --config '$work/typo.yaml'"
expect_fail "post_rope with weight_svd" "post_rope needs --method activation_pca" \
  "$kvsvd" profile --model "$model" --out "$work/m.h5" --key-space post_rope

# 3. a model without the tensors the method needs (same command succeeds on a complete model).
expect_ok "complete random model" "$kvsvd" profile --model "$work/rand-a" --out "$work/rand-a.h5"
expect_fail "model lacks k_proj" "lacks tensors that weight_svd needs: model\.layers\.0\.self_attn\.k_proj\.weight" \
  "$kvsvd" profile --model "$work/no-kproj" --out "$work/t.h5"
expect_fail "no model given" "--model DIR \(or the environment variable KVSVD_MODEL\) is required" \
  env -u KVSVD_MODEL "$kvsvd" profile --out "$work/t.h5"

# 4. unwritable output paths.
expect_fail "output directory missing" "$work/no-such-dir" \
  "$kvsvd" profile --model "$model" --out "$work/no-such-dir/s.h5"
touch "$work/a-file"
expect_fail "output parent is a file" "$work/a-file" \
  "${mpirun[@]}" -np 2 "$kvsvd" profile --model "$model" --out "$work/a-file/s.h5"
expect_fail "existing store without --overwrite" "ok\.h5" \
  "$kvsvd" profile --model "$model" --out "$work/ok.h5"

# 5. a rank that throws mid-run: rank 1 owns layers 3..5 of 6; it fails at its second layer,
#    after rank 0 has written layers 0 and 3. The job ends non-zero, nothing at the final name.
expect_ok "2 ranks without a fault" "${mpirun[@]}" -np 2 "$kvsvd" profile --model "$model" --out "$work/np2.h5"
grep -q "profile: layers 6/6 done" "$work/err.txt" || { say "FAIL: no progress line"; failures=$((failures + 1)); }
grep -q "calibrate" "$work/err.txt" || { say "FAIL: no timing table"; failures=$((failures + 1)); }
# The timing line for scripts: JSON with one entry per rank, every phase a number >= 0.
sed -n 's/^profile: timing //p' "$work/err.txt" | python3 -c '
import json, sys
ranks = json.loads(sys.stdin.read())["seconds_per_rank"]
assert len(ranks) == 2, ranks
for r in ranks:
    for p in ["load", "calibrate", "decompose", "gather", "write", "total"]:
        assert isinstance(r[p], float) and r[p] >= 0, (p, r)
' || { say "FAIL: no valid timing JSON line"; failures=$((failures + 1)); }
expect_fail "fault on rank 1 at layer 4" "fault injected by KVSVD_FAULT_INJECT='profile:rank1:layer4' on rank 1 at layer 4" \
  env KVSVD_FAULT_INJECT=profile:rank1:layer4 "${mpirun[@]}" -np 2 "$kvsvd" profile --model "$model" --out "$work/fault.h5"
if [ -e "$work/fault.h5" ]; then say "FAIL: a failed job left $work/fault.h5"; failures=$((failures + 1)); fi
[ -e "$work/fault.h5.partial" ] || { say "FAIL: the failed job left no .partial to resume"; failures=$((failures + 1)); }
expect_fail "fault spec for a layer the rank does not own" "rank 0 does not profile layer 5" \
  env KVSVD_FAULT_INJECT=profile:rank0:layer5 "${mpirun[@]}" -np 2 "$kvsvd" profile --model "$model" --out "$work/f2.h5"
expect_fail "malformed fault spec" "expected profile:rank<R>:layer<L>" \
  env KVSVD_FAULT_INJECT=profile:bogus "$kvsvd" profile --model "$model" --out "$work/f3.h5"

# 6. --resume with a store of another model (same shapes, other weights): an interrupted .partial
#    and a finished store.
expect_fail "fault on rank 1 at layer 3 (random model)" "fault injected" \
  env KVSVD_FAULT_INJECT=profile:rank1:layer3 "${mpirun[@]}" -np 2 "$kvsvd" profile --model "$work/rand-a" --out "$work/rand-fault.h5"
expect_fail "resume a .partial of another model" "model_fingerprint" \
  "$kvsvd" profile --model "$work/rand-b" --out "$work/rand-fault.h5" --resume
expect_fail "resume a finished store of another model" "another model" \
  "$kvsvd" profile --model "$work/rand-b" --out "$work/rand-a.h5" --resume
expect_fail "resume with another config" "profile.config|profile_config" \
  "$kvsvd" profile --model "$model" --out "$work/fault.h5" --resume --key-rank 8
expect_ok "resume the interrupted run (same model, 3 ranks)" \
  "${mpirun[@]}" -np 3 "$kvsvd" profile --model "$model" --out "$work/fault.h5" --resume
grep -q "2 of 6 layers already complete" "$work/err.txt" || { say "FAIL: resume did not skip the 2 written layers"; sed 's/^/    /' "$work/err.txt" | head; failures=$((failures + 1)); }
[ -e "$work/fault.h5" ] && [ ! -e "$work/fault.h5.partial" ] || { say "FAIL: resume did not finish the store"; failures=$((failures + 1)); }
# The resumed store holds the same numbers as the uninterrupted one (layer datasets compared).
if command -v h5dump >/dev/null; then
  for l in 0 3 5; do
    if ! cmp -s <(h5dump -d /layers/$l/key_basis "$work/np2.h5" | tail -n +3) \
                <(h5dump -d /layers/$l/key_basis "$work/fault.h5" | tail -n +3); then
      say "FAIL: layer $l key_basis differs between the resumed and the uninterrupted store"; failures=$((failures + 1))
    fi
  done
fi

if [ "$failures" -ne 0 ]; then say "test-profile-errors: $failures failure(s)"; exit 1; fi
say "test-profile-errors: all cases passed"
