// The prefill and decode benchmarks: one method, one device, timed with the device synchronised
// at both ends of each timed span; figures printed as one JSON object.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/compress/profile-method.h"
#include "core/data/dataset.h"
#include "core/eval/cache-factory.h"
#include "core/eval/peak-memory.h"
#include "core/eval/perplexity.h"
#include "core/kv/full-cache.h"
#include "core/kv/static-cache.h"
#include "core/model/aten-device.h"
#include "core/store/isolated-check.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"
#include "core/util/file-fingerprint.h"
#include "stages/bench/bench-options.h"

#if KVSVD_HAVE_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif


namespace kvsvd {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for every kernel queued on `device`: a tiny device-to-host copy is ordered after them.
void sync(at::Device device) {
  if (device.is_cuda()) at::zeros({1}, at::TensorOptions().device(device)).to(at::kCPU);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What the benchmark measures: the model, one cache configuration and its profile (svd).
struct Bench {
  std::unique_ptr<LlamaModel> model;
  CacheConfig config;
  KvProfile profile;  // svd only, fused outputs filled in
  nlohmann::json describe;

  // An empty cache for `batch` sequences (the one factory evaluate uses too).
  std::unique_ptr<KvCache> cache(int64_t batch, int64_t capacity) const {
    return make_cache(config, *model, config.method == KvMethod::Svd ? &profile : nullptr,
                      capacity, batch);
  }
};

Bench open_bench(const BenchOptions& o) {
  KVSVD_CHECK(o.batch >= 1, "--batch must be >= 1, got ", o.batch);
  KVSVD_CHECK(o.repeat >= 1, "--repeat must be >= 1, got ", o.repeat);
  Bench b;
  const at::Device device = resolve_device(o.device);
  const at::ScalarType dtype = resolve_dtype(o.dtype);
  CacheConfig& c = b.config;
  c.method = parse_kv_method(o.method, "--method");
  KVSVD_CHECK(c.method != KvMethod::Quant, "kvsvd bench: --method quant is not benchmarked here "
              "(full, svd, chunked are)");
  const auto t0 = Clock::now();
  b.model = std::make_unique<LlamaModel>(LlamaModel::load(o.model, device, dtype));
  sync(device);
  b.describe["load_seconds"] = seconds_since(t0);
  b.describe["method"] = o.method;
  if (c.method == KvMethod::Svd) {
    KVSVD_CHECK(!o.store.empty(), "--method svd needs --store");
    require_sound_store(o.store);  // in a separate process: a damaged store is an error here
    const ProfileStoreReader reader = ProfileStoreReader::open(o.store);
    const StoreHeader& h = reader.header();
    const LlamaConfig& cfg = b.model->config();
    reader.check_model_dims(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, cfg.num_heads,
                            cfg.hidden_size);
    std::vector<LayerProfile> layers;
    for (int64_t l = 0; l < cfg.num_layers; ++l) layers.push_back(reader.read_layer(l));
    b.profile = with_fused_output(make_kv_profile(layers, cfg, dtype, device), *b.model);
    for (size_t i = 0; i < h.value_rank_names.size() && i < h.value_rank_values.size(); ++i)
      c.value_ranks.push_back(NamedRank{h.value_rank_names[i], h.value_rank_values[i]});
    c.key_rank = o.key_rank > 0 ? o.key_rank : b.profile.key_rank;
    c.policy = RankPolicy::parse(o.policy, "--policy");
    const std::string space = profile_config_string(h, "key_space");
    c.key_space = space.empty() ? KeySpace::PreRope : parse_key_space(space, "--store");
    b.describe["key_rank"] = c.key_rank;
    b.describe["value_ranks"] = named_ranks_to_string(c.value_ranks);
    b.describe["policy"] = c.policy.spec();
    b.describe["key_space"] = space.empty() ? "pre_rope" : space;
    b.describe["store_fingerprint"] = file_fingerprint(o.store);
  } else if (c.method == KvMethod::Chunked) {
    c.chunked.chunk_size = o.chunk_size;
    c.chunked.compression_ratio = o.compression_ratio;
    check_chunked_options(c.chunked);
    b.describe["chunk_size"] = o.chunk_size;
    b.describe["compression_ratio"] = o.compression_ratio;
  }
  b.describe["device"] = device.str();
  b.describe["dtype"] = o.dtype;
  b.describe["batch"] = o.batch;
  return b;
}

void emit(const BenchOptions& o, const nlohmann::json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
  if (!o.json.empty()) {  // JSON lines: decode writes one per point
    std::ofstream f(o.json, std::ios::app);
    f << j.dump() << "\n";
    KVSVD_CHECK(f.good(), "--json ", o.json, ": cannot write");
  }
}

}  // namespace

void run_bench_prefill(const BenchOptions& o) {
  c10::NoGradGuard no_grad;
  Bench b = open_bench(o);
  const std::vector<TokenIds> windows = read_token_id_json(o.windows);
  const int64_t n = static_cast<int64_t>(windows.size());
  KVSVD_CHECK(n >= o.batch, "--windows ", o.windows, ": ", n, " windows, fewer than --batch ",
              o.batch);
  const int64_t T = static_cast<int64_t>(windows[0].size());
  const at::Device device = b.model->device();
  auto batch_at = [&](int64_t i) {
    return std::vector<TokenIds>(windows.begin() + i, windows.begin() + i + o.batch);
  };
  {  // warm-up: kernels chosen, allocator primed
    auto cache = b.cache(o.batch, T);
    score_windows(*b.model, *cache, batch_at(0));
  }
  sync(device);
  reset_peak_memory(device);
  double nll = 0, seconds = 0;
  int64_t scored = 0, tokens = 0, kv_bytes = 0, kv_tokens = 0;
  std::vector<at::Tensor> dumped;
  for (int64_t rep = 0; rep < o.repeat; ++rep) {
    for (int64_t i = 0; i + o.batch <= n; i += o.batch) {
      const auto t0 = Clock::now();
      auto cache = b.cache(o.batch, T);
      at::Tensor logits;
      const bool dump = rep == 0 && !o.dump_logits.empty() &&
                        static_cast<int64_t>(dumped.size()) < o.dump_windows;
      const std::vector<WindowScore> s = score_windows(*b.model, *cache, batch_at(i),
                                                       dump ? &logits : nullptr);  // host sync
      seconds += seconds_since(t0);
      for (const WindowScore& w : s) {
        nll += w.nll_sum;
        scored += w.tokens;
      }
      tokens += o.batch * T;
      kv_bytes = cache->bytes();
      kv_tokens = cache->length() * o.batch;
      for (int64_t w = 0; dump && w < o.batch &&
                          static_cast<int64_t>(dumped.size()) < o.dump_windows; ++w) {
        const int64_t p = std::min(o.dump_positions, T);
        dumped.push_back(logits[w].narrow(0, T - p, p).to(at::kCPU, at::kFloat).contiguous());
      }
    }
  }
  if (!dumped.empty()) {
    const at::Tensor all = at::stack(dumped).contiguous();  // [W, P, vocab]
    std::ofstream f(o.dump_logits, std::ios::binary);
    f.write(reinterpret_cast<const char*>(all.data_ptr<float>()),
            static_cast<std::streamsize>(all.numel() * sizeof(float)));
    KVSVD_CHECK(f.good(), "--dump-logits ", o.dump_logits, ": cannot write");
  }
  nlohmann::json j = b.describe;
  j["mode"] = "prefill";
  j["windows"] = n;
  j["seq_len"] = T;
  j["repeat"] = o.repeat;
  j["tokens_per_s"] = tokens / seconds;
  j["seconds"] = seconds;
  j["nll_mean"] = nll / static_cast<double>(scored);
  j["kv_bytes_per_token"] = static_cast<double>(kv_bytes) / static_cast<double>(kv_tokens);
  j["peak_memory_bytes"] = peak_memory_bytes(device);
  emit(o, j);
}

namespace {

// [batch, context] ids from a generator seeded with `seed` (the same prompt for every method).
at::Tensor random_prompt(int64_t vocab, int64_t batch, int64_t context, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(vocab, {batch, context}, gen, at::kLong);
}

// Prefills `prompt` [B, C] into `cache` in blocks of 4096 tokens, so long contexts keep the MLP's
// activations small; every block reads what the cache holds, as decode will. Returns the greedy
// next ids [B, 1] on the device.
at::Tensor prefill_in_blocks(const LlamaModel& m, KvCache& cache, const at::Tensor& prompt) {
  constexpr int64_t kBlock = 4096;
  const int64_t C = prompt.size(1);
  at::Tensor logits;
  for (int64_t p = 0; p < C; p += kBlock)
    logits = m.forward(prompt.narrow(1, p, std::min(kBlock, C - p)), cache, true);
  return logits.argmax(-1);
}

// Decode with each step one CUDA graph replay over a StaticFullCache, timed, then checked against
// eager decode on a FullCache. Random weights give near-flat logits where bf16 rounding alone
// flips the argmax and free-running sequences part at once, so the check is teacher-forced: both
// caches are fed the eager sequence and each step's prediction is compared. prompt: [B, C] int64.
void graph_decode(const Bench& b, const at::Tensor& prompt, int64_t steps, nlohmann::json* out) {
#if KVSVD_HAVE_CUDA
  const LlamaModel& m = *b.model;
  const at::Device device = m.device();
  KVSVD_CHECK(device.is_cuda(), "--cuda-graph needs --device cuda");
  KVSVD_CHECK(b.config.method == KvMethod::Full, "--cuda-graph is implemented for --method full");
  const int64_t B = prompt.size(0), C = prompt.size(1);
  constexpr int64_t kWarm = 2;  // eager steps before recording (lazy initialisation happens there)
  // Eager: ids[:, s] is the input of step s, ids[:, s+1] its prediction.
  const auto lopt = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor eager_ids = at::empty({B, kWarm + steps + 1}, lopt);
  double first_step_diff = 0, first_step_scale = 0;
  at::Tensor eager_first;  // eager logits of the first decode step [B, 1, V]
  {
    FullCache cache(m.config(), B, C + kWarm + steps + 1, m.dtype(), device);
    at::Tensor next = prefill_in_blocks(m, cache, prompt);
    for (int64_t s = 0; s < kWarm + steps; ++s) {
      eager_ids.select(1, s).copy_(next.view({B}));
      at::Tensor logits = m.forward(next, cache, true, false);
      if (s == 0) eager_first = logits;
      next = logits.argmax(-1);
    }
    eager_ids.select(1, kWarm + steps).copy_(next.view({B}));
  }
  StaticFullCache cache(m.config(), B, C + kWarm + steps + 1, m.dtype(), device);
  at::Tensor predicted = at::empty({B, steps}, lopt);
  prefill_in_blocks(m, cache, prompt);
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  sync(device);
  {
    c10::cuda::CUDAStreamGuard guard(side);
    for (int64_t s = 0; s < kWarm; ++s) {
      at::Tensor logits = m.forward(eager_ids.narrow(1, s, 1), cache, true, false);
      if (s == 0) {
        first_step_diff = (logits - eager_first).abs().max().item<double>();
        first_step_scale = eager_first.abs().max().item<double>();
      }
    }
  }
  side.synchronize();
  const int64_t len_before = cache.length();
  at::Tensor static_in = eager_ids.narrow(1, kWarm, 1).clone();  // the graph's input [B, 1]
  at::Tensor static_out = at::empty_like(static_in);             // and its prediction
  at::cuda::CUDAGraph graph;
  {
    c10::cuda::CUDAStreamGuard guard(side);
    graph.capture_begin();
    static_out.copy_(m.forward(static_in, cache, true, false).argmax(-1));
    graph.capture_end();
  }
  cache.set_host_length(len_before);  // recording ran advance() on the host only
  sync(device);
  const auto t0 = Clock::now();
  {
    c10::cuda::CUDAStreamGuard guard(side);
    for (int64_t s = 0; s < steps; ++s) {
      static_in.copy_(eager_ids.narrow(1, kWarm + s, 1));  // teacher-forced input
      graph.replay();
      predicted.select(1, s).copy_(static_out.view({B}));
    }
  }
  side.synchronize();
  const double d = seconds_since(t0);
  cache.set_host_length(len_before + steps);
  const at::Tensor expect = eager_ids.narrow(1, kWarm + 1, steps);
  (*out)["decode_seconds"] = d;
  (*out)["decode_tokens_per_s"] = static_cast<double>(B * steps) / d;
  (*out)["ms_per_step"] = 1e3 * d / static_cast<double>(steps);
  (*out)["kv_bytes_per_token"] =
      static_cast<double>(cache.bytes()) / static_cast<double>(cache.capacity() * B);
  (*out)["graph_top1_agreement_teacher_forced"] =
      predicted.eq(expect).to(at::kDouble).mean().item<double>();
  (*out)["first_step_logits_max_abs_diff"] = first_step_diff;
  (*out)["first_step_logits_max_abs"] = first_step_scale;
#else
  (void)b, (void)prompt, (void)steps, (void)out;
  KVSVD_CHECK(false, "--cuda-graph: this kvsvd was built without CUDA");
#endif
}

}  // namespace

void run_bench_decode(const BenchOptions& o) {
  c10::NoGradGuard no_grad;
  Bench b = open_bench(o);
  KVSVD_CHECK(o.new_tokens >= 1, "--new-tokens must be >= 1, got ", o.new_tokens);
  const std::vector<int64_t> batches = o.batches.empty() ? std::vector<int64_t>{o.batch} : o.batches;
  for (int64_t c : o.contexts) KVSVD_CHECK(c >= 1, "--context must be >= 1, got ", c);
  for (int64_t x : batches) KVSVD_CHECK(x >= 1, "--batches must be >= 1, got ", x);
  const at::Device device = b.model->device();
  const int64_t V = b.model->config().vocab_size;

  // context tokens (random, seeded) -> prefill in blocks, then `steps` greedy steps
  auto run = [&](int64_t batch, int64_t context, int64_t steps, nlohmann::json* out) {
    const at::Tensor prompt = random_prompt(V, batch, context, o.seed);  // [B, C]
    auto cache = b.cache(batch, context + steps + 1);
    const auto t0 = Clock::now();
    at::Tensor next = prefill_in_blocks(*b.model, *cache, prompt);  // [B, 1]
    sync(device);
    const auto t1 = Clock::now();
    for (int64_t s = 0; s < steps; ++s) {
      // The ids come from the model's own argmax: no range check, so no host sync per step.
      next = b.model->forward(next, *cache, /*last_only=*/true, /*check_ids=*/false).argmax(-1);
    }
    sync(device);
    if (out) {
      const double d = seconds_since(t1);
      (*out)["prefill_seconds"] = std::chrono::duration<double>(t1 - t0).count();
      (*out)["decode_seconds"] = d;
      (*out)["decode_tokens_per_s"] = static_cast<double>(batch * steps) / d;
      (*out)["ms_per_step"] = 1e3 * d / static_cast<double>(steps);
      (*out)["kv_bytes_per_token"] =
          static_cast<double>(cache->bytes()) / static_cast<double>(cache->length() * batch);
    }
  };
  run(1, 128, 4, nullptr);  // warm-up: kernels chosen, allocator primed
  for (int64_t batch : batches) {
    for (int64_t context : o.contexts) {
      nlohmann::json j = b.describe;
      j["mode"] = "decode";
      j["batch"] = batch;
      j["context"] = context;
      j["new_tokens"] = o.new_tokens;
      try {
        reset_peak_memory(device);
        nlohmann::json best;
        if (o.cuda_graph) {
          graph_decode(b, random_prompt(V, batch, context, o.seed), o.new_tokens, &best);
          j["cuda_graph"] = true;
        }
        for (int64_t rep = 0; rep < (o.cuda_graph ? 0 : o.repeat); ++rep) {
          nlohmann::json r;
          run(batch, context, o.new_tokens, &r);
          if (rep == 0 || r["decode_seconds"].get<double>() < best["decode_seconds"].get<double>())
            best = r;
        }
        j.update(best);
        j["peak_memory_bytes"] = peak_memory_bytes(device);
      } catch (const c10::Error& e) {
        // An out-of-memory point is a result (the row says so), not the end of the sweep.
        const std::string what = e.what_without_backtrace();
        KVSVD_CHECK(what.find("out of memory") != std::string::npos, what);
        j["error"] = "out of memory";
      }
      emit(o, j);
    }
  }
}

}  // namespace kvsvd
