// Options of `kvsvd bench prefill|decode`: raw throughput of the model and its KV caches on one
// device, without the evaluate stage's per-window comparisons (the GPU benchmark's C++ side).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvsvd {

struct BenchOptions {
  std::string model;
  std::string device = "auto";
  std::string dtype = "bfloat16";
  std::string method = "full";      // full | svd | chunked | quant
  std::string store;                // svd: the profile store
  int64_t key_rank = 0;             // svd: 0 = the store's key rank
  std::string policy = "position";  // svd: value-rank policy
  int64_t chunk_size = 64;          // chunked
  double compression_ratio = 4;     // chunked
  int64_t kv_bits = 0;              // svd, chunked: 0 | 16 | 8 | 4 | 2; quant: 16 | 8 | 4 | 2
  int64_t quant_group = 32;         // --quant-group
  int64_t residual = 32;            // quant: newest tokens kept unquantized
  int64_t batch = 1;
  int64_t repeat = 1;               // timed passes (the first, untimed warm-up is extra)
  // prefill
  std::string windows;              // token-id JSON: windows of equal length
  std::string dump_logits;          // raw float32 logits [W, P, vocab] of the first windows
  int64_t dump_windows = 2;
  int64_t dump_positions = 16;      // the last P positions of each window
  // decode
  std::vector<int64_t> batches;     // decode: every batch x context point (empty: --batch)
  std::vector<int64_t> contexts{2048};  // prompt tokens per sequence (random ids, seeded)
  int64_t new_tokens = 64;          // greedy steps timed
  uint64_t seed = 2;
  bool cuda_graph = false;          // decode: each step one CUDA graph replay (full, svd, quant)
  std::string json;                 // also write the result object here
};

// Runs the benchmark and prints one JSON object per measured point on stdout.
void run_bench_prefill(const BenchOptions& o);
void run_bench_decode(const BenchOptions& o);

}  // namespace kvsvd
