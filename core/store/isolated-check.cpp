#include "core/store/isolated-check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

// Sanitizer builds (fuzzing): the parent's death callback (libFuzzer's) must not run in the
// child, where it would record the child's crash as the fuzzer's own. Absent in normal builds.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace kvsvd {

namespace {

nlohmann::json report_to_json(const VerifyReport& r) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerCheck& l : r.layers) {
    layers.push_back({l.layer, l.complete, l.key_orthonormality_error,
                      l.value_orthonormality_error});
  }
  return {{"path", r.path},
          {"fingerprint", r.fingerprint},
          {"datasets_read", r.datasets_read},
          {"failures", r.failures},
          {"layers", layers},
          {"max_orthonormality_error", r.max_orthonormality_error}};
}

VerifyReport report_from_json(const nlohmann::json& j) {
  VerifyReport r;
  r.path = j.at("path").get<std::string>();
  r.fingerprint = j.at("fingerprint").get<std::string>();
  r.datasets_read = j.at("datasets_read").get<int64_t>();
  r.failures = j.at("failures").get<std::vector<std::string>>();
  for (const nlohmann::json& l : j.at("layers")) {
    LayerCheck c;
    c.layer = l.at(0).get<int64_t>();
    c.complete = l.at(1).get<bool>();
    c.key_orthonormality_error = l.at(2).get<double>();
    c.value_orthonormality_error = l.at(3).get<double>();
    r.layers.push_back(c);
  }
  r.max_orthonormality_error = j.at("max_orthonormality_error").get<double>();
  return r;
}

void write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent is gone or stopped listening: nothing left to tell
    done += size_t(n);
  }
}

// The child: default signal dispositions (a crash must end it, not run the parent's handlers:
// MPI's backtrace printer, libFuzzer's crash recorder, a stage's SIGTERM flag), one verdict
// line as JSON on `fd`, then _exit (no atexit handlers, no destructors of the parent's state).
[[noreturn]] void run_child(const std::string& path, int fd) {
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTERM, SIGINT, SIGPIPE}) {
    ::signal(sig, SIG_DFL);
  }
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
  // Tests: KVSVD_FAULT_INJECT=store-check:crash|hang stands for libhdf5 crashing or looping on
  // a hostile file (the real ones are in tests/fuzz/regressions/profile-store).
  if (const char* f = std::getenv("KVSVD_FAULT_INJECT")) {
    if (std::strcmp(f, "store-check:crash") == 0) ::raise(SIGSEGV);
    if (std::strcmp(f, "store-check:hang") == 0) {
      for (;;) ::pause();
    }
  }
  nlohmann::json verdict;
  try {
    const ProfileStoreReader reader = ProfileStoreReader::open(path);
    verdict = {{"report", report_to_json(reader.verify())}};
  } catch (const Error& e) {
    verdict = {{"error", e.what()}};
  } catch (const std::exception& e) {  // not ours (a library's): name the file here
    verdict = {{"error", cat("profile store ", path, " could not be checked: ", e.what())}};
  } catch (...) {
    verdict = {{"error", cat("checking ", path, " failed with an unknown exception")}};
  }
  write_all(fd, verdict.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
  ::close(fd);
  ::_exit(0);
}

double now_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

std::string signal_text(int sig) {
  const char* d = ::strsignal(sig);
  return cat("signal ", sig, d ? cat(", ", d) : std::string());
}

}  // namespace

VerifyReport verify_store_isolated(const std::string& path, double timeout_seconds) {
  struct stat st {};
  KVSVD_CHECK(::stat(path.c_str(), &st) == 0, "profile store ", path, " does not exist");
  KVSVD_CHECK(S_ISREG(st.st_mode), "profile store ", path, " is not a regular file");
  if (timeout_seconds <= 0) timeout_seconds = 60.0 + double(st.st_size) / 20e6;

  int fds[2];
  KVSVD_CHECK(::pipe2(fds, O_CLOEXEC) == 0, "cannot check ", path,
              ": pipe failed: ", std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    fail(cat("cannot check ", path, ": fork failed: ", std::strerror(err)));
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_child(path, fds[1]);
  }
  ::close(fds[1]);

  std::string out;
  bool timed_out = false;
  const double deadline = now_seconds() + timeout_seconds;
  char buf[65536];
  for (;;) {
    const double left = deadline - now_seconds();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, int(left * 1000) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;  // the deadline check above ends the loop
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child closed its end (finished or died)
    out.append(buf, size_t(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  KVSVD_CHECK(!timed_out, "profile store ", path, ": checking it did not finish within ",
              timeout_seconds, " s (the separate process reading it was killed): the file is "
              "damaged or hostile; it was not used");
  KVSVD_CHECK(!WIFSIGNALED(status), "profile store ", path, " crashed the HDF5 reader (",
              signal_text(WTERMSIG(status)), ") in the separate process that checks it: the "
              "file is damaged or hostile; it was not used");
  KVSVD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && !out.empty(), "profile store ",
              path, ": the separate process that checks it ended without a verdict (exit status ",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              "): the file is damaged or hostile; it was not used");
  const nlohmann::json verdict = nlohmann::json::parse(out, nullptr, false);
  KVSVD_CHECK(!verdict.is_discarded() && verdict.is_object(), "profile store ", path,
              ": the process that checks it sent an unreadable verdict");
  if (verdict.contains("error")) fail(verdict["error"].get<std::string>());
  try {
    return report_from_json(verdict.at("report"));
  } catch (const nlohmann::json::exception& e) {
    fail(cat("profile store ", path, ": the process that checks it sent a malformed report: ",
             e.what()));
  }
}

void require_sound_store(const std::string& path, double timeout_seconds) {
  const VerifyReport rep = verify_store_isolated(path, timeout_seconds);
  KVSVD_CHECK(rep.checksums_ok(), "profile store ", path, " is damaged and was not used: ",
              rep.failures.front(),
              rep.failures.size() > 1 ? cat(" (and ", rep.failures.size() - 1, " more problem(s);"
                                            " see `kvsvd inspect --verify`)")
                                      : std::string());
}

}  // namespace kvsvd
