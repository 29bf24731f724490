// `kvsvd evaluate`: load (model, store, windows), check, shard windows, evaluate, gather in
// window order, reduce, write.
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
#include "core/compress/rank-plan.h"
#include "core/data/dataset.h"
#include "core/data/tokenize-documents.h"
#include "core/eval/cache-factory.h"
#include "core/eval/evaluator.h"
#include "core/eval/paired-bootstrap.h"
#include "core/eval/run-record.h"
#include "core/kv/kv-profile.h"
#include "core/kv/methods.h"
#include "core/kv/quant-spec.h"
#include "core/model/aten-device.h"
#include "core/model/llama.h"
#include "core/store/profile-store.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/device.h"
#include "core/util/error.h"
#include "core/util/json-util.h"
#include "mpi/gpu-binding.h"
#include "mpi/mpi-env.h"
#include "mpi/broadcast-windows.h"
#include "mpi/shard.h"
#include "stages/evaluate/run-output.h"

namespace kvsvd {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `fn` on rank 0 only; an exception there is broadcast and rethrown as the same
// kvsvd::Error on every rank, so a bad input never leaves the other ranks waiting.
template <typename F>
void on_root_checked(const Comm& comm, F&& fn) {
  std::string err;
  if (comm.is_root()) {
    try {
      fn();
    } catch (const std::exception& e) {
      err = e.what();
      if (err.empty()) err = "unknown error";
    }
  }
  comm.broadcast(err);
  if (!err.empty()) fail(err);
}

// Runs `fn` on every rank; if any rank throws, every rank throws the lowest failing rank's message.
template <typename F>
void on_all_checked(const Comm& comm, F&& fn) {
  std::string err;
  try {
    fn();
  } catch (const std::exception& e) {
    err = e.what();
    if (err.empty()) err = "unknown error";
  }
  if (!comm.any_of(!err.empty())) return;
  std::vector<std::string> all = comm.gather_bytes(err);
  std::string first;
  for (size_t r = 0; r < all.size() && first.empty(); ++r)
    if (!all[r].empty()) first = comm.size() > 1 ? cat("rank ", r, ": ", all[r]) : all[r];
  comm.broadcast(first);
  fail(first);
}

at::Device pick_device(const std::string& flag) {
  const DeviceSpec spec = parse_device(flag, at::hasCUDA());
  if (spec.kind == "cpu") return at::Device(at::kCPU);
  if (spec.index >= 0) return resolve_device(flag);
  // One GPU per rank: the rank's GPU among those of its node (collective over MPI_COMM_WORLD,
  // which every rank reaches because they share the flag).
  int local_rank = 0, local_size = 1;
  node_local_rank(&local_rank, &local_size);
  const int idx = bind_rank_gpu(local_rank);
  KVSVD_CHECK(idx >= 0, "--device ", flag, ": no CUDA device visible");
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(idx));
}

