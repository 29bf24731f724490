// Error reporting: one exception type for bad input, and check macros that always fire.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace kvsvd {

// Thrown for anything the user can fix (bad file, flag, key, tensor). `what()` names the culprit.
// Stages catch it at the top, print it, and exit non-zero (MPI stages call MPI_Abort).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

[[noreturn]] void fail(const std::string& msg);
[[noreturn]] void fail_at(const char* file, int line, const std::string& msg);

namespace detail {
inline void stream_all(std::ostringstream&) {}
template <typename T, typename... Rest>
void stream_all(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  stream_all(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one message.
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  detail::stream_all(os, args...);
  return os.str();
}

}  // namespace kvsvd

// KVSVD_CHECK(cond, parts...): throws kvsvd::Error with the message when cond is false.
// Never compiled out (unlike assert), so side effects in cond are safe but discouraged.
#define KVSVD_CHECK(cond, ...)                                   \
  do {                                                           \
    if (!(cond)) ::kvsvd::fail(::kvsvd::cat(__VA_ARGS__));       \
  } while (0)

// Internal invariant: names file:line, for bugs rather than bad input.
#define KVSVD_ASSERT(cond, ...)                                                              \
  do {                                                                                       \
    if (!(cond)) ::kvsvd::fail_at(__FILE__, __LINE__, ::kvsvd::cat("internal: " #cond " ", \
                                                                   ##__VA_ARGS__));          \
  } while (0)
