// The configuration product of `kvsvd evaluate`: every method's configurations from the list-valued
// flags (key ranks x value-rank sets x policies, chunk sizes x ratios) times the storage bit
// widths, resolved against the profile store.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/checkpoint/llama-config.h"
#include "core/compress/rank-plan.h"
#include "core/eval/cache-factory.h"
#include "core/kv/kv-profile.h"
#include "stages/evaluate/evaluate-options.h"

namespace kvsvd {

// What the stage knows about the profile store.
struct StoreInfo {
  std::string path;
  std::string fingerprint;
  std::string profile_method;  // from the header's profile_config ("" when absent)
  std::string key_space;       // likewise
  std::vector<NamedRank> named_ranks;  // the header's value rank names/values
  KvProfile profile;
};

// Opens --store, checks it against the model's shape and reads every layer's bases onto `device`.
StoreInfo load_store(const std::string& path, const std::string& fingerprint,
                     const LlamaConfig& cfg, at::ScalarType dtype, const at::Device& device);

// The configurations in evaluation order (the full baseline is not among them). `store` is null
// when no method needs one. Errors name the flag and, for ranks the store lacks, the store.
std::vector<CacheConfig> build_configs(const EvaluateOptions& o, const StoreInfo* store,
                                       int64_t head_dim);

}  // namespace kvsvd
