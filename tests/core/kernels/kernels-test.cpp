// core/kernels: the ATen references against naive double-precision maths (CPU, always run), and
// each CUDA kernel against its ATen reference on odd sizes (GPU cases run where CUDA is present
// and say so where it is not). Fresh random inputs per case; outputs and unread cache rows are
// poisoned with NaN so that an unwritten element or a read past the filled length shows.
#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/kernels/decode-attention.h"
#include "core/kernels/residual-rms-norm.h"
#include "core/kernels/rope-append.h"
#include "core/kernels/rope-table.h"
#include "core/kernels/skinny-gemm.h"
#include "core/kv/rope.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

LlamaConfig rope_config(int64_t head_dim) {
  LlamaConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 16;
  c.hidden_size = 12;
  c.intermediate_size = 8;
  c.num_layers = 1;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = head_dim;
  c.rope.theta = 500000.0;
  return c;
}

at::Tensor lengths_tensor(const std::vector<int32_t>& l, at::Device dev) {
  return at::tensor(at::ArrayRef<int32_t>(l), at::kInt).to(dev);
}

// Naive attention of one query per (b, h) over rows 0 .. len_b-1, in double: [B, Hq, d].
at::Tensor naive_decode_attention(const at::Tensor& q, const at::Tensor& kc, const at::Tensor& vc,
                                  const std::vector<int32_t>& lengths, double scale) {
  const int64_t B = q.size(0), Hq = q.size(1), d = q.size(2), G = Hq / kc.size(1);
  auto qa = q.to(at::kDouble).contiguous(), ka = kc.to(at::kDouble).contiguous(),
       va = vc.to(at::kDouble).contiguous();
  auto Q = qa.accessor<double, 3>();
  auto K = ka.accessor<double, 4>(), V = va.accessor<double, 4>();
  at::Tensor out = at::zeros({B, Hq, d}, at::kDouble);
  auto O = out.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kv = h / G, n = lengths[b];
      std::vector<double> s(n);
      double mx = -INFINITY, total = 0;
      for (int64_t t = 0; t < n; ++t) {
        double dot = 0;
        for (int64_t e = 0; e < d; ++e) dot += Q[b][h][e] * K[b][kv][t][e];
        s[t] = dot * scale;
        mx = std::max(mx, s[t]);
      }
      for (int64_t t = 0; t < n; ++t) total += (s[t] = std::exp(s[t] - mx));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t e = 0; e < d; ++e) O[b][h][e] += s[t] / total * V[b][kv][t][e];
    }
  return out;
}

double rel_err(const at::Tensor& out, const at::Tensor& ref) {
  const at::Tensor o = out.to(at::kCPU, at::kDouble), r = ref.to(at::kCPU, at::kDouble);
  return (o - r).norm().item<double>() / std::max(r.norm().item<double>(), 1e-30);
}

bool all_finite(const at::Tensor& t) { return at::isfinite(t.to(at::kFloat)).all().item<bool>(); }

struct AttnCase {
  int64_t B, Hkv, G, d, cap;
  std::vector<int32_t> lengths;
};

// Random q and caches whose rows at or past each sequence's length hold NaN.
void make_attention_inputs(const AttnCase& c, at::ScalarType dt, at::Device dev, at::Tensor* q,
                           at::Tensor* kc, at::Tensor* vc) {
  auto o = at::TensorOptions().dtype(at::kFloat).device(dev);
  *q = at::randn({c.B, c.Hkv * c.G, c.d}, o).to(dt);
  *kc = at::randn({c.B, c.Hkv, c.cap, c.d}, o).to(dt);
  *vc = at::randn({c.B, c.Hkv, c.cap, c.d}, o).to(dt);
  for (int64_t b = 0; b < c.B; ++b) {
    const int64_t n = c.lengths[b];
    kc->select(0, b).narrow(1, n, c.cap - n).fill_(kNaN);
    vc->select(0, b).narrow(1, n, c.cap - n).fill_(kNaN);
  }
}

std::vector<AttnCase> attention_cases(bool long_lengths) {
  std::vector<AttnCase> cases;
  const std::vector<int32_t> lens = long_lengths ? std::vector<int32_t>{1, 2, 1023, 16385}
                                                 : std::vector<int32_t>{1, 2, 1023};
  for (int64_t d : {64, 80, 128})
    for (int64_t G : {1, 3, 4, 8})
      for (int32_t L : lens) {
        // Two sequences of different lengths, an odd capacity past the longer one.
        const int32_t other = L > 1 ? L - 1 : 1;
        cases.push_back({2, 2, G, d, L + 5, {L, other}});
      }
  return cases;
}

}  // namespace

