// The files of an evaluate run folder: atomic writes (temp name + rename, so nothing carries a
// final name before it is complete), the per-window resume files under OUT/.partial/, the
// command line and the UTC date for provenance.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/eval/run-record.h"

namespace kvsvd {

// Writes `content` to "<path>.tmp.<pid>", fsyncs it, then renames it to `path` (same folder).
// Creates the parent folder. Errors name the path.
void write_file_atomic(const std::string& path, const std::string& content);

std::string partial_dir(const std::string& out);                    // OUT/.partial
std::string partial_window_path(const std::string& out, int64_t w);  // OUT/.partial/w000012.json

// Records the configurations' records of one finished window, tagged with `run_key` (what the
// figures depend on), atomically.
void write_partial_window(const std::string& out, const std::string& run_key, int64_t window,
                          const std::vector<WindowRecord>& records);

// Every finished window in OUT/.partial: window -> its records. A file of another run key is an
// error naming the file (the inputs changed: rerun without --resume); a file whose labels differ
// from `labels` likewise. Leftover temp files are ignored.
std::map<int64_t, std::vector<WindowRecord>> read_partial_windows(
    const std::string& out, const std::string& run_key, const std::vector<std::string>& labels);

// Removes OUT/.partial and everything in it (a fresh run).
void clear_partial(const std::string& out);

// "YYYY-MM-DDTHH:MM:SSZ".
std::string utc_now_iso();
// This process's command line (from /proc/self/cmdline), shell-quoted where needed.
std::string process_command_line();

}  // namespace kvsvd
