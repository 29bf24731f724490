// Stage count, rank layout and the memory check of a pipelined evaluate.
#include "stages/evaluate/pipeline-plan.h"

#include <algorithm>

#include "core/eval/free-memory.h"
#include "core/util/error.h"
#include "mpi/abort.h"  // KVSVD_MPI_CHECK

namespace kvsvd {
namespace {

// Free bytes this rank may use: a GPU's own free memory, or the host's shared among the node's
// ranks (every rank of a node reads the same MemAvailable).
// Collective over `comm`.
int64_t usable_free_bytes(const Comm& comm, at::Device device) {
  MPI_Comm node = MPI_COMM_NULL;
  KVSVD_MPI_CHECK(MPI_Comm_split_type(comm.get(), MPI_COMM_TYPE_SHARED, comm.rank(),
                                      MPI_INFO_NULL, &node));
  int local_size = 1;
  KVSVD_MPI_CHECK(MPI_Comm_size(node, &local_size));
  KVSVD_MPI_CHECK(MPI_Comm_free(&node));
  const int64_t f = free_memory_bytes(device);
  if (f < 0 || device.is_cuda()) return f;
  return f / std::max(1, local_size);
}

int64_t max_stage_bytes(const LlamaConfig& cfg, int stages, int64_t es, int64_t tokens) {
  int64_t m = 0;
  for (const StageSlice& s : split_layers(cfg, stages, es))
    m = std::max(m, stage_memory_bytes(cfg, s, es, tokens));
  return m;
}

}  // namespace

int parse_pipeline_stages(const std::string& v, const std::string& where) {
  if (v.empty()) return kPipelineOff;
  if (v == "auto") return kPipelineAuto;
  int64_t n = 0;
  bool ok = !v.empty() && v.size() <= 6 &&
            std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (ok) n = std::stoll(v);
  KVSVD_CHECK(ok && n >= 1, where, " '", v, "': give a number of stages >= 1, or auto");
  return static_cast<int>(n);
}

PipelinePlan plan_pipeline(const std::string& flag, const Comm& comm, const LlamaConfig& cfg,
                           at::Device device, at::ScalarType dtype, int64_t tokens) {
  PipelinePlan p;
  const int asked = parse_pipeline_stages(flag, "--pipeline-stages");
  if (asked == kPipelineOff) return p;
  const int64_t es = static_cast<int64_t>(c10::elementSize(dtype));
  const int world = comm.size();
  p.free_bytes = usable_free_bytes(comm, device);
  int stages = asked;
  if (asked == kPipelineAuto) {
    // Every rank must reach the same S: the smallest free memory decides. On CPU ranks the
    // host's memory is one pool, so auto means one stage there.
    const bool all_cuda = comm.all_of(device.is_cuda());
    const int64_t min_free = comm.allreduce_min(p.free_bytes);
    stages = 0;
    if (!all_cuda) {
      stages = 1;
    } else {
      for (int s = 1; s <= std::min<int64_t>(world, cfg.num_layers) && stages == 0; ++s)
        if (world % s == 0 && min_free >= 0 && max_stage_bytes(cfg, s, es, tokens) <= min_free)
          stages = s;
      const int most = static_cast<int>(std::min<int64_t>(world, cfg.num_layers));
      KVSVD_CHECK(stages > 0, "--pipeline-stages auto: no stage count up to ", most,
                  " (the ranks, at most one per layer) fits: at ", most,
                  " stages the largest slice needs ", max_stage_bytes(cfg, most, es, tokens),
                  " bytes, the smallest free memory of a rank is ", min_free,
                  " bytes (more ranks, one GPU each, or a smaller --dtype)");
    }
  }
  KVSVD_CHECK(world % stages == 0, "--pipeline-stages ", stages, ": the ", world,
              " ranks do not split into groups of ", stages,
              " (launch a multiple of ", stages, " ranks: --ntasks / mpirun -np)");
  p.stages = stages;
  p.groups = world / stages;
  p.group = comm.rank() / stages;
  p.stage = comm.rank() % stages;
  p.split = split_layers(cfg, stages, es);
  p.needed_bytes = stage_memory_bytes(cfg, p.mine(), es, tokens);
  const StageSlice& s = p.mine();
  KVSVD_CHECK(p.free_bytes < 0 || p.needed_bytes <= p.free_bytes, "--pipeline-stages ", stages,
              ": stage ", s.stage, " (layers ", s.first_layer, "-", s.end_layer - 1,
              s.embed ? ", embedding" : "", s.head ? ", head" : "", ") needs ", p.needed_bytes,
              " bytes (", s.param_bytes, " of parameters, the rest KV and activations for ",
              tokens, " tokens) but ", device.str(), " has ", p.free_bytes,
              " bytes free; use more stages");
  return p;
}

}  // namespace kvsvd
