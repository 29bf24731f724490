// `kvsvd evaluate` as a sequence of named steps: check, bind the device, read the inputs (rank 0,
// broadcast), load the model and build the configurations, open the run folder (run key, resume),
// evaluate this rank's windows, gather and reduce in window order, write.
#include "stages/evaluate/evaluate-stage.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/fingerprint.h"
#include "core/eval/evaluator.h"
#include "core/eval/paired-bootstrap.h"
#include "core/eval/run-record.h"
#include "core/kv/methods.h"
#include "core/model/aten-device.h"
#include "core/model/llama.h"
#include "core/store/isolated-check.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"
#include "core/util/json-util.h"
#include "core/util/version.h"
#include "mpi/broadcast-windows.h"
#include "mpi/collective-error.h"
#include "mpi/rank-device.h"
#include "mpi/shard.h"
#include "stages/evaluate/cache-configs.h"
#include "stages/evaluate/evaluate-windows.h"
#include "stages/evaluate/run-key.h"
#include "stages/evaluate/run-output.h"
// pipeline stages (issue 16)
#include "core/model/llama-slice.h"
#include "mpi/stage-link.h"
#include "stages/evaluate/pipeline-evaluator.h"
#include "stages/evaluate/pipeline-plan.h"
#include "stages/evaluate/pipeline-run.h"

namespace kvsvd {
namespace {

using Clock = std::chrono::steady_clock;

// What every rank knows of the inputs once rank 0 has read them.
struct Inputs {
  LlamaConfig cfg;
  std::vector<TokenIds> windows;
  std::string model_fp, dataset_fp, store_fp;
};

// The model (or, with --pipeline-stages, this rank's slice of it and the link to the next
// stages), the store's bases and the evaluator over every configuration (every rank).
struct Loaded {
  PipelinePlan plan;  // plan.stages == 0: the whole model on every rank
  std::unique_ptr<StageLink> link;
  std::unique_ptr<LlamaSlice> slice;
  std::unique_ptr<PipelineEvaluator> pipeline;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<StoreInfo> store;
  std::unique_ptr<WindowEvaluator> evaluator;

  const std::vector<std::string>& labels() const {
    return pipeline ? pipeline->labels() : evaluator->labels();
  }
  const std::vector<CacheConfig>& configs() const {
    return pipeline ? pipeline->configs() : evaluator->configs();
  }
  int64_t prompt_tokens_for(int64_t window_len) const {
    return pipeline ? pipeline->prompt_tokens_for(window_len)
                    : evaluator->prompt_tokens_for(window_len);
  }
};

// The run folder's state: the run key, what a previous run finished (rank 0 holds the records)
// and the lock that keeps a second job off the folder until the files are written.
struct RunFolder {
  std::string run_key;
  std::vector<int64_t> done;
  std::map<int64_t, std::vector<WindowRecord>> resumed;
  OutputLock lock;
};

std::string fmt_seconds(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s < 120) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 7200) std::snprintf(buf, sizeof buf, "%.1fmin", s / 60);
  else std::snprintf(buf, sizeof buf, "%.1fh", s / 3600);
  return buf;
}

// config.json on every rank; the windows, the fingerprints and the store/model match on rank 0,
// broadcast (a bad input is one CollectiveError on every rank).
Inputs read_inputs(const EvaluateOptions& o, const Comm& comm) {
  Inputs in;
  on_all_checked(comm, [&] {
    in.cfg = load_llama_config((std::filesystem::path(o.model) / "config.json").string());
  });
  on_root_checked(comm, [&] {
    in.windows = load_windows(o, in.cfg);
    in.model_fp = checkpoint_model_fingerprint(o.model);
    in.dataset_fp = file_fingerprint(o.dataset);
    if (!o.store.empty()) {
      require_sound_store(o.store);  // in a separate process, before any rank reads the store
      const ProfileStoreReader reader = ProfileStoreReader::open(o.store);
      KVSVD_CHECK(reader.header().model_fingerprint == in.model_fp, "--store ", o.store,
                  ": built for the model with fingerprint ", reader.header().model_fingerprint,
                  ", but --model ", o.model, " has fingerprint ", in.model_fp,
                  " (profile this model first)");
      in.store_fp = file_fingerprint(o.store);
    }
  });
  broadcast_windows(comm, in.windows);
  comm.broadcast(in.model_fp);
  comm.broadcast(in.dataset_fp);
  comm.broadcast(in.store_fp);
  return in;
}

