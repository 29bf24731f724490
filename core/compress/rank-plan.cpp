#include "core/compress/rank-plan.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "core/util/error.h"

namespace kvsvd {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

int64_t parse_positive(const std::string& text, const std::string& flag, const std::string& item) {
  KVSVD_CHECK(!text.empty(), flag, " '", item, "': missing rank after '='");
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  KVSVD_CHECK(errno == 0 && end && *end == '\0', flag, " '", item, "': '", text,
              "' is not an integer");
  KVSVD_CHECK(v >= 1, flag, " '", item, "': rank must be >= 1");
  return static_cast<int64_t>(v);
}

}  // namespace

std::vector<NamedRank> parse_named_ranks(const std::string& text, const std::string& flag) {
  std::vector<NamedRank> out;
  std::set<std::string> seen;
  size_t pos = 0;
  KVSVD_CHECK(!trim(text).empty(), flag, ": empty list (expected e.g. low=16,med=32,high=64)");
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item =
        trim(text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    const size_t eq = item.find('=');
    KVSVD_CHECK(eq != std::string::npos && eq > 0, flag, " '", item,
                "': expected NAME=RANK (e.g. low=16)");
    NamedRank r;
    r.name = trim(item.substr(0, eq));
    r.rank = parse_positive(trim(item.substr(eq + 1)), flag, item);
    for (char c : r.name) {
      KVSVD_CHECK(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-', flag, " '",
                  item, "': level names use letters, digits, '_' or '-'");
    }
    KVSVD_CHECK(seen.insert(r.name).second, flag, ": level '", r.name, "' given twice");
    out.push_back(r);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string named_ranks_to_string(const std::vector<NamedRank>& ranks) {
  std::string out;
  for (const auto& r : ranks) {
    if (!out.empty()) out += ",";
    out += cat(r.name, "=", r.rank);
  }
  return out;
}

std::vector<NamedRank> default_value_ranks(int64_t head_dim) {
  return {{"low", std::max<int64_t>(1, head_dim / 4)},
          {"med", std::max<int64_t>(1, head_dim / 2)},
          {"high", head_dim}};
}

RankSpec resolve_rank_spec(const RankSpec& spec, int64_t head_dim) {
  KVSVD_CHECK(head_dim >= 1, "head_dim must be >= 1 (got ", head_dim, ")");
  RankSpec r = spec;
  KVSVD_CHECK(std::isfinite(r.energy_threshold) && r.energy_threshold >= 0 &&
                  r.energy_threshold <= 1,
              "--energy-threshold ", r.energy_threshold, ": must lie in (0, 1] (0 disables it)");
  KVSVD_CHECK(std::isfinite(r.min_rank_ratio) && r.min_rank_ratio >= 0 && r.min_rank_ratio <= 1,
              "--min-rank-ratio ", r.min_rank_ratio, ": must lie in [0, 1]");
  if (r.adaptive()) {
    // Per-head ranks come from the spectra: explicit fixed ranks would be silently ignored.
    KVSVD_CHECK(r.key_rank == 0, "--key-rank ", r.key_rank,
                " cannot be combined with --energy-threshold (ranks come from the spectra; "
                "pass --energy-threshold 0 for fixed ranks)");
    KVSVD_CHECK(r.value_ranks.empty(), "--value-ranks ", named_ranks_to_string(r.value_ranks),
                " cannot be combined with --energy-threshold (pass --energy-threshold 0 for "
                "fixed ranks)");
    return r;
  }
  if (r.key_rank == 0) r.key_rank = std::max<int64_t>(1, head_dim / 4);
  KVSVD_CHECK(r.key_rank >= 1 && r.key_rank <= head_dim, "--key-rank ", r.key_rank,
              ": must lie in 1..head_dim (head_dim = ", head_dim, ")");
  if (r.value_ranks.empty()) r.value_ranks = default_value_ranks(head_dim);
  for (const auto& v : r.value_ranks) {
    KVSVD_CHECK(v.rank >= 1 && v.rank <= head_dim, "--value-ranks ", v.name, "=", v.rank,
                ": rank above head_dim (head_dim = ", head_dim, ")");
  }
  return r;
}

std::vector<double> energy_curve(const std::vector<double>& energies) {
  double total = 0;
  for (double e : energies) {
    KVSVD_CHECK(std::isfinite(e) && e >= 0, "energy_curve: energy ", e, " is negative or not finite");
    total += e;
  }
  std::vector<double> curve(energies.size(), 1.0);
  if (total <= 0) return curve;
  double run = 0;
  for (size_t i = 0; i < energies.size(); ++i) {
    run += energies[i];
    curve[i] = std::min(1.0, run / total);
  }
  if (!curve.empty()) curve.back() = 1.0;  // exact at full rank, whatever the rounding
  return curve;
}

int64_t rank_for_energy(const std::vector<double>& curve, double tau, double min_rank_ratio) {
  const int64_t n = static_cast<int64_t>(curve.size());
  KVSVD_CHECK(n >= 1, "rank_for_energy: empty energy curve");
  int64_t r = n;
  for (int64_t i = 0; i < n; ++i) {
    if (curve[i] >= tau) {
      r = i + 1;
      break;
    }
  }
  // Small epsilon so that e.g. 0.25 * 64 is 16, not 17 from rounding of the product.
  const int64_t floor_rank =
      static_cast<int64_t>(std::ceil(min_rank_ratio * static_cast<double>(n) - 1e-9));
  return std::min(n, std::max<int64_t>({r, floor_rank, 1}));
}

double tail_error(const std::vector<double>& energies, int64_t r) {
  const int64_t n = static_cast<int64_t>(energies.size());
  KVSVD_CHECK(r >= 0 && r <= n, "tail_error: rank ", r, " outside 0..", n);
  double total = 0, tail = 0;
  for (int64_t i = 0; i < n; ++i) {
    total += energies[i];
    if (i >= r) tail += energies[i];
  }
  if (total <= 0) return 0;
  return std::sqrt(std::max(0.0, tail / total));
}

}  // namespace kvsvd
