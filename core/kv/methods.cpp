// The cache-method table and its lookups.
#include "core/kv/methods.h"

#include "core/util/error.h"

namespace kvsvd {

const std::vector<CacheMethodInfo>& cache_methods() {
  static const std::vector<CacheMethodInfo> table = {
      {"full", "uncompressed baseline: post-RoPE keys and values in the compute dtype"},
  };
  return table;
}

std::string cache_method_names() {
  std::string out;
  for (const auto& m : cache_methods()) {
    if (!out.empty()) out += ", ";
    out += m.name;
  }
  return out;
}

std::string cache_method_help() {
  std::string out;
  for (const auto& m : cache_methods()) out += cat("  ", m.name, ": ", m.description, "\n");
  return out;
}

const CacheMethodInfo& require_cache_method(const std::string& name, const std::string& flag) {
  for (const auto& m : cache_methods())
    if (name == m.name) return m;
  fail(cat(flag, ": unknown method '", name, "' (valid: ", cache_method_names(), ")"));
}

}  // namespace kvsvd
