// Value checks of stage flags: one CLI11 validator per check, whose message reads after the name of
// wherever the value came from ("--chunk-size must be > 0, got 0" on the command line,
// "sweep.yaml:12: chunk_size must be > 0, got 0" from YAML).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/util/error.h"

namespace CLI {
class Option;
}

namespace kvsvd {

// A value a check refused. what() = name + detail; sources other than the command line (YAML
// configs, sweeps) catch it and put their own name (file:line and key) before detail().
class OptionValueError : public Error {
 public:
  OptionValueError(const std::string& name, const std::string& detail)
      : Error(name + detail), detail_(detail) {}
  const std::string& detail() const { return detail_; }

 private:
  std::string detail_;
};

// Returns "" when `value` is good (it may rewrite it to its canonical form), else the detail:
// the text that follows the value's name (" must be > 0, got 0", ": unknown method 'x' ...").
using ValueCheck = std::function<std::string(std::string& value)>;

// Attaches `check` to `opt` as a CLI11 validator; a refused value throws OptionValueError naming
// the flag. Returns `opt`.
CLI::Option* with_check(CLI::Option* opt, ValueCheck check);

// Numbers: " must be >= MIN, got X" (" must be > 0" when MIN is 1).
ValueCheck at_least(int64_t min_value);
// Numbers: " must be > LO, got X".
ValueCheck above(double lo);
// Numbers in [lo, hi]: " must lie in [lo, hi], got X".
ValueCheck within(double lo, double hi);
// A table's own parser, `parse(value, flag)`, which throws kvsvd::Error naming the flag (the
// method, key-space, format, policy, bit-width and rank tables all have one). `canonical` (may be
// empty) rewrites the value into the form the rest of the program reads.
ValueCheck from_table(std::function<void(const std::string& value, const std::string& flag)> parse,
                      std::function<std::string(const std::string&)> canonical = nullptr);

}  // namespace kvsvd
