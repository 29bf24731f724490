// `kvsvd profile` as a function: options + communicator in, profile store out (rank 0 writes).
#pragma once
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "stages/profile/profile-options.h"

namespace kvsvd {

class Comm;

// Seconds per phase on one rank (gather includes waiting for slower ranks).
struct ProfilePhaseTimes {
  double load = 0;       // checkpoint, model and weight tensors
  double calibrate = 0;  // calibration windows and the ordered moment reduction
  double decompose = 0;  // SVD / eigh, rank selection, fused output
  double gather = 0;     // layer profiles to rank 0
  double write = 0;      // HDF5 store (rank 0)
  double total = 0;
};

struct ProfileRunResult {
  std::vector<int64_t> layers_computed;       // by this rank, ascending
  int64_t layers_skipped = 0;                 // complete in a resumed .partial
  ProfilePhaseTimes times;                    // this rank's
  std::vector<ProfilePhaseTimes> rank_times;  // rank 0 only: every rank's, in rank order
  bool already_complete = false;              // --resume found a finished store: nothing done
  bool interrupted = false;                   // stopped by `stop`: the .partial is resumable
  std::string stop_message;                   // where it stopped, when interrupted
};

// The stage body. Collective over `comm`: every rank calls it with the same options. Layers are
// sharded with shard_range; rank 0 writes the store (OUT.partial, renamed when complete). Errors
// are thrown as kvsvd::Error; the caller (run_mpi_command) aborts the job so that no rank waits.
//
// Fault injection for tests: KVSVD_FAULT_INJECT=profile:rank<R>:layer<L> makes rank R throw just
// before it decomposes layer L (an error, naming the variable, when rank R does not own layer L
// in this run); with the suffix ":hang" rank R stalls there instead, until `stop` is set (then it
// goes on) or the process is killed: the other ranks wait in the round's gather, and the .partial
// holds exactly the layers of the earlier rounds. Other values starting with "profile:" are errors.
//
// `stop`: when set (SIGTERM), the ranks agree at the next round boundary (calibration round or
// layer round) to stop and return with `interrupted` set (every rank: the verdict is collective);
// the .partial keeps every layer written so far, closed and flushed, for --resume. The CLI then
// exits with status 143.
ProfileRunResult run_profile(ProfileOptions opt, const Comm& comm,
                             const volatile std::sig_atomic_t* stop = nullptr);

// "profile: layers 12/32 done, elapsed 3.1 s, ETA 5.2 s" (exposed for tests of the format).
std::string progress_line(const char* what, int64_t done, int64_t total, double elapsed);

// The per-rank phase table printed at the end of a run.
std::string timing_table(const std::vector<ProfilePhaseTimes>& ranks);
// The same times as one line of JSON for scripts (scripts/bench-profile.sh):
// {"seconds_per_rank": [{"load": s, "calibrate": s, "decompose": s, "gather": s, "write": s,
// "total": s}, ...]} in rank order.
std::string timing_json(const std::vector<ProfilePhaseTimes>& ranks);

}  // namespace kvsvd
