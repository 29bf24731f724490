// The Llama forward on a small random model: against an independent double-precision forward,
// prefill == step-by-step decode through the FullCache, batch == single sequences, loading from
// a safetensors directory written here, window scoring, generate, and the CLI on that directory.
#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/eval/perplexity.h"
#include "core/kv/full-cache.h"
#include "core/model/generate.h"
#include "core/model/llama.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

LlamaConfig tiny_config(bool qkv_bias, bool tied) {
  LlamaConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 50;
  c.hidden_size = 24;
  c.intermediate_size = 40;
  c.num_layers = 2;
  c.num_heads = 6;
  c.num_kv_heads = 2;
  c.head_dim = 6;  // explicit: q_dim 36 != hidden 24, as in some real configs
  c.max_position_embeddings = 256;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = tied;
  c.qkv_bias = qkv_bias;
  c.rope.theta = 10000.0;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

LlamaWeights random_weights(const LlamaConfig& c, uint64_t seed) {
  at::manual_seed(seed);
  auto r = [](std::vector<int64_t> shape, double scale) { return at::randn(shape) * scale; };
  auto norm = [&](int64_t n) { return 1.0 + at::randn({n}) * 0.1; };
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  LlamaWeights w;
  w.embed = r({c.vocab_size, H}, 1.0);
  w.final_norm = norm(H);
  w.lm_head = c.tie_word_embeddings ? w.embed : r({c.vocab_size, H}, 0.3);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerWeights L;
    L.attn_norm = norm(H);
    L.wq = r({c.q_dim(), H}, 0.4);
    L.wk = r({c.kv_dim(), H}, 0.4);
    L.wv = r({c.kv_dim(), H}, 0.3);
    L.wo = r({H, c.q_dim()}, 0.2);
    if (c.qkv_bias) {
      L.bq = r({c.q_dim()}, 0.2);
      L.bk = r({c.kv_dim()}, 0.2);
      L.bv = r({c.kv_dim()}, 0.2);
    }
    L.mlp_norm = norm(H);
    L.w_gate = r({I, H}, 0.3);
    L.w_up = r({I, H}, 0.3);
    L.w_down = r({H, I}, 0.2);
    w.layers.push_back(L);
  }
  return w;
}

at::Tensor to_d(const at::Tensor& t) { return t.defined() ? t.to(at::kDouble) : t; }

// An independent forward in double: repeat_interleave GQA, a full [T, T] mask, RoPE from the
// closed formula. tokens [B, T] -> logits [B, T, vocab] float64.
at::Tensor reference_logits(const LlamaConfig& c, const LlamaWeights& w, const at::Tensor& tokens) {
  const int64_t B = tokens.size(0), T = tokens.size(1), d = c.head_dim, G = c.group_size();
  auto rms = [&](const at::Tensor& x, const at::Tensor& wt) {
    return x / at::sqrt((x * x).mean(-1, true) + c.rms_norm_eps) * to_d(wt);
  };
  std::vector<double> ang(T * d / 2);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < d / 2; ++i) ang[t * d / 2 + i] = t * std::pow(c.rope.theta, -2.0 * i / d);
  at::Tensor a = at::tensor(ang, at::kDouble).view({T, d / 2});
  at::Tensor cs = at::cos(a), sn = at::sin(a);
  auto rot = [&](const at::Tensor& x) {  // [B, H, T, d]
    at::Tensor x1 = x.narrow(-1, 0, d / 2), x2 = x.narrow(-1, d / 2, d / 2);
    return at::cat({x1 * cs - x2 * sn, x2 * cs + x1 * sn}, -1);
  };
  at::Tensor mask = at::ones({T, T}, at::kBool).triu(1);
  at::Tensor h = to_d(w.embed).index_select(0, tokens.reshape({-1})).view({B, T, c.hidden_size});
  for (const LayerWeights& L : w.layers) {
    at::Tensor x = rms(h, L.attn_norm);
    auto proj = [&](const at::Tensor& W, const at::Tensor& b, int64_t heads) {
      at::Tensor y = at::matmul(x, to_d(W).t());
      if (b.defined()) y = y + to_d(b);
      return y.view({B, T, heads, d}).transpose(1, 2);
    };
    at::Tensor q = rot(proj(L.wq, L.bq, c.num_heads));
    at::Tensor k = rot(proj(L.wk, L.bk, c.num_kv_heads)).repeat_interleave(G, 1);
    at::Tensor v = proj(L.wv, L.bv, c.num_kv_heads).repeat_interleave(G, 1);
    at::Tensor s = at::matmul(q, k.transpose(2, 3)) / std::sqrt(double(d));
    s = s.masked_fill(mask, -INFINITY).softmax(-1);
    at::Tensor o = at::matmul(s, v).transpose(1, 2).reshape({B, T, c.q_dim()});
    h = h + at::matmul(o, to_d(L.wo).t());
    x = rms(h, L.mlp_norm);
    at::Tensor g = at::matmul(x, to_d(L.w_gate).t());
    h = h + at::matmul(g * at::sigmoid(g) * at::matmul(x, to_d(L.w_up).t()), to_d(L.w_down).t());
  }
  return at::matmul(rms(h, w.final_norm), to_d(w.lm_head).t());
}

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

