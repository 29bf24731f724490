// Test helpers for error messages: the text of the kvsvd::Error a call throws, and substrings.
#pragma once
#include <string>

#include "core/util/error.h"

namespace kvsvd::test {

// The message of the kvsvd::Error `fn` throws ("" when it throws none).
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace kvsvd::test
