#include "core/util/file-tree.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/util/error.h"

namespace kvsvd {
namespace {

thread_local std::string g_remove_error;  // nftw's callback cannot capture

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  const int rc = (type == FTW_DP) ? ::rmdir(path) : ::unlink(path);
  if (rc != 0 && errno != ENOENT) {
    g_remove_error = cat(path, ": ", std::strerror(errno));
    return 1;  // stop the walk
  }
  return 0;
}

}  // namespace

std::vector<std::string> list_directory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  KVSVD_CHECK(d != nullptr, "cannot list directory ", dir, ": ", std::strerror(errno));
  std::vector<std::string> names;
  while (const struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool remove_tree(const std::string& path, std::string* error) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  g_remove_error.clear();
  // FTW_DEPTH: children before their directory; FTW_PHYS: links are entries, not followed.
  const int rc = ::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS);
  if (rc != 0 && error) *error = g_remove_error.empty() ? cat(path, ": ", std::strerror(errno))
                                                        : g_remove_error;
  return rc == 0;
}

std::string make_temp_directory(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  KVSVD_CHECK(::mkdtemp(buf.data()) != nullptr, "cannot create a temporary directory ", tmpl,
              ": ", std::strerror(errno));
  return buf.data();
}

}  // namespace kvsvd
