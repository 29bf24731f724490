// `kvsvd profile`: check, load, (calibrate), shard layers, decompose, gather to rank 0, write.
#include "stages/profile/profile-stage.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "core/calibrate/moment-accumulator.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/fingerprint.h"
#include "core/checkpoint/tensor-load.h"
#include "core/compress/layer-decompose.h"
#include "core/model/aten-device.h"
#include "core/model/llama.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"
#include "mpi/collective-error.h"
#include "mpi/comm.h"
#include "mpi/rank-device.h"
#include "mpi/broadcast-windows.h"
#include "mpi/shard.h"
#include "stages/profile/profile-budget.h"
#include "stages/profile/profile-calibration.h"
#include "stages/profile/profile-wire.h"

namespace kvsvd {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Adds the time of a scope to one phase.
struct PhaseTimer {
  double& slot;
  Clock::time_point t0 = Clock::now();
  ~PhaseTimer() { slot += since(t0); }
};

const char* kKProj = "self_attn.k_proj.weight";
const char* kVProj = "self_attn.v_proj.weight";
const char* kOProj = "self_attn.o_proj.weight";

// ---- fault injection (tests): KVSVD_FAULT_INJECT=profile:rank<R>:layer<L>[:hang] ----
struct Fault {
  bool active = false;
  bool hang = false;  // stall (until SIGTERM or a kill) instead of throwing
  int rank = -1;
  int64_t layer = -1;
  std::string text;
};

Fault parse_fault() {
  Fault f;
  const char* env = std::getenv("KVSVD_FAULT_INJECT");
  if (!env || std::string(env).rfind("profile:", 0) != 0) return f;  // other stages' faults
  f.text = env;
  int r = -1;
  long long l = -1;
  int used = -1;
  const bool parsed = std::sscanf(env, "profile:rank%d:layer%lld%n", &r, &l, &used) == 2 &&
                      used > 0 && r >= 0 && l >= 0;
  const std::string tail = parsed ? f.text.substr(static_cast<size_t>(used)) : "";
  KVSVD_CHECK(parsed && (tail.empty() || tail == ":hang"), "KVSVD_FAULT_INJECT='", f.text,
              "': expected profile:rank<R>:layer<L> or profile:rank<R>:layer<L>:hang");
  f.active = true;
  f.hang = tail == ":hang";
  f.rank = r;
  f.layer = l;
  return f;
}

std::vector<std::string> needed_tensors(const LlamaConfig& cfg, const CompressSpec& spec) {
  std::vector<std::string> names;
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    names.push_back(layer_tensor_name(l, kKProj));
    names.push_back(layer_tensor_name(l, kVProj));
    if (spec.store_fused) names.push_back(layer_tensor_name(l, kOProj));
  }
  return names;
}

void check_tensors_present(const Checkpoint& ckpt, const std::vector<std::string>& names,
                           const CompressSpec& spec) {
  std::vector<std::string> missing;
  for (const auto& n : names) {
    if (!ckpt.has(n)) missing.push_back(n);
  }
  if (missing.empty()) return;
  std::string list;
  for (size_t i = 0; i < missing.size() && i < 4; ++i) list += (i ? ", " : "") + missing[i];
  if (missing.size() > 4) list += cat(", ... (", missing.size(), " missing)");
  fail(cat("--model ", ckpt.dir(), ": the checkpoint lacks tensors that ",
           profile_method_name(spec.method), spec.store_fused ? " with --store-fused" : "",
           " needs: ", list));
}

