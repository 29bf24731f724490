// The body of `kvsvd evaluate` as a function of its options and a communicator, so that tests
// run it in-process under mpirun: windows sharded over the ranks, per-window records gathered to
// rank 0 and reduced in window order (every figure but timings/memory is the same for any rank
// count), outputs written atomically, finished windows recorded for --resume.
#pragma once
#include <csignal>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "mpi/comm.h"
#include "stages/evaluate/eval-summary.h"  // kEvalSchema, summary_table
#include "stages/evaluate/evaluate-options.h"

namespace kvsvd {

struct EvaluateResult {
  nlohmann::json summary;    // rank 0: the summary.json document (empty elsewhere)
  std::string windows_csv;   // rank 0: windows.csv
  bool interrupted = false;  // this rank saw the stop flag between windows and returned early
  int64_t windows_computed = 0;  // windows this rank evaluated in this call
  int64_t windows_resumed = 0;   // windows taken from OUT/.partial (rank 0's count)
};

// Collective over `comm`: every rank must call it with the same options. Errors found on rank 0
// (model/store fingerprint mismatch, bad dataset) are broadcast so that every rank throws the
// same CollectiveError (a kvsvd::Error; mpi/collective-error.h). `stop` (may be null) is checked between windows: when set, the rank returns
// with interrupted = true without further collectives (its finished windows are already on disk
// under OUT/.partial); the caller then ends the job with a non-zero status.
EvaluateResult run_evaluate_stage(const EvaluateOptions& opts, const Comm& comm,
                                  const volatile std::sig_atomic_t* stop = nullptr);

// The fingerprint evaluate compares with a store's model_fingerprint: model_fingerprint() over
// every tensor of the checkpoint in DIR (the profile stage must use the same set).
std::string checkpoint_model_fingerprint(const std::string& model_dir);

}  // namespace kvsvd