TEST_CASE("residual_rms_norm_reference equals naive RMSNorm of h + delta", "[kernels]") {
  at::manual_seed(11);
  const int64_t rows = 3, hidden = 4099;
  at::Tensor h = at::randn({rows, hidden}, at::kFloat), delta = at::randn({rows, hidden}),
             w = at::randn({hidden});
  const at::Tensor h0 = h.clone();
  at::Tensor out = residual_rms_norm_reference(h, delta, w, 1e-5);
  auto H0 = h0.to(at::kDouble), D = delta.to(at::kDouble), W = w.to(at::kDouble);
  at::Tensor sum = H0 + D;
  at::Tensor expect = sum * (sum.pow(2).mean(-1, true) + 1e-5).rsqrt() * W;
  CHECK(rel_err(h, sum) < 1e-7);
  CHECK(rel_err(out, expect) < 1e-6);
  at::Tensor h2 = h0.clone();
  CHECK(rel_err(residual_rms_norm_reference(h2, at::Tensor(), w, 1e-5),
                H0 * (H0.pow(2).mean(-1, true) + 1e-5).rsqrt() * W) < 1e-6);
  CHECK(at::equal(h2, h0));  // no delta: h untouched
}

TEST_CASE("rope_append_reference equals Rope::apply_at and writes only row positions[b]",
          "[kernels]") {
  at::manual_seed(12);
  for (int64_t d : {64, 80, 128}) {
    const LlamaConfig cfg = rope_config(d);
    const Rope rope(cfg, at::kCPU);
    const int64_t B = 3, Hq = 6, Hkv = 2, cap = 37;
    const RopeTable table(rope.inv_freq(), cap, at::kFloat);
    // q, k, v as views of one fused row [B, (Hq + 2 Hkv) d], as the engine passes them.
    at::Tensor qkv = at::randn({B, (Hq + 2 * Hkv) * d});
    at::Tensor q = qkv.narrow(1, 0, Hq * d).view({B, Hq, d});
    at::Tensor k = qkv.narrow(1, Hq * d, Hkv * d).view({B, Hkv, d});
    at::Tensor v = qkv.narrow(1, (Hq + Hkv) * d, Hkv * d).view({B, Hkv, d});
    const std::vector<int32_t> pos{0, 36, 17};
    at::Tensor kc = at::full({B, Hkv, cap, d}, kNaN), vc = at::full({B, Hkv, cap, d}, kNaN);
    at::Tensor qr = rope_append_reference(q, k, v, table, lengths_tensor(pos, at::kCPU), kc, vc);
    for (int64_t b = 0; b < B; ++b) {
      const at::Tensor p = at::full({1}, pos[b], at::kLong);
      // Rope::apply_at is the eager path's RoPE (checked against transformers by the parity test).
      CHECK(rel_err(qr[b], rope.apply_at(q[b].reshape({1, Hq, 1, d}), p).reshape({Hq, d})) < 1e-6);
      CHECK(rel_err(kc[b].select(1, pos[b]), rope.apply_at(k[b].reshape({1, Hkv, 1, d}), p).reshape({Hkv, d})) < 1e-6);
      CHECK(at::equal(vc[b].select(1, pos[b]), v[b]));
      // every other row still holds the poison
      const int64_t written = at::isfinite(kc[b]).all(-1).sum().item<int64_t>();
      CHECK(written == Hkv);
      CHECK(at::isfinite(vc[b]).all(-1).sum().item<int64_t>() == Hkv);
    }
  }
}

TEST_CASE("decode_attention_reference equals naive softmax attention (GQA, poisoned tails)",
          "[kernels]") {
  at::manual_seed(13);
  for (const AttnCase& c : attention_cases(/*long_lengths=*/true)) {
    if (c.lengths[0] > 2000 && (c.d != 128 || c.G != 4)) continue;  // one long case on the CPU
    at::Tensor q, kc, vc;
    make_attention_inputs(c, at::kFloat, at::kCPU, &q, &kc, &vc);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
    const at::Tensor out =
        decode_attention_reference(q, kc, vc, lengths_tensor(c.lengths, at::kCPU), scale);
    INFO("d " << c.d << " G " << c.G << " len " << c.lengths[0]);
    CHECK(all_finite(out));
    CHECK(rel_err(out, naive_decode_attention(q, kc, vc, c.lengths, scale)) < 1e-5);
  }
}

