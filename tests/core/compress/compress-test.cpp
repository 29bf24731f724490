// core/compress: bases, spectra (vs Eigen), rank plans, energy selection, fused output, errors.
#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/compress/eigen-check.h"
#include "core/compress/fused-output.h"
#include "core/compress/head-basis.h"
#include "core/compress/layer-decompose.h"
#include "core/compress/profile-method.h"
#include "core/compress/rank-plan.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

AttentionShape small_shape() {
  AttentionShape s;
  s.num_heads = 4;
  s.num_kv_heads = 2;
  s.head_dim = 16;
  s.hidden = 40;
  return s;
}

std::vector<double> to_doubles(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Random weights with a decaying spectrum, so energy thresholds pick different ranks.
at::Tensor random_weight(int64_t rows, int64_t cols, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor w = at::randn({rows, cols}, gen, at::kFloat);
  const at::Tensor scale = at::exp(-0.15 * at::arange(cols, at::kFloat));
  return w * scale;
}

// Σ x xᵀ per head for random activations x: [Hkv, N, d] (float32 rounded, as the model gives).
at::Tensor random_moment(int64_t n_kv, int64_t tokens, int64_t d, uint64_t seed,
                         at::Tensor* acts = nullptr) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor mix = at::randn({n_kv, d, d}, gen, at::kFloat) *
                   at::exp(-0.3 * at::arange(d, at::kFloat)).view({1, 1, d});
  at::Tensor x = at::matmul(at::randn({n_kv, tokens, d}, gen, at::kFloat), mix);
  if (acts) *acts = x;
  const at::Tensor xd = x.to(at::kDouble);
  return at::matmul(xd.transpose(1, 2), xd);
}

double max_abs_orthonormality_error(const at::Tensor& basis) {  // [d, r]
  const at::Tensor b = basis.to(at::kDouble);
  const at::Tensor g = at::matmul(b.t(), b) - at::eye(b.size(1), at::kDouble);
  return g.abs().max().item<double>();
}

CompressSpec fixed_spec(ProfileMethod m, int64_t key_rank, const std::string& values) {
  CompressSpec spec;
  spec.method = m;
  spec.ranks.key_rank = key_rank;
  spec.ranks.value_ranks = parse_named_ranks(values, "--value-ranks");
  return spec;
}

}  // namespace

TEST_CASE("method and key-space tables drive parsing and help", "[compress]") {
  CHECK(parse_profile_method("weight_svd") == ProfileMethod::WeightSvd);
  CHECK(parse_profile_method("activation_pca") == ProfileMethod::ActivationPca);
  CHECK(std::string(profile_method_name(ProfileMethod::ActivationPca)) == "activation_pca");
  CHECK(parse_key_space("post_rope") == KeySpace::PostRope);
  CHECK(profile_method_choices() == "weight_svd|activation_pca|output_aware");
  CHECK(key_space_help().find("pre_rope") != std::string::npos);
  REQUIRE_THROWS_WITH(parse_profile_method("svd_magic"),
                      "--method 'svd_magic': unknown method (expected weight_svd|activation_pca|output_aware)");
  REQUIRE_THROWS_AS(parse_key_space("rope"), Error);
}

TEST_CASE("named value ranks parse and validate", "[compress]") {
  const auto r = parse_named_ranks("low=16, med=32,high=64", "--value-ranks");
  REQUIRE(r.size() == 3);
  CHECK(r[1].name == "med");
  CHECK(r[1].rank == 32);
  CHECK(named_ranks_to_string(r) == "low=16,med=32,high=64");
  REQUIRE_THROWS_AS(parse_named_ranks("low=0", "--value-ranks"), Error);
  REQUIRE_THROWS_AS(parse_named_ranks("low=x", "--value-ranks"), Error);
  REQUIRE_THROWS_AS(parse_named_ranks("low=4,low=8", "--value-ranks"), Error);
  REQUIRE_THROWS_AS(parse_named_ranks("16", "--value-ranks"), Error);

  RankSpec defaults;
  const RankSpec d64 = resolve_rank_spec(defaults, 64);
  CHECK(d64.key_rank == 16);
  CHECK(named_ranks_to_string(d64.value_ranks) == "low=16,med=32,high=64");
}

