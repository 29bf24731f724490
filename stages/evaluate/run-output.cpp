// Run-folder files: atomic writes, resume records, provenance helpers.
#include "stages/evaluate/run-output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/util/error.h"
#include "core/util/file-sync.h"
#include "core/util/json-util.h"
#include "core/util/file-tree.h"

namespace kvsvd {

namespace fs = std::filesystem;

namespace {

void create_parent(const std::string& path) {
  const fs::path p(path);
  if (!p.has_parent_path()) return;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  KVSVD_CHECK(!ec, "cannot create the folder ", p.parent_path().string(), " for ", path, ": ",
              ec.message());
}

std::string temp_path(const std::string& path) { return cat(path, ".tmp.", ::getpid()); }

// Writes and fsyncs `content` to temp_path(path); on failure removes it and throws naming it.
void write_temp(const std::string& path, const std::string& content) {
  const std::string tmp = temp_path(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  KVSVD_CHECK(fd >= 0, "cannot write ", tmp, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(cat("error writing ", tmp, " (for ", path, "): ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  // fsync before the rename: after a crash the final name holds either nothing or all of it.
  // A full disk may only show here (delayed allocation, NFS), so the result is checked.
  const int err = sync_fd(fd);
  ::close(fd);
  if (err != 0) {
    ::unlink(tmp.c_str());
    fail(cat("cannot flush ", tmp, " (for ", path, ") to disk: ", std::strerror(err)));
  }
}

void rename_temp(const std::string& path) {
  const std::string tmp = temp_path(path);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(cat("cannot rename ", tmp, " to ", path, ": ", std::strerror(err)));
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  create_parent(path);
  write_temp(path, content);
  rename_temp(path);
}

void write_files_atomic(const std::vector<std::pair<std::string, std::string>>& files) {
  size_t written = 0;
  try {
    for (const auto& [path, content] : files) {
      create_parent(path);
      write_temp(path, content);
      ++written;
    }
  } catch (...) {
    for (size_t i = 0; i < written; ++i) ::unlink(temp_path(files[i].first).c_str());
    throw;
  }
  // Renames need no space: once every temp file is on disk they all reach their final names.
  for (const auto& f : files) rename_temp(f.first);
}

OutputLock lock_run_folder(const std::string& out) {
  create_parent(OutputLock::lock_path_for(out));
  return OutputLock::acquire(out, "evaluate run folder");
}

std::string partial_dir(const std::string& out) { return (fs::path(out) / ".partial").string(); }

std::string partial_window_path(const std::string& out, int64_t w) {
  char name[32];
  std::snprintf(name, sizeof name, "w%06lld.json", static_cast<long long>(w));
  return (fs::path(partial_dir(out)) / name).string();
}

void write_partial_window(const std::string& out, const std::string& run_key, int64_t window,
                          const std::vector<WindowRecord>& records) {
  nlohmann::json j = {{"run_key", run_key}, {"window", window}, {"records", nlohmann::json::array()}};
  for (const auto& r : records) j["records"].push_back(window_record_to_json(r));
  write_file_atomic(partial_window_path(out, window), j.dump() + "\n");
}

std::map<int64_t, std::vector<WindowRecord>> read_partial_windows(
    const std::string& out, const std::string& run_key, const std::vector<std::string>& labels) {
  std::map<int64_t, std::vector<WindowRecord>> done;
  const fs::path dir(partial_dir(out));
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return done;
  for (const std::string& name : list_directory(dir.string())) {
    // Only finished files: "w<digits>.json" (a temp name carries a ".tmp.<pid>" suffix).
    if (name.size() < 7 || name[0] != 'w' || name.substr(name.size() - 5) != ".json") continue;
    const std::string path = (dir / name).string();
    const nlohmann::json j = load_json_file(path);
    KVSVD_CHECK(json_string(j, "run_key", path) == run_key, path,
                ": written by an evaluation of other inputs or options (model, store, dataset, "
                "methods, windows, dtype); rerun without --resume to start over");
    const int64_t w = json_int(j, "window", path);
    const auto& recs = json_require(j, "records", path);
    KVSVD_CHECK(recs.is_array() && recs.size() == labels.size(), path, ": expected ",
                labels.size(), " records (one per configuration)");
    std::vector<WindowRecord> rs;
    for (size_t i = 0; i < recs.size(); ++i) {
      WindowRecord r = window_record_from_json(recs[i], cat(path, ": records[", i, "]"));
      KVSVD_CHECK(r.window == w && r.label == labels[i], path, ": records[", i, "] is '",
                  r.label, "' of window ", r.window, ", expected '", labels[i], "' of window ", w);
      rs.push_back(std::move(r));
    }
    done[w] = std::move(rs);
  }
  return done;
}

void clear_partial(const std::string& out) {
  std::string why;
  KVSVD_CHECK(remove_tree(partial_dir(out), &why), "cannot remove ", partial_dir(out), ": ", why);
}

std::string process_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string out;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t end = raw.find('\0', pos);
    if (end == std::string::npos) end = raw.size();
    const std::string arg = raw.substr(pos, end - pos);
    pos = end + 1;
    const bool plain = !arg.empty() && arg.find_first_not_of(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./=:,+@%") ==
        std::string::npos;
    std::string quoted = arg;
    if (!plain) {
      quoted = "'";
      for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      quoted += "'";
    }
    out += (out.empty() ? "" : " ") + quoted;
  }
  return out;
}

}  // namespace kvsvd
