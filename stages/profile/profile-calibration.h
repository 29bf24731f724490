// Calibration windows for activation_pca, and their moments reduced over ranks in window order.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/calibrate/moment-accumulator.h"
#include "core/checkpoint/llama-config.h"
#include "core/data/dataset.h"
#include "core/util/error.h"
#include "stages/profile/profile-options.h"

namespace kvsvd {

class Comm;

// Thrown (on every rank: the decision is collective) when a stop was requested; the stage turns
// it into an orderly interrupted return rather than an error.
class StopRequested : public Error {
 public:
  using Error::Error;
};

struct CalibrationSet {
  std::vector<TokenIds> windows;  // seq_len tokens each, in canonical order
  int64_t tokens = 0;             // total tokens over the windows
  std::string fingerprint;        // SHA-256 hex of the data file's bytes
  nlohmann::json description;     // file, format, tokenizer, windows... (for profile_config)
};

// Reads calib_data (ids / text / jsonl; text is tokenized with the tokenizer), packs documents
// with EOS between them into windows of seq_len and keeps ceil(calib_tokens / seq_len) of them.
// Errors name the file and the flag.
CalibrationSet load_calibration(const ProfileOptions& o, const LlamaConfig& cfg);

// The moments of all windows: chunk c of kWindowsPerChunk consecutive windows (core/calibrate)
// runs on rank c % size and is summed there on the device in window order; rank 0 adds the chunk
// sums to zeros strictly in chunk order as they arrive, and the total is broadcast. The result is
// bitwise the same for any rank count (given the same per-window numbers, i.e. the same device
// type and thread count). `progress(done, total)` is
// called on rank 0 after every round. `stop_requested` (collective, every rank calls it) is
// asked before every round; when it says true the reduction throws StopRequested (a
// kvsvd::Error).
KvMoments reduce_window_moments(LlamaModel& model, const std::vector<TokenIds>& windows,
                                KeySpace key_space, const Comm& comm,
                                const std::function<void(int64_t, int64_t)>& progress = {},
                                const std::function<bool()>& stop_requested = {});

// The same sum computed serially in one process (the reference of the MPI tests).
KvMoments serial_window_moments(LlamaModel& model, const std::vector<TokenIds>& windows,
                                KeySpace key_space);

}  // namespace kvsvd
