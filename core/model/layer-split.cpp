// Layer slices for pipeline stages: a small exact partition (dynamic programming over cuts).
#include "core/model/layer-split.h"

#include <algorithm>
#include <limits>

#include "core/util/error.h"

namespace kvsvd {

int64_t layer_param_bytes(const LlamaConfig& c, int64_t es) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, qd = c.q_dim(), kvd = c.kv_dim();
  int64_t n = 2 * H;                   // the two norms
  n += qd * H + 2 * kvd * H + H * qd;  // q, k, v, o
  if (c.qkv_bias) n += qd + 2 * kvd;
  n += 3 * I * H;  // gate, up, down
  return n * es;
}

int64_t embed_param_bytes(const LlamaConfig& c, int64_t es) {
  return c.vocab_size * c.hidden_size * es;
}

int64_t head_param_bytes(const LlamaConfig& c, int64_t es) {
  // A tied head still costs the last stage a copy: the embedding lives on the first stage.
  return (c.hidden_size + c.vocab_size * c.hidden_size) * es;
}

std::vector<StageSlice> split_layers(const LlamaConfig& cfg, int stages, int64_t es) {
  const int64_t L = cfg.num_layers;
  KVSVD_CHECK(stages >= 1, "--pipeline-stages must be >= 1, got ", stages);
  KVSVD_CHECK(stages <= L, "--pipeline-stages ", stages, ": the model has only ", L,
              " layers (each stage needs at least one)");
  const int64_t lb = layer_param_bytes(cfg, es), eb = embed_param_bytes(cfg, es),
                hb = head_param_bytes(cfg, es);
  // cost(s, a, b): bytes of stage s holding layers [a, b).
  auto cost = [&](int s, int64_t a, int64_t b) {
    return (b - a) * lb + (s == 0 ? eb : 0) + (s == stages - 1 ? hb : 0);
  };
  // best[s][b]: the smallest possible largest-stage bytes when stages 0..s hold layers [0, b).
  const int64_t inf = std::numeric_limits<int64_t>::max();
  std::vector<std::vector<int64_t>> best(stages, std::vector<int64_t>(L + 1, inf));
  std::vector<std::vector<int64_t>> cut(stages, std::vector<int64_t>(L + 1, 0));
  for (int64_t b = 1; b <= L; ++b) best[0][b] = cost(0, 0, b);
  for (int s = 1; s < stages; ++s)
    for (int64_t b = s + 1; b <= L; ++b)
      for (int64_t a = s; a < b; ++a) {  // strict '<' keeps the earliest cut among equals
        if (best[s - 1][a] == inf) continue;
        const int64_t v = std::max(best[s - 1][a], cost(s, a, b));
        if (v < best[s][b]) {
          best[s][b] = v;
          cut[s][b] = a;
        }
      }
  std::vector<StageSlice> out(stages);
  int64_t end = L;
  for (int s = stages - 1; s >= 0; --s) {
    const int64_t begin = s == 0 ? 0 : cut[s][end];
    out[s].stage = s;
    out[s].first_layer = begin;
    out[s].end_layer = end;
    out[s].embed = s == 0;
    out[s].head = s == stages - 1;
    out[s].param_bytes = cost(s, begin, end);
    end = begin;
  }
  return out;
}

int64_t stage_memory_bytes(const LlamaConfig& c, const StageSlice& s, int64_t es, int64_t tokens) {
  int64_t bytes = s.param_bytes;
  bytes += 2 * s.layers() * c.kv_dim() * tokens * es;  // K and V, uncompressed
  // Residual stream, normed copy, q/k/v/attention output, and the MLP's three I-wide tensors.
  bytes += tokens * (4 * c.hidden_size + c.q_dim() + 2 * c.kv_dim() + 3 * c.intermediate_size) * es;
  if (s.head) bytes += 3 * tokens * c.vocab_size * 4;
  return bytes;
}

std::string layer_split_string(const std::vector<StageSlice>& split) {
  std::string out;
  for (const StageSlice& s : split) {
    if (!out.empty()) out += "|";
    out += cat(s.first_layer, "-", s.end_layer - 1);
  }
  return out;
}

}  // namespace kvsvd