// Rank 0: the dataset's windows (tokenized, cut, checked against the vocabulary).
std::vector<TokenIds> load_windows(const EvaluateOptions& o, const LlamaConfig& cfg) {
  const std::string fmt = effective_dataset_format(o);
  std::vector<TokenIds> docs;
  int32_t eos = cfg.eos_token_ids.empty() ? -1 : static_cast<int32_t>(cfg.eos_token_ids[0]);
  int32_t bos = static_cast<int32_t>(cfg.bos_token_id);
  if (fmt == "ids") {
    docs = read_token_id_json(o.dataset);
  } else {
#if KVSVD_HAVE_TOKENIZER
    const std::string tok_path =
        o.tokenizer.empty() ? (std::filesystem::path(o.model) / "tokenizer.json").string()
                            : o.tokenizer;
    const Tokenizer tok = Tokenizer::from_file(tok_path);
    const auto texts = read_text_documents(
        o.dataset, fmt == "jsonl" ? TextFormat::Jsonl : TextFormat::Text, o.field);
    docs = tokenize_documents(
        texts, [&](const std::string& t) { return tok.encode(t, false); }, o.dataset);
    if (tok.eos_id() >= 0) eos = tok.eos_id();
    if (tok.bos_id() >= 0) bos = tok.bos_id();
#else
    fail(cat("--dataset-format ", fmt, ": this build has no tokenizer (KVSVD_WITH_TOKENIZER=OFF); "
             "give token ids (--dataset-format ids)"));
#endif
  }
  KVSVD_CHECK(!o.add_bos || bos >= 0, "--add-bos: neither the tokenizer nor ", o.model,
              "/config.json defines a BOS token");
  WindowSpec spec;
  spec.seq_len = o.seq_len;
  spec.stride = o.stride;
  spec.pack = o.pack;
  spec.max_windows = o.max_windows;
  spec.eos_id = eos;
  spec.bos_id = o.add_bos ? bos : -1;
  std::vector<TokenIds> windows = make_windows(docs, spec, o.dataset);
  KVSVD_CHECK(!windows.empty(), "--dataset ", o.dataset, ": no window of --seq-len ", o.seq_len,
              " tokens");
  for (size_t w = 0; w < windows.size(); ++w) {
    KVSVD_CHECK(windows[w].size() >= 2, "--dataset ", o.dataset, ": window ", w, " has ",
                windows[w].size(), " tokens (at least 2 are needed to score one)");
    for (size_t i = 0; i < windows[w].size(); ++i)
      KVSVD_CHECK(windows[w][i] >= 0 && windows[w][i] < cfg.vocab_size, "--dataset ", o.dataset,
                  ": window ", w, " token ", i, " is id ", windows[w][i],
                  ", outside the model's vocabulary [0, ", cfg.vocab_size, ")");
  }
  return windows;
}

// What the stage knows about the profile store.
struct StoreInfo {
  std::string path;
  std::string fingerprint;
  std::string profile_method;  // from the header's profile_config ("" when absent)
  std::string key_space;       // likewise
  std::vector<NamedRank> named_ranks;  // the header's value rank names/values
  KvProfile profile;
};

// "low=16,med=32", "low,med,high" (names the store holds) or a mix; "" gives the store's set.
std::vector<NamedRank> resolve_value_ranks(const std::string& spec, const StoreInfo& s,
                                           int64_t head_dim) {
  if (spec.empty()) {
    if (!s.named_ranks.empty()) return s.named_ranks;
    std::vector<NamedRank> d = default_value_ranks(head_dim);
    for (auto& nr : d) nr.rank = std::min(nr.rank, s.profile.value_rank);
    return d;
  }
  std::string explicit_items;  // name=rank items, parsed by the shared parser
  std::vector<NamedRank> out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t c = spec.find(',', pos);
    if (c == std::string::npos) c = spec.size();
    const std::string item = spec.substr(pos, c - pos);
    pos = c + 1;
    if (item.find('=') != std::string::npos) {
      out.push_back(parse_named_ranks(item, "--value-ranks")[0]);
      continue;
    }
    auto it = std::find_if(s.named_ranks.begin(), s.named_ranks.end(),
                           [&](const NamedRank& nr) { return nr.name == item; });
    KVSVD_CHECK(it != s.named_ranks.end(), "--value-ranks '", spec, "': the store ", s.path,
                " names no value rank '", item, "' (it names: ",
                s.named_ranks.empty() ? std::string("none") : named_ranks_to_string(s.named_ranks),
                ")");
    out.push_back(*it);
  }
  // Re-parse the whole list to reuse the shared checks (duplicate names, ranks >= 1).
  return parse_named_ranks(named_ranks_to_string(out), "--value-ranks");
}

