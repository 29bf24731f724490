#include "core/tokenizer/bpe-model.h"

#include <queue>

#include "core/tokenizer/byte-level.h"
#include "core/util/error.h"

namespace kvsvd {

namespace {

constexpr uint64_t kEmptyKey = ~uint64_t{0};
// Words longer than this use the heap-based merge loop; shorter ones a rescan, which is faster
// for the few-byte pre-tokens that make up ordinary text.
constexpr size_t kShortWord = 48;
// The cache is dropped when it grows past this many pre-tokens, to bound memory on huge inputs.
constexpr size_t kCacheMaxWords = 1u << 20;
constexpr size_t kCacheMaxWordBytes = 256;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
uint64_t mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xFF51AFD7ED558CCDULL;
  k ^= k >> 33;
  return k;
}

// A merge as written in tokenizer.json: "a b" (older files) or ["a", "b"] (tokenizers >= 0.20).
std::pair<std::string, std::string> parse_merge(const nlohmann::json& m, size_t index,
                                                const std::string& source) {
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ');
    KVSVD_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, source,
                ": model.merges[", index, "] = \"", s, "\" is not two tokens separated by one space");
    return {s.substr(0, sp), s.substr(sp + 1)};
  }
  KVSVD_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), source,
              ": model.merges[", index, "] must be \"a b\" or [\"a\", \"b\"], got ", m.dump());
  return {m[0].get<std::string>(), m[1].get<std::string>()};
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& model, const std::string& source)
    : source_(source), vocab_(1 << 17), raw_vocab_(1 << 17), cache_(1 << 14) {
  KVSVD_CHECK(model.is_object(), source, ": 'model' must be an object");
  const std::string type = model.value("type", std::string("BPE"));
  KVSVD_CHECK(type == "BPE", source, ": model.type is '", type,
              "'; only byte-level BPE tokenizers are supported");
  // Options that change what BPE produces and that no byte-level Llama tokenizer uses: refuse
  // them rather than silently tokenizing differently from Hugging Face.
  if (model.contains("dropout") && !model["dropout"].is_null())
    KVSVD_CHECK(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0, source,
                ": model.dropout is not supported (it makes encoding random)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    KVSVD_CHECK(!model.contains(key) || model[key].is_null() ||
                    (model[key].is_string() && model[key].get<std::string>().empty()),
                source, ": model.", key, " is not supported");
  KVSVD_CHECK(!model.value("byte_fallback", false), source,
              ": model.byte_fallback is not supported (byte-level BPE needs no fallback)");
  ignore_merges_ = model.value("ignore_merges", false);

  KVSVD_CHECK(model.contains("vocab") && model["vocab"].is_object(), source,
              ": model.vocab must be an object of token -> id");
  const auto& vocab = model["vocab"];
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    KVSVD_CHECK(it.value().is_number_integer() && it.value().get<int64_t>() >= 0 &&
                    it.value().get<int64_t>() < (int64_t{1} << 31),
                source, ": model.vocab['", it.key(), "'] must be a non-negative integer id");
    max_id = std::max<int64_t>(max_id, it.value().get<int64_t>());
  }
  KVSVD_CHECK(max_id >= 0, source, ": model.vocab is empty");
  id_to_token_.assign(static_cast<size_t>(max_id) + 1, std::string());
  const ByteLevelMap& bl = ByteLevelMap::get();
  std::string raw;
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    id_to_token_[static_cast<size_t>(it.value().get<int64_t>())] = it.key();
  // Inserting in id order puts the frequent (low-id) tokens' bytes next to each other.
  for (size_t id = 0; id < id_to_token_.size(); ++id) {
    const std::string& t = id_to_token_[id];
    if (t.empty()) continue;
    vocab_.insert(t, static_cast<uint32_t>(id));
    if (bl.token_to_bytes(t, raw)) raw_vocab_.insert(raw, static_cast<uint32_t>(id));
  }
  for (int b = 0; b < 256; ++b) byte_ids_[b] = token_id(bl.char_of(static_cast<uint8_t>(b)));

  if (model.contains("unk_token") && !model["unk_token"].is_null()) {
    KVSVD_CHECK(model["unk_token"].is_string(), source, ": model.unk_token must be a string");
    const std::string unk = model["unk_token"].get<std::string>();
    unk_id_ = token_id(unk);
    KVSVD_CHECK(unk_id_ >= 0, source, ": model.unk_token '", unk, "' is not in model.vocab");
  }

  KVSVD_CHECK(model.contains("merges") && model["merges"].is_array(), source,
              ": model.merges must be an array");
  const auto& merges = model["merges"];
  size_t cap = 16;
  while (cap < merges.size() * 2) cap *= 2;
  merges_.assign(cap, MergeSlot{kEmptyKey, 0});
  merge_mask_ = cap - 1;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto [a, b] = parse_merge(merges[r], r, source);
    const int32_t ia = token_id(a), ib = token_id(b), inew = token_id(a + b);
    KVSVD_CHECK(ia >= 0, source, ": model.merges[", r, "] uses '", a, "', which is not in model.vocab");
    KVSVD_CHECK(ib >= 0, source, ": model.merges[", r, "] uses '", b, "', which is not in model.vocab");
    KVSVD_CHECK(inew >= 0, source, ": model.merges[", r, "] makes '", a + b,
                "', which is not in model.vocab");
    // A repeated pair keeps its last rank, as Hugging Face's map insertion does.
    insert_merge(ia, ib, (static_cast<uint64_t>(r) << 32) | static_cast<uint32_t>(inew));
  }
}

