// Directory listing and recursive removal through POSIX (opendir/readdir, nftw) rather than
// std::filesystem's directory iterators: on the GPU box (gcc 13 + the pip LibTorch, built with an
// older toolchain) every std::filesystem::remove_all / directory_iterator call crashed a test
// binary with SIGSEGV, while plain POSIX calls work everywhere. Torch-free.
#pragma once
#include <string>
#include <vector>

namespace kvsvd {

// Names of the entries of `dir` (no "." or ".."), sorted. Errors name the directory.
std::vector<std::string> list_directory(const std::string& dir);

// Removes `path` and everything under it (symbolic links are removed, never followed). A missing
// path is not an error. Returns false (and leaves what it could not remove) on failure, with the
// reason in *error when given.
bool remove_tree(const std::string& path, std::string* error = nullptr);

// A fresh directory under $TMPDIR (default /tmp) named PREFIX-XXXXXX (mkdtemp). Errors name it.
std::string make_temp_directory(const std::string& prefix);

}  // namespace kvsvd