std::vector<CacheConfig> build_configs(const EvaluateOptions& o, const StoreInfo* store,
                                       int64_t head_dim) {
  std::vector<CacheConfig> out;
  for (const auto& name : o.methods) {
    const KvMethod m = parse_kv_method(name, "--method");
    if (m == KvMethod::Full || m == KvMethod::Quant) continue;  // baseline; quant: below
    if (m == KvMethod::Svd) {
      KVSVD_ASSERT(store != nullptr, "svd without a store");
      const KvProfile& p = store->profile;
      KeySpace space = store->key_space.empty() ? KeySpace::PreRope
                                                : parse_key_space(store->key_space, "--key-space");
      if (!o.key_space.empty()) {
        const KeySpace asked = parse_key_space(o.key_space, "--key-space");
        KVSVD_CHECK(store->key_space.empty() || asked == space, "--key-space ", o.key_space,
                    ": the store ", store->path, " holds bases of ", store->key_space, " keys");
        space = asked;
      }
      if (o.head_ranks) {  // one configuration: every head at the store's own ranks
        KVSVD_CHECK(space == KeySpace::PreRope, "--head-ranks: the store ", store->path,
                    " holds post-RoPE key bases; per-head caches take pre-RoPE bases only");
        CacheConfig c;
        c.method = KvMethod::Svd;
        c.head_ranks = true;
        c.key_space = space;
        c.profile_method = store->profile_method;
        out.push_back(c);
        continue;
      }
      for (int64_t kr : o.key_ranks) {
        const int64_t k = kr == 0 ? p.key_rank : kr;
        KVSVD_CHECK(k >= 1 && k <= p.key_rank, "--key-rank ", kr, ": not in the store ",
                    store->path, " (it holds key ranks 1..", p.key_rank, ")");
        for (const auto& vspec : o.value_ranks) {
          const std::vector<NamedRank> vr = resolve_value_ranks(vspec, *store, head_dim);
          for (const auto& nr : vr)
            KVSVD_CHECK(nr.rank <= p.value_rank, "--value-ranks ", nr.name, "=", nr.rank,
                        ": not in the store ", store->path, " (it holds value ranks 1..",
                        p.value_rank, ")");
          for (const auto& pol : o.policies) {
            CacheConfig c;
            c.method = KvMethod::Svd;
            c.key_rank = k;
            c.value_ranks = vr;
            c.policy = RankPolicy::parse(pol, "--policy");
            c.key_space = space;
            c.profile_method = store->profile_method;
            for (RankLevel level : c.policy.levels_used()) {
              const bool named = std::any_of(vr.begin(), vr.end(), [&](const NamedRank& nr) {
                return nr.name == rank_level_name(level);
              });
              KVSVD_CHECK(named, "--policy ", c.policy.spec(), " uses the value rank '",
                          rank_level_name(level), "' but --value-ranks gives only ",
                          named_ranks_to_string(vr));
            }
            out.push_back(c);
          }
        }
      }
    } else {  // chunked
      const std::vector<double> ratios =
          o.energy_threshold > 0 ? std::vector<double>{0.0} : o.compression_ratios;
      for (int64_t cs : o.chunk_sizes)
        for (double ratio : ratios) {
          CacheConfig c;
          c.method = KvMethod::Chunked;
          c.chunked.chunk_size = cs;
          c.chunked.compression_ratio = ratio;
          c.chunked.energy_threshold = o.energy_threshold;
          c.chunked.min_rank_ratio = o.min_rank_ratio;
          check_chunked_options(c.chunked);  // names the flag
          out.push_back(c);
        }
    }
  }
  // Every method's configurations times the storage bit widths (quant: one per width).
  std::vector<CacheConfig> stored;
  for (int64_t bits : o.kv_bits)
    for (CacheConfig c : out) {
      c.kv_bits = bits;
      c.quant_group = o.quant_group;
      c.hadamard = o.hadamard && c.method == KvMethod::Svd && !c.head_ranks &&
                   QuantSpec{bits, 1}.quantized();
      stored.push_back(c);
    }
  for (const auto& name : o.methods) {
    if (parse_kv_method(name, "--method") != KvMethod::Quant) continue;
    for (int64_t bits : o.kv_bits) {
      CacheConfig c;
      c.method = KvMethod::Quant;
      c.kv_bits = bits;
      c.quant_group = o.quant_group;
      c.residual = o.residual;
      check_kv_bits(bits, /*allow_none=*/false);  // names --kv-bits
      stored.push_back(c);
    }
  }
  return stored;
}

