// The greedy rank budget: never over budget, bytes go where the measured loss falls fastest.
#include <random>
#include <string>
#include <vector>

#include "core/compress/rank-budget.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {
SlotCurve curve(const std::string& name, std::vector<int64_t> ranks, std::vector<double> loss,
                int64_t bytes_per_rank) {
  SlotCurve c{name, std::move(ranks), std::move(loss), {}};
  for (int64_t r : c.ranks) c.bytes.push_back(r * bytes_per_rank);
  return c;
}
}  // namespace

TEST_CASE("candidate ranks: powers of two and their 1.5x, then head_dim", "[budget]") {
  CHECK(candidate_ranks(64) == std::vector<int64_t>{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64});
  CHECK(candidate_ranks(40) == std::vector<int64_t>{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40});
  CHECK(candidate_ranks(1) == std::vector<int64_t>{1});
}

TEST_CASE("the budget goes to the slot whose loss falls fastest", "[budget]") {
  // Slot a loses a lot when cut, slot b almost nothing: a gets the bytes.
  const std::vector<SlotCurve> slots = {
      curve("a", {2, 4, 8}, {1.0, 0.5, 0.0}, 2),
      curve("b", {2, 4, 8}, {0.01, 0.005, 0.0}, 2),
  };
  const BudgetAllocation x = allocate_budget(slots, 2 * 8 + 2 * 2, "--kv-budget-bytes");
  CHECK(x.choice == std::vector<int64_t>{2, 0});
  CHECK(x.bytes == 20);
  CHECK(x.loss == Approx(0.01));
  // With room for everything, everything goes to full rank.
  const BudgetAllocation all = allocate_budget(slots, 1000, "--kv-budget-bytes");
  CHECK(all.choice == std::vector<int64_t>{2, 2});
  CHECK(all.loss == 0.0);
}

TEST_CASE("random curves: the allocation never exceeds the budget", "[budget]") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const std::vector<int64_t> ranks = candidate_ranks(64);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<SlotCurve> slots;
    const int n = 1 + static_cast<int>(rng() % 30);
    int64_t min_bytes = 0, max_bytes = 0;
    for (int s = 0; s < n; ++s) {
      SlotCurve c{"slot " + std::to_string(s), ranks, {}, {}};
      // Noisy, not always monotone losses (as measured KLs are), bytes of a 4-bit row + scales.
      double l = 2 * u(rng);
      for (int64_t r : ranks) {
        c.loss.push_back(r == 64 ? 0.0 : l);
        l *= 0.4 + 0.7 * u(rng);
        c.bytes.push_back((r * 4 + 7) / 8 + 4 * ((r + 31) / 32));
      }
      min_bytes += c.bytes.front();
      max_bytes += c.bytes.back();
      slots.push_back(c);
    }
    const int64_t budget = min_bytes + static_cast<int64_t>(u(rng) * double(max_bytes - min_bytes));
    const BudgetAllocation a = allocate_budget(slots, budget, "--kv-budget-bytes");
    int64_t bytes = 0;
    double loss = 0;
    for (size_t s = 0; s < slots.size(); ++s) {
      bytes += slots[s].bytes[a.choice[s]];
      loss += slots[s].loss[a.choice[s]];
    }
    CHECK(bytes == a.bytes);
    CHECK(bytes <= budget);
    CHECK(loss == Approx(a.loss));
  }
}

TEST_CASE("a budget below the smallest allocation is an error naming the flag", "[budget]") {
  const std::vector<SlotCurve> slots = {curve("a", {2, 4}, {1.0, 0.0}, 2)};
  try {
    allocate_budget(slots, 3, "--kv-budget-bytes");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("--kv-budget-bytes") != std::string::npos);
    CHECK(std::string(e.what()).find("4 bytes per token") != std::string::npos);
  }
}
