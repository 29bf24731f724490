// Which sweep keys each cache method reads. (Whether a value is valid is decided by the evaluate
// and profile stages' own flags: sweep-plan.cpp checks every value and every job through them.)
#pragma once
#include <string>

namespace kvsvd {

// Which evaluate keys of a sweep a cache method reads. Keys a method ignores are dropped from
// grid points (so `full` is not repeated per key rank) and are an error in an explicit run.
struct SweepMethodUse {
  bool needs_profile = false;  // reads a profile store (--store)
  bool ranks = false;          // key_rank, value_ranks, policy
  bool chunks = false;         // chunk_size, compression_ratio
  bool quant = false;          // kv_bits, quant_group
  bool residual = false;       // residual (the quant baseline's exact recent tokens)
};

// Checks `name` against the evaluate --method table (core/kv/methods.h) and returns its use.
// `where` ("sweep.yaml:12") prefixes errors.
SweepMethodUse sweep_method_use(const std::string& name, const std::string& where);

}  // namespace kvsvd
