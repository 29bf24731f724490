#include "core/util/file-sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace kvsvd {

int sync_fd(int fd) { return ::fsync(fd) == 0 ? 0 : errno; }

int sync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return errno;
  const int err = sync_fd(fd);
  ::close(fd);
  return err;
}

}  // namespace kvsvd
