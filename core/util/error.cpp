#include "core/util/error.h"

namespace kvsvd {

void fail(const std::string& msg) { throw Error(msg); }

void fail_at(const char* file, int line, const std::string& msg) {
  throw Error(cat(file, ":", line, ": ", msg));
}

}  // namespace kvsvd
