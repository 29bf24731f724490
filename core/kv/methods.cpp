#include "core/kv/methods.h"

#include "core/util/error.h"

namespace kvsvd {

const std::vector<KvMethodInfo>& kv_methods() {
  static const std::vector<KvMethodInfo> table = {
      {KvMethod::Full, "full", "uncompressed baseline: post-RoPE keys and values in full head_dim"},
      {KvMethod::Svd, "svd",
       "per-head low-rank projection from a profile store: keys at rank r_k (pre- or post-RoPE), "
       "values at per-token nested ranks chosen by a rank policy, W_O fused with the value basis"},
      {KvMethod::Chunked, "chunked",
       "online truncated SVD of every full chunk of cached post-RoPE keys/values per head "
       "(rank from a compression ratio or an energy threshold); the open chunk stays exact"},
      {KvMethod::Quant, "quant",
       "KIVI-style quantization baseline: post-RoPE keys per channel in blocks of --quant-group "
       "tokens, values per token, --kv-bits 16|8|4|2, the newest --residual tokens exact"},
  };
  return table;
}

const char* kv_method_name(KvMethod m) {
  for (const auto& e : kv_methods())
    if (e.method == m) return e.name;
  KVSVD_ASSERT(false, "KvMethod value without a table entry");
  return "";
}

KvMethod parse_kv_method(const std::string& name, const std::string& flag) {
  std::string valid;
  for (const auto& e : kv_methods()) {
    if (name == e.name) return e.method;
    valid += valid.empty() ? e.name : cat(", ", e.name);
  }
  fail(cat(flag, ": unknown KV-cache method '", name, "' (valid: ", valid, ")"));
}

std::string kv_methods_help() {
  std::string out;
  for (const auto& e : kv_methods()) out += cat("  ", e.name, ": ", e.description, "\n");
  return out;
}

}  // namespace kvsvd
