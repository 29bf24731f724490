// Packing, the quantizer's error bound, the Hadamard rotation, per-token quantized rows, and the
// flag checks (--kv-bits, --quant-group, --residual).
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/kv/quant-pack.h"
#include "core/kv/quant-rotation.h"
#include "core/kv/quant-rows.h"
#include "core/kv/quant-spec.h"
#include "core/kv/quant-tensor.h"
#include "core/util/error.h"
#include "support/catch.h"
#include "quant-fixture.h"

using namespace kvsvd;
using quant_test::error_of;
using quant_test::has;

namespace {

at::Tensor rand_codes(std::vector<int64_t> sizes, int64_t bits, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, int64_t(1) << bits, sizes, gen, at::kLong).to(at::kByte);
}

// Per-element scale of a QuantGroups: each group's scale repeated over its elements, [..., n].
at::Tensor element_scale(const QuantGroups& q, int64_t group, int64_t n) {
  const int64_t g = std::min(group, n);
  return q.scale.to(at::kFloat).repeat_interleave(g, -1).narrow(-1, 0, n);
}

}  // namespace

TEST_CASE("pack/unpack round-trips every bit width and odd lengths", "[quant]") {
  for (int64_t bits : {8, 4, 2}) {
    for (int64_t n : {1, 2, 3, 5, 7, 8, 9, 13, 16, 31}) {
      CAPTURE(bits, n);
      const at::Tensor codes = rand_codes({3, 2, n}, bits, 7 + n * bits);
      const at::Tensor packed = pack_codes(codes, bits);
      CHECK(packed.scalar_type() == at::kByte);
      CHECK(packed.size(-1) == (n * bits + 7) / 8);
      CHECK(packed.size(-1) == packed_size(n, bits));
      CHECK(at::equal(unpack_codes(packed, bits, n), codes));
    }
  }
  // The layout: code j of a byte at bits [j*bits, (j+1)*bits).
  const at::Tensor four = at::tensor(std::vector<int64_t>{0x3, 0xA, 0x7}, at::kLong).to(at::kByte);
  const at::Tensor p4 = pack_codes(four, 4);
  REQUIRE(p4.size(0) == 2);
  CHECK(p4[0].item<int64_t>() == 0xA3);
  CHECK(p4[1].item<int64_t>() == 0x07);
  const at::Tensor two = at::tensor(std::vector<int64_t>{1, 2, 3, 0, 2}, at::kLong).to(at::kByte);
  const at::Tensor p2 = pack_codes(two, 2);
  REQUIRE(p2.size(0) == 2);
  CHECK(p2[0].item<int64_t>() == (1 | 2 << 2 | 3 << 4));
  CHECK(p2[1].item<int64_t>() == 2);
}

TEST_CASE("round-to-nearest error stays within half a step of the stored fp16 scale", "[quant]") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  // Rows of very different magnitudes, an outlier, a constant row, negative-only values.
  at::Tensor x = at::randn({4, 3, 37}, gen, at::kFloat) * at::tensor({0.01f, 1.0f, 30.0f}).view({1, 3, 1});
  x[0][1][5] = 40.0f;
  x[1][2].fill_(-2.5f);
  x[2][0] = -x[2][0].abs() - 1.0f;
  for (int64_t bits : {8, 4, 2}) {
    for (int64_t group : {4, 5, 16, 37, 64}) {  // 5 and 16: a shorter last group; 64 > n
      CAPTURE(bits, group);
      const QuantGroups q = quantize_groups(x, bits, group);
      CHECK(q.codes.scalar_type() == at::kByte);
      CHECK(q.scale.scalar_type() == at::kHalf);
      CHECK(q.zero.scalar_type() == at::kHalf);
      CHECK(q.scale.size(-1) == (37 + std::min<int64_t>(group, 37) - 1) / std::min<int64_t>(group, 37));
      const at::Tensor deq = dequantize_groups(q, bits, group, 37, at::kFloat);
      const at::Tensor err = (x - deq).abs();
      const at::Tensor half_step = element_scale(q, group, 37) / 2;
      INFO("max error / half step = " << (err / half_step).max().item<double>());
      CHECK((err <= half_step * (1 + 1e-5) + 1e-7).all().item<bool>());
      // The bound is tight, not vacuous: some element uses most of it.
      CHECK((err / half_step).max().item<double>() > 0.5);
      // A constant row is exact (its step collapses to the smallest fp16 one).
      CHECK(err[1][2].max().item<double>() < 1e-6);
    }
  }
  // Fewer bits, larger error.
  const double e8 = (x - dequantize_groups(quantize_groups(x, 8, 8), 8, 8, 37, at::kFloat)).abs().mean().item<double>();
  const double e4 = (x - dequantize_groups(quantize_groups(x, 4, 8), 4, 8, 37, at::kFloat)).abs().mean().item<double>();
  const double e2 = (x - dequantize_groups(quantize_groups(x, 2, 8), 2, 8, 37, at::kFloat)).abs().mean().item<double>();
  CHECK(e8 < e4);
  CHECK(e4 < e2);
}

