#include "stages/profile/profile-calibration.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "core/data/tokenize-documents.h"
#include "core/util/error.h"
#include "core/util/json-util.h"
#include "core/util/sha256.h"
#include "mpi/comm.h"
#if KVSVD_HAVE_TOKENIZER
#include "core/tokenizer/tokenizer.h"
#endif

namespace kvsvd {

CalibrationSet load_calibration(const ProfileOptions& o, const LlamaConfig& cfg) {
  KVSVD_CHECK(!o.calib_data.empty(), "--calib-data FILE is required for activation_pca");
  const std::string format = effective_calib_format(o);
  const std::string source = cat("--calib-data ", o.calib_data);
  CalibrationSet set;
  set.fingerprint = sha256_hex(read_text_file(o.calib_data));
  std::vector<TokenIds> docs;
  int32_t eos = cfg.eos_token_ids.empty() ? -1 : static_cast<int32_t>(cfg.eos_token_ids[0]);
  std::string tokenizer_path;
  if (format == "ids") {
    docs = read_token_id_json(o.calib_data);
  } else {
#if KVSVD_HAVE_TOKENIZER
    tokenizer_path = o.tokenizer.empty() ? o.model + "/tokenizer.json" : o.tokenizer;
    const Tokenizer tok = Tokenizer::from_file(tokenizer_path);
    if (tok.eos_id() >= 0) eos = tok.eos_id();
    const auto texts = read_text_documents(
        o.calib_data, format == "jsonl" ? TextFormat::Jsonl : TextFormat::Text, o.calib_field);
    docs = tokenize_documents(
        texts, [&tok](const std::string& s) { return tok.encode(s, false); }, source);
#else
    fail(cat(source, ": --calib-format ", format,
             " needs the tokenizer, which this build lacks (KVSVD_WITH_TOKENIZER=OFF); pass "
             "token ids (--calib-format ids)"));
#endif
  }
  for (const auto& d : docs) {
    for (int32_t id : d) {
      KVSVD_CHECK(id >= 0 && id < cfg.vocab_size, source, ": token id ", id,
                  " outside the model's vocabulary [0, ", cfg.vocab_size, ")");
    }
  }
  WindowSpec ws;
  ws.seq_len = o.seq_len;
  ws.pack = true;
  ws.eos_id = eos;
  ws.max_windows = o.calib_tokens > 0 ? (o.calib_tokens + o.seq_len - 1) / o.seq_len : 0;
  set.windows = make_windows(docs, ws, source);
  for (const auto& w : set.windows) set.tokens += static_cast<int64_t>(w.size());
  set.description = {{"calib_data", o.calib_data},
                     {"calib_format", format},
                     {"calib_field", format == "jsonl" ? o.calib_field : ""},
                     {"tokenizer", tokenizer_path},
                     {"calib_tokens_requested", o.calib_tokens},
                     {"seq_len", o.seq_len},
                     {"windows", set.windows.size()},
                     {"tokens", set.tokens},
                     {"eos_separator", eos}};
  return set;
}

namespace {

IndexedItem to_item(int64_t index, const KvMoments& m) {
  IndexedItem it;
  it.index = index;
  const int64_t nk = m.key.numel(), nv = m.value.numel();
  it.values.resize(static_cast<size_t>(nk + nv + 1));
  std::memcpy(it.values.data(), m.key.data_ptr<double>(), nk * sizeof(double));
  std::memcpy(it.values.data() + nk, m.value.data_ptr<double>(), nv * sizeof(double));
  it.values.back() = static_cast<double>(m.tokens);  // exact below 2^53
  return it;
}

KvMoments from_item(const IndexedItem& it, const LlamaConfig& cfg) {
  KvMoments m = KvMoments::zeros(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim);
  const int64_t nk = m.key.numel(), nv = m.value.numel();
  KVSVD_ASSERT(static_cast<int64_t>(it.values.size()) == nk + nv + 1, "window ", it.index,
               " moment message has ", it.values.size(), " values");
  std::memcpy(m.key.data_ptr<double>(), it.values.data(), nk * sizeof(double));
  std::memcpy(m.value.data_ptr<double>(), it.values.data() + nk, nv * sizeof(double));
  m.tokens = static_cast<int64_t>(it.values.back());
  return m;
}

}  // namespace

KvMoments reduce_window_moments(LlamaModel& model, const std::vector<TokenIds>& windows,
                                KeySpace key_space, const Comm& comm,
                                const std::function<void(int64_t, int64_t)>& progress,
                                const std::function<bool()>& stop_requested) {
  const LlamaConfig& cfg = model.config();
  const int64_t n = static_cast<int64_t>(windows.size()), size = comm.size();
  KVSVD_CHECK(n >= 1, "no calibration windows");
  KvMoments total = KvMoments::zeros(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim);
  // Whole chunks of consecutive windows per rank (core/calibrate: the chunking is independent of
  // the rank count, so the sums are too); root adds the chunk sums in chunk order.
  const int64_t chunks = calibration_chunks(n);
  const int64_t rounds = (chunks + size - 1) / size;
  for (int64_t t = 0; t < rounds; ++t) {
    const int64_t done = std::min(n, t * size * kWindowsPerChunk);
    if (stop_requested && stop_requested()) {
      throw StopRequested(cat("stopped by a signal during calibration (", done, " of ", n,
                              " windows done; no layer written yet)"));
    }
    std::vector<IndexedItem> mine;
    const int64_t c = t * size + comm.rank();
    if (c < chunks) mine.push_back(to_item(c, chunk_moments(model, windows, c, key_space)));
    // Root receives this round's chunks sorted by index; they follow every earlier round's.
    const std::vector<IndexedItem> got = comm.gather_indexed(mine);
    if (comm.is_root()) {
      for (const auto& it : got) total.add(from_item(it, cfg));
      if (progress) progress(std::min(n, (t + 1) * size * kWindowsPerChunk), n);
    }
  }
  comm.broadcast(total.key);
  comm.broadcast(total.value);
  comm.broadcast_value(total.tokens);
  return total;
}

KvMoments serial_window_moments(LlamaModel& model, const std::vector<TokenIds>& windows,
                                KeySpace key_space) {
  const LlamaConfig& cfg = model.config();
  KvMoments total = KvMoments::zeros(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim);
  const int64_t chunks = calibration_chunks(static_cast<int64_t>(windows.size()));
  for (int64_t c = 0; c < chunks; ++c) total.add(chunk_moments(model, windows, c, key_space));
  return total;
}

}  // namespace kvsvd
