// The one table of KV-cache method names (the --method flag, its help text and its validation).
#pragma once
#include <string>
#include <vector>

namespace kvsvd {

struct CacheMethodInfo {
  const char* name;
  const char* description;
};

// Every method `evaluate --method` accepts, in help order. A cache adds its row here when it lands.
const std::vector<CacheMethodInfo>& cache_methods();
// "full, svd, ..." for help text and errors.
std::string cache_method_names();
// Help text: one "  name: description" line per method.
std::string cache_method_help();
// Returns the row for `name`; an unknown name is an error naming `flag` and the valid names.
const CacheMethodInfo& require_cache_method(const std::string& name, const std::string& flag);

}  // namespace kvsvd
