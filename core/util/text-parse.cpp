#include "core/util/text-parse.h"

#include <cerrno>
#include <cstdlib>

#include "core/util/error.h"

namespace kvsvd {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

int64_t to_int(const std::string& text, const std::string& where) {
  const std::string t = trim(text);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  KVSVD_CHECK(!t.empty() && errno == 0 && end && *end == '\0', where, ": '", text,
              "' is not an integer");
  return static_cast<int64_t>(v);
}

double to_double(const std::string& text, const std::string& where) {
  const std::string t = trim(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(t.c_str(), &end);
  KVSVD_CHECK(!t.empty() && errno == 0 && end && *end == '\0', where, ": '", text,
              "' is not a number");
  return v;
}

bool to_bool(const std::string& text, const std::string& where) {
  const std::string t = trim(text);
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  fail(cat(where, ": '", text, "' is not a boolean (true or false)"));
}

}  // namespace kvsvd
