// Per-token value-rank policies for the svd cache (one table of names drives parsing and help).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvsvd {

// The value-rank levels a policy chooses between; the svd cache maps each level to a number through
// the named ranks of core/compress/rank-plan.h (NamedRank{"low", 16}, ...).
enum class RankLevel { Low = 0, Med = 1, High = 2 };
const char* rank_level_name(RankLevel level);
// "low" | "med" | "high"; the error names `what` (a flag or a policy spec).
RankLevel parse_rank_level(const std::string& name, const std::string& what);

enum class RankPolicyKind { Position, Step, SinkRecent, Uniform };

struct RankPolicyInfo {
  RankPolicyKind kind;
  const char* name;         // the word before ':' in a spec
  const char* syntax;       // e.g. "sink_recent:S,W"
  const char* description;  // one line for --help
};
// Every policy, in help order. The parser and the help text both read this table.
const std::vector<RankPolicyInfo>& rank_policies();
std::string rank_policies_help();

// A rank policy decides a token's level ONCE, when the token is stored; levels are never changed
// later (coefficients dropped at store time cannot be recovered). A token's level depends on its
// absolute position p and on the prompt length L: positions < L are prompt (prefill) tokens,
// positions >= L are generated tokens (generation step p - L).
//   position       seed rule on ratio = p / L: ratio < 0.2 or > 0.8 -> low; < 0.4 or > 0.6 -> med;
//                  else high. Generated tokens have ratio >= 1 and so are stored low.
//   step           prompt tokens high; generated tokens: step < 10 high, < 30 med, else low.
//   sink_recent:S,W  prompt tokens p < S (sinks) or p >= L - W (the last W of the prompt) high,
//                  the rest low; every generated token is high (it is the most recent token when
//                  stored, and ranks are not lowered when it later leaves the window of W).
//   uniform:NAME   every token at level NAME (low | med | high).
class RankPolicy {
 public:
  RankPolicy() = default;  // uniform:high
  // Parses "position", "step", "sink_recent:S,W", "uniform:NAME". Errors name `flag` and list the
  // valid policies.
  static RankPolicy parse(const std::string& spec, const std::string& flag = "--rank-policy");
  static RankPolicy uniform(RankLevel level);
  static RankPolicy sink_recent(int64_t sink, int64_t window);

  RankLevel level_at(int64_t pos, int64_t prompt_len) const;
  // Levels of the tokens at positions pos0 .. pos0+count-1.
  std::vector<RankLevel> assign(int64_t pos0, int64_t count, int64_t prompt_len) const;

  // The levels this policy can produce (the cache needs a rank for each).
  std::vector<RankLevel> levels_used() const;
  RankPolicyKind kind() const { return kind_; }
  std::string spec() const;  // canonical text, parses back to an equal policy

 private:
  RankPolicyKind kind_ = RankPolicyKind::Uniform;
  RankLevel uniform_level_ = RankLevel::High;
  int64_t sink_ = 0;
  int64_t window_ = 0;
};

}  // namespace kvsvd
