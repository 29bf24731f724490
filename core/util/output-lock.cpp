#include "core/util/output-lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "core/util/error.h"
#include "core/util/utc-time.h"

namespace kvsvd {

namespace {

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

std::string holder_text(const LockHolder& h) {
  if (h.pid <= 0) return "holder unknown";
  std::string s = cat("pid ", h.pid, " on host ", h.host.empty() ? "?" : h.host);
  if (!h.since_utc.empty()) s += cat(" since ", h.since_utc);
  return s;
}

// Reads the value of "key=" up to the next blank from `text`.
std::string field(const std::string& text, const std::string& key) {
  size_t at = text.find(key + "=");
  if (at == std::string::npos) return "";
  at += key.size() + 1;
  size_t end = text.find_first_of(" \n", at);
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

std::string OutputLock::lock_path_for(const std::string& out) {
  std::string base = out;
  // "runs/a/" and "runs/a" name the same folder: lock "runs/a.lock", not "runs/a/.lock".
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base + ".lock";
}

LockHolder OutputLock::read_holder(const std::string& lock_path) {
  LockHolder h;
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return h;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return h;
  const std::string text(buf, static_cast<size_t>(n));
  h.pid = std::strtol(field(text, "pid").c_str(), nullptr, 10);
  h.host = field(text, "host");
  h.since_utc = field(text, "since");
  return h;
}

OutputLock OutputLock::acquire(const std::string& out, const std::string& what) {
  KVSVD_CHECK(!out.empty(), "cannot lock an empty output path (", what, ")");
  const std::string path = lock_path_for(out);
  // A holder that releases removes the file while still locking it; whoever opened the old file
  // just before then locks a removed inode. Re-check the inode and retry with the new file.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    KVSVD_CHECK(fd >= 0, "cannot create the lock file ", path, " for the ", what, " ", out, ": ",
                std::strerror(errno));
    int rc;
    do {
      rc = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int err = errno;
      ::close(fd);
      KVSVD_CHECK(err == EWOULDBLOCK, "cannot lock ", path, " for the ", what, " ", out, ": ",
                  std::strerror(err));
      const LockHolder h = read_holder(path);
      fail(cat(what, " ", out, " is being written by another job (", holder_text(h), "; lock ",
               path, "): wait for it to finish or write to another path"));
    }
    struct stat by_fd, by_path;
    if (::fstat(fd, &by_fd) != 0 || ::stat(path.c_str(), &by_path) != 0 ||
        by_fd.st_ino != by_path.st_ino || by_fd.st_dev != by_path.st_dev) {
      ::close(fd);  // the file we locked was removed by its previous holder
      continue;
    }
    const std::string text =
        cat("pid=", static_cast<long>(::getpid()), " host=", host_name(), " since=", utc_now_iso(),
            "\n");
    // Best effort: the record only serves the loser's message; the lock is the flock itself.
    if (::ftruncate(fd, 0) == 0) {
      ssize_t ignored = ::pwrite(fd, text.data(), text.size(), 0);
      (void)ignored;
    }
    return OutputLock(fd, path);
  }
  fail(cat("cannot lock ", path, " for the ", what, " ", out,
           ": the lock file keeps being replaced by other processes"));
}

OutputLock::OutputLock(OutputLock&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}

OutputLock& OutputLock::operator=(OutputLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
  }
  return *this;
}

void OutputLock::release() noexcept {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while locked: see acquire()
  ::close(fd_);             // drops the flock
  fd_ = -1;
}

}  // namespace kvsvd