// What determines the stored numbers (resume refuses a .partial whose config differs).
nlohmann::json profile_config_json(const ProfileOptions& o, const CompressSpec& spec,
                                   const std::string& used_fp, const nlohmann::json& calib) {
  nlohmann::json j = {{"method", profile_method_name(spec.method)},
                      {"key_space", key_space_name(spec.key_space)},
                      {"key_rank", spec.ranks.key_rank},
                      {"value_ranks", named_ranks_to_string(spec.ranks.value_ranks)},
                      {"energy_threshold", spec.ranks.energy_threshold},
                      {"min_rank_ratio", spec.ranks.min_rank_ratio},
                      {"store_fused", spec.store_fused},
                      {"used_tensors_fingerprint", used_fp},
                      {"decomposition", "float64 CPU (LAPACK via ATen), sign-normalised"},
                      {"config_file", o.config}};
  if (has_budget(o))
    j["budget"] = {{"kv_budget_bytes", o.kv_budget_bytes},
                   {"target_ratio", o.target_ratio},
                   {"bits", o.budget_bits},
                   {"group", o.budget_group},
                   {"windows", o.budget_windows},
                   {"loss", "mean KL to the full model with one (layer, head, K|V) cut"},
                   {"allocation", "greedy by KL removed per byte; ranks in key_head_rank / "
                                  "value_head_rank"}};
  if (spec.method != ProfileMethod::WeightSvd || has_budget(o)) {
    j["calibration"] = calib;
    j["dtype"] = aten_dtype_name(resolve_dtype(o.dtype));
    j["spectrum"] = "eigenvalues of the mean second moment (sum x x^T / tokens)";
  } else {
    j["spectrum"] = "singular values of each head's weight rows";
  }
  return j;
}

// The same JSON text parsed: key order and number formatting do not matter.
bool same_json(const std::string& a, const std::string& b) {
  try {
    return nlohmann::json::parse(a) == nlohmann::json::parse(b);
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<double> times_vector(const ProfilePhaseTimes& t) {
  return {t.load, t.calibrate, t.decompose, t.gather, t.write, t.total};
}

ProfilePhaseTimes times_of(const std::vector<double>& v) {
  ProfilePhaseTimes t;
  if (v.size() == 6) {
    t.load = v[0], t.calibrate = v[1], t.decompose = v[2], t.gather = v[3], t.write = v[4],
    t.total = v[5];
  }
  return t;
}

}  // namespace

std::string progress_line(const char* what, int64_t done, int64_t total, double elapsed) {
  char buf[256];
  if (done > 0 && done < total) {
    const double eta = elapsed / static_cast<double>(done) * static_cast<double>(total - done);
    std::snprintf(buf, sizeof buf, "profile: %s %" PRId64 "/%" PRId64 " done, elapsed %.1f s, ETA %.1f s",
                  what, done, total, elapsed, eta);
  } else {
    std::snprintf(buf, sizeof buf, "profile: %s %" PRId64 "/%" PRId64 " done, elapsed %.1f s", what,
                  done, total, elapsed);
  }
  return buf;
}

std::string timing_table(const std::vector<ProfilePhaseTimes>& ranks) {
  std::string out = "profile: time per phase (s)\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%6s %9s %10s %10s %9s %9s %9s\n", "rank", "load", "calibrate",
                "decompose", "gather", "write", "total");
  out += buf;
  for (size_t r = 0; r < ranks.size(); ++r) {
    const auto& t = ranks[r];
    std::snprintf(buf, sizeof buf, "%6zu %9.3f %10.3f %10.3f %9.3f %9.3f %9.3f\n", r, t.load,
                  t.calibrate, t.decompose, t.gather, t.write, t.total);
    out += buf;
  }
  return out;
}

std::string timing_json(const std::vector<ProfilePhaseTimes>& ranks) {
  nlohmann::json all = nlohmann::json::array();
  for (const auto& t : ranks) {
    all.push_back({{"load", t.load},
                   {"calibrate", t.calibrate},
                   {"decompose", t.decompose},
                   {"gather", t.gather},
                   {"write", t.write},
                   {"total", t.total}});
  }
  return nlohmann::json{{"seconds_per_rank", all}}.dump();
}

