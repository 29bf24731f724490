#include "stages/bench/kv-read-bytes.h"

#include <algorithm>
#include <cmath>

#include "core/kv/chunked-cache.h"
#include "core/kv/quant-cache.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

// Bytes of one stored row of n values: the cache dtype, fp16, or packed codes plus an fp16 scale
// and zero point per group.
double row_bytes(int64_t n, int64_t bits, int64_t group, double elem) {
  if (bits == 0) return static_cast<double>(n) * elem;
  if (bits == 16) return 2.0 * static_cast<double>(n);
  const int64_t groups = (n + group - 1) / group;
  return std::ceil(static_cast<double>(n * bits) / 8.0) + 4.0 * static_cast<double>(groups);
}

int64_t named_rank(const CacheConfig& c, RankLevel level) {
  const std::string name = rank_level_name(level);
  for (const NamedRank& nr : c.value_ranks)
    if (nr.name == name) return nr.rank;
  fail(cat("bench: no value rank named '", name, "' for policy '", c.policy.spec(), "'"));
}

}  // namespace

double kv_read_bytes_per_step(const CacheConfig& c, const LlamaConfig& cfg, at::ScalarType dtype,
                              int64_t prompt, int64_t tokens) {
  const double elem = static_cast<double>(at::elementSize(dtype));
  const int64_t d = cfg.head_dim;
  const double heads = static_cast<double>(cfg.num_layers * cfg.num_kv_heads);
  const double S = static_cast<double>(tokens);
  switch (c.method) {
    case KvMethod::Full:
      return heads * S * 2.0 * static_cast<double>(d) * elem;
    case KvMethod::Svd: {
      double per_head = S * row_bytes(c.key_rank, c.kv_bits, c.quant_group, elem);
      for (RankLevel level : c.policy.assign(0, tokens, prompt))
        per_head += row_bytes(named_rank(c, level), c.kv_bits, c.quant_group, elem);
      return heads * per_head;
    }
    case KvMethod::Quant: {
      const QuantCache q(cfg, QuantCacheOptions{c.kv_bits, c.quant_group, c.residual}, 1,
                         at::kFloat, at::kCPU);
      const int64_t kq = q.quantized_keys(tokens), vq = q.quantized_values(tokens);
      // Keys are quantized per channel over blocks of `group` tokens: a block of d channels holds
      // group * d codes and d scale/zero pairs.
      const double key_block =
          c.kv_bits == 16 ? 2.0 * static_cast<double>(c.quant_group * d)
                          : std::ceil(static_cast<double>(c.quant_group * d * c.kv_bits) / 8.0) +
                                4.0 * static_cast<double>(d);
      const double keys = static_cast<double>(kq / c.quant_group) * key_block +
                          static_cast<double>(tokens - kq) * static_cast<double>(d) * elem;
      const double values = static_cast<double>(vq) * row_bytes(d, c.kv_bits, c.quant_group, elem) +
                            static_cast<double>(tokens - vq) * static_cast<double>(d) * elem;
      return heads * (keys + values);
    }
    case KvMethod::Chunked: {
      const ChunkedCacheOptions& o = c.chunked;
      KVSVD_CHECK(o.energy_threshold <= 0, "bench: the byte bound of chunked needs "
                  "--compression-ratio (an energy threshold's ranks depend on the data)");
      const int64_t C = o.chunk_size;
      ChunkedCacheOptions ro = o;
      ro.quant = QuantSpec{c.kv_bits, c.quant_group};
      const int64_t r = ChunkedCache(cfg, ro, 1, at::kFloat, at::kCPU).ratio_rank();
      // The open chunk: 16-bit floats when the factors are quantized, else the cache dtype.
      const double open_elem = c.kv_bits > 0 ? 2.0 : elem;
      const int64_t closed = tokens / C, open = tokens % C;
      const double factors = static_cast<double>(C) * row_bytes(r, c.kv_bits, c.quant_group, elem) +
                             static_cast<double>(r) * row_bytes(d, c.kv_bits, c.quant_group, elem);
      return heads * 2.0 *
             (static_cast<double>(closed) * factors +
              static_cast<double>(open) * static_cast<double>(d) * open_elem);
    }
  }
  KVSVD_ASSERT(false, "CacheConfig with an unknown method");
  return 0;
}

}  // namespace kvsvd