TEST_CASE("ranks above head_dim and bad thresholds are errors naming the flag", "[compress]") {
  RankSpec s;
  s.key_rank = 17;
  REQUIRE_THROWS_WITH(resolve_rank_spec(s, 16), "--key-rank 17: must lie in 1..head_dim (head_dim = 16)");
  s.key_rank = 4;
  s.value_ranks = parse_named_ranks("low=4,high=32", "--value-ranks");
  REQUIRE_THROWS_WITH(resolve_rank_spec(s, 16),
                      "--value-ranks high=32: rank above head_dim (head_dim = 16)");
  RankSpec e;
  e.energy_threshold = 1.5;
  REQUIRE_THROWS_AS(resolve_rank_spec(e, 16), Error);
  e.energy_threshold = 0.9;
  e.min_rank_ratio = -0.1;
  REQUIRE_THROWS_AS(resolve_rank_spec(e, 16), Error);
  e.min_rank_ratio = 0.1;
  e.key_rank = 4;  // fixed and adaptive at once
  REQUIRE_THROWS_AS(resolve_rank_spec(e, 16), Error);

  CompressSpec post;
  post.key_space = KeySpace::PostRope;  // weight_svd + post_rope
  REQUIRE_THROWS_AS(resolve_compress_spec(post, small_shape()), Error);
}

TEST_CASE("energy curve, threshold selection with floor, tail error", "[compress]") {
  const std::vector<double> e = {8, 4, 2, 1, 1};  // total 16
  const auto c = energy_curve(e);
  REQUIRE(c.size() == 5);
  CHECK(c[0] == Approx(0.5));
  CHECK(c[1] == Approx(0.75));
  CHECK(c[2] == Approx(0.875));
  CHECK(c[4] == 1.0);
  CHECK(rank_for_energy(c, 0.5, 0) == 1);
  CHECK(rank_for_energy(c, 0.7, 0) == 2);
  CHECK(rank_for_energy(c, 0.9, 0) == 4);
  CHECK(rank_for_energy(c, 1.0, 0) == 5);
  CHECK(rank_for_energy(c, 0.5, 0.6) == 3);  // floor ceil(0.6*5) = 3 beats the threshold's 1
  CHECK(rank_for_energy(c, 0.9, 0.2) == 4);  // threshold beats the floor
  CHECK(rank_for_energy(c, 0.5, 0.25 * 4 / 5.0) == 1);
  CHECK(tail_error(e, 2) == Approx(std::sqrt(4.0 / 16.0)));
  CHECK(tail_error(e, 5) == 0.0);
  CHECK(tail_error(e, 0) == Approx(1.0));
  const auto zero = energy_curve({0, 0, 0});
  CHECK(zero[0] == 1.0);
}

TEST_CASE("weight_svd bases are orthonormal, reproduce W at rank d, match Eigen", "[compress]") {
  const AttentionShape s = small_shape();
  const int64_t d = s.head_dim;
  LayerInputs in;
  in.wk = random_weight(s.num_kv_heads * d, s.hidden, 1);
  in.wv = random_weight(s.num_kv_heads * d, s.hidden, 2);
  const CompressSpec spec =
      resolve_compress_spec(fixed_spec(ProfileMethod::WeightSvd, d, "low=4,med=8,high=16"), s);
  const LayerProfile p = decompose_layer(3, s, spec, in);
  CHECK(p.layer == 3);
  REQUIRE(p.key_rank == d);
  REQUIRE(p.value_rank == d);
  CHECK(p.key_error.empty());
  const at::Tensor kb = key_basis_tensor(p), vb = value_basis_tensor(p);
  for (int64_t h = 0; h < s.num_kv_heads; ++h) {
    CAPTURE(h);
    CHECK(max_abs_orthonormality_error(kb[h]) < 1e-5);
    CHECK(max_abs_orthonormality_error(vb[h]) < 1e-5);
    // Rank d: P Pᵀ W = W up to float32 rounding of the stored basis.
    for (int side = 0; side < 2; ++side) {
      const at::Tensor w = (side == 0 ? in.wk : in.wv).narrow(0, h * d, d);
      const at::Tensor b = side == 0 ? kb[h] : vb[h];
      const at::Tensor rec = at::matmul(b, at::matmul(b.t(), w));
      const double err = (rec - w).abs().max().item<double>() / w.abs().max().item<double>();
      CHECK(err < 1e-5);
      // Spectrum vs an independent Jacobi SVD.
      const auto ref = eigen_singular_values(to_doubles(w), d, s.hidden);
      std::vector<double> got((side == 0 ? p.key_spectrum : p.value_spectrum).begin() + h * d,
                              (side == 0 ? p.key_spectrum : p.value_spectrum).begin() + (h + 1) * d);
      INFO("max relative difference " << max_relative_difference(got, ref));
      CHECK(max_relative_difference(got, ref) < 1e-6);
      // Descending, and energy is the normalised cumulative sum of s².
      for (int64_t i = 1; i < d; ++i) CHECK(got[i] <= got[i - 1]);
      double total = 0, first = got[0] * got[0];
      for (double v : got) total += v * v;
      CHECK((side == 0 ? p.key_energy : p.value_energy)[h * d] == Approx(first / total).epsilon(1e-6));
      CHECK((side == 0 ? p.key_energy : p.value_energy)[h * d + d - 1] == 1.0f);
    }
  }
}