// The model, the store (when a method needs one) and the configuration product, on every rank.
Loaded load_model_and_configs(const EvaluateOptions& o, const Inputs& in, const Comm& comm,
                              const at::Device& device, at::ScalarType dtype) {
  const bool wants_svd = std::any_of(o.methods.begin(), o.methods.end(), [](const std::string& m) {
    return parse_kv_method(m, "--method") == KvMethod::Svd;
  });
  Loaded l;
  // Pipeline stages: S, this rank's group, stage and layers; a slice that does not fit is
  // refused before any weight is read (stages/evaluate/pipeline-plan.h).
  on_all_checked(comm, [&] {
    int64_t longest = 0;
    for (const auto& w : in.windows) longest = std::max<int64_t>(longest, int64_t(w.size()));
    l.plan = plan_pipeline(o.pipeline_stages, comm, in.cfg, device, dtype, longest + o.gen_tokens);
  });
  if (l.plan.stages > 0) l.link = make_stage_link(comm.get(), l.plan.group, l.plan.stage, device);
  on_all_checked(comm, [&] {
    if (l.plan.stages > 0)  // only this stage's tensors are read
      l.slice = std::make_unique<LlamaSlice>(
          LlamaSlice::load(Checkpoint::open(o.model), l.plan.mine(), device, dtype));
    else
      l.model = std::make_unique<LlamaModel>(LlamaModel::load(o.model, device, dtype));
    if (wants_svd)
      l.store = std::make_unique<StoreInfo>(load_store(o.store, in.store_fp, in.cfg, dtype, device));
    const std::vector<CacheConfig> configs = build_configs(o, l.store.get(), in.cfg.head_dim);
    const GenerationSpec gen{o.gen_tokens, o.gen_prompt_tokens};
    const KvProfile* profile = l.store ? &l.store->profile : nullptr;
    if (l.plan.stages > 0)
      l.pipeline = std::make_unique<PipelineEvaluator>(*l.slice, *l.link, configs, profile, gen);
    else
      l.evaluator = std::make_unique<WindowEvaluator>(*l.model, configs, profile, gen);
    if (o.gen_tokens > 0)
      for (size_t w = 0; w < in.windows.size(); ++w)
        KVSVD_CHECK(l.prompt_tokens_for(int64_t(in.windows[w].size())) <=
                        int64_t(in.windows[w].size()),
                    "--gen-prompt-tokens ", o.gen_prompt_tokens, " is longer than window ", w,
                    " (", in.windows[w].size(), " tokens)");
  });
  return l;
}

// Rank 0: the run key, the lock on --out, and what OUT/.partial holds of the same run (--resume)
// or its removal; the key and the finished windows are broadcast.
RunFolder open_run_folder(const EvaluateOptions& o, const Inputs& in,
                          const std::vector<std::string>& labels, const Comm& comm,
                          const at::Device& device, at::ScalarType dtype) {
  RunFolder f;
  const int64_t n_windows = static_cast<int64_t>(in.windows.size());
  on_root_checked(comm, [&] {
    RunKeyInputs key;
    key.model_fingerprint = in.model_fp;
    key.store_fingerprint = in.store_fp;
    key.windows = &in.windows;
    key.labels = labels;
    key.gen_tokens = o.gen_tokens;
    key.gen_prompt_tokens = o.gen_prompt_tokens;
    key.batch = o.batch;
    key.dtype = aten_dtype_name(dtype);
    key.device_kind = device.is_cuda() ? "cuda" : "cpu";
    f.run_key = evaluate_run_key(key);
    if (o.out.empty()) return;
    f.lock = lock_run_folder(o.out);  // before OUT/.partial is read or cleared
    if (!o.resume) {
      clear_partial(o.out);
      return;
    }
    f.resumed = read_partial_windows(o.out, f.run_key, labels);
    for (const auto& [w, recs] : f.resumed) {
      // A window index past this run's windows cannot come from the same inputs.
      KVSVD_CHECK(w >= 0 && w < n_windows, partial_window_path(o.out, w), ": window ", w,
                  " is outside this run's ", n_windows, " windows");
      f.done.push_back(w);
    }
  });
  comm.broadcast(f.run_key);
  comm.broadcast(f.done);
  return f;
}

