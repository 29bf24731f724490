// Rank selection: fixed key rank + named value ranks, or an energy threshold with a floor. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvsvd {

// One named value rank level (per-token policies pick a level by name: low / med / high).
struct NamedRank {
  std::string name;
  int64_t rank = 0;
};

struct RankSpec {
  int64_t key_rank = 0;                // fixed mode; 0: head_dim / 4
  std::vector<NamedRank> value_ranks;  // fixed mode; empty: low/med/high = d/4, d/2, d
  double energy_threshold = 0;         // > 0: adaptive mode (per-head ranks from the spectra)
  double min_rank_ratio = 0;           // adaptive floor: rank >= ceil(min_rank_ratio * head_dim)
  bool adaptive() const { return energy_threshold > 0; }
};

// "low=16,med=32,high=64" -> levels in the order written. Errors name `flag` and the bad item.
std::vector<NamedRank> parse_named_ranks(const std::string& text, const std::string& flag);
std::string named_ranks_to_string(const std::vector<NamedRank>& ranks);
// low/med/high = max(1, d/4), max(1, d/2), d.
std::vector<NamedRank> default_value_ranks(int64_t head_dim);

// Fills defaults for `head_dim` and checks every rank against it (errors name the flag:
// --key-rank, --value-ranks, --energy-threshold, --min-rank-ratio).
RankSpec resolve_rank_spec(const RankSpec& spec, int64_t head_dim);

// Cumulative retained energy: curve[r-1] = Σ_{i<r} e_i / Σ e_i for r = 1..n (e_i >= 0; all-zero
// energies give a curve of ones: nothing to lose at any rank).
std::vector<double> energy_curve(const std::vector<double>& energies);
// max(ceil(min_rank_ratio * n), smallest r with curve[r-1] >= tau), capped at n.
int64_t rank_for_energy(const std::vector<double>& curve, double tau, double min_rank_ratio);
// Relative reconstruction error at rank r: sqrt(Σ_{i>=r} e_i / Σ e_i) (0-based i; 0 if Σ = 0).
double tail_error(const std::vector<double>& energies, int64_t r);

}  // namespace kvsvd