TEST_CASE("decode_linear_reference equals a naive double-precision product", "[kernels]") {
  at::manual_seed(14);
  const at::Tensor x = at::randn({3, 136}), w = at::randn({37, 136});
  CHECK(rel_err(decode_linear_reference(x, w), at::matmul(x.to(at::kDouble), w.to(at::kDouble).t())) < 1e-6);
  CHECK(rel_err(decode_linear(x, w), decode_linear_reference(x, w)) == 0);  // CPU: the reference
}

TEST_CASE("decode_attention_splits fills the device and bounds the split count", "[kernels]") {
  CHECK(decode_attention_splits(1, 8, 4, 128, 1, at::kFloat, at::kCPU) == 1);
  // One "multiprocessor" on the CPU: 8 heads already fill it.
  CHECK(decode_attention_splits(1, 8, 4, 128, 100000, at::kFloat, at::kCPU) == 1);
  const auto ws = make_decode_attention_workspace(2, 6, 80, 5, at::kCPU);
  CHECK(ws.part_acc.sizes() == at::IntArrayRef({2, 6, 5, 80}));
  CHECK(ws.part_ml.sizes() == at::IntArrayRef({2, 6, 5, 2}));
}

// ---- GPU: every kernel against its ATen reference ------------------------------------------

namespace {

bool have_cuda() {
  if (at::hasCUDA()) return true;
  WARN("no CUDA device: the kernel-vs-reference cases are not run on this machine");
  return false;
}

double tolerance(at::ScalarType dt) { return dt == at::kFloat ? 1e-5 : 8e-3; }

}  // namespace

TEST_CASE("CUDA residual_rms_norm equals its ATen reference", "[kernels][cuda]") {
  if (!have_cuda()) return;
  at::manual_seed(21);
  const at::Device dev(at::kCUDA);
  for (at::ScalarType dt : {at::kFloat, at::kHalf, at::kBFloat16})
    for (int64_t hidden : {64, 4099, 4096})
      for (int64_t rows : {1, 3, 16}) {
        auto o = at::TensorOptions().dtype(dt).device(dev);
        at::Tensor h = at::randn({rows, hidden}, o), delta = at::randn({rows, hidden}, o),
                   w = at::randn({hidden}, o);
        at::Tensor h_ref = h.clone(), h_ker = h.clone();
        const at::Tensor ref = residual_rms_norm_reference(h_ref, delta, w, 1e-5);
        const at::Tensor out = residual_rms_norm(h_ker, delta, w, 1e-5);
        INFO("dtype " << dt << " hidden " << hidden << " rows " << rows);
        CHECK(all_finite(out));
        CHECK(rel_err(h_ker, h_ref) <= tolerance(dt));
        const double e = rel_err(out, ref);
        CHECK(e <= tolerance(dt));
        std::printf("residual_rms_norm %s hidden %lld rows %lld: rel err %.3g\n",
                    c10::toString(dt), (long long)hidden, (long long)rows, e);
      }
}

TEST_CASE("CUDA skinny GEMM (decode_linear) equals at::linear", "[kernels][cuda]") {
  if (!have_cuda()) return;
  at::manual_seed(24);
  const at::Device dev(at::kCUDA);
  double worst = 0;
  for (at::ScalarType dt : {at::kFloat, at::kHalf, at::kBFloat16})
    for (int64_t M : {1, 2, 3, 4})
      for (auto nk : std::vector<std::pair<int64_t, int64_t>>{{4099, 4096}, {37, 14336}, {4096, 136}, {1, 8}}) {
        auto o = at::TensorOptions().dtype(dt).device(dev);
        const at::Tensor x = at::randn({M, nk.second}, o), w = at::randn({nk.first, nk.second}, o);
        const at::Tensor out = decode_linear(x, w), ref = decode_linear_reference(x, w);
        INFO("dtype " << dt << " M " << M << " N " << nk.first << " K " << nk.second);
        CHECK(all_finite(out));
        const double e = rel_err(out, ref);
        CHECK(e <= tolerance(dt));
        if (dt != at::kFloat) worst = std::max(worst, e);
      }
  std::printf("skinny GEMM max rel err vs at::linear (16-bit types): %.3g\n", worst);
}

