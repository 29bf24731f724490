#include "core/util/file-fingerprint.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "core/util/error.h"
#include "core/util/sha256.h"

namespace kvsvd {

std::string file_fingerprint(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KVSVD_CHECK(fd >= 0, "cannot open ", path, " to fingerprint it: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(cat("cannot fingerprint ", path, ": not a regular file"));
  }
  Sha256 h;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail(cat("error reading ", path, " to fingerprint it: ", std::strerror(err)));
    }
    if (n == 0) break;
    h.update(buf.data(), size_t(n));
  }
  ::close(fd);
  return h.hex_digest();
}

std::string bytes_fingerprint(const void* data, size_t len) { return sha256_hex(data, len); }

}  // namespace kvsvd
