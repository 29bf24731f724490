#include "core/eval/step-cache-factory.h"

#include "core/kv/eager-step-cache.h"
#include "core/kv/static-cache.h"
#include "core/kv/static-quant-cache.h"
#include "core/kv/static-svd-cache.h"
#include "core/util/error.h"

namespace kvsvd {

bool has_static_layout(const CacheConfig& c) {
  return c.method == KvMethod::Full || c.method == KvMethod::Quant ||
         (c.method == KvMethod::Svd && c.kv_bits == 0 && !c.hadamard);
}

StepCacheMaker step_cache_maker(const CacheConfig& c, const LlamaModel& model,
                                const KvProfile* profile) {
  if (c.method == KvMethod::Svd)
    KVSVD_CHECK(profile != nullptr, "--method svd needs a profile store (--store STORE.h5)");
  return [c, &model, profile](int64_t batch, int64_t capacity) -> std::unique_ptr<StepCache> {
    const LlamaConfig& cfg = model.config();
    if (c.method == KvMethod::Full)
      return std::make_unique<StaticFullCache>(cfg, batch, capacity, model.dtype(), model.device());
    if (c.method == KvMethod::Quant)
      return std::make_unique<StaticQuantCache>(
          cfg, QuantCacheOptions{c.kv_bits, c.quant_group, c.residual}, batch, capacity,
          model.dtype(), model.device());
    if (has_static_layout(c)) {
      SvdCacheOptions o;
      o.key_rank = c.key_rank;
      o.value_ranks = c.value_ranks;
      o.policy = c.policy;
      o.key_space = c.key_space;
      return std::make_unique<StaticSvdCache>(*profile, cfg, o, batch, capacity, model.dtype(),
                                              model.device());
    }
    return std::make_unique<EagerStepCache>(make_cache(c, model, profile, capacity, batch), cfg,
                                            batch, capacity, model.device());
  };
}

}  // namespace kvsvd
