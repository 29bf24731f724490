#include "core/model/decode-engine.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/kernels/residual-rms-norm.h"
#include "core/kernels/skinny-gemm.h"
#include "core/kv/static-cache.h"
#include "core/util/error.h"

#if KVSVD_HAVE_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace kvsvd {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool same_choice(const SamplingConfig& a, const SamplingConfig& b) {
  return a.greedy == b.greedy && (a.greedy || (a.temperature == b.temperature && a.top_p == b.top_p));
}

}  // namespace

struct DecodeEngine::Slot {
  std::unique_ptr<StepCache> cache;
  at::Tensor ids;  // [B] int64 on the device: a step's input, overwritten by its chosen token
  std::unique_ptr<DeviceSampler> sampler;
  int64_t eager_steps = 0;  // steps run eagerly since the sampler was set (lazy init before capture)
#if KVSVD_HAVE_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
};

DecodeEngine::DecodeEngine(const LlamaModel& model, bool cuda_graph, StepCacheMaker make_cache)
    : model_(model), cuda_graph_(cuda_graph), make_cache_(std::move(make_cache)) {
  if (!make_cache_)
    make_cache_ = [&model](int64_t batch, int64_t capacity) -> std::unique_ptr<StepCache> {
      return std::make_unique<StaticFullCache>(model.config(), batch, capacity, model.dtype(),
                                               model.device());
    };
  c10::NoGradGuard no_grad;
  for (const LayerWeights& L : model_.weights().layers) {
    FusedLayer f;
    f.wqkv = at::cat({L.wq, L.wk, L.wv}, 0).contiguous();
    if (L.bq.defined()) f.bqkv = at::cat({L.bq, L.bk, L.bv}, 0).contiguous();
    f.w_gate_up = at::cat({L.w_gate, L.w_up}, 0).contiguous();
    fused_.push_back(std::move(f));
  }
}

DecodeEngine::~DecodeEngine() = default;

void DecodeEngine::release() { slots_.clear(); }

void DecodeEngine::set_cache_maker(StepCacheMaker make_cache) {
  KVSVD_CHECK(static_cast<bool>(make_cache), "decode: no cache maker given");
  slots_.clear();
  make_cache_ = std::move(make_cache);
}

void DecodeEngine::check_context(int64_t tokens, int64_t capacity) const {
  KVSVD_CHECK(tokens <= capacity, "decode: a context of ", tokens,
              " tokens (prompt + new) exceeds the cache capacity of ", capacity, " tokens");
  const int64_t max_pos = model_.config().max_position_embeddings;
  KVSVD_CHECK(max_pos <= 0 || capacity <= max_pos, "decode: a cache capacity of ", capacity,
              " tokens exceeds the model's max_position_embeddings of ", max_pos);
}

DecodeEngine::Slot& DecodeEngine::slot(int64_t batch, int64_t capacity) {
  auto& s = slots_[{batch, capacity}];
  if (!s) {
    s = std::make_unique<Slot>();
    s->cache = make_cache_(batch, capacity);
    KVSVD_CHECK(s->cache && s->cache->capacity() >= capacity, "decode: the step cache for batch ",
                batch, " holds fewer than ", capacity, " tokens");
    s->ids = at::zeros({batch}, at::TensorOptions().dtype(at::kLong).device(model_.device()));
  }
  return *s;
}

at::Tensor DecodeEngine::prefill(Slot& s, const at::Tensor& prompts) {
  constexpr int64_t kBlock = 4096;  // keeps the MLP activations of long prompts small
  s.cache->reset();
  const int64_t C = prompts.size(1);
  at::Tensor logits;
  for (int64_t p = 0; p < C; p += kBlock)
    logits = model_.forward(prompts.narrow(1, p, std::min(kBlock, C - p)), *s.cache, true);
  return logits.select(1, 0);  // [B, V]
}

at::Tensor DecodeEngine::step_logits(Slot& s) {
  const LlamaConfig& c = model_.config();
  const LlamaWeights& w = model_.weights();
  const int64_t B = s.ids.size(0), Hq = c.num_heads, Hkv = c.num_kv_heads, d = c.head_dim;
  const int64_t I = c.intermediate_size;
  const double eps = c.rms_norm_eps;
  at::Tensor h = at::embedding(w.embed, s.ids);  // [B, hidden], the residual stream
  at::Tensor delta;                              // the last block's output, added by the norm
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = w.layers[l];
    const FusedLayer& F = fused_[l];
    at::Tensor x = residual_rms_norm(h, delta, L.attn_norm, eps);       // [B, hidden]
    const at::Tensor qkv = decode_linear(x, F.wqkv, F.bqkv);               // [B, (Hq+2Hkv) d]
    const at::Tensor q = qkv.narrow(1, 0, Hq * d).view({B, Hq, d});
    const at::Tensor k = qkv.narrow(1, Hq * d, Hkv * d).view({B, Hkv, d});
    const at::Tensor v = qkv.narrow(1, (Hq + Hkv) * d, Hkv * d).view({B, Hkv, d});
    delta = s.cache->decode_step(l, q, k, v, L.wo);                      // [B, hidden]
    x = residual_rms_norm(h, delta, L.mlp_norm, eps);
    const at::Tensor gu = decode_linear(x, F.w_gate_up);                   // [B, 2I]
    delta = decode_linear(at::silu(gu.narrow(1, 0, I)) * gu.narrow(1, I, I), L.w_down);
  }
  const at::Tensor x = residual_rms_norm(h, delta, w.final_norm, eps);
  s.cache->positions().add_(1);
  return decode_linear(x, w.lm_head).to(at::kFloat);  // [B, V]
}

