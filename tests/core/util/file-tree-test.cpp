// core/util/file-tree: listing, recursive removal (links not followed) and temp directories.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "core/util/error.h"
#include "core/util/file-tree.h"
#include "support/catch.h"

namespace {

bool exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

void touch(const std::string& p) { std::ofstream(p) << "x"; }

}  // namespace

TEST_CASE("file tree: list, remove recursively, never follow links") {
  const std::string root = kvsvd::make_temp_directory("kvsvd-file-tree");
  const std::string outside = kvsvd::make_temp_directory("kvsvd-file-tree-outside");
  touch(outside + "/keep.txt");
  REQUIRE(::mkdir((root + "/b").c_str(), 0700) == 0);
  REQUIRE(::mkdir((root + "/b/deep").c_str(), 0700) == 0);
  touch(root + "/c.txt");
  touch(root + "/a.txt");
  touch(root + "/b/deep/d.txt");
  REQUIRE(::symlink(outside.c_str(), (root + "/link").c_str()) == 0);

  CHECK(kvsvd::list_directory(root) == std::vector<std::string>{"a.txt", "b", "c.txt", "link"});
  std::string why;
  CHECK(kvsvd::remove_tree(root, &why));
  CHECK(why.empty());
  CHECK_FALSE(exists(root));
  CHECK(exists(outside + "/keep.txt"));  // the link was removed, not what it points at
  CHECK(kvsvd::remove_tree(root));       // already gone: not an error
  CHECK(kvsvd::remove_tree(outside));
  CHECK_FALSE(exists(outside));
}

TEST_CASE("file tree: errors name the directory") {
  const std::string missing = "/nonexistent-kvsvd-dir/sub";
  try {
    kvsvd::list_directory(missing);
    FAIL("no error for a missing directory");
  } catch (const kvsvd::Error& e) {
    CHECK(std::string(e.what()).find(missing) != std::string::npos);
  }
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", "/nonexistent-kvsvd-tmp", 1);
  std::string msg;
  try {
    kvsvd::make_temp_directory("x");
  } catch (const kvsvd::Error& e) {
    msg = e.what();
  }
  if (old) ::setenv("TMPDIR", saved.c_str(), 1); else ::unsetenv("TMPDIR");
  CHECK(msg.find("/nonexistent-kvsvd-tmp/x-XXXXXX") != std::string::npos);
}