std::string fmt_seconds(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s < 120) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 7200) std::snprintf(buf, sizeof buf, "%.1fmin", s / 60);
  else std::snprintf(buf, sizeof buf, "%.1fh", s / 3600);
  return buf;
}

}  // namespace

std::string checkpoint_model_fingerprint(const std::string& model_dir) {
  const Checkpoint ckpt = Checkpoint::open(model_dir);
  return model_fingerprint(ckpt, ckpt.tensor_names());
}

EvaluateResult run_evaluate_stage(const EvaluateOptions& o, const Comm& comm,
                                  const volatile std::sig_atomic_t* stop) {
  check_evaluate_options(o);  // same verdict on every rank
  const int rank = comm.rank(), size = comm.size();
  const at::Device device = pick_device(o.device);
  const at::ScalarType dtype = resolve_dtype(o.dtype);
  const bool wants_svd = std::any_of(o.methods.begin(), o.methods.end(), [](const std::string& m) {
    return parse_kv_method(m, "--method") == KvMethod::Svd;
  });

  // ---- rank 0: windows, fingerprints, the store/model match ----
  LlamaConfig cfg;
  on_all_checked(comm, [&] {
    cfg = load_llama_config((std::filesystem::path(o.model) / "config.json").string());
  });
  std::vector<TokenIds> windows;
  std::string model_fp, dataset_fp, store_fp, run_key;
  on_root_checked(comm, [&] {
    windows = load_windows(o, cfg);
    model_fp = checkpoint_model_fingerprint(o.model);
    dataset_fp = file_fingerprint(o.dataset);
    if (!o.store.empty()) {
      const ProfileStoreReader reader = ProfileStoreReader::open(o.store);
      KVSVD_CHECK(reader.header().model_fingerprint == model_fp, "--store ", o.store,
                  ": built for the model with fingerprint ", reader.header().model_fingerprint,
                  ", but --model ", o.model, " has fingerprint ", model_fp,
                  " (profile this model first)");
      store_fp = file_fingerprint(o.store);
    }
  });
  broadcast_windows(comm, windows);
  comm.broadcast(model_fp);
  comm.broadcast(dataset_fp);
  comm.broadcast(store_fp);
  const int64_t n_windows = static_cast<int64_t>(windows.size());

  // ---- every rank: model, store bases, configurations ----
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<StoreInfo> store;
  std::unique_ptr<WindowEvaluator> evaluator;
  GenerationSpec gen{o.gen_tokens, o.gen_prompt_tokens};
  on_all_checked(comm, [&] {
    model = std::make_unique<LlamaModel>(LlamaModel::load(o.model, device, dtype));
    if (wants_svd) {
      store = std::make_unique<StoreInfo>();
      store->path = o.store;
      store->fingerprint = store_fp;
      const ProfileStoreReader reader = ProfileStoreReader::open(o.store);
      const StoreHeader& h = reader.header();
      KVSVD_CHECK(h.num_layers == cfg.num_layers, "--store ", o.store, ": ", h.num_layers,
                  " layers, the model has ", cfg.num_layers);
      // Every dim before any dataset is read (a store of another model is refused by name).
      reader.check_model_dims(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, cfg.num_heads,
                              cfg.hidden_size);
      store->profile_method = profile_config_string(h, "method");
      store->key_space = profile_config_string(h, "key_space");
      KVSVD_CHECK(h.value_rank_names.size() == h.value_rank_values.size(), "--store ", o.store,
                  ": value_rank_names and value_rank_values differ in length");
      for (size_t i = 0; i < h.value_rank_names.size(); ++i)
        store->named_ranks.push_back(NamedRank{h.value_rank_names[i], h.value_rank_values[i]});
      std::vector<LayerProfile> layers;
      for (int64_t l = 0; l < cfg.num_layers; ++l) layers.push_back(reader.read_layer(l));
      store->profile = make_kv_profile(layers, cfg, dtype, device);
    }
    const std::vector<CacheConfig> configs = build_configs(o, store.get(), cfg.head_dim);
    evaluator = std::make_unique<WindowEvaluator>(*model, configs,
                                                  store ? &store->profile : nullptr, gen);
    if (o.gen_tokens > 0)
      for (size_t w = 0; w < windows.size(); ++w)
        KVSVD_CHECK(evaluator->prompt_tokens_for(int64_t(windows[w].size())) <=
                        int64_t(windows[w].size()),
                    "--gen-prompt-tokens ", o.gen_prompt_tokens, " is longer than window ", w,
                    " (", windows[w].size(), " tokens)");
  });
  const std::vector<std::string>& labels = evaluator->labels();

  // ---- the run key (what the figures depend on) and what a previous run finished ----
  std::map<int64_t, std::vector<WindowRecord>> resumed;
  std::vector<int64_t> done;
  OutputLock out_lock;  // rank 0 with --out: held until the run folder is written
  on_root_checked(comm, [&] {
    std::string ids_digest;
    {
      std::vector<int32_t> flat;
      for (const auto& w : windows) {
        flat.push_back(-1);  // separator: [1,2][3] and [1][2,3] must differ
        flat.insert(flat.end(), w.begin(), w.end());
      }
      ids_digest = bytes_fingerprint(flat.data(), flat.size() * sizeof(int32_t));
    }
    const nlohmann::json key = {{"model", model_fp},     {"store", store_fp},
                                {"windows", ids_digest}, {"labels", labels},
                                {"gen_tokens", o.gen_tokens},
                                {"gen_prompt_tokens", o.gen_prompt_tokens},
                                {"batch", o.batch},
                                {"dtype", aten_dtype_name(dtype)},
                                {"device", device.is_cuda() ? "cuda" : "cpu"}};
    const std::string text = key.dump();
    run_key = bytes_fingerprint(text.data(), text.size());
    if (o.out.empty()) return;
    out_lock = lock_run_folder(o.out);  // before OUT/.partial is read or cleared
    if (o.resume) {
      resumed = read_partial_windows(o.out, run_key, labels);
      for (auto it = resumed.begin(); it != resumed.end();) {
        // A window index past this run's windows cannot come from the same inputs.
        KVSVD_CHECK(it->first >= 0 && it->first < n_windows, partial_window_path(o.out, it->first),
                    ": window ", it->first, " is outside this run's ", n_windows, " windows");
        done.push_back(it->first);
        ++it;
      }
    } else {
      clear_partial(o.out);
    }
  });
  comm.broadcast(run_key);
  comm.broadcast(done);

  // Batches: windows grouped by index (batch w / o.batch), split further into runs of equal
  // length; ranks take whole batches, so every window is computed in the same company for any
  // rank count. A batch with any window missing is recomputed whole (its resumed records are
  // dropped), so a resumed run holds the same numbers as an uninterrupted one.
  std::vector<std::vector<int64_t>> batches;
  {
    std::vector<char> have(static_cast<size_t>(n_windows), 0);
    for (int64_t w : done) have[static_cast<size_t>(w)] = 1;
    for (int64_t g0 = 0; g0 < n_windows; g0 += o.batch) {
      const int64_t g1 = std::min(n_windows, g0 + o.batch);
      bool complete = true;
      for (int64_t w = g0; w < g1; ++w) complete = complete && have[static_cast<size_t>(w)];
      if (complete) continue;
      for (int64_t w = g0; w < g1; ++w) {
        have[static_cast<size_t>(w)] = 0;
        resumed.erase(w);  // rank 0 holds the records
        const bool joins = w > g0 && windows[w - 1].size() == windows[w].size();
        if (joins) batches.back().push_back(w);
        else batches.push_back({w});
      }
    }
    done.clear();
    for (int64_t w = 0; w < n_windows; ++w)
      if (have[static_cast<size_t>(w)]) done.push_back(w);
  }
  int64_t n_todo = 0;
  for (const auto& b : batches) n_todo += static_cast<int64_t>(b.size());
  const Range mine = shard_range(static_cast<int64_t>(batches.size()), rank, size);

  EvaluateResult result;
  result.windows_resumed = static_cast<int64_t>(done.size());
  if (comm.is_root() && o.progress)
    std::fprintf(stderr,
                 "evaluate: %lld windows (%lld resumed, %lld to do in %zu batches on %d "
                 "rank(s)), %zu configurations: ",
                 static_cast<long long>(n_windows), static_cast<long long>(done.size()),
                 static_cast<long long>(n_todo), batches.size(), size, labels.size());
  if (comm.is_root() && o.progress) {
    for (size_t i = 0; i < labels.size(); ++i)
      std::fprintf(stderr, "%s%s", i ? ", " : "", labels[i].c_str());
    std::fprintf(stderr, "\n");
  }

  // ---- this rank's batches ----
  std::vector<WindowRecord> records;
  const auto t_start = Clock::now();
  int64_t tokens_done = 0, local_windows = 0, mine_windows = 0;
  for (int64_t i = mine.begin; i < mine.end; ++i)
    mine_windows += static_cast<int64_t>(batches[i].size());
  for (int64_t i = mine.begin; i < mine.end; ++i) {
    if (stop && *stop) {
      result.interrupted = true;
      return result;  // finished windows are already in OUT/.partial
    }
    const std::vector<int64_t>& batch = batches[i];
    std::vector<TokenIds> ids;
    for (int64_t w : batch) ids.push_back(windows[w]);
    const std::vector<std::vector<WindowRecord>> recs = evaluator->evaluate_batch(batch[0], ids);
    for (size_t b = 0; b < batch.size(); ++b) {
      if (!o.out.empty()) write_partial_window(o.out, run_key, batch[b], recs[b]);
      records.insert(records.end(), recs[b].begin(), recs[b].end());
      ++result.windows_computed;
      ++local_windows;
      tokens_done += static_cast<int64_t>(windows[batch[b]].size());
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
                   el > 0 ? static_cast<double>(tokens_done) * size / el : 0.0, labels.size(),
                   fmt_seconds(eta).c_str());
    }
  }
  if (stop && *stop) {
    result.interrupted = true;
    return result;
  }

  // ---- gather to rank 0, reduce in window order ----
  nlohmann::json mine_json = nlohmann::json::array();
  for (const auto& r : records) mine_json.push_back(window_record_to_json(r));
  const std::vector<std::string> parts = comm.gather_bytes(mine_json.dump());
  if (!comm.is_root()) return result;

  std::vector<WindowRecord> all;
  for (const auto& [w, recs] : resumed) all.insert(all.end(), recs.begin(), recs.end());
  for (size_t r = 0; r < parts.size(); ++r) {
    const nlohmann::json arr = parse_json(parts[r], cat("records of rank ", r));
    for (size_t i = 0; i < arr.size(); ++i)
      all.push_back(window_record_from_json(arr[i], cat("records of rank ", r, "[", i, "]")));
  }
  std::vector<int64_t> indices(n_windows);
  for (int64_t w = 0; w < n_windows; ++w) indices[w] = w;
  const std::vector<ConfigFigures> figs =
      reduce_window_records(all, labels, indices, WindowEvaluator::kBaseline);

  int64_t seq_len = o.seq_len;
  if (seq_len == 0) {
    seq_len = static_cast<int64_t>(windows[0].size());
    for (const auto& w : windows)
      if (static_cast<int64_t>(w.size()) != seq_len) seq_len = 0;  // ragged: no single length
  }
  nlohmann::json summary;
  summary["schema"] = kEvalSchema;
  summary["schema_version"] = kEvalSchemaVersion;
  summary["provenance"] = {{"kvsvd_version", KVSVD_VERSION},
                           {"git_rev", KVSVD_GIT_REV},
                           {"world_size", size},
                           {"device", device.str()},
                           {"dtype", aten_dtype_name(dtype)},
                           {"date_utc", utc_now_iso()},
                           {"command", o.command_line},
                           {"model_dir", o.model},
                           {"model_fingerprint", model_fp},
                           {"store", o.store},
                           {"store_fingerprint", store_fp},
                           {"dataset", o.dataset},
                           {"dataset_fingerprint", dataset_fp},
                           {"config", evaluate_options_to_json(o)}};
  summary["windows"] = n_windows;
  summary["seq_len"] = seq_len;
  summary["scored_tokens"] = figs[0].scored_tokens;
  summary["results"] = nlohmann::json::array();
  // Per-window NLL per label in window order: the paired bootstrap's input.
  std::map<std::string, std::vector<double>> nll_of;
  std::vector<int64_t> scored_of(static_cast<size_t>(n_windows), 0);
  for (const auto& l : labels) nll_of[l].assign(static_cast<size_t>(n_windows), 0.0);
  for (const WindowRecord& r : all) {
    nll_of[r.label][static_cast<size_t>(r.window)] = r.nll_sum;
    if (r.label == WindowEvaluator::kBaseline) scored_of[static_cast<size_t>(r.window)] = r.scored;
  }
  const BootstrapSpec boot;
  summary["bootstrap"] = {{"unit", "window"},
                          {"paired_with", WindowEvaluator::kBaseline},
                          {"resamples", boot.resamples},
                          {"seed", boot.seed},
                          {"level", boot.level},
                          {"statistic", "exp((sum nll_cfg - sum nll_full) / sum scored) - 1"}};
  for (size_t i = 0; i < figs.size(); ++i) {
    const CacheConfig& c = evaluator->configs()[i];
    nlohmann::json r = {{"label", figs[i].label},
                        {"method", kv_method_name(c.method)},
                        {"params", cache_config_params(c, dtype)}};
    r.update(figures_to_json(figs[i]));
    const Interval ci = paired_bootstrap_ci(nll_of[WindowEvaluator::kBaseline],
                                            nll_of[figs[i].label], scored_of, boot);
    r["rel_ppl_change_ci95"] = {ci.lo, ci.hi};
    summary["results"].push_back(r);
  }
  result.summary = summary;
  result.windows_csv = window_records_csv(all, labels);

  if (!o.out.empty()) {
    namespace fs = std::filesystem;
    const fs::path out(o.out);
    // summary.json last: its presence means the run folder is complete. All three are on disk
    // under temp names before any is renamed (a full disk leaves none of them).
    write_files_atomic({{(out / "windows.csv").string(), result.windows_csv},
                        {(out / "command.txt").string(), o.command_line + "\n"},
                        {(out / "summary.json").string(), summary.dump(2) + "\n"}});
  }
  return result;
}

std::string summary_table(const nlohmann::json& summary) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-40s %9s %9s %9s %7s %11s %7s %11s %10s\n", "config", "ppl",
                "delta", "KL", "top-1", "KV B/token", "ratio", "prefill t/s", "decode t/s");
  out += line;
  for (const auto& r : summary.at("results")) {
    auto num = [&](const char* k) { return r.contains(k) ? r[k].get<double>() : std::nan(""); };
    std::snprintf(line, sizeof line, "%-40s %9.4f %+9.4f %9.5f %7.4f %11.1f %7.2f %11.0f %10.1f\n",
                  r.at("label").get<std::string>().c_str(), num("perplexity"),
                  num("delta_perplexity"), num("kl_mean"), num("top1_agreement"),
                  num("kv_bytes_per_token"), num("compression_ratio_vs_full"),
                  num("prefill_tokens_per_s"), num("decode_tokens_per_s"));
    out += line;
  }
  return out;
}

}  // namespace kvsvd
