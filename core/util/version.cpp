#include "core/util/version.h"

namespace kvsvd {
const char* version_string() { return KVSVD_VERSION_STR; }
const char* git_revision() { return KVSVD_GIT_REV_STR; }
}  // namespace kvsvd
