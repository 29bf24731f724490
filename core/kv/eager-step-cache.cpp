#include "core/kv/eager-step-cache.h"

#include "core/util/error.h"

namespace kvsvd {

EagerStepCache::EagerStepCache(std::unique_ptr<KvCache> inner, const LlamaConfig& cfg,
                               int64_t batch, int64_t capacity, at::Device device)
    : inner_(std::move(inner)), rope_(cfg, device), layers_(cfg.num_layers), capacity_(capacity) {
  KVSVD_CHECK(inner_ != nullptr, "eager step cache: no cache to wrap");
  KVSVD_CHECK(batch > 0 && capacity > 0, "eager step cache: batch and capacity must be > 0, got ",
              batch, " and ", capacity);
  pos_ = at::zeros({batch}, at::TensorOptions().dtype(at::kInt).device(device));
}

at::Tensor EagerStepCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                  const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(inner_->length() + q.size(2) <= capacity_, "step cache (", inner_->name(), "): ",
              inner_->length(), " + ", q.size(2), " tokens exceed its capacity of ", capacity_);
  return inner_->attend(layer, q, k, v, rope, w_o);
}

at::Tensor EagerStepCache::decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, const at::Tensor& w_o) {
  // [B, H, d] rows (strided views of the fused QKV output) -> [B, H, 1, d]
  const at::Tensor out = attend(layer, q.unsqueeze(2), k.unsqueeze(2), v.unsqueeze(2), rope_, w_o);
  // The engine advances only the device positions after the last layer; the wrapped cache needs
  // its host length advanced too, which is why this step cannot be replayed from a graph.
  if (layer == layers_ - 1) inner_->advance(1);
  return out.select(1, 0);  // [B, hidden]
}

void EagerStepCache::advance(int64_t tokens) {
  inner_->advance(tokens);
  pos_.add_(tokens);
}

void EagerStepCache::reset() {
  inner_->reset();
  pos_.zero_();
}

void EagerStepCache::set_host_length(int64_t n) {
  KVSVD_CHECK(n == inner_->length(), "step cache (", inner_->name(), "): host length ", n,
              " but the wrapped cache holds ", inner_->length(), " tokens");
}

}  // namespace kvsvd
