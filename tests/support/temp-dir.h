// The unit tests' scratch folder: a fresh mkdtemp directory, removed with everything in it when
// the object dies (through core/util/file-tree, not std::filesystem::remove_all).
#pragma once
#include <filesystem>
#include <fstream>
#include <string>

#include "core/util/file-tree.h"

namespace kvsvd::test {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "kvsvd-test")
      : path(kvsvd::make_temp_directory(prefix)) {}
  ~TempDir() { kvsvd::remove_tree(path.string()); }  // best effort: a leftover fails nothing
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Writes `text` to path/name; returns that path.
  std::string write(const std::string& name, const std::string& text) const {
    const auto p = path / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

}  // namespace kvsvd::test