at::Tensor random_tokens(int64_t B, int64_t T, int64_t vocab, uint64_t seed) {
  at::manual_seed(seed);
  return at::randint(3, vocab, {B, T}, at::kLong);
}

// --- a safetensors directory written from LlamaWeights (HF names), for the loader and CLI ----

void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  std::string data;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.to(at::kBFloat16).contiguous();  // stored bf16, as HF checkpoints often are
    const size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(c.data_ptr()), c.numel() * 2);
    header[name] = {{"dtype", "BF16"}, {"shape", c.sizes().vec()}, {"data_offsets", {begin, data.size()}}};
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h += ' ';
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = h.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(h.data(), h.size());
  f.write(data.data(), data.size());
  REQUIRE(f.good());
}

std::string write_checkpoint(const LlamaConfig& c, const LlamaWeights& w, const std::string& tag) {
  char tmpl[] = "/tmp/kvsvd-model-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = std::string(tmpl) + "/" + tag;
  REQUIRE(mkdir(dir.c_str(), 0755) == 0);
  std::map<std::string, at::Tensor> t;
  t["model.embed_tokens.weight"] = w.embed;
  t["model.norm.weight"] = w.final_norm;
  if (!c.tie_word_embeddings) t["lm_head.weight"] = w.lm_head;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = w.layers[l];
    auto n = [&](const char* s) { return layer_tensor_name(l, s); };
    t[n("input_layernorm.weight")] = L.attn_norm;
    t[n("self_attn.q_proj.weight")] = L.wq;
    t[n("self_attn.k_proj.weight")] = L.wk;
    t[n("self_attn.v_proj.weight")] = L.wv;
    t[n("self_attn.o_proj.weight")] = L.wo;
    if (c.qkv_bias) {
      t[n("self_attn.q_proj.bias")] = L.bq;
      t[n("self_attn.k_proj.bias")] = L.bk;
      t[n("self_attn.v_proj.bias")] = L.bv;
    }
    t[n("post_attention_layernorm.weight")] = L.mlp_norm;
    t[n("mlp.gate_proj.weight")] = L.w_gate;
    t[n("mlp.up_proj.weight")] = L.w_up;
    t[n("mlp.down_proj.weight")] = L.w_down;
  }
  write_safetensors(dir + "/model.safetensors", t);
  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}},
                        {"model_type", "llama"},
                        {"vocab_size", c.vocab_size},
                        {"hidden_size", c.hidden_size},
                        {"intermediate_size", c.intermediate_size},
                        {"num_hidden_layers", c.num_layers},
                        {"num_attention_heads", c.num_heads},
                        {"num_key_value_heads", c.num_kv_heads},
                        {"head_dim", c.head_dim},
                        {"max_position_embeddings", c.max_position_embeddings},
                        {"rms_norm_eps", c.rms_norm_eps},
                        {"rope_theta", c.rope.theta},
                        {"attention_bias", c.qkv_bias},
                        {"tie_word_embeddings", c.tie_word_embeddings},
                        {"hidden_act", "silu"},
                        {"bos_token_id", c.bos_token_id},
                        {"eos_token_id", c.eos_token_ids[0]},
                        {"torch_dtype", "bfloat16"}};
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  return dir;
}

