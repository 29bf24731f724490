// Test helpers for the stages tested through the kvsvd CLI (report, sweep): run the CLI, scratch
// folders, files, a CSV reader.
// (The report stage library is not linked into unit tests, so they drive its public interface,
// the `kvsvd report` and `kvsvd sweep` commands.)
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace report_test {

namespace fs = std::filesystem;

struct CliResult {
  int rc = -1;
  std::string out;  // stdout and stderr together
};

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `kvsvd ARGS...` in `cwd`.
inline CliResult kvsvd(const std::vector<std::string>& args, const fs::path& cwd) {
  std::string cmd = "cd " + shell_quote(cwd.string()) + " && " + shell_quote(KVSVD_BINARY);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>&1";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// rm -rf (not fs::remove_all, which crashed test binaries on the GPU box: core/util/file-tree.h;
// that header is not included here because its namespace would clash with the kvsvd() helper).
inline void remove_dir(const fs::path& dir) {
  const std::string cmd = "rm -rf '" + dir.string() + "'";
  if (std::system(cmd.c_str()) != 0) { /* best effort: a leftover folder fails nothing */ }
}

// A fresh folder under the system temp dir, removed at scope exit.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& tag) {
    dir = fs::temp_directory_path() / ("kvsvd-report-test-" + tag + "-" + std::to_string(::getpid()));
    remove_dir(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    remove_dir(dir);
  }
};

inline void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

inline std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(read(p)); }

// CSV with a header row -> one map per row (quoted fields with commas and "" handled).
inline std::vector<std::map<std::string, std::string>> read_csv(const fs::path& p) {
  std::vector<std::vector<std::string>> lines;
  const std::string text = read(p);
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\n') {
      row.push_back(field);
      field.clear();
      lines.push_back(row);
      row.clear();
    } else {
      field += c;
    }
  }
  std::vector<std::map<std::string, std::string>> out;
  for (size_t r = 1; r < lines.size(); ++r) {
    std::map<std::string, std::string> m;
    for (size_t k = 0; k < lines[0].size() && k < lines[r].size(); ++k) m[lines[0][k]] = lines[r][k];
    out.push_back(m);
  }
  return out;
}

inline bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// 1-based line of the first line of `text` that contains `needle` (0 if none).
inline int line_of(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.find(needle) != std::string::npos) return n;
  return 0;
}

}  // namespace report_test