TEST_CASE("bases are deterministic and sign-normalised", "[compress]") {
  const AttentionShape s = small_shape();
  LayerInputs in;
  in.wk = random_weight(s.num_kv_heads * s.head_dim, s.hidden, 7);
  in.wv = random_weight(s.num_kv_heads * s.head_dim, s.hidden, 8);
  const CompressSpec spec = resolve_compress_spec(fixed_spec(ProfileMethod::WeightSvd, 8, "a=8"), s);
  const LayerProfile a = decompose_layer(0, s, spec, in);
  // The sign of W does not change its left singular subspace; normalisation must undo the flip.
  LayerInputs neg = in;
  neg.wk = -in.wk;
  const LayerProfile b = decompose_layer(0, s, spec, neg);
  CHECK(a.key_basis == b.key_basis);
  const at::Tensor kb = key_basis_tensor(a);
  for (int64_t h = 0; h < s.num_kv_heads; ++h) {
    for (int64_t c = 0; c < a.key_rank; ++c) {
      const at::Tensor col = kb[h].select(1, c);
      const int64_t i = col.abs().argmax().item<int64_t>();
      CHECK(col[i].item<float>() > 0);
    }
  }
}

TEST_CASE("nested prefix: the rank-r basis is the first r columns of the rank-R basis", "[compress]") {
  const AttentionShape s = small_shape();
  LayerInputs in;
  in.wk = random_weight(s.num_kv_heads * s.head_dim, s.hidden, 3);
  in.wv = random_weight(s.num_kv_heads * s.head_dim, s.hidden, 4);
  const auto small = decompose_layer(
      0, s, resolve_compress_spec(fixed_spec(ProfileMethod::WeightSvd, 4, "low=4,high=6"), s), in);
  const auto big = decompose_layer(
      0, s, resolve_compress_spec(fixed_spec(ProfileMethod::WeightSvd, 12, "low=2,high=16"), s), in);
  REQUIRE(small.value_rank == 6);
  REQUIRE(big.value_rank == 16);
  const at::Tensor sv = value_basis_tensor(small), bv = value_basis_tensor(big);
  CHECK(at::equal(sv, bv.narrow(2, 0, 6)));
  CHECK(at::equal(key_basis_tensor(small), key_basis_tensor(big).narrow(2, 0, 4)));
  CHECK(small.key_head_rank == std::vector<int32_t>{4, 4});
  CHECK(small.value_head_rank == std::vector<int32_t>{6, 6});
}

