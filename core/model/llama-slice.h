// One pipeline stage's part of a Llama: a contiguous range of decoder layers, plus the embedding
// on the first stage and the final norm + head on the last, loaded alone from the checkpoint.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "core/checkpoint/checkpoint.h"
#include "core/kv/kv-cache.h"
#include "core/model/layer-split.h"
#include "core/model/llama.h"

namespace kvsvd {

class LlamaSlice {
 public:
  // Reads only the slice's tensors (other shards are never mapped).
  static LlamaSlice load(const Checkpoint& ckpt, const StageSlice& slice, at::Device device,
                         at::ScalarType dtype);

  // tokens: [B, T] int64 (ids are range-checked when `check_ids`) -> [B, T, hidden]. First stage.
  at::Tensor embed(const at::Tensor& tokens, bool check_ids = true) const;
  // h: [B, T, hidden] through this slice's layers (cache layer i = model layer first_layer + i),
  // then cache.advance(T). `cache` is built for local_config().
  at::Tensor layers(const at::Tensor& h, KvCache& cache) const;
  // h: [B, T, hidden] -> logits [B, T or 1, vocab] float32. Last stage.
  at::Tensor head(const at::Tensor& h, bool last_only) const;

  const LlamaConfig& config() const { return cfg_; }              // the whole model's
  const LlamaConfig& local_config() const { return local_cfg_; }  // num_layers = this slice's
  const StageSlice& slice() const { return slice_; }
  const std::vector<LayerWeights>& layer_weights() const { return layers_; }
  at::Device device() const { return device_; }
  at::ScalarType dtype() const { return dtype_; }

 private:
  LlamaSlice(LlamaConfig cfg, StageSlice slice, at::Device device, at::ScalarType dtype);
  LlamaConfig cfg_;
  LlamaConfig local_cfg_;
  StageSlice slice_;
  at::Device device_;
  at::ScalarType dtype_;
  at::Tensor embed_;       // [vocab, hidden] (first stage)
  at::Tensor final_norm_;  // [hidden] (last stage)
  at::Tensor lm_head_;     // [vocab, hidden] (last stage)
  std::vector<LayerWeights> layers_;
  std::shared_ptr<Rope> rope_;
};

}  // namespace kvsvd
