// Pipelined window loop and its provenance.
#include "stages/evaluate/pipeline-run.h"

#include <chrono>
#include <cstdio>

#include "mpi/shard.h"
#include "stages/evaluate/run-output.h"

namespace kvsvd {

PipelineRunResult run_pipeline_windows(PipelineEvaluator& ev, const PipelinePlan& plan,
                                       const std::vector<int64_t>& todo,
                                       const std::vector<TokenIds>& windows,
                                       const EvaluateOptions& o, const std::string& run_key,
                                       const volatile std::sig_atomic_t* stop) {
  PipelineRunResult res;
  const Range mine = shard_range(static_cast<int64_t>(todo.size()), plan.group, plan.groups);
  const bool report = o.progress && plan.group == 0 && ev.is_last();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = mine.begin; i < mine.end; ++i) {
    const int64_t w = todo[i];
    std::vector<WindowRecord> recs;
    // Only the first stage's flag counts, so the whole group stops at the same window.
    if (!ev.evaluate(w, windows[w], stop && *stop, &recs)) {
      res.interrupted = true;
      return res;
    }
    if (!ev.is_last()) continue;
    if (!o.out.empty()) write_partial_window(o.out, run_key, w, recs);
    res.records.insert(res.records.end(), recs.begin(), recs.end());
    ++res.windows_computed;
    if (report) {
      const double el =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "evaluate: group 0 window %lld/%lld done (%d stages x %d groups), %.1fs\n",
                   static_cast<long long>(i - mine.begin + 1), static_cast<long long>(mine.size()),
                   plan.stages, plan.groups, el);
    }
  }
  if (o.progress) {
    const double el =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const StageLink& l = ev.link();
    std::fprintf(stderr,
                 "evaluate: group %d stage %d: %lld activation bytes in %lld tensors sent (%s), "
                 "%.2fs of %.2fs blocked waiting for input\n",
                 plan.group, plan.stage, static_cast<long long>(l.tensor_bytes_sent()),
                 static_cast<long long>(l.tensors_sent()), l.uses_nccl() ? "NCCL" : "MPI",
                 l.recv_wait_seconds(), el);
  }
  return res;
}

nlohmann::json pipeline_provenance(const PipelinePlan& plan) {
  nlohmann::json stages = nlohmann::json::array();
  for (const StageSlice& s : plan.split)
    stages.push_back({{"stage", s.stage},
                      {"first_layer", s.first_layer},
                      {"last_layer", s.end_layer - 1},
                      {"embedding", s.embed},
                      {"head", s.head},
                      {"param_bytes", s.param_bytes}});
  return {{"stages", plan.stages},
          {"groups", plan.groups},
          {"layer_split", layer_split_string(plan.split)},
          {"stage_slices", stages}};
}

}  // namespace kvsvd
