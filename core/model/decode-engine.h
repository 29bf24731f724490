// The decode engine of generate, evaluate's generation metrics and bench decode: a fixed-capacity
// full cache per (batch, capacity), QKV and gate/up each one GEMM over weights concatenated once,
// fused residual+RMSNorm, RoPE-from-table+append and split-K attention kernels, sampling on the
// device. On CUDA each decode step is one CUDA graph replay (captured once per batch size and
// capacity, no host synchronisation inside a step); the CPU runs the same step eagerly.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/model/device-sampler.h"
#include "core/model/llama.h"

namespace kvsvd {

class StepCache;

// Makes the engine's fixed-capacity cache for (batch, capacity); the default makes a
// StaticFullCache in the model's dtype on its device.
using StepCacheMaker = std::function<std::unique_ptr<StepCache>(int64_t batch, int64_t capacity)>;

struct DecodeStats {
  double prefill_seconds = 0;  // device synchronised at both ends
  double decode_seconds = 0;   // from the first decode step to the last token read back
  int64_t steps = 0;           // decode steps run (each gives one token per sequence)
  bool graph = false;          // steps were CUDA graph replays
  int64_t kv_bytes = 0;        // bytes the fixed-capacity cache holds
};

class DecodeEngine {
 public:
  // cuda_graph: replay captured steps on CUDA (ignored on the CPU).
  explicit DecodeEngine(const LlamaModel& model, bool cuda_graph = true,
                        StepCacheMaker make_cache = {});
  ~DecodeEngine();

  // prompts: [B, C] int64 (any device), every sequence C tokens. Generates up to max_new tokens
  // per sequence; a sequence ends after its first id in stop_ids, and decoding stops once every
  // sequence has ended (tokens are read back every `check_every` steps). capacity 0: C + max_new.
  // A context longer than the capacity or the model's max_position_embeddings is refused, naming
  // both numbers, before any device work. Returns the new ids per sequence (stop id included).
  std::vector<std::vector<int64_t>> generate(const at::Tensor& prompts, int64_t max_new,
                                             const SamplingConfig& sampling,
                                             const std::vector<int64_t>& stop_ids = {},
                                             DecodeStats* stats = nullptr, int64_t capacity = 0,
                                             int64_t check_every = 16);

  // Lower level, for tests: prefill `prompts` [B, C] into the (batch, capacity) cache, then
  // feed `forced` [B, S] ids one step at a time (eager, no graph) and return every step's
  // logits [B, S+1, V] float32, entry 0 being the prefill's last position.
  at::Tensor teacher_forced_logits(const at::Tensor& prompts, const at::Tensor& forced,
                                   int64_t capacity);

  // Frees every cache and graph (bench: between points of different shapes).
  void release();
  // Caches from now on come from `make_cache` (evaluate: one method after another); releases.
  void set_cache_maker(StepCacheMaker make_cache);
  // Refuses a context of `tokens` for `capacity`: the error names both numbers.
  void check_context(int64_t tokens, int64_t capacity) const;

 private:
  struct FusedLayer {
    at::Tensor wqkv;       // [(Hq + 2 Hkv) d, hidden]
    at::Tensor bqkv;       // [(Hq + 2 Hkv) d] or undefined
    at::Tensor w_gate_up;  // [2 I, hidden]
  };
  struct Slot;

  Slot& slot(int64_t batch, int64_t capacity);
  // Prefill in blocks of up to 4096 tokens; returns the last position's logits [B, V] float32.
  at::Tensor prefill(Slot& s, const at::Tensor& prompts);
  // One decode step from s.ids: returns logits [B, V] float32, advances the device positions.
  at::Tensor step_logits(Slot& s);
  // One step including the token choice: s.ids <- sampler(step_logits) (eager or replayed).
  void step(Slot& s);

  const LlamaModel& model_;
  bool cuda_graph_ = true;
  StepCacheMaker make_cache_;
  std::vector<FusedLayer> fused_;
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Slot>> slots_;
};

}  // namespace kvsvd
