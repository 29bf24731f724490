// A StepCache over any eager KvCache (quant, chunked, svd with --kv-bits or --hadamard): the
// decode step calls the wrapped cache's attend with one token, so the engine can run every method
// with the wrapped cache's own maths. Its step has host-side work (growing storage, closing
// chunks, flushing the quant residual window, the rank policy's plan), so it is not
// graph-capturable: the engine runs it eagerly on every device.
#pragma once
#include <memory>

#include "core/kv/step-cache.h"

namespace kvsvd {

class EagerStepCache : public StepCache {
 public:
  // `inner`: an empty cache for `batch` sequences; `capacity`: tokens the engine may store.
  EagerStepCache(std::unique_ptr<KvCache> inner, const LlamaConfig& cfg, int64_t batch,
                 int64_t capacity, at::Device device);

  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  // q [B, Hq, d], k, v [B, Hkv, d] -> [B, hidden]; the last layer advances the wrapped cache.
  at::Tensor decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                         const at::Tensor& v, const at::Tensor& w_o) override;
  void advance(int64_t tokens) override;
  int64_t length() const override { return inner_->length(); }
  std::vector<int64_t> layer_bytes() const override { return inner_->layer_bytes(); }
  void reset() override;
  std::string name() const override { return inner_->name(); }

  at::Tensor& positions() override { return pos_; }
  void set_host_length(int64_t n) override;
  int64_t capacity() const override { return capacity_; }
  bool graph_capturable() const override { return false; }
  KvCache& inner() { return *inner_; }

 private:
  std::unique_ptr<KvCache> inner_;
  Rope rope_;
  int64_t layers_ = 0, capacity_ = 0;
  at::Tensor pos_;  // [B] int32 on the device, kept in step with the wrapped cache's length
};

}  // namespace kvsvd
