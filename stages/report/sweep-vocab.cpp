#include "stages/report/sweep-vocab.h"

#include "core/compress/profile-method.h"
#include "core/compress/rank-plan.h"
#include "core/kv/methods.h"
#include "core/kv/quant-spec.h"
#include "core/kv/rank-policy.h"
#include "core/util/error.h"

namespace kvsvd {

namespace {

// Errors from the shared parsers name a flag; prefix them with the YAML location.
template <typename F>
void rethrow_at(const std::string& where, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    fail(cat(where, ": ", e.what()));
  }
}

}  // namespace

SweepMethodUse sweep_method_use(const std::string& name, const std::string& where) {
  KvMethod method = KvMethod::Full;
  rethrow_at(where, [&] { method = parse_kv_method(name, "method"); });
  // No default: a new cache method must say here which sweep keys it reads.
  switch (method) {
    case KvMethod::Full: return SweepMethodUse{false, false, false, false, false};
    case KvMethod::Svd: return SweepMethodUse{true, true, false, true, false};
    case KvMethod::Chunked: return SweepMethodUse{false, false, true, true, false};
    case KvMethod::Quant: return SweepMethodUse{false, false, false, true, true};
  }
  fail(cat(where, ": internal: method '", name, "' has no sweep key table"));
}

void check_sweep_kv_bits(int64_t bits, const std::string& where) {
  rethrow_at(where, [&] { check_kv_bits(bits, /*allow_none=*/true, "kv_bits"); });
}

void check_profile_method(const std::string& name, const std::string& where) {
  rethrow_at(where, [&] { parse_profile_method(name, "profile method"); });
}

void check_value_ranks(const std::string& text, const std::string& where) {
  rethrow_at(where, [&] {
    const auto ranks = parse_named_ranks(text, "value_ranks");
    KVSVD_CHECK(!ranks.empty(), "value_ranks: empty");
  });
}

void check_policy(const std::string& text, const std::string& where) {
  rethrow_at(where, [&] { RankPolicy::parse(text, "policy"); });
}

const std::vector<std::string>& data_format_names() {
  static const std::vector<std::string> names = {"text", "jsonl", "ids"};
  return names;
}

void check_data_format(const std::string& name, const std::string& where) {
  for (const auto& n : data_format_names())
    if (n == name) return;
  fail(cat(where, ": unknown format '", name, "' (valid: text, jsonl, ids)"));
}

}  // namespace kvsvd
