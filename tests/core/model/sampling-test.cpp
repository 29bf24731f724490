// Host-side token choice: greedy ties, seeded determinism, top-p truncation, sample frequencies.
#include <cmath>
#include <map>
#include <vector>

#include "core/model/sampling.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

TEST_CASE("sampling: greedy takes the first maximum", "[sampling]") {
  std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f};
  CHECK(argmax_first(l.data(), 4) == 1);
  SamplingConfig g;
  TokenSampler s(g);
  CHECK(s.next(l.data(), 4) == 1);
}

TEST_CASE("sampling: the same seed gives the same tokens, another seed other tokens", "[sampling]") {
  std::vector<float> l(50);
  for (int i = 0; i < 50; ++i) l[i] = float(std::sin(i * 1.7));  // a flat-ish distribution
  SamplingConfig c;
  c.greedy = false;
  c.temperature = 1.0;
  c.top_p = 0.95;
  auto draw = [&](uint64_t seed) {
    c.seed = seed;
    TokenSampler s(c);
    std::vector<int64_t> out;
    for (int i = 0; i < 40; ++i) out.push_back(s.next(l.data(), 50));
    return out;
  };
  CHECK(draw(7) == draw(7));
  CHECK(draw(7) != draw(8));
}

TEST_CASE("sampling: top-p keeps the smallest set reaching p, frequencies follow softmax", "[sampling]") {
  // probabilities 0.5, 0.25, 0.125, 0.125 (logits are log-probs)
  std::vector<float> l = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.125f)};
  SamplingConfig c;
  c.greedy = false;
  c.seed = 3;
  c.top_p = 0.5;  // mass before token 0 is 0 < 0.5, before token 1 is 0.5: only token 0 kept
  TokenSampler only_top(c);
  for (int i = 0; i < 100; ++i) REQUIRE(only_top.next(l.data(), 4) == 0);
  c.top_p = 0.7;  // tokens 0 and 1, renormalised to 2/3, 1/3
  TokenSampler two(c);
  std::map<int64_t, int> n;
  const int N = 30000;
  for (int i = 0; i < N; ++i) n[two.next(l.data(), 4)]++;
  CHECK(n[2] + n[3] == 0);
  CHECK(double(n[0]) / N == Approx(2.0 / 3).margin(0.015));
  c.top_p = 1.0;
  c.temperature = 2.0;  // p ~ exp(log p / 2) = sqrt(p): .7071, .5, .3536, .3536 normalised
  TokenSampler hot(c);
  n.clear();
  for (int i = 0; i < N; ++i) n[hot.next(l.data(), 4)]++;
  const double z = std::sqrt(0.5) + 0.5 + 2 * std::sqrt(0.125);
  CHECK(double(n[0]) / N == Approx(std::sqrt(0.5) / z).margin(0.015));
  CHECK(double(n[3]) / N == Approx(std::sqrt(0.125) / z).margin(0.015));
}

TEST_CASE("sampling: invalid settings name the flag", "[sampling]") {
  SamplingConfig c;
  c.greedy = false;
  c.temperature = 0;
  REQUIRE_THROWS_AS(TokenSampler(c), Error);
  c.temperature = 1;
  c.top_p = 1.5;
  REQUIRE_THROWS_AS(TokenSampler(c), Error);
}
