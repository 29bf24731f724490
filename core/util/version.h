// kvsvd's version and the git revision it was built from (for provenance). The revision is
// compiled into one file only, so a new commit does not rebuild the whole tree.
#pragma once

namespace kvsvd {
const char* version_string();  // e.g. "0.1.0"
const char* git_revision();    // short hash at configure time, or "unknown"
}  // namespace kvsvd

#define KVSVD_VERSION (::kvsvd::version_string())
#define KVSVD_GIT_REV (::kvsvd::git_revision())
