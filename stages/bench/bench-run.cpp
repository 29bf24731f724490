// The prefill and decode benchmarks: one method, one device, timed with the device synchronised
// at both ends of each timed span; figures printed as one JSON object.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/compress/profile-method.h"
#include "core/data/dataset.h"
#include "core/eval/cache-factory.h"
#include "core/eval/peak-memory.h"
#include "core/eval/perplexity.h"
#include "core/eval/step-cache-factory.h"
#include "core/kv/quant-cache.h"
#include "core/kv/full-cache.h"
#include "core/model/decode-engine.h"
#include "core/model/aten-device.h"
#include "core/store/isolated-check.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"
#include "core/util/file-fingerprint.h"
#include "stages/bench/bench-options.h"
#include "stages/bench/kv-read-bytes.h"


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
  c.kv_bits = o.kv_bits;
  c.quant_group = o.quant_group;
  c.residual = o.residual;
  if (c.method == KvMethod::Quant)
    check_quant_cache_options(QuantCacheOptions{c.kv_bits, c.quant_group, c.residual});
  else
    check_kv_bits(c.kv_bits, /*allow_none=*/true);
  const auto t0 = Clock::now();
  b.model = std::make_unique<LlamaModel>(LlamaModel::load(o.model, device, dtype));
  sync(device);
  b.describe["load_seconds"] = seconds_since(t0);
  b.describe["method"] = o.method;
  b.describe["model_dir"] = o.model;
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
  if (c.method != KvMethod::Full) {
    b.describe["kv_bits"] = c.kv_bits;
    b.describe["quant_group"] = c.quant_group;
  }
  if (c.method == KvMethod::Quant) b.describe["residual"] = c.residual;
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

// Bytes one decode step must read from device memory for the weights: every layer's matrices
// and norms, the final norm and the LM head (the embedding contributes B rows only).
double weight_bytes_per_step(const LlamaModel& m) {
  auto nb = [](const at::Tensor& t) { return t.defined() ? static_cast<double>(t.nbytes()) : 0.0; };
  const LlamaWeights& w = m.weights();
  double total = nb(w.final_norm) + nb(w.lm_head);
  for (const LayerWeights& L : w.layers)
    total += nb(L.attn_norm) + nb(L.wq) + nb(L.wk) + nb(L.wv) + nb(L.wo) + nb(L.bq) + nb(L.bk) +
             nb(L.bv) + nb(L.mlp_norm) + nb(L.w_gate) + nb(L.w_up) + nb(L.w_down);
  return total;
}

// Device-to-device copy bandwidth (bytes read + written per second) over 2 GiB buffers, the
// ceiling the byte bound is taken against; 0 on the CPU.
double copy_bandwidth(at::Device device) {
  if (!device.is_cuda()) return 0;
  const int64_t n = int64_t(2) << 30;
  at::Tensor a = at::empty({n}, at::TensorOptions().dtype(at::kByte).device(device)).fill_(1);
  at::Tensor b = at::empty_like(a);
  for (int i = 0; i < 3; ++i) b.copy_(a);
  sync(device);
  constexpr int kReps = 10;
  const auto t0 = Clock::now();
  for (int i = 0; i < kReps; ++i) b.copy_(a);
  sync(device);
  return 2.0 * static_cast<double>(n) * kReps / seconds_since(t0);
}

