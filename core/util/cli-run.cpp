#include "core/util/cli-run.h"

#include <cstdio>
#include <exception>

#include "core/util/error.h"

namespace kvsvd {

int run_command(const std::string& name, const std::function<void()>& body) {
  try {
    body();
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "kvsvd %s: error: %s\n", name.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvsvd %s: internal error: %s\n", name.c_str(), e.what());
    return 3;
  }
}

}  // namespace kvsvd
