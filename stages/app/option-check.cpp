#include "stages/app/option-check.h"

#include <CLI/CLI.hpp>

#include <cmath>

#include "core/util/text-parse.h"

namespace kvsvd {

CLI::Option* with_check(CLI::Option* opt, ValueCheck check) {
  const std::string flag = opt->get_name();
  // Thrown rather than returned: CLI11 would prefix its own "NAME: ", and a YAML source needs the
  // detail alone to name its file and line instead.
  CLI::Validator v(
      [flag, check](std::string& value) -> std::string {
        const std::string detail = check(value);
        if (!detail.empty()) throw OptionValueError(flag, detail);
        return std::string();
      },
      "");
  return opt->transform(v);  // transform, not check: a check may write the canonical form back
}

namespace {

// The value as a number, or NaN when it is none (CLI11's own conversion then names the flag).
double number_or_nan(const std::string& value) {
  try {
    return to_double(value, "");
  } catch (const Error&) {
    return std::nan("");
  }
}

}  // namespace

ValueCheck at_least(int64_t min_value) {
  return [min_value](std::string& value) -> std::string {
    const double x = number_or_nan(value);
    if (std::isnan(x) || x >= static_cast<double>(min_value)) return "";
    return min_value == 1 ? cat(" must be > 0, got ", trim(value))
                          : cat(" must be >= ", min_value, ", got ", trim(value));
  };
}

ValueCheck above(double lo) {
  return [lo](std::string& value) -> std::string {
    const double x = number_or_nan(value);
    if (std::isnan(x) || x > lo) return "";
    return cat(" must be > ", lo, ", got ", trim(value));
  };
}

ValueCheck within(double lo, double hi) {
  return [lo, hi](std::string& value) -> std::string {
    const double x = number_or_nan(value);
    if (std::isnan(x) || (x >= lo && x <= hi)) return "";
    return cat(" must lie in [", lo, ", ", hi, "], got ", trim(value));
  };
}

ValueCheck from_table(std::function<void(const std::string&, const std::string&)> parse,
                      std::function<std::string(const std::string&)> canonical) {
  return [parse, canonical](std::string& value) -> std::string {
    // The parsers start their messages with the flag they are given; a marker in its place
    // leaves what follows it, the detail.
    static const std::string kMark = "\x1f";
    value = trim(value);
    try {
      parse(value, kMark);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.compare(0, kMark.size(), kMark) == 0) return msg.substr(kMark.size());
      for (size_t p; (p = msg.find(kMark)) != std::string::npos;) msg.erase(p, kMark.size());
      return ": " + msg;
    }
    if (canonical) value = canonical(value);
    return "";
  };
}

}  // namespace kvsvd