// Decode through the DecodeEngine, any method (each step one CUDA graph replay with --cuda-graph
// on CUDA for the methods with a static layout): a warm-up call captures the graph of this
// (batch, capacity), the timed call replays it. At batch 1 the first decode step's logits are
// also compared with eager decode over the method's own KvCache (teacher-forced, so both see the
// same token). prompt: [B, C] int64.
void engine_decode(DecodeEngine& engine, const Bench& b, const at::Tensor& prompt, int64_t steps,
                   nlohmann::json* out) {
  const LlamaModel& m = *b.model;
  const int64_t B = prompt.size(0), C = prompt.size(1), capacity = C + steps + 1;
  engine.check_context(C + steps + 1, capacity);
  DecodeStats st;
  engine.generate(prompt, std::min<int64_t>(steps + 1, 4), SamplingConfig{}, {}, &st, capacity);
  engine.generate(prompt, steps + 1, SamplingConfig{}, {}, &st, capacity);
  (*out)["prefill_seconds"] = st.prefill_seconds;
  (*out)["decode_seconds"] = st.decode_seconds;
  (*out)["decode_tokens_per_s"] = static_cast<double>(B * st.steps) / st.decode_seconds;
  (*out)["ms_per_step"] = 1e3 * st.decode_seconds / static_cast<double>(st.steps);
  (*out)["cuda_graph"] = st.graph;
  (*out)["engine"] = true;
  const LlamaConfig& c = m.config();
  // The method's own KV bytes read by a step at the mean length of the timed steps, per token.
  const int64_t mean_len = C + steps / 2 + 1;
  const double kv_read = kv_read_bytes_per_step(b.config, c, m.dtype(), C, mean_len);
  (*out)["kv_bytes_per_token"] = kv_read / static_cast<double>(mean_len);
  (*out)["kv_bytes_read_per_step"] = kv_read * static_cast<double>(B);
  (*out)["static_layout"] = has_static_layout(b.config);
  if (B == 1) {
    std::unique_ptr<KvCache> cache = b.cache(B, C + 2);
    const at::Tensor first = prefill_in_blocks(m, *cache, prompt.to(m.device()));      // [B, 1]
    const at::Tensor eager = m.forward(first, *cache, true, false).select(1, 0);      // [B, V]
    const at::Tensor got = engine.teacher_forced_logits(prompt, first.to(at::kCPU), C + 2)
                               .select(1, 1);                                         // [B, V]
    (*out)["first_step_logits_max_abs_diff"] = (got - eager).abs().max().item<double>();
    (*out)["first_step_logits_max_abs"] = eager.abs().max().item<double>();
    (*out)["first_step_top1_equal"] = got.argmax(-1).equal(eager.argmax(-1));
    const char* ref = std::getenv("KVSVD_BENCH_FP32_REFERENCE");
    if (ref && *ref == '1' && b.config.method == KvMethod::Full) {
      // How far bf16 rounding alone moves these logits: both bf16 paths against an eager float32
      // forward of the same weights on the same tokens.
      const LlamaModel m32 = LlamaModel::load(b.describe["model_dir"].get<std::string>(),
                                              m.device(), at::kFloat);
      FullCache c32(c, B, C + 2, at::kFloat, m.device());
      prefill_in_blocks(m32, c32, prompt.to(m.device()));
      const at::Tensor exact = m32.forward(first, c32, true, false).select(1, 0);  // [B, V]
      (*out)["first_step_eager_bf16_vs_fp32_max_abs_diff"] = (eager - exact).abs().max().item<double>();
      (*out)["first_step_engine_bf16_vs_fp32_max_abs_diff"] = (got - exact).abs().max().item<double>();
      (*out)["first_step_fp32_top1_equal_engine"] = got.argmax(-1).equal(exact.argmax(-1));
      (*out)["first_step_fp32_top1_equal_eager"] = eager.argmax(-1).equal(exact.argmax(-1));
    }
  }
  engine.release();
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

  DecodeEngine engine(*b.model, o.cuda_graph,
                      step_cache_maker(b.config, *b.model,
                                       b.config.method == KvMethod::Svd ? &b.profile : nullptr));
  const double weights = weight_bytes_per_step(*b.model);
  const double bandwidth = copy_bandwidth(device);
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
        engine_decode(engine, b, random_prompt(V, batch, context, o.seed), o.new_tokens, &best);
        j.update(best);
        j["peak_memory_bytes"] = peak_memory_bytes(device);
        // The step's byte bound: weights + this method's KV bytes read at the mean length of
        // the timed steps (kv-read-bytes.h), over the copy bandwidth measured in this run.
        const double kv_read = best["kv_bytes_read_per_step"].get<double>();
        j["weight_bytes_per_step"] = weights;
        if (bandwidth > 0) {
          const double bound_ms = 1e3 * (weights + kv_read) / bandwidth;
          j["copy_bandwidth_bytes_per_s"] = bandwidth;
          j["bound_ms_per_step"] = bound_ms;
          j["bound_tokens_per_s"] = 1e3 * static_cast<double>(batch) / bound_ms;
          j["fraction_of_bound"] = bound_ms / best["ms_per_step"].get<double>();
        }
      } catch (const c10::Error& e) {
        // An out-of-memory point is a result (the row says so), not the end of the sweep.
        const std::string what = e.what_without_backtrace();
        KVSVD_CHECK(what.find("out of memory") != std::string::npos, what);
        engine.release();
        j["error"] = "out of memory";
      }
      emit(o, j);
    }
  }
}

}  // namespace kvsvd