// The weights exactly as the checkpoint holds them (bf16-rounded), back in float32.
LlamaWeights bf16_rounded(const LlamaWeights& w) {
  auto r = [](const at::Tensor& t) { return t.defined() ? t.to(at::kBFloat16).to(at::kFloat) : t; };
  LlamaWeights o;
  o.embed = r(w.embed);
  o.final_norm = r(w.final_norm);
  o.lm_head = w.lm_head.is_same(w.embed) ? o.embed : r(w.lm_head);
  for (const auto& L : w.layers)
    o.layers.push_back({r(L.attn_norm), r(L.wq), r(L.wk), r(L.wv), r(L.wo), r(L.bq), r(L.bk),
                        r(L.bv), r(L.mlp_norm), r(L.w_gate), r(L.w_up), r(L.w_down)});
  return o;
}

std::string run_cli(const std::string& args, int* status) {
  const std::string cmd = std::string(KVSVD_BINARY) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = pclose(p);
  return out;
}

}  // namespace

TEST_CASE("llama: forward equals an independent float64 forward", "[llama]") {
  set_attention_kernel(AttentionKernel::Manual);
  for (bool bias : {false, true}) {
    for (bool tied : {false, true}) {
      const LlamaConfig c = tiny_config(bias, tied);
      LlamaModel model(c, random_weights(c, 11), at::Device(at::kCPU), at::kFloat);
      at::Tensor tokens = random_tokens(2, 13, c.vocab_size, 5);
      FullCache cache(c, 2, 13, at::kFloat, at::Device(at::kCPU));
      at::Tensor got = model.forward(tokens, cache);
      REQUIRE(got.sizes() == at::IntArrayRef({2, 13, c.vocab_size}));
      REQUIRE(got.scalar_type() == at::kFloat);
      CHECK(cache.length() == 13);
      at::Tensor want = reference_logits(c, model.weights(), tokens);
      const double err = max_abs(got, want);
      const double scale = want.abs().max().item<double>();
      INFO("bias " << bias << " tied " << tied << " max err " << err << " max |logit| " << scale);
      CHECK(err < 1e-4 * std::max(1.0, scale));
      CHECK(scale > 1.0);  // the comparison is not between two near-zero tensors
    }
  }
}

TEST_CASE("llama: prefill of T tokens equals T single-token decode steps", "[llama]") {
  for (AttentionKernel kernel : {AttentionKernel::Manual, AttentionKernel::Auto}) {
    set_attention_kernel(kernel);
    const LlamaConfig c = tiny_config(true, false);
    LlamaModel model(c, random_weights(c, 21), at::Device(at::kCPU), at::kFloat);
    const int64_t T = 17;
    at::Tensor tokens = random_tokens(1, T, c.vocab_size, 6);
    FullCache full(c, 1, T, at::kFloat, at::Device(at::kCPU));
    at::Tensor prefill = model.forward(tokens, full);  // [1, T, V]

    FullCache stepwise(c, 1, 1, at::kFloat, at::Device(at::kCPU));  // grows 1, 2, 4, 8, 16, 32
    double err = 0;
    for (int64_t t = 0; t < T; ++t) {
      at::Tensor l = model.forward(tokens.narrow(1, t, 1), stepwise, /*last_only=*/true);
      REQUIRE(l.sizes() == at::IntArrayRef({1, 1, c.vocab_size}));
      err = std::max(err, max_abs(l[0][0], prefill[0][t]));
    }
    CHECK(stepwise.length() == T);
    INFO("kernel " << int(kernel) << " decode vs prefill max err " << err);
    CHECK(err < 1e-5);

    // prefill in two blocks (queries over a cached prefix) gives the same last logits
    FullCache blocks(c, 1, 4, at::kFloat, at::Device(at::kCPU));
    model.forward(tokens.narrow(1, 0, 7), blocks);
    at::Tensor rest = model.forward(tokens.narrow(1, 7, T - 7), blocks);
    CHECK(max_abs(rest, prefill.narrow(1, 7, T - 7)) < 1e-5);
  }
  set_attention_kernel(AttentionKernel::Manual);
}

