// The DecodeEngine's cache for a CacheConfig: full, quant and svd (unquantized, no --hadamard) in
// their fixed-capacity layouts, whose steps the engine captures as CUDA graphs; chunked and svd
// with --kv-bits/--hadamard as their eager caches behind EagerStepCache (steps run eagerly: chunk
// decomposition and growing storage are host-scheduled work).
#pragma once
#include "core/eval/cache-factory.h"
#include "core/model/decode-engine.h"

namespace kvsvd {

// `profile` (required for svd) must outlive the maker; the model too.
StepCacheMaker step_cache_maker(const CacheConfig& c, const LlamaModel& model,
                                const KvProfile* profile);
// Whether step_cache_maker gives `c` a fixed-capacity, graph-capturable layout.
bool has_static_layout(const CacheConfig& c);

}  // namespace kvsvd