TEST_CASE("CUDA rope_append equals its ATen reference", "[kernels][cuda]") {
  if (!have_cuda()) return;
  at::manual_seed(22);
  const at::Device dev(at::kCUDA);
  for (at::ScalarType dt : {at::kFloat, at::kHalf, at::kBFloat16})
    for (int64_t d : {64, 80, 128})
      for (int64_t G : {1, 3, 4, 8}) {
        const Rope rope(rope_config(d), dev);
        const int64_t B = 3, Hkv = 2, Hq = G * Hkv, cap = 16391;
        const RopeTable table(rope.inv_freq(), cap, dt);
        auto o = at::TensorOptions().dtype(dt).device(dev);
        at::Tensor qkv = at::randn({B, (Hq + 2 * Hkv) * d}, o);
        at::Tensor q = qkv.narrow(1, 0, Hq * d).view({B, Hq, d});
        at::Tensor k = qkv.narrow(1, Hq * d, Hkv * d).view({B, Hkv, d});
        at::Tensor v = qkv.narrow(1, (Hq + Hkv) * d, Hkv * d).view({B, Hkv, d});
        const at::Tensor pos = lengths_tensor({0, 16385, 1022}, dev);
        at::Tensor kr = at::full({B, Hkv, cap, d}, kNaN, o), vr = kr.clone();
        at::Tensor kk = kr.clone(), vk = kr.clone();
        const at::Tensor qref = rope_append_reference(q, k, v, table, pos, kr, vr);
        const at::Tensor qout = rope_append(q, k, v, table, pos, kk, vk);
        INFO("dtype " << dt << " d " << d << " G " << G);
        CHECK(rel_err(qout, qref) <= tolerance(dt));
        // Same rows written (NaN elsewhere), same values there.
        CHECK(at::equal(at::isfinite(kk), at::isfinite(kr)));
        CHECK(at::equal(at::isfinite(vk), at::isfinite(vr)));
        CHECK(rel_err(at::nan_to_num(kk, 0), at::nan_to_num(kr, 0)) <= tolerance(dt));
        CHECK(at::equal(at::nan_to_num(vk, 0), at::nan_to_num(vr, 0)));
      }
}

TEST_CASE("CUDA split-K decode_attention equals its ATen reference", "[kernels][cuda]") {
  if (!have_cuda()) return;
  at::manual_seed(23);
  const at::Device dev(at::kCUDA);
  double worst[3] = {0, 0, 0};
  for (at::ScalarType dt : {at::kFloat, at::kHalf, at::kBFloat16})
    for (const AttnCase& c : attention_cases(/*long_lengths=*/true)) {
      at::Tensor q, kc, vc;
      make_attention_inputs(c, dt, dev, &q, &kc, &vc);
      const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
      const at::Tensor lens = lengths_tensor(c.lengths, dev);
      const int64_t Hq = c.Hkv * c.G;
      // Several split counts, the device's own choice among them; poisoned partials.
      for (int64_t splits : {int64_t(1), int64_t(7), decode_attention_splits(c.B, c.Hkv, c.G, c.d, c.cap, dt, dev)}) {
        DecodeAttentionWorkspace ws = make_decode_attention_workspace(c.B, Hq, c.d, splits, dev);
        ws.part_acc.fill_(kNaN);
        ws.part_ml.fill_(kNaN);
        const at::Tensor out = decode_attention(q, kc, vc, lens, scale, ws);
        const at::Tensor ref = decode_attention_reference(q, kc, vc, lens, scale);
        INFO("dtype " << dt << " d " << c.d << " G " << c.G << " len " << c.lengths[0]
                      << " splits " << splits);
        CHECK(all_finite(out));
        const double e = rel_err(out, ref);
        CHECK(e <= tolerance(dt));
        const int i = dt == at::kFloat ? 0 : dt == at::kHalf ? 1 : 2;
        worst[i] = std::max(worst[i], e);
      }
    }
  std::printf("decode_attention max rel err vs reference: float32 %.3g, float16 %.3g, "
              "bfloat16 %.3g\n", worst[0], worst[1], worst[2]);
}