// The batches left to do. Windows are grouped by index (batch w / o.batch), split further into
// runs of equal length; ranks take whole batches, so every window is computed in the same company
// for any rank count. A batch with any window missing is recomputed whole (its resumed records
// are dropped from `folder`), so a resumed run holds the same numbers as an uninterrupted one.
std::vector<std::vector<int64_t>> batches_to_do(const EvaluateOptions& o, const Inputs& in,
                                                RunFolder& folder) {
  const int64_t n_windows = static_cast<int64_t>(in.windows.size());
  std::vector<std::vector<int64_t>> batches;
  std::vector<char> have(static_cast<size_t>(n_windows), 0);
  for (int64_t w : folder.done) have[static_cast<size_t>(w)] = 1;
  for (int64_t g0 = 0; g0 < n_windows; g0 += o.batch) {
    const int64_t g1 = std::min(n_windows, g0 + o.batch);
    bool complete = true;
    for (int64_t w = g0; w < g1; ++w) complete = complete && have[static_cast<size_t>(w)];
    if (complete) continue;
    for (int64_t w = g0; w < g1; ++w) {
      have[static_cast<size_t>(w)] = 0;
      folder.resumed.erase(w);  // rank 0 holds the records
      const bool joins = w > g0 && in.windows[w - 1].size() == in.windows[w].size();
      if (joins) batches.back().push_back(w);
      else batches.push_back({w});
    }
  }
  folder.done.clear();
  for (int64_t w = 0; w < n_windows; ++w)
    if (have[static_cast<size_t>(w)]) folder.done.push_back(w);
  return batches;
}

void print_plan(int64_t n_windows, size_t resumed, size_t todo, int size,
                const std::vector<std::string>& labels) {
  std::fprintf(stderr,
               "evaluate: %lld windows (%lld resumed, %lld to do on %d rank(s)), %zu "
               "configurations: ",
               static_cast<long long>(n_windows), static_cast<long long>(resumed),
               static_cast<long long>(todo), size, labels.size());
  for (size_t i = 0; i < labels.size(); ++i)
    std::fprintf(stderr, "%s%s", i ? ", " : "", labels[i].c_str());
  std::fprintf(stderr, "\n");
}

// This rank's share of the batches: each evaluated, its windows recorded under OUT/.partial and
// appended to `records`. Returns false when `stop` was seen between batches.
bool evaluate_my_windows(const EvaluateOptions& o, const Inputs& in, WindowEvaluator& evaluator,
                         const std::vector<std::vector<int64_t>>& batches,
                         const std::string& run_key, const Comm& comm,
                         const volatile std::sig_atomic_t* stop, EvaluateResult& result,
                         std::vector<WindowRecord>& records) {
  const int size = comm.size();
  const Range mine = shard_range(static_cast<int64_t>(batches.size()), comm.rank(), size);
  const int64_t n_windows = static_cast<int64_t>(in.windows.size());
  const size_t n_configs = evaluator.labels().size();
  int64_t n_todo = 0, mine_windows = 0;
  for (const auto& b : batches) n_todo += static_cast<int64_t>(b.size());
  for (int64_t i = mine.begin; i < mine.end; ++i)
    mine_windows += static_cast<int64_t>(batches[i].size());
  const auto t_start = Clock::now();
  int64_t tokens_done = 0, local_windows = 0;
  for (int64_t i = mine.begin; i < mine.end; ++i) {
    if (stop && *stop) return false;  // finished windows are already in OUT/.partial
    const std::vector<int64_t>& batch = batches[i];
    std::vector<TokenIds> ids;
    for (int64_t w : batch) ids.push_back(in.windows[w]);
    const std::vector<std::vector<WindowRecord>> recs = evaluator.evaluate_batch(batch[0], ids);
    for (size_t b = 0; b < batch.size(); ++b) {
      if (!o.out.empty()) write_partial_window(o.out, run_key, batch[b], recs[b]);
      records.insert(records.end(), recs[b].begin(), recs[b].end());
      ++result.windows_computed;
      ++local_windows;
      tokens_done += static_cast<int64_t>(in.windows[batch[b]].size());
    }
    if (comm.is_root() && o.progress) {
      const double el = std::chrono::duration<double>(Clock::now() - t_start).count();
      // Rank 0's pace stands for every rank's (their shares differ by at most one batch).
      const int64_t world_done = std::min<int64_t>(n_todo, local_windows * size);
      const double eta = el / static_cast<double>(local_windows) *
                         static_cast<double>(mine_windows - local_windows);
      std::fprintf(stderr,
                   "evaluate: window %lld/%lld done (world est.), %.0f window tokens/s (world "
                   "est., %zu configs each), ETA %s\n",
                   static_cast<long long>(world_done + result.windows_resumed),
                   static_cast<long long>(n_windows),
                   el > 0 ? static_cast<double>(tokens_done) * size / el : 0.0, n_configs,
                   fmt_seconds(eta).c_str());
    }
  }
  return !(stop && *stop);
}

