// The files of an evaluate run folder: atomic writes (temp name + rename, so nothing carries a
// final name before it is complete), the per-window resume files under OUT/.partial/, the
// command line and the UTC date for provenance.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/eval/run-record.h"
#include "core/util/output-lock.h"
#include "core/util/utc-time.h"  // utc_now_iso() for the run records

namespace kvsvd {

// Writes `content` to "<path>.tmp.<pid>", fsyncs it, then renames it to `path` (same folder).
// Creates the parent folder. Errors name the path; on a failed write, fsync or rename (disk
// full) the temp file is removed.
void write_file_atomic(const std::string& path, const std::string& content);

// The run's final files as one step: every (path, content) is written and fsynced under its temp
// name first; only when all of them are on disk are they renamed, in the given order (put
// summary.json last: its presence means the folder is complete). When any write fails (disk
// full), every temp file is removed and no file reaches its final name; the error names the path.
void write_files_atomic(const std::vector<std::pair<std::string, std::string>>& files);

// The exclusive lock of an evaluate run folder: OutputLock on "<out>.lock" (beside the folder,
// whose parent is created when missing). Rank 0 takes it before it reads or clears OUT/.partial
// and holds it until the run's files are written, so a second job with the same --out fails,
// naming the folder and the holder (pid, host), instead of mixing its windows into this one's.
// A lock left by a killed job does not block a rerun (flock dies with its holder).
OutputLock lock_run_folder(const std::string& out);

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

// This process's command line (from /proc/self/cmdline), shell-quoted where needed.
std::string process_command_line();

}  // namespace kvsvd
