#include "stages/sweep/sweep-vocab.h"

#include "core/kv/methods.h"
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

}  // namespace kvsvd
