#include "stages/evaluate/run-key.h"

#include <nlohmann/json.hpp>

#include "core/util/file-fingerprint.h"

namespace kvsvd {

namespace {

// The windows' token ids: [1,2][3] and [1][2,3] must differ, so each window opens with -1.
std::string windows_digest(const std::vector<TokenIds>& windows) {
  std::vector<int32_t> flat;
  for (const auto& w : windows) {
    flat.push_back(-1);
    flat.insert(flat.end(), w.begin(), w.end());
  }
  return bytes_fingerprint(flat.data(), flat.size() * sizeof(int32_t));
}

}  // namespace

std::string evaluate_run_key(const RunKeyInputs& in) {
  const nlohmann::json key = {{"model", in.model_fingerprint},
                              {"store", in.store_fingerprint},
                              {"windows", windows_digest(*in.windows)},
                              {"labels", in.labels},
                              {"gen_tokens", in.gen_tokens},
                              {"gen_prompt_tokens", in.gen_prompt_tokens},
                              {"batch", in.batch},
                              {"dtype", in.dtype},
                              {"device", in.device_kind}};
  const std::string text = key.dump();
  return bytes_fingerprint(text.data(), text.size());
}

}  // namespace kvsvd
