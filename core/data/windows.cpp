// make_windows (declared in dataset.h): documents -> fixed-length token windows.
#include <algorithm>

#include "core/data/dataset.h"
#include "core/util/error.h"

namespace kvsvd {

namespace {

// Appends the windows of `stream` (each `content` tokens long, `stride` apart, BOS in front
// when bos >= 0) until `limit` windows exist in `out` (limit 0: no limit).
void cut(const TokenIds& stream, int64_t content, int64_t stride, int32_t bos, int64_t limit,
         std::vector<TokenIds>& out) {
  const auto n = static_cast<int64_t>(stream.size());
  for (int64_t start = 0; start + content <= n; start += stride) {
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) return;
    TokenIds w;
    w.reserve(static_cast<size_t>(content + (bos >= 0 ? 1 : 0)));
    if (bos >= 0) w.push_back(bos);
    w.insert(w.end(), stream.begin() + start, stream.begin() + start + content);
    out.push_back(std::move(w));
  }
}

}  // namespace

std::vector<TokenIds> make_windows(const std::vector<TokenIds>& docs, const WindowSpec& spec,
                                   const std::string& source) {
  KVSVD_CHECK(!docs.empty(), source, ": empty dataset (no documents)");
  KVSVD_CHECK(spec.seq_len >= 0, source, ": seq_len must be >= 0, got ", spec.seq_len);
  KVSVD_CHECK(spec.stride >= 0, source, ": stride must be >= 0, got ", spec.stride);
  KVSVD_CHECK(spec.max_windows >= 0, source, ": max_windows must be >= 0, got ",
              spec.max_windows);
  const bool bos = spec.bos_id >= 0;
  std::vector<TokenIds> out;
  int64_t total = 0, longest = 0;
  for (const TokenIds& d : docs) {
    total += static_cast<int64_t>(d.size());
    longest = std::max(longest, static_cast<int64_t>(d.size()));
  }

  if (spec.seq_len == 0) {
    // Each non-empty document is one window as it is (plus BOS).
    for (const TokenIds& d : docs) {
      if (spec.max_windows > 0 && static_cast<int64_t>(out.size()) >= spec.max_windows) break;
      if (d.empty()) continue;
      TokenIds w;
      if (bos) w.push_back(spec.bos_id);
      w.insert(w.end(), d.begin(), d.end());
      out.push_back(std::move(w));
    }
    KVSVD_CHECK(!out.empty(), source, ": no window: all ", docs.size(), " documents are empty");
    return out;
  }

  // BOS counts in seq_len, so each window holds seq_len - 1 document tokens; the stride is
  // measured in document tokens (default: no overlap, no gap).
  const int64_t content = spec.seq_len - (bos ? 1 : 0);
  KVSVD_CHECK(content >= 1, source, ": seq_len ", spec.seq_len,
              " leaves no room for text after the BOS token");
  const int64_t stride = spec.stride > 0 ? spec.stride : content;

  if (spec.pack) {
    TokenIds stream;
    stream.reserve(static_cast<size_t>(total) + docs.size());
    for (size_t i = 0; i < docs.size(); ++i) {
      if (i > 0 && spec.eos_id >= 0) stream.push_back(spec.eos_id);
      stream.insert(stream.end(), docs[i].begin(), docs[i].end());
    }
    cut(stream, content, stride, spec.bos_id, spec.max_windows, out);
  } else {
    for (const TokenIds& d : docs) {
      if (spec.max_windows > 0 && static_cast<int64_t>(out.size()) >= spec.max_windows) break;
      cut(d, content, stride, spec.bos_id, spec.max_windows, out);
    }
  }
  KVSVD_CHECK(!out.empty(), source, ": no window of seq_len ", spec.seq_len, " (", content,
              " text tokens", bos ? " after BOS" : "", ") fits: ", docs.size(), " documents, ",
              total, " tokens in all, longest document ", longest, " tokens",
              spec.pack ? " (packed)" : " (not packed: each document must hold a window)");
  return out;
}

}  // namespace kvsvd