void BpeModel::insert_merge(int32_t a, int32_t b, uint64_t packed) {
  const uint64_t key = pair_key(a, b);
  for (uint64_t i = mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    if (merges_[i].key == kEmptyKey || merges_[i].key == key) {
      merges_[i] = {key, packed};
      return;
    }
  }
}

uint64_t BpeModel::merge_of(int32_t a, int32_t b) const {
  const uint64_t key = pair_key(a, b);
  for (uint64_t i = mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    if (merges_[i].key == key) return merges_[i].packed;
    if (merges_[i].key == kEmptyKey) return kNoMerge;
  }
}

int32_t BpeModel::token_id(std::string_view token) const {
  const uint32_t* v = vocab_.find(token);
  return v ? static_cast<int32_t>(*v) : -1;
}

int32_t BpeModel::byte_id(uint8_t b) const {
  if (byte_ids_[b] >= 0) return byte_ids_[b];
  KVSVD_CHECK(unk_id_ >= 0, source_, ": the vocabulary has no token for byte 0x", std::hex,
              static_cast<int>(b), " ('", ByteLevelMap::get().char_of(b),
              "') and no unk_token");
  return unk_id_;
}

// Repeatedly merges the lowest-ranked adjacent pair, leftmost first on ties: the same order as
// Hugging Face's priority queue of (rank, position).
void BpeModel::merge_short(std::vector<int32_t>& ids) const {
  uint64_t pairs[kShortWord];
  size_t n = ids.size();
  for (size_t i = 0; i + 1 < n; ++i) pairs[i] = merge_of(ids[i], ids[i + 1]);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i)
      if (pairs[i] < pairs[best]) best = i;
    if (pairs[best] == kNoMerge) break;
    ids[best] = static_cast<int32_t>(pairs[best] & 0xFFFFFFFFu);
    for (size_t i = best + 1; i + 1 < n; ++i) ids[i] = ids[i + 1];
    for (size_t i = best + 1; i + 2 < n; ++i) pairs[i] = pairs[i + 1];
    --n;
    if (best > 0) pairs[best - 1] = merge_of(ids[best - 1], ids[best]);
    if (best + 1 < n) pairs[best] = merge_of(ids[best], ids[best + 1]);
  }
  ids.resize(n);
}

// Long words (runs of whitespace, long non-English strings): a linked list of symbols and a heap
// of candidate merges, O(n log n). Stale heap entries are recognised because a pair's result id
// determines its bytes, so a changed pair never yields the same id.
void BpeModel::merge_long(std::vector<int32_t>& ids) const {
  const size_t n = ids.size();
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Cand {
    uint64_t packed;  // rank << 32 | new id
    int32_t pos;
    bool operator>(const Cand& o) const {
      return (packed >> 32) != (o.packed >> 32) ? packed > o.packed : pos > o.pos;
    }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  for (size_t i = 0; i + 1 < n; ++i) {
    const uint64_t m = merge_of(ids[i], ids[i + 1]);
    if (m != kNoMerge) heap.push({m, static_cast<int32_t>(i)});
  }
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    const int32_t right = next[c.pos];
    if (merge_of(ids[c.pos], ids[right]) != c.packed) continue;
    ids[c.pos] = static_cast<int32_t>(c.packed & 0xFFFFFFFFu);
    alive[right] = false;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    if (prev[c.pos] >= 0) {
      const uint64_t m = merge_of(ids[prev[c.pos]], ids[c.pos]);
      if (m != kNoMerge) heap.push({m, prev[c.pos]});
    }
    if (next[c.pos] >= 0) {
      const uint64_t m = merge_of(ids[c.pos], ids[next[c.pos]]);
      if (m != kNoMerge) heap.push({m, c.pos});
    }
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) ids[k++] = ids[i];
  ids.resize(k);
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (word.size() == 1) {
    out.push_back(byte_id(static_cast<uint8_t>(word[0])));
    return;
  }
  // ignore_merges (Llama-3): a pre-token that is itself a token is never split.
  if (ignore_merges_) {
    if (const uint32_t* v = raw_vocab_.find(word)) {
      out.push_back(static_cast<int32_t>(*v));
      return;
    }
  }
  const bool cacheable = word.size() <= kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (const uint32_t* v = cache_.find(word)) {
      const size_t cnt = static_cast<size_t>(cache_ids_[*v]);
      out.insert(out.end(), cache_ids_.begin() + *v + 1, cache_ids_.begin() + *v + 1 + cnt);
      return;
    }
  }
  thread_local std::vector<int32_t> ids;
  ids.resize(word.size());
  for (size_t i = 0; i < word.size(); ++i) ids[i] = byte_id(static_cast<uint8_t>(word[i]));
  if (ids.size() <= kShortWord) merge_short(ids);
  else merge_long(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheMaxWords) {
      cache_.clear();
      cache_ids_.clear();
    }
    cache_.insert(word, static_cast<uint32_t>(cache_ids_.size()));
    cache_ids_.push_back(static_cast<int32_t>(ids.size()));
    cache_ids_.insert(cache_ids_.end(), ids.begin(), ids.end());
  }
}

}  // namespace kvsvd