TEST_CASE("quantized rows: append, read, exact bytes", "[quant]") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const at::Tensor a = at::randn({2, 3, 5, 20}, gen, at::kFloat);
  const at::Tensor b = at::randn({2, 3, 4, 20}, gen, at::kFloat);
  for (int64_t bits : {0, 16, 8, 4, 2}) {
    CAPTURE(bits);
    QuantRows rows(QuantSpec{bits, 8}, at::kFloat);
    rows.append(a);
    rows.append(b);
    rows.shrink_to_fit();
    REQUIRE(rows.size() == 9);
    const at::Tensor all = at::cat({a, b}, 2);
    const at::Tensor got = rows.read();
    REQUIRE(got.sizes() == all.sizes());
    CHECK(got.scalar_type() == at::kFloat);
    // Reads of a range equal the same range of a full read.
    CHECK(at::allclose(rows.read(5, 4), got.narrow(2, 5, 4)));
    // Independent count: 2*3*9 rows of 20 elements, groups of 8 (8, 8, 4).
    const int64_t row_count = 2 * 3 * 9;
    int64_t expect = 0;
    if (bits == 0) expect = row_count * 20 * 4;
    else if (bits == 16) expect = row_count * 20 * 2;
    else expect = row_count * ((20 * bits + 7) / 8 + 3 * 2 * 2);
    CHECK(rows.bytes() == expect);
    const double tol = bits == 0 ? 0 : bits == 16 ? 1e-2 : bits == 8 ? 0.05 : bits == 4 ? 0.5 : 2.5;
    CHECK((got - all).abs().max().item<double>() <= tol);
    if (bits == 0) CHECK(at::equal(got, all));
  }
}

TEST_CASE("quantized rows: codes are row-local; a small change moves a code by one step at most",
          "[quant]") {
  // Caches quantize rows that GEMMs of different shapes produce (a prefill block, single decode
  // tokens), and BLAS builds round those differently in the last bits. What holds on every build:
  // the same rows give the same codes however they are appended, and rows a little apart give
  // codes at most one step apart, at the few elements that lie near a rounding boundary.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  const at::Tensor x = at::randn({2, 3, 40, 24}, gen, at::kFloat);  // [B, H, S, n]
  // A relative change of 1e-4: far below an 8-bit step (about 6 / 255 of a row's spread), far
  // above a GEMM's last-bit difference (~1e-7), so that some codes do move.
  const at::Tensor y = x * (1 + 1e-4);
  for (int64_t bits : {8, 4, 2}) {
    CAPTURE(bits);
    const QuantSpec spec{bits, 8};
    QuantRows block(spec, at::kFloat), single(spec, at::kFloat);
    block.append(x);
    for (int64_t t = 0; t < x.size(2); ++t) single.append(x.narrow(2, t, 1));
    CHECK(at::equal(block.read(), single.read()));
    // Code steps between x and y, per element.
    const QuantGroups qx = quantize_groups(x, bits, 8), qy = quantize_groups(y, bits, 8);
    const at::Tensor cx = unpack_codes(qx.codes, bits, 24).to(at::kInt);
    const at::Tensor cy = unpack_codes(qy.codes, bits, 24).to(at::kInt);
    const at::Tensor steps = (cx - cy).abs();
    const int64_t flipped = steps.gt(0).sum().item<int64_t>();
    INFO(flipped << " of " << x.numel() << " codes moved");
    CHECK(steps.max().item<int>() <= 1);
    CHECK(flipped * 20 <= x.numel());  // few: only codes near a rounding boundary move
    if (bits == 8) CHECK(flipped > 0);   // and the check above is not vacuous
  }
}

TEST_CASE("Hadamard rotation is orthonormal for any size", "[quant]") {
  for (int64_t n : {1, 2, 16, 32, 48, 24, 7}) {
    CAPTURE(n);
    const at::Tensor h = hadamard_rotation(n, at::kDouble, at::kCPU);
    CHECK(at::allclose(at::matmul(h, h.t()), at::eye(n, at::kDouble), 1e-12, 1e-12));
  }
  // A power of two is one full Hadamard: every entry ±1/sqrt(n).
  const at::Tensor h16 = hadamard_rotation(16, at::kDouble, at::kCPU);
  CHECK(at::allclose(h16.abs(), at::full({16, 16}, 0.25, at::kDouble)));
}

TEST_CASE("quantization flags: errors name the flag", "[quant]") {
  for (int64_t bad : {1, 3, 5, 32, -4}) {
    CAPTURE(bad);
    const std::string e = error_of([&] { check_kv_bits(bad, true); });
    INFO(e);
    CHECK(has(e, "--kv-bits"));
    CHECK(has(e, "unsupported bit width"));
    CHECK(has(error_of([&] { QuantRows(QuantSpec{bad, 8}, at::kFloat); }), "--kv-bits"));
  }
  CHECK(has(error_of([] { check_kv_bits(0, false); }), "--kv-bits"));
  CHECK(error_of([] { check_kv_bits(0, true); }) == "(no error)");
  CHECK(has(error_of([] { check_quant_group(0); }), "--quant-group"));
  CHECK(has(error_of([] { QuantRows(QuantSpec{4, -1}, at::kFloat); }), "--quant-group"));
  CHECK(has(error_of([] { check_residual(-1); }), "--residual"));
  CHECK(quant_spec_label(QuantSpec{4, 32}) == "4b/g32");
  CHECK(quant_spec_label(QuantSpec{16, 32}) == "16b");
  CHECK(quant_spec_label(QuantSpec{0, 32}).empty());
}