TEST_CASE("activation_pca: eigenvalues vs Eigen, exact error, rank d reproduces K and V", "[compress]") {
  const AttentionShape s = small_shape();
  const int64_t d = s.head_dim, n_tok = 200;
  at::Tensor kx, vx;
  LayerInputs in;
  in.key_moment = random_moment(s.num_kv_heads, n_tok, d, 11, &kx);
  in.value_moment = random_moment(s.num_kv_heads, n_tok, d, 12, &vx);
  in.tokens = n_tok;
  const CompressSpec full =
      resolve_compress_spec(fixed_spec(ProfileMethod::ActivationPca, d, "high=16"), s);
  const LayerProfile p = decompose_layer(1, s, full, in);
  REQUIRE(p.key_error.size() == 2);
  CHECK(p.key_error[0] < 1e-6);  // rank d keeps everything
  const at::Tensor kb = key_basis_tensor(p), vb = value_basis_tensor(p);
  for (int64_t h = 0; h < s.num_kv_heads; ++h) {
    CAPTURE(h);
    CHECK(max_abs_orthonormality_error(kb[h]) < 1e-5);
    const at::Tensor k = kx[h];  // [N, d]
    const at::Tensor rec = at::matmul(at::matmul(k, kb[h]), kb[h].t());
    CHECK((rec - k).abs().max().item<double>() / k.abs().max().item<double>() < 1e-5);
    const at::Tensor v = vx[h];
    const at::Tensor vrec = at::matmul(at::matmul(v, vb[h]), vb[h].t());
    CHECK((vrec - v).abs().max().item<double>() / v.abs().max().item<double>() < 1e-5);
    const auto ref = eigen_symmetric_eigenvalues(to_doubles(in.key_moment[h] / double(n_tok)), d);
    std::vector<double> got(p.key_spectrum.begin() + h * d, p.key_spectrum.begin() + (h + 1) * d);
    INFO("max relative difference " << max_relative_difference(got, ref));
    CHECK(max_relative_difference(got, ref) < 1e-6);
  }

  // At rank r the stored error equals the measured relative Frobenius error of projecting K.
  const CompressSpec r4 =
      resolve_compress_spec(fixed_spec(ProfileMethod::ActivationPca, 4, "low=2,high=5"), s);
  const LayerProfile q = decompose_layer(1, s, r4, in);
  const at::Tensor kb4 = key_basis_tensor(q), vb4 = value_basis_tensor(q);
  for (int64_t h = 0; h < s.num_kv_heads; ++h) {
    const at::Tensor k = kx[h].to(at::kDouble), b = kb4[h].to(at::kDouble);
    const at::Tensor rec = at::matmul(at::matmul(k, b), b.t());
    const double measured = ((rec - k).norm() / k.norm()).item<double>();
    CHECK(q.key_error[h] == Approx(measured).epsilon(1e-4));
    const at::Tensor v = vx[h].to(at::kDouble), c = vb4[h].to(at::kDouble);
    const double vmeasured =
        ((at::matmul(at::matmul(v, c), c.t()) - v).norm() / v.norm()).item<double>();
    CHECK(q.value_error[h] == Approx(vmeasured).epsilon(1e-4));  // at the max value rank, 5
  }
}

TEST_CASE("energy threshold gives per-head ranks with a floor; bases stored at the max", "[compress]") {
  const AttentionShape s = small_shape();
  const int64_t d = s.head_dim;
  LayerInputs in;
  in.key_moment = random_moment(s.num_kv_heads, 300, d, 21);
  in.value_moment = random_moment(s.num_kv_heads, 300, d, 22);
  // Make head 1's keys nearly rank one, so its rank differs from head 0's.
  at::Tensor u = at::zeros({d}, at::kDouble);
  u[0] = 1;
  in.key_moment[1] = in.key_moment[1] * 1e-6 + 1e3 * at::outer(u, u);
  in.tokens = 300;
  CompressSpec spec;
  spec.method = ProfileMethod::ActivationPca;
  spec.ranks.energy_threshold = 0.9;
  spec.ranks.min_rank_ratio = 0.125;  // floor 2 of 16
  const LayerProfile p = decompose_layer(0, s, resolve_compress_spec(spec, s), in);
  for (int64_t h = 0; h < s.num_kv_heads; ++h) {
    std::vector<double> curve(p.key_energy.begin() + h * d, p.key_energy.begin() + (h + 1) * d);
    int64_t expect = d;
    for (int64_t r = 1; r <= d; ++r) {
      if (curve[r - 1] >= 0.9 - 1e-7) {  // the stored curve is float32
        expect = r;
        break;
      }
    }
    expect = std::max<int64_t>(expect, 2);
    CHECK(p.key_head_rank[h] == expect);
  }
  CHECK(p.key_head_rank[1] == 2);  // energy alone says 1; the floor lifts it to 2
  CHECK(p.key_head_rank[0] > 2);
  CHECK(p.key_rank == std::max(p.key_head_rank[0], p.key_head_rank[1]));
  CHECK(static_cast<int64_t>(p.key_basis.size()) == s.num_kv_heads * d * p.key_rank);
  CHECK(p.value_rank == std::max(p.value_head_rank[0], p.value_head_rank[1]));
  for (int64_t h = 0; h < s.num_kv_heads; ++h) {
    CHECK(p.key_error[h] <= std::sqrt(1 - 0.9) + 1e-6);
  }
}