// Every rank's records on rank 0 (empty elsewhere), after the resumed ones, in rank order.
std::vector<WindowRecord> gather_records(const std::vector<WindowRecord>& mine,
                                         const RunFolder& folder, const Comm& comm) {
  nlohmann::json mine_json = nlohmann::json::array();
  for (const auto& r : mine) mine_json.push_back(window_record_to_json(r));
  const std::vector<std::string> parts = comm.gather_bytes(mine_json.dump());
  std::vector<WindowRecord> all;
  if (!comm.is_root()) return all;
  for (const auto& [w, recs] : folder.resumed) all.insert(all.end(), recs.begin(), recs.end());
  for (size_t r = 0; r < parts.size(); ++r) {
    const nlohmann::json arr = parse_json(parts[r], cat("records of rank ", r));
    for (size_t i = 0; i < arr.size(); ++i)
      all.push_back(window_record_from_json(arr[i], cat("records of rank ", r, "[", i, "]")));
  }
  return all;
}

// summary.json from the reduced figures (rank 0).
EvalSummary make_summary(const EvaluateOptions& o, const Inputs& in, const Loaded& ev,
                         const std::vector<ConfigFigures>& figs,
                         const std::vector<WindowRecord>& all, const Comm& comm,
                         const at::Device& device, at::ScalarType dtype) {
  EvalSummary s;
  EvalProvenance& p = s.provenance;
  p.kvsvd_version = KVSVD_VERSION;
  p.git_rev = KVSVD_GIT_REV;
  p.world_size = comm.size();
  p.device = device.str();
  p.dtype = aten_dtype_name(dtype);
  p.date_utc = utc_now_iso();
  p.command = o.command_line;
  p.model_dir = o.model;
  p.model_fingerprint = in.model_fp;
  p.store = o.store;
  p.store_fingerprint = in.store_fp;
  p.dataset = o.dataset;
  p.dataset_fingerprint = in.dataset_fp;
  p.config = evaluate_options_to_json(o);
  if (ev.plan.stages > 0) p.pipeline = pipeline_provenance(ev.plan);
  s.windows = static_cast<int64_t>(in.windows.size());
  s.seq_len = o.seq_len;
  if (s.seq_len == 0) {
    s.seq_len = static_cast<int64_t>(in.windows[0].size());
    for (const auto& w : in.windows)
      if (static_cast<int64_t>(w.size()) != s.seq_len) s.seq_len = 0;  // ragged: no single length
  }
  s.scored_tokens = figs[0].scored_tokens;
  // Per-window NLL per label in window order: the paired bootstrap's input.
  const size_t n = in.windows.size();
  std::map<std::string, std::vector<double>> nll_of;
  std::vector<int64_t> scored_of(n, 0);
  for (const ConfigFigures& f : figs) nll_of[f.label].assign(n, 0.0);
  for (const WindowRecord& r : all) {
    nll_of[r.label][static_cast<size_t>(r.window)] = r.nll_sum;
    if (r.label == WindowEvaluator::kBaseline) scored_of[static_cast<size_t>(r.window)] = r.scored;
  }
  s.bootstrap = BootstrapSpec{};
  for (size_t i = 0; i < figs.size(); ++i) {
    const CacheConfig& c = ev.configs()[i];
    EvalResult r{figs[i].label, kv_method_name(c.method), cache_config_params(c, dtype), figs[i]};
    r.rel_ppl_change_ci95 = paired_bootstrap_ci(nll_of[WindowEvaluator::kBaseline],
                                                nll_of[figs[i].label], scored_of, s.bootstrap);
    s.results.push_back(r);
  }
  return s;
}

