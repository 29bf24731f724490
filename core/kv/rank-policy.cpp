#include "core/kv/rank-policy.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/util/error.h"

namespace kvsvd {
namespace {

const char* const kLevelNames[] = {"low", "med", "high"};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

// Whole-string non-negative integer, or false.
bool parse_count(const std::string& s, int64_t& value) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  value = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

std::string valid_policies() {
  std::string out;
  for (const auto& e : rank_policies()) out += out.empty() ? e.syntax : cat(", ", e.syntax);
  return out;
}

}  // namespace

const char* rank_level_name(RankLevel level) { return kLevelNames[static_cast<int>(level)]; }

RankLevel parse_rank_level(const std::string& name, const std::string& what) {
  for (int i = 0; i < 3; ++i)
    if (name == kLevelNames[i]) return static_cast<RankLevel>(i);
  fail(cat(what, ": unknown rank level '", name, "' (valid: low, med, high)"));
}

const std::vector<RankPolicyInfo>& rank_policies() {
  static const std::vector<RankPolicyInfo> table = {
      {RankPolicyKind::Position, "position", "position",
       "seed rule on ratio p/L over the prompt of length L: ratio <0.2 or >0.8 low, <0.4 or >0.6 "
       "med, else high (generated tokens: ratio >= 1, low)"},
      {RankPolicyKind::Step, "step", "step",
       "prompt tokens high; generated tokens by step: <10 high, <30 med, then low"},
      {RankPolicyKind::SinkRecent, "sink_recent", "sink_recent:S,W",
       "first S prompt tokens and the last W prompt tokens high, other prompt tokens low; "
       "generated tokens high (ranks are fixed when a token is stored)"},
      {RankPolicyKind::Uniform, "uniform", "uniform:NAME",
       "every token at level NAME (low, med or high)"},
  };
  return table;
}

std::string rank_policies_help() {
  std::string out;
  for (const auto& e : rank_policies()) out += cat("  ", e.syntax, ": ", e.description, "\n");
  return out;
}

RankPolicy RankPolicy::uniform(RankLevel level) {
  RankPolicy p;
  p.kind_ = RankPolicyKind::Uniform;
  p.uniform_level_ = level;
  return p;
}

RankPolicy RankPolicy::sink_recent(int64_t sink, int64_t window) {
  KVSVD_CHECK(sink >= 0 && window >= 0, "sink_recent: S and W must be >= 0, got ", sink, ",",
              window);
  RankPolicy p;
  p.kind_ = RankPolicyKind::SinkRecent;
  p.sink_ = sink;
  p.window_ = window;
  return p;
}

RankPolicy RankPolicy::parse(const std::string& spec, const std::string& flag) {
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const RankPolicyInfo* info = nullptr;
  for (const auto& e : rank_policies())
    if (name == e.name) info = &e;
  KVSVD_CHECK(info != nullptr, flag, ": unknown rank policy '", spec, "' (valid: ",
              valid_policies(), ")");
  const bool wants_arg =
      info->kind == RankPolicyKind::SinkRecent || info->kind == RankPolicyKind::Uniform;
  KVSVD_CHECK(wants_arg == (colon != std::string::npos), flag, ": rank policy '", spec,
              "' must be written ", info->syntax, " (valid: ", valid_policies(), ")");
  RankPolicy p;
  p.kind_ = info->kind;
  if (info->kind == RankPolicyKind::Uniform) {
    p.uniform_level_ = parse_rank_level(arg, cat(flag, " ", spec));
  } else if (info->kind == RankPolicyKind::SinkRecent) {
    const std::vector<std::string> sw = split(arg, ',');
    int64_t s = 0, w = 0;
    KVSVD_CHECK(sw.size() == 2 && parse_count(sw[0], s) && parse_count(sw[1], w), flag,
                ": rank policy '", spec, "' must be sink_recent:S,W with integers S, W >= 0");
    p = sink_recent(s, w);
  }
  return p;
}

RankLevel RankPolicy::level_at(int64_t pos, int64_t prompt_len) const {
  KVSVD_CHECK(pos >= 0 && prompt_len >= 1, "rank policy: position ", pos, " / prompt length ",
              prompt_len, " out of range");
  const bool generated = pos >= prompt_len;
  switch (kind_) {
    case RankPolicyKind::Uniform:
      return uniform_level_;
    case RankPolicyKind::Position: {
      const double ratio = static_cast<double>(pos) / static_cast<double>(prompt_len);
      if (ratio < 0.2 || ratio > 0.8) return RankLevel::Low;
      if (ratio < 0.4 || ratio > 0.6) return RankLevel::Med;
      return RankLevel::High;
    }
    case RankPolicyKind::Step: {
      if (!generated) return RankLevel::High;
      const int64_t step = pos - prompt_len;
      return step < 10 ? RankLevel::High : step < 30 ? RankLevel::Med : RankLevel::Low;
    }
    case RankPolicyKind::SinkRecent:
      if (generated || pos < sink_ || pos >= prompt_len - window_) return RankLevel::High;
      return RankLevel::Low;
  }
  KVSVD_ASSERT(false, "bad RankPolicyKind");
  return RankLevel::High;
}

std::vector<RankLevel> RankPolicy::assign(int64_t pos0, int64_t count, int64_t prompt_len) const {
  std::vector<RankLevel> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) out.push_back(level_at(pos0 + i, prompt_len));
  return out;
}

std::vector<RankLevel> RankPolicy::levels_used() const {
  switch (kind_) {
    case RankPolicyKind::Uniform: return {uniform_level_};
    case RankPolicyKind::SinkRecent: return {RankLevel::Low, RankLevel::High};
    default: return {RankLevel::Low, RankLevel::Med, RankLevel::High};
  }
}

std::string RankPolicy::spec() const {
  switch (kind_) {
    case RankPolicyKind::Position: return "position";
    case RankPolicyKind::Step: return "step";
    case RankPolicyKind::SinkRecent: return cat("sink_recent:", sink_, ",", window_);
    case RankPolicyKind::Uniform: return cat("uniform:", rank_level_name(uniform_level_));
  }
  return "";
}

}  // namespace kvsvd