TEST_CASE("llama: a batch gives each sequence's own logits; observer sees pre-RoPE k, v", "[llama]") {
  const LlamaConfig c = tiny_config(false, true);
  LlamaModel model(c, random_weights(c, 31), at::Device(at::kCPU), at::kFloat);
  at::Tensor tokens = random_tokens(3, 9, c.vocab_size, 7);
  std::vector<int64_t> seen;
  model.set_observer([&](int64_t layer, const at::Tensor& k, const at::Tensor& v) {
    CHECK(k.sizes() == at::IntArrayRef({3, c.num_kv_heads, 9, c.head_dim}));
    CHECK(v.sizes() == k.sizes());
    seen.push_back(layer);
  });
  FullCache batch(c, 3, 9, at::kFloat, at::Device(at::kCPU));
  at::Tensor all = model.forward(tokens, batch);
  CHECK(seen == std::vector<int64_t>{0, 1});
  model.set_observer(nullptr);
  for (int64_t b = 0; b < 3; ++b) {
    FullCache one(c, 1, 9, at::kFloat, at::Device(at::kCPU));
    CHECK(max_abs(model.forward(tokens.narrow(0, b, 1), one)[0], all[b]) < 1e-5);
  }
  FullCache bad(c, 1, 4, at::kFloat, at::Device(at::kCPU));
  REQUIRE_THROWS_AS(model.forward(at::full({1, 2}, c.vocab_size, at::kLong), bad), Error);
}

TEST_CASE("llama: bf16 compute stays close to fp32", "[llama]") {
  const LlamaConfig c = tiny_config(true, false);
  const LlamaWeights w = random_weights(c, 41);
  LlamaModel f32(c, w, at::Device(at::kCPU), at::kFloat);
  LlamaWeights wb = w;
  auto cast = [](at::Tensor& t) { if (t.defined()) t = t.to(at::kBFloat16); };
  cast(wb.embed), cast(wb.final_norm), cast(wb.lm_head);
  for (auto& L : wb.layers)
    for (at::Tensor* t : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.bq, &L.bk, &L.bv,
                          &L.mlp_norm, &L.w_gate, &L.w_up, &L.w_down})
      cast(*t);
  LlamaModel b16(c, wb, at::Device(at::kCPU), at::kBFloat16);
  at::Tensor tokens = random_tokens(1, 11, c.vocab_size, 8);
  FullCache c1(c, 1, 11, at::kFloat, at::Device(at::kCPU));
  FullCache c2(c, 1, 11, at::kBFloat16, at::Device(at::kCPU));
  at::Tensor a = f32.forward(tokens, c1), b = b16.forward(tokens, c2);
  REQUIRE(b.scalar_type() == at::kFloat);
  const double scale = a.abs().max().item<double>();
  CHECK(max_abs(a, b) < 0.1 * scale);
  CHECK(c2.bytes() * 2 == c1.bytes());
}

