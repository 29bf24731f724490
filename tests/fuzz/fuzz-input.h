// Shared helpers of the libFuzzer targets: per-process scratch files and the rule for outcomes.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/util/error.h"

namespace kvsvd::fuzz {

inline std::filesystem::path scratch_path() {
  const char* tmp = std::getenv("TMPDIR");
  return std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
         ("kvsvd-fuzz-" + std::to_string(::getpid()));
}

// A scratch folder private to this process (libFuzzer -jobs/-workers/-fork run several at once),
// removed at a normal exit (a crash leaves it for inspection).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = scratch_path();
    std::filesystem::create_directories(d);
    // Recomputes the path: the handler may run after `dir` itself is destroyed.
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_path(), ec);
    });
    return d;
  }();
  return dir;
}

// Writes the fuzz input to `path` (replacing it) and returns the path.
inline std::string write_file(const std::filesystem::path& path, const uint8_t* data,
                              size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the harness itself is broken, not the code under test
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path.string();
}

// The one accepted way to refuse an input is kvsvd::Error (a message naming file and key).
// Anything else escaping (a library's raw exception, std::bad_alloc from an unchecked size,
// std::out_of_range) reaches libFuzzer as an uncaught exception, i.e. a finding.
template <class F>
void expect_ok_or_error(F&& body) {
  try {
    body();
  } catch (const kvsvd::Error&) {
  }
}

// A broken invariant of accepted input: abort so that libFuzzer records the input.
#define KVSVD_FUZZ_ASSERT(cond)                                                        \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

}  // namespace kvsvd::fuzz
