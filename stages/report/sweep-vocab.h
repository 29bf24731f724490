// The names a sweep may use (methods, policies, formats, ranks), checked against the CLI's own
// tables where they exist: this file is the single place where a new table gets hooked in.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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

// kv_bits: 0 | 16 | 8 | 4 | 2, the check of core/kv/quant-spec.h.
void check_sweep_kv_bits(int64_t bits, const std::string& where);

// Profile basis method: the table of core/compress/profile-method.h.
void check_profile_method(const std::string& name, const std::string& where);
// "low=16,med=32,high=64": the parser of core/compress/rank-plan.h.
void check_value_ranks(const std::string& text, const std::string& where);
// position | step | sink_recent:S,W | uniform:LEVEL: the parser of core/kv/rank-policy.h.
void check_policy(const std::string& text, const std::string& where);
// Dataset / calibration file formats: text | jsonl | ids. No shared table exists yet (core/data has
// only an enum for text/jsonl): hook it here when one lands.
void check_data_format(const std::string& name, const std::string& where);
const std::vector<std::string>& data_format_names();

}  // namespace kvsvd
