// An exclusive lock on an output path (a profile store, an evaluate run folder): flock(2) on
// "<out>.lock", so two jobs never write the same output at once.
#pragma once
#include <string>

namespace kvsvd {

// Who holds (or last held) a lock, as its holder wrote it into the lock file.
struct LockHolder {
  long pid = 0;           // 0: unknown (the file is empty: its holder is still writing it)
  std::string host;       // gethostname() of the holder
  std::string since_utc;  // "YYYY-MM-DDTHH:MM:SSZ" when it took the lock
};

// Holds flock(LOCK_EX) on "<out>.lock" from acquire() until release() or destruction. The lock
// file records the holder ("pid=<pid> host=<host> since=<utc>") so that the loser's error can name
// it. Why flock and not an O_EXCL marker file: the kernel drops a flock when its holder dies
// (SIGKILL, OOM, node reboot of a local disk), so a lock left by a dead job never blocks a rerun;
// the stale file itself is harmless and is reused. On NFS, Linux emulates flock with fcntl byte
// range locks (since 2.6.12), which the NFS lock manager arbitrates between clients. Move-only.
class OutputLock {
 public:
  static std::string lock_path_for(const std::string& out);  // out + ".lock"

  // Takes the lock without waiting. When another process (or another OutputLock of this one)
  // holds it, throws kvsvd::Error naming `what` and `out`, the lock file and the holder, e.g.
  // "profile store s.h5 is being written by another job (pid 812 on host n3 since ...; lock
  // s.h5.lock)". Errors also name the lock file when it cannot be created (missing or read-only
  // folder).
  static OutputLock acquire(const std::string& out, const std::string& what);

  // The holder recorded in `lock_path` (pid 0 when unreadable or empty).
  static LockHolder read_holder(const std::string& lock_path);

  OutputLock() = default;
  OutputLock(OutputLock&& o) noexcept;
  OutputLock& operator=(OutputLock&& o) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock() { release(); }

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }  // the lock file

  // Removes the lock file (while still holding the lock, so that no waiter locks a removed file
  // unnoticed: acquire() re-checks the inode) and drops the lock. Idempotent.
  void release() noexcept;

 private:
  OutputLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace kvsvd