TEST_CASE("fused output equals explicit W_O · P_V per query head", "[compress]") {
  const AttentionShape s = small_shape();
  const int64_t d = s.head_dim, group = s.num_heads / s.num_kv_heads;
  LayerInputs in;
  in.wk = random_weight(s.num_kv_heads * d, s.hidden, 31);
  in.wv = random_weight(s.num_kv_heads * d, s.hidden, 32);
  in.wo = random_weight(s.hidden, s.num_heads * d, 33);
  CompressSpec spec = fixed_spec(ProfileMethod::WeightSvd, 4, "low=3,high=6");
  spec.store_fused = true;
  const LayerProfile p = decompose_layer(0, s, resolve_compress_spec(spec, s), in);
  REQUIRE(p.hidden == s.hidden);
  REQUIRE(static_cast<int64_t>(p.fused_output.size()) == s.num_heads * s.hidden * p.value_rank);
  const at::Tensor vb = value_basis_tensor(p).to(at::kDouble);
  const at::Tensor wo = in.wo.to(at::kDouble);
  for (int64_t i = 0; i < s.num_heads; ++i) {
    const at::Tensor expect = at::matmul(wo.narrow(1, i * d, d), vb[i / group]);  // [hidden, r]
    at::Tensor got = at::from_blob(const_cast<float*>(p.fused_output.data()) +
                                       i * s.hidden * p.value_rank,
                                   {s.hidden, p.value_rank}, at::kFloat)
                         .to(at::kDouble);
    CHECK((got - expect).abs().max().item<double>() < 1e-5 * expect.abs().max().item<double>());
  }
  // The shared function itself, against an explicit loop, and its shape checks.
  const at::Tensor f = fused_output(in.wo, value_basis_tensor(p), s.num_heads);
  REQUIRE(f.sizes() == at::IntArrayRef({s.num_heads, s.hidden, p.value_rank}));
  CHECK(at::allclose(f[3], at::matmul(in.wo.narrow(1, 3 * d, d), value_basis_tensor(p)[1]), 1e-5,
                     1e-6));
  REQUIRE_THROWS_AS(fused_output(in.wo, value_basis_tensor(p), 3), Error);
  REQUIRE_THROWS_AS(fused_output(in.wo.narrow(1, 0, d), value_basis_tensor(p), s.num_heads), Error);
}

TEST_CASE("decompose_layer rejects missing or mis-shaped inputs", "[compress]") {
  const AttentionShape s = small_shape();
  const CompressSpec spec = resolve_compress_spec(fixed_spec(ProfileMethod::WeightSvd, 4, "a=4"), s);
  LayerInputs in;
  in.wk = random_weight(s.num_kv_heads * s.head_dim, s.hidden, 1);
  REQUIRE_THROWS_WITH(decompose_layer(2, s, spec, in), "layer 2: v_proj weight is missing");
  in.wv = random_weight(s.num_kv_heads * s.head_dim + 1, s.hidden, 1);
  REQUIRE_THROWS_AS(decompose_layer(2, s, spec, in), Error);
  CompressSpec pca = spec;
  pca.method = ProfileMethod::ActivationPca;
  LayerInputs m;
  m.key_moment = random_moment(2, 10, s.head_dim, 1);
  m.value_moment = random_moment(2, 10, s.head_dim, 2);
  REQUIRE_THROWS_WITH(decompose_layer(2, s, pca, m), "layer 2: no calibration tokens behind the moments");
  m.tokens = 10;
  m.key_moment[0][0][0] = std::nan("");
  REQUIRE_THROWS_AS(decompose_layer(2, s, pca, m), Error);
}

TEST_CASE("hidden smaller than head_dim still yields a full orthonormal basis", "[compress]") {
  AttentionShape s;
  s.num_heads = 1;
  s.num_kv_heads = 1;
  s.head_dim = 8;
  s.hidden = 5;
  LayerInputs in;
  in.wk = random_weight(8, 5, 41);
  in.wv = random_weight(8, 5, 42);
  const LayerProfile p = decompose_layer(
      0, s, resolve_compress_spec(fixed_spec(ProfileMethod::WeightSvd, 8, "a=8"), s), in);
  CHECK(max_abs_orthonormality_error(key_basis_tensor(p)[0]) < 1e-5);
  CHECK(p.key_spectrum[5] == 0.0f);
  CHECK(p.key_energy[4] == 1.0f);
}
