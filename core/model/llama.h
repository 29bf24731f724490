// Llama forward pass (RMSNorm, RoPE, GQA attention through a KvCache, SwiGLU MLP) in ATen.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <vector>

#include "core/checkpoint/checkpoint.h"
#include "core/kv/kv-cache.h"
#include "core/model/llama-layer.h"  // KvObserver and the forward pieces

namespace kvsvd {

struct LayerWeights {
  at::Tensor attn_norm;             // [hidden]
  at::Tensor wq, wk, wv, wo;        // [Hq*d, hidden], [Hkv*d, hidden], [Hkv*d, hidden], [hidden, Hq*d]
  at::Tensor bq, bk, bv;            // [Hq*d], [Hkv*d], [Hkv*d] or undefined (no bias)
  at::Tensor mlp_norm;              // [hidden]
  at::Tensor w_gate, w_up, w_down;  // [inter, hidden], [inter, hidden], [hidden, inter]
};

struct LlamaWeights {
  at::Tensor embed;       // [vocab, hidden]
  at::Tensor final_norm;  // [hidden]
  at::Tensor lm_head;     // [vocab, hidden] (shares embed's storage when tied)
  std::vector<LayerWeights> layers;
};

LlamaWeights load_llama_weights(const Checkpoint& ckpt, at::ScalarType dtype, at::Device device);

class LlamaModel {
 public:
  LlamaModel(LlamaConfig cfg, LlamaWeights w, at::Device device, at::ScalarType dtype);
  static LlamaModel load(const std::string& dir, at::Device device, at::ScalarType dtype);

  // tokens: [B, T] int64 at positions cache.length() .. +T-1. Returns logits [B, T, vocab] float32.
  // `last_only`: logits of the last position only ([B, 1, vocab]) to save memory in decode.
  // `check_ids`: range-check the ids first (a host sync when they live on the GPU); off only for
  // ids the model produced itself (an argmax over its own vocabulary), so decode never syncs.
  at::Tensor forward(const at::Tensor& tokens, KvCache& cache, bool last_only = false,
                     bool check_ids = true) const;
  void set_observer(KvObserver obs) { observer_ = std::move(obs); }

  const LlamaConfig& config() const { return cfg_; }
  const LlamaWeights& weights() const { return w_; }
  const Rope& rope() const { return *rope_; }
  at::Device device() const { return device_; }
  at::ScalarType dtype() const { return dtype_; }

 private:
  LlamaConfig cfg_;
  LlamaWeights w_;
  at::Device device_;
  at::ScalarType dtype_;
  std::shared_ptr<Rope> rope_;
  KvObserver observer_;
};

}  // namespace kvsvd