TEST_CASE("llama: loads a safetensors checkpoint; scoring and generate agree with the model", "[llama][load]") {
  set_attention_kernel(AttentionKernel::Manual);
  for (bool tied : {false, true}) {
    const LlamaConfig c = tiny_config(!tied, tied);
    const LlamaWeights w = random_weights(c, 51);
    const std::string dir = write_checkpoint(c, w, "tiny");
    LlamaModel loaded = LlamaModel::load(dir, at::Device(at::kCPU), at::kFloat);
    LlamaModel direct(c, bf16_rounded(w), at::Device(at::kCPU), at::kFloat);
    CHECK(loaded.config().head_dim == c.head_dim);
    CHECK(loaded.config().qkv_bias == c.qkv_bias);
    if (tied) CHECK(loaded.weights().lm_head.data_ptr() == loaded.weights().embed.data_ptr());

    at::Tensor tokens = random_tokens(1, 12, c.vocab_size, 9);
    FullCache c1(c, 1, 12, at::kFloat, at::Device(at::kCPU));
    FullCache c2(c, 1, 12, at::kFloat, at::Device(at::kCPU));
    at::Tensor a = loaded.forward(tokens, c1);
    CHECK(at::equal(a, direct.forward(tokens, c2)));

    // score_window: the NLL of tokens 1.. under the logits of positions 0..
    std::vector<int32_t> ids;
    for (int64_t t = 0; t < 12; ++t) ids.push_back(static_cast<int32_t>(tokens[0][t].item<int64_t>()));
    FullCache c3(c, 1, 12, at::kFloat, at::Device(at::kCPU));
    at::Tensor logits;
    WindowScore s = score_window(loaded, c3, ids, &logits);
    CHECK(s.tokens == 11);
    double want = 0;
    at::Tensor lp = at::log_softmax(a[0].to(at::kDouble), -1);
    for (int64_t t = 0; t + 1 < 12; ++t) want -= lp[t][ids[t + 1]].item<double>();
    CHECK(s.nll_sum == Approx(want).epsilon(1e-6));
    CHECK(at::equal(logits, a));
    FullCache used(c, 1, 12, at::kFloat, at::Device(at::kCPU));
    loaded.forward(tokens, used);
    REQUIRE_THROWS_AS(score_window(loaded, used, ids), Error);  // cache not empty

    // batched scoring equals one window at a time
    std::vector<int32_t> ids2(ids.rbegin(), ids.rend());
    FullCache cb(c, 2, 12, at::kFloat, at::Device(at::kCPU)), c4(c, 1, 12, at::kFloat, at::Device(at::kCPU));
    auto both = score_windows(loaded, cb, {ids, ids2});
    REQUIRE(both.size() == 2);
    CHECK(both[0].nll_sum == Approx(s.nll_sum).epsilon(1e-9));
    CHECK(both[1].nll_sum == Approx(score_window(loaded, c4, ids2).nll_sum).epsilon(1e-9));

    // greedy generate equals argmax of a full forward over prompt + generated so far
    std::vector<int64_t> prompt = {5, 9, 14, 3};
    FullCache gc(c, 1, 4, at::kFloat, at::Device(at::kCPU));
    GenerateStats st;
    auto got = generate(loaded, gc, prompt, 8, SamplingConfig{}, {}, &st);
    REQUIRE(got.size() == 8);
    CHECK(st.new_tokens == 8);
    std::vector<int64_t> seq = prompt;
    for (int64_t i = 0; i < 8; ++i) {
      FullCache fc(c, 1, 16, at::kFloat, at::Device(at::kCPU));
      at::Tensor l = loaded.forward(at::tensor(seq, at::kLong).view({1, -1}), fc, true);
      seq.push_back(l.reshape({-1}).argmax().item<int64_t>());
    }
    CHECK(std::vector<int64_t>(seq.begin() + 4, seq.end()) == got);
    // a stop id ends generation after it is emitted
    FullCache sc(c, 1, 4, at::kFloat, at::Device(at::kCPU));
    auto stopped = generate(loaded, sc, prompt, 8, SamplingConfig{}, {got[2]});
    const size_t first = std::find(got.begin(), got.end(), got[2]) - got.begin();
    CHECK(stopped == std::vector<int64_t>(got.begin(), got.begin() + first + 1));
    // seeded sampling repeats
    SamplingConfig sc1;
    sc1.greedy = false;
    sc1.temperature = 1.5;
    sc1.top_p = 0.9;
    sc1.seed = 42;
    FullCache s1(c, 1, 4, at::kFloat, at::Device(at::kCPU)), s2(c, 1, 4, at::kFloat, at::Device(at::kCPU));
    CHECK(generate(loaded, s1, prompt, 10, sc1) == generate(loaded, s2, prompt, 10, sc1));

    // the CLI on the same directory prints the same continuation
    if (!tied) {
      std::ofstream(dir + "/prompt.json") << nlohmann::json(prompt).dump();
      int status = -1;
      const std::string out = run_cli("generate --model " + dir + " --prompt-ids " + dir +
                                          "/prompt.json --max-new-tokens 8 --greedy --ignore-eos "
                                          "--device cpu --dtype float32",
                                      &status);
      INFO("cli output: " << out);
      REQUIRE(status == 0);
      CHECK(nlohmann::json::parse(out).get<std::vector<int64_t>>() == got);

      std::ofstream(dir + "/windows.json") << nlohmann::json({ids, ids2}).dump();
      const std::string ev = run_cli("evaluate --model " + dir + " --method full --dataset " + dir +
                                         "/windows.json --device cpu",
                                     &status);
      INFO("evaluate output: " << ev);
      REQUIRE(status == 0);
      auto j = nlohmann::json::parse(ev);
      CHECK(j["tokens"].get<int64_t>() == 22);
      CHECK(j["windows"].get<int64_t>() == 2);
      const double mean = (both[0].nll_sum + both[1].nll_sum) / 22.0;
      // The CLI scores through the evaluate stage (other batching and attention kernel than the
      // library call above), so agreement is to float32 accumulation, not bitwise.
      CHECK(j["nll_mean"].get<double>() == Approx(mean).epsilon(1e-6));
      CHECK(j["perplexity"].get<double>() == Approx(std::exp(mean)).epsilon(1e-6));

      run_cli("evaluate --model " + dir + " --method nonsense --dataset " + dir + "/windows.json",
              &status);
      CHECK(status != 0);
    }
  }
}
