// Checks and labels of the quantized-storage flags.
#include "core/kv/quant-spec.h"

#include "core/util/error.h"

namespace kvsvd {

void check_kv_bits(int64_t bits, bool allow_none, const std::string& flag) {
  const bool ok = bits == 16 || bits == 8 || bits == 4 || bits == 2 || (allow_none && bits == 0);
  KVSVD_CHECK(ok, flag, ": unsupported bit width ", bits, " (valid: 16, 8, 4, 2",
              allow_none ? "; 0 = the cache dtype, unquantized" : "", ")");
}

void check_quant_group(int64_t group, const std::string& flag) {
  KVSVD_CHECK(group >= 1, flag, " must be >= 1 elements per group, got ", group,
              " (a group that does not divide a row leaves a shorter last group)");
}

void check_residual(int64_t residual, const std::string& flag) {
  KVSVD_CHECK(residual >= 0, flag, " must be >= 0 tokens kept in full precision, got ", residual);
}

void check_quant_spec(const QuantSpec& s, bool allow_none) {
  check_kv_bits(s.bits, allow_none);
  check_quant_group(s.group);
}

std::string quant_spec_label(const QuantSpec& s) {
  if (s.bits == 0) return "";
  if (!s.quantized()) return cat(s.bits, "b");
  return cat(s.bits, "b/g", s.group);
}

}  // namespace kvsvd
