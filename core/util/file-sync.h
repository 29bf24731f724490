// Flushing files and folders to disk (fsync) before a rename publishes them. Torch-free.
#pragma once
#include <string>

namespace kvsvd {

// fsync(fd); returns 0, or the errno of the failure (a full disk may only show here).
int sync_fd(int fd);

// Opens `path` read-only (a folder when `directory`) and fsyncs it; returns 0 or the errno of
// the open or the fsync.
int sync_path(const std::string& path, bool directory = false);

}  // namespace kvsvd
