// The window loop of a pipelined evaluate: this rank's group takes its share of the windows and
// every stage of the group runs each of them; the last stage keeps the records.
#pragma once
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/run-record.h"
#include "core/data/dataset.h"
#include "stages/evaluate/evaluate-options.h"
#include "stages/evaluate/pipeline-evaluator.h"
#include "stages/evaluate/pipeline-plan.h"

namespace kvsvd {

struct PipelineRunResult {
  std::vector<WindowRecord> records;  // last stage: its group's windows; elsewhere empty
  int64_t windows_computed = 0;       // last stage: windows finished; elsewhere 0
  bool interrupted = false;           // the group's first stage saw `stop` between windows
};

// `todo`: the window indices left to do (every rank the same list). Finished windows are written
// to OUT/.partial by the last stage (with --out), as the data-parallel loop does.
PipelineRunResult run_pipeline_windows(PipelineEvaluator& ev, const PipelinePlan& plan,
                                       const std::vector<int64_t>& todo,
                                       const std::vector<TokenIds>& windows,
                                       const EvaluateOptions& o, const std::string& run_key,
                                       const volatile std::sig_atomic_t* stop);

// summary.json provenance of a pipelined run: stages, groups, each stage's layers and bytes.
nlohmann::json pipeline_provenance(const PipelinePlan& plan);

}  // namespace kvsvd