// summary.json last: its presence means the run folder is complete. All three are on disk under
// temp names before any is renamed (a full disk leaves none of them).
void write_run_folder(const EvaluateOptions& o, const EvaluateResult& r) {
  namespace fs = std::filesystem;
  const fs::path out(o.out);
  write_files_atomic({{(out / "windows.csv").string(), r.windows_csv},
                      {(out / "command.txt").string(), o.command_line + "\n"},
                      {(out / "summary.json").string(), r.summary.dump(2) + "\n"}});
}

}  // namespace

std::string checkpoint_model_fingerprint(const std::string& model_dir) {
  const Checkpoint ckpt = Checkpoint::open(model_dir);
  return model_fingerprint(ckpt, ckpt.tensor_names());
}

EvaluateResult run_evaluate_stage(const EvaluateOptions& o, const Comm& comm,
                                  const volatile std::sig_atomic_t* stop) {
  on_all_checked(comm, [&] { check_evaluate_options(o); });  // same verdict on every rank
  const at::Device device = resolve_device(rank_device(o.device));
  const at::ScalarType dtype = resolve_dtype(o.dtype);
  const Inputs in = read_inputs(o, comm);
  const Loaded loaded = load_model_and_configs(o, in, comm, device, dtype);
  const std::vector<std::string>& labels = loaded.labels();
  RunFolder folder = open_run_folder(o, in, labels, comm, device, dtype);
  const int64_t n_windows = static_cast<int64_t>(in.windows.size());
  const std::vector<std::vector<int64_t>> batches = batches_to_do(o, in, folder);
  std::vector<int64_t> todo;  // the pipeline path takes the windows one by one
  for (const auto& b : batches) todo.insert(todo.end(), b.begin(), b.end());

  EvaluateResult result;
  result.windows_resumed = static_cast<int64_t>(folder.done.size());
  if (comm.is_root() && o.progress)
    print_plan(n_windows, folder.done.size(), todo.size(), comm.size(), labels);
  std::vector<WindowRecord> records;
  if (loaded.pipeline) {  // this rank's group takes its share of the windows, stage by stage
    PipelineRunResult pr = run_pipeline_windows(*loaded.pipeline, loaded.plan, todo, in.windows, o,
                                                folder.run_key, stop);
    result.windows_computed = pr.windows_computed;
    records = std::move(pr.records);
    if (pr.interrupted) {
      result.interrupted = true;
      return result;
    }
  } else if (!evaluate_my_windows(o, in, *loaded.evaluator, batches, folder.run_key, comm, stop,
                                  result, records)) {
    result.interrupted = true;
    return result;
  }

  const std::vector<WindowRecord> all = gather_records(records, folder, comm);
  if (!comm.is_root()) return result;
  std::vector<int64_t> indices(n_windows);
  for (int64_t w = 0; w < n_windows; ++w) indices[w] = w;
  const std::vector<ConfigFigures> figs =
      reduce_window_records(all, labels, indices, WindowEvaluator::kBaseline);
  result.summary = make_summary(o, in, loaded, figs, all, comm, device, dtype);
  result.windows_csv = window_records_csv(all, labels);
  if (!o.out.empty()) write_run_folder(o, result);
  return result;
}

}  // namespace kvsvd