ProfileRunResult run_profile(ProfileOptions o, const Comm& comm,
                             const volatile std::sig_atomic_t* stop) {
  const auto t_start = Clock::now();
  ProfileRunResult res;
  ProfilePhaseTimes& tm = res.times;
  const bool root = comm.is_root();
  const bool show = root && o.progress;
  on_all_checked(comm, [&] { check_profile_options(o); });  // same verdict on every rank
  const Fault fault = parse_fault();
  // Collective: every rank learns whether any rank was asked to stop.
  auto stop_requested = [&] { return comm.any_of(stop != nullptr && *stop != 0); };

  // ---- checkpoint header and the checks that need the model's shape (every rank) ----
  std::optional<Checkpoint> ckpt_holder;
  on_all_checked(comm, [&] {  // a missing or bad model: one message, exit status 2
    PhaseTimer pt{tm.load};
    ckpt_holder.emplace(Checkpoint::open(o.model));
  });
  const Checkpoint& ckpt = *ckpt_holder;
  const LlamaConfig& cfg = ckpt.config();
  AttentionShape shape;
  shape.num_heads = cfg.num_heads;
  shape.num_kv_heads = cfg.num_kv_heads;
  shape.head_dim = cfg.head_dim;
  shape.hidden = cfg.hidden_size;
  CompressSpec spec = resolve_compress_spec(compress_spec_of(o), shape);
  const bool budget = has_budget(o);
  // A budget allocates from full-rank bases (trimmed to the largest rank it gives).
  if (budget) spec.ranks.key_rank = cfg.head_dim;
  if (budget) check_budget_fits(o, cfg);
  const std::vector<std::string> used = needed_tensors(cfg, spec);
  check_tensors_present(ckpt, used, spec);
  const bool pca = spec.method != ProfileMethod::WeightSvd;  // moments from calibration
  // weight_svd uses the device for the float64 Gram matrices of the weight blocks (the d x d
  // eigensolves run on the CPU): bases are bitwise the same for any rank count on one device
  // type; --device cpu keeps the whole computation on the CPU.
  const at::Device device = resolve_device(rank_device(o.device));

  // ---- rank 0: calibration data, provenance, the store (.partial), the layers to compute ----
  CalibrationSet calib;
  std::optional<ProfileStoreWriter> writer;
  std::vector<int64_t> missing;
  int64_t already = 0;
  if (root) {
    PhaseTimer pt{tm.load};
    if (pca || budget) calib = load_calibration(o, cfg);
    StoreHeader h;
    h.model_fingerprint = model_fingerprint(ckpt, ckpt.tensor_names());
    h.model_config = llama_config_to_json(cfg);
    h.profile_config =
        profile_config_json(o, spec, model_fingerprint(ckpt, used), calib.description).dump();
    h.calibration_fingerprint = pca || budget ? calib.fingerprint : "";
    h.world_size = comm.size();
    h.device = device.str();
    h.num_layers = cfg.num_layers;
    h.n_kv = cfg.num_kv_heads;
    h.head_dim = cfg.head_dim;
    h.n_q = cfg.num_heads;
    h.hidden = cfg.hidden_size;
    // 0: per-head (adaptive or budget); a budget's ranks have no names.
    h.key_rank = spec.ranks.adaptive() || budget ? 0 : spec.ranks.key_rank;
    for (const auto& v : budget ? std::vector<NamedRank>{} : spec.ranks.value_ranks) {
      h.value_rank_names.push_back(v.name);
      h.value_rank_values.push_back(v.rank);
    }
    const std::string partial = ProfileStoreWriter::partial_path_for(o.out);
    namespace fs = std::filesystem;
    std::string damage;
    if (o.resume && fs::exists(partial)) damage = ProfileStoreWriter::partial_damage(o.out);
    if (!damage.empty()) {
      // Unreadable (a write cut off by a full disk or a kill mid-flush): start over rather than
      // fail again on every requeue. create() truncates it, under the lock.
      std::fprintf(stderr, "profile: warning: %s cannot be resumed (%s); starting over\n",
                   partial.c_str(), damage.c_str());
      writer.emplace(ProfileStoreWriter::create(o.out, h, o.overwrite));
      for (int64_t l = 0; l < cfg.num_layers; ++l) missing.push_back(l);
    } else if (o.resume && fs::exists(partial)) {
      writer.emplace(ProfileStoreWriter::resume(o.out, h));
      missing = writer->missing_layers();
    } else if (o.resume && fs::exists(o.out)) {
      // A requeued job whose store was already finished: check it is the same profile.
      const ProfileStoreReader r = ProfileStoreReader::open(o.out);
      KVSVD_CHECK(r.header().model_fingerprint == h.model_fingerprint, "--resume: ", o.out,
                  " was built from another model (fingerprint ", r.header().model_fingerprint,
                  ", --model ", o.model, " has ", h.model_fingerprint, ")");
      KVSVD_CHECK(same_json(r.header().profile_config, h.profile_config), "--resume: ", o.out,
                  " was built with another profile config (", r.header().profile_config,
                  "); use --overwrite to replace it");
      already = 1;
    } else {
      writer.emplace(ProfileStoreWriter::create(o.out, h, o.overwrite));
      for (int64_t l = 0; l < cfg.num_layers; ++l) missing.push_back(l);
    }
    res.layers_skipped = already ? cfg.num_layers : cfg.num_layers - static_cast<int64_t>(missing.size());
    if (show && res.layers_skipped > 0 && !already) {
      std::fprintf(stderr, "profile: resuming %s: %" PRId64 " of %" PRId64 " layers already complete\n",
                   partial.c_str(), res.layers_skipped, cfg.num_layers);
    }
  }
  comm.broadcast_value(already);
  if (already) {
    res.already_complete = true;
    if (show) std::fprintf(stderr, "profile: %s is already complete; nothing to do\n", o.out.c_str());
    tm.total = since(t_start);
    return res;
  }
  comm.broadcast(missing);

  // ---- activation_pca: every rank loads the model and runs its share of the windows ----
  KvMoments moments;
  std::optional<LlamaModel> model;
  if ((pca || budget) && !missing.empty()) {
    PhaseTimer pt{tm.load};
    model.emplace(LlamaModel::load(o.model, device, resolve_dtype(o.dtype)));
  }
  if (pca && !missing.empty()) {
    PhaseTimer pt{tm.calibrate};
    broadcast_windows(comm, calib.windows);
    const auto t_cal = Clock::now();
    try {
      moments = reduce_window_moments(*model, calib.windows, spec.key_space, comm,
                                      [&](int64_t done, int64_t total) {
                                        if (show)
                                          std::fprintf(stderr, "%s\n",
                                                       progress_line("calibration windows", done,
                                                                     total, since(t_cal))
                                                           .c_str());
                                      },
                                      stop_requested);
    } catch (const StopRequested& e) {
      // Every rank gets here (the decision was collective); the writer closes the .partial.
      res.interrupted = true;
      res.stop_message = e.what();
      tm.total = since(t_start);
      return res;
    }
  }

  // ---- layers: shard, then rounds of (decompose one layer per rank, gather, write) ----
  const int64_t m = static_cast<int64_t>(missing.size());
  const Range mine = shard_range(m, comm.rank(), comm.size());
  if (fault.active && fault.rank == comm.rank()) {
    bool owns = false;
    for (int64_t i = mine.begin; i < mine.end; ++i) owns = owns || missing[i] == fault.layer;
    KVSVD_CHECK(owns, "KVSVD_FAULT_INJECT='", fault.text, "': rank ", fault.rank,
                " does not profile layer ", fault.layer, " in this run (its layers: ",
                mine.empty() ? std::string("none")
                             : cat(missing[mine.begin], "..", missing[mine.end - 1]),
                ")");
  }
  const int64_t rounds = (m + comm.size() - 1) / comm.size();
  int64_t written = 0;
  std::vector<LayerProfile> held;  // rank 0 under a budget: every layer, written after allocation
  const auto t_layers = Clock::now();
  for (int64_t t = 0; t < rounds; ++t) {
    if (stop_requested()) {
      // Collective verdict: every rank returns here. Rank 0's writer closes the .partial on the
      // way out (each written layer was already flushed with its `complete` flag).
      res.interrupted = true;
      res.stop_message = cat("stopped by a signal after ", written, " of ", m, " layers");
      tm.total = since(t_start);
      return res;
    }
    std::vector<LayerProfile> out;
    if (t < mine.size()) {
      const int64_t layer = missing[mine.begin + t];
      if (fault.active && fault.rank == comm.rank() && fault.layer == layer && fault.hang) {
        // Stall (tests: a rank stuck mid-run, to be killed or stopped); SIGTERM ends the stall
        // and the layer is computed, so the round completes and the stop is taken at the next.
        std::fprintf(stderr, "profile [rank %d]: KVSVD_FAULT_INJECT='%s': stalling before layer %lld\n",
                     comm.rank(), fault.text.c_str(), static_cast<long long>(layer));
        while (stop == nullptr || *stop == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      } else if (fault.active && fault.rank == comm.rank() && fault.layer == layer) {
        fail(cat("fault injected by KVSVD_FAULT_INJECT='", fault.text, "' on rank ", comm.rank(),
                 " at layer ", layer));
      }
      LayerInputs in;
      {
        PhaseTimer pt{tm.load};
        // float32 holds bf16/fp16/fp32 checkpoint values exactly; float64 happens on the device.
        if (!pca) {
          in.wk = load_tensor(ckpt, layer_tensor_name(layer, kKProj), at::kFloat, device,
                              {cfg.kv_dim(), cfg.hidden_size});
          in.wv = load_tensor(ckpt, layer_tensor_name(layer, kVProj), at::kFloat, device,
                              {cfg.kv_dim(), cfg.hidden_size});
        }
        if (spec.store_fused) {
          in.wo = load_tensor(ckpt, layer_tensor_name(layer, kOProj), at::kFloat, device,
                              {cfg.hidden_size, cfg.q_dim()});
        }
      }
      if (pca) {
        in.key_moment = moments.key[layer];
        in.value_moment = moments.value[layer];
        in.tokens = moments.tokens;
      }
      PhaseTimer pt{tm.decompose};
      out.push_back(decompose_layer(layer, shape, spec, in));
      res.layers_computed.push_back(layer);
    }
    std::vector<std::string> parts;
    {
      PhaseTimer pt{tm.gather};
      parts = comm.gather_bytes(serialize_layer_profiles(out));
    }
    if (root) {
      PhaseTimer pt{tm.write};
      for (size_t r = 0; r < parts.size(); ++r) {
        for (const auto& p : deserialize_layer_profiles(parts[r], cat("rank ", r, " message"))) {
          if (budget) held.push_back(p);
          else writer->write_layer(p);
          ++written;
        }
      }
      if (show) {
        std::fprintf(stderr, "%s\n", progress_line("layers", written, m, since(t_layers)).c_str());
      }
    }
  }
  if (root && budget) {
    // Every layer's full-rank bases are here: measure the loss curves, allocate, then write.
    PhaseTimer pt{tm.decompose};
    std::sort(held.begin(), held.end(),
              [](const LayerProfile& a, const LayerProfile& b) { return a.layer < b.layer; });
    const nlohmann::json alloc = apply_rank_budget(held, *model, calib.windows, o, show);
    if (show)
      std::fprintf(stderr, "profile: budget %lld KV bytes/token (%lld-bit coefficients): allocated %lld\n",
                   static_cast<long long>(alloc["budget_bytes_per_token"].get<int64_t>()),
                   static_cast<long long>(o.budget_bits),
                   static_cast<long long>(alloc["allocated_bytes_per_token"].get<int64_t>()));
    for (const auto& p : held) writer->write_layer(p);
  }
  if (root) {
    PhaseTimer pt{tm.write};
    writer->finalize();
  }
  std::sort(res.layers_computed.begin(), res.layers_computed.end());
  tm.total = since(t_start);

  const auto all = comm.gather(times_vector(tm));
  if (root) {
    for (const auto& v : all) res.rank_times.push_back(times_of(v));
    if (o.progress) {
      std::fprintf(stderr, "%s", timing_table(res.rank_times).c_str());
      std::fprintf(stderr, "profile: timing %s\n", timing_json(res.rank_times).c_str());
    }
  }
  return res;
}

}  // namespace kvsvd