void DecodeEngine::step(Slot& s) {
#if KVSVD_HAVE_CUDA
  if (cuda_graph_ && model_.device().is_cuda() && s.cache->graph_capturable()) {
    if (!s.graph) {
      if (s.eager_steps < 1) {  // cuBLAS handles, workspaces, lazy modules: set up outside capture
        s.ids.copy_(s.sampler->next(step_logits(s)));
        ++s.eager_steps;
        return;
      }
      s.graph = std::make_unique<at::cuda::CUDAGraph>();
      s.graph->capture_begin();
      s.ids.copy_(s.sampler->next(step_logits(s)));
      s.graph->capture_end();  // recorded only: the replay below runs this step
    }
    s.graph->replay();
    return;
  }
#endif
  s.ids.copy_(s.sampler->next(step_logits(s)));
}

std::vector<std::vector<int64_t>> DecodeEngine::generate(const at::Tensor& prompts,
                                                         int64_t max_new,
                                                         const SamplingConfig& sampling,
                                                         const std::vector<int64_t>& stop_ids,
                                                         DecodeStats* stats, int64_t capacity,
                                                         int64_t check_every) {
  c10::NoGradGuard no_grad;
  KVSVD_CHECK(prompts.dim() == 2 && prompts.size(0) > 0 && prompts.size(1) > 0,
              "decode: prompts must be [B, C] with B, C > 0, got ", prompts.sizes());
  KVSVD_CHECK(max_new >= 1, "decode: max_new_tokens must be >= 1, got ", max_new);
  KVSVD_CHECK(check_every >= 1, "decode: check_every must be >= 1, got ", check_every);
  const int64_t B = prompts.size(0), C = prompts.size(1);
  if (capacity <= 0) capacity = C + max_new;
  check_context(C + max_new, capacity);  // before any device work
  const at::Device device = model_.device();
  DecodeStats st;
#if KVSVD_HAVE_CUDA
  // Everything on one side stream (graph capture cannot use the legacy default stream).
  std::optional<c10::cuda::CUDAStreamGuard> guard;
  if (device.is_cuda()) guard.emplace(c10::cuda::getStreamFromPool(false, device.index()));
  auto sync = [&] {
    if (device.is_cuda()) c10::cuda::getCurrentCUDAStream(device.index()).synchronize();
  };
#else
  auto sync = [] {};
#endif
  Slot& s = slot(B, capacity);
  if (!s.sampler || !same_choice(s.sampler->config(), sampling)) {
    s.sampler = std::make_unique<DeviceSampler>(sampling, device);
    s.eager_steps = 0;
#if KVSVD_HAVE_CUDA
    s.graph.reset();  // it was recorded with the old sampler's tensors
#endif
  }
  s.sampler->reseed(sampling.seed);
  const auto t0 = Clock::now();
  const at::Tensor prompt_ids = prompts.to(device, at::kLong);
  s.ids.copy_(s.sampler->next(prefill(s, prompt_ids)));
  at::Tensor out = at::empty({B, max_new}, s.ids.options());  // [B, max_new] chosen ids
  out.select(1, 0).copy_(s.ids);
  sync();
  st.prefill_seconds = seconds_since(t0);

  std::vector<std::vector<int64_t>> tokens(B);
  std::vector<bool> ended(B, false);
  int64_t have = 0;  // columns of `out` already read back
  // Reads columns have .. upto-1 back and records stops; true once every sequence has ended.
  auto read_back = [&](int64_t upto) {
    const at::Tensor host = out.narrow(1, have, upto - have).to(at::kCPU).contiguous();
    const auto a = host.accessor<int64_t, 2>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < upto - have && !ended[b]; ++t) {
        tokens[b].push_back(a[b][t]);
        ended[b] = std::find(stop_ids.begin(), stop_ids.end(), a[b][t]) != stop_ids.end();
      }
    have = upto;
    return std::all_of(ended.begin(), ended.end(), [](bool e) { return e; });
  };
  const auto t1 = Clock::now();
  bool done = stop_ids.empty() ? false : read_back(1);
  int64_t t = 1;
  for (; t < max_new && !done; ++t) {
    step(s);
    out.select(1, t).copy_(s.ids);
    if (!stop_ids.empty() && (t + 1) % check_every == 0) done = read_back(t + 1);
  }
  if (have < t) read_back(t);
  st.decode_seconds = seconds_since(t1);
  st.steps = t - 1;
#if KVSVD_HAVE_CUDA
  st.graph = static_cast<bool>(s.graph);
#endif
  s.cache->set_host_length(C + st.steps);
  st.kv_bytes = s.cache->bytes();
  if (stats) *stats = st;
  return tokens;
}

at::Tensor DecodeEngine::teacher_forced_logits(const at::Tensor& prompts, const at::Tensor& forced,
                                               int64_t capacity) {
  c10::NoGradGuard no_grad;
  KVSVD_CHECK(prompts.dim() == 2 && forced.dim() == 2 && forced.size(0) == prompts.size(0),
              "decode: prompts ", prompts.sizes(), " and forced ids ", forced.sizes());
  check_context(prompts.size(1) + forced.size(1), capacity);
  Slot& s = slot(prompts.size(0), capacity);
  std::vector<at::Tensor> steps{prefill(s, prompts.to(model_.device(), at::kLong))};
  const at::Tensor f = forced.to(model_.device(), at::kLong);
  for (int64_t j = 0; j < f.size(1); ++j) {
    s.ids.copy_(f.select(1, j));
    steps.push_back(step_logits(s));
  }
  s.cache->set_host_length(prompts.size(1) + f.size(1));
  return at::stack(steps, 1);  // [B, S+1, V]
}

}  // namespace kvsvd
