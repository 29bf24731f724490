// Rank policies and the method table: parsing, help from one table, the documented rules.
#include <string>
#include <vector>

#include "core/kv/methods.h"
#include "core/kv/rank-policy.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string error_of(void (*f)()) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("method table parses, names and documents full, svd, chunked", "[kv][methods]") {
  CHECK(parse_kv_method("full") == KvMethod::Full);
  CHECK(parse_kv_method("svd") == KvMethod::Svd);
  CHECK(parse_kv_method("chunked") == KvMethod::Chunked);
  CHECK(std::string(kv_method_name(KvMethod::Chunked)) == "chunked");
  const std::string help = kv_methods_help();
  for (const auto& e : kv_methods()) CHECK(contains(help, e.name));
  const std::string msg = error_of([] { parse_kv_method("lowrank", "--cache"); });
  CHECK(contains(msg, "--cache"));
  CHECK(contains(msg, "full, svd, chunked"));
}

TEST_CASE("position policy follows the seed's ratio rule", "[kv][policy]") {
  const RankPolicy p = RankPolicy::parse("position");
  CHECK(p.kind() == RankPolicyKind::Position);
  // L = 10: ratios 0.0 .. 0.9
  const std::vector<RankLevel> got = p.assign(0, 10, 10);
  const RankLevel lo = RankLevel::Low, me = RankLevel::Med, hi = RankLevel::High;
  // 0.0 0.1 low; 0.2 0.3 med; 0.4 0.5 0.6 high; 0.7 0.8 med; 0.9 low
  const std::vector<RankLevel> want = {lo, lo, me, me, hi, hi, hi, me, me, lo};
  CHECK(got == want);
  CHECK(p.level_at(12, 10) == lo);  // generated tokens: ratio >= 1
  CHECK(p.spec() == "position");
}

TEST_CASE("step policy: prompt high, generated tokens by step", "[kv][policy]") {
  const RankPolicy p = RankPolicy::parse("step");
  for (int64_t pos = 0; pos < 7; ++pos) CHECK(p.level_at(pos, 7) == RankLevel::High);
  CHECK(p.level_at(7, 7) == RankLevel::High);       // step 0
  CHECK(p.level_at(7 + 9, 7) == RankLevel::High);   // step 9
  CHECK(p.level_at(7 + 10, 7) == RankLevel::Med);   // step 10
  CHECK(p.level_at(7 + 29, 7) == RankLevel::Med);   // step 29
  CHECK(p.level_at(7 + 30, 7) == RankLevel::Low);   // step 30
}

TEST_CASE("sink_recent: sinks and the prompt's last W high, generated tokens high", "[kv][policy]") {
  const RankPolicy p = RankPolicy::parse("sink_recent:2,3");
  CHECK(p.spec() == "sink_recent:2,3");
  const RankLevel lo = RankLevel::Low, hi = RankLevel::High;
  const std::vector<RankLevel> want = {hi, hi, lo, lo, lo, hi, hi, hi};  // L = 8
  CHECK(p.assign(0, 8, 8) == want);
  // Ranks are fixed at store time: a generated token is stored high and stays high.
  CHECK(p.assign(8, 3, 8) == std::vector<RankLevel>{hi, hi, hi});
  CHECK(p.levels_used() == std::vector<RankLevel>{lo, hi});
}

TEST_CASE("uniform policy and spec round trip", "[kv][policy]") {
  for (const char* spec : {"uniform:low", "uniform:med", "uniform:high", "position", "step",
                           "sink_recent:4,16"}) {
    CAPTURE(spec);
    CHECK(RankPolicy::parse(spec).spec() == spec);
  }
  const RankPolicy u = RankPolicy::parse("uniform:med");
  CHECK(u.level_at(0, 1) == RankLevel::Med);
  CHECK(u.level_at(1000, 1) == RankLevel::Med);
  CHECK(u.levels_used() == std::vector<RankLevel>{RankLevel::Med});
}

TEST_CASE("policy parse errors name the flag and list the valid policies", "[kv][policy]") {
  const std::string unknown = error_of([] { RankPolicy::parse("ends_low", "--rank-policy"); });
  CHECK(contains(unknown, "--rank-policy"));
  CHECK(contains(unknown, "ends_low"));
  for (const auto& e : rank_policies()) CHECK(contains(unknown, e.syntax));
  CHECK(contains(error_of([] { RankPolicy::parse("uniform:huge"); }), "huge"));
  CHECK(contains(error_of([] { RankPolicy::parse("uniform"); }), "uniform:NAME"));
  CHECK(contains(error_of([] { RankPolicy::parse("sink_recent:4"); }), "sink_recent:S,W"));
  CHECK(contains(error_of([] { RankPolicy::parse("sink_recent:a,b"); }), "--rank-policy"));
  CHECK(contains(error_of([] { RankPolicy::parse("position:3"); }), "position"));
  const std::string help = rank_policies_help();
  for (const auto& e : rank_policies()) CHECK(contains(help, e.syntax));
}
