// Content fingerprints (SHA-256, hex) that identify a model, a dataset file or a byte buffer in
// provenance and in profile stores. Torch-free.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/checkpoint/checkpoint.h"
#include "core/util/file-fingerprint.h"  // file_fingerprint, bytes_fingerprint

namespace kvsvd {

// Identifies the weights a result was computed from, fast enough for a 16 GB checkpoint.
// SHA-256 over: a scheme tag ("kvsvd-model-fp-v1"), the exact bytes of config.json, then for
// each of `tensor_names` in sorted order (duplicates once): name, dtype, shape, byte length and
// a content sample. The sample is the whole tensor when it is at most 384 KiB; otherwise the
// first 64 KiB, the last 64 KiB and 64 blocks of 4 KiB at evenly strided offsets between them
// (about 384 KiB per tensor, so ~110 MB read for all tensors of an 8B model). A change that
// touches none of the sampled bytes of a large tensor is therefore NOT detected; any change of
// config, names, dtypes, shapes, sizes, small tensors or tensor boundaries is. Every name must
// exist (the error names tensor and directory).
std::string model_fingerprint(const Checkpoint& ckpt, const std::vector<std::string>& tensor_names);

}  // namespace kvsvd
