// The BPE model of a byte-level tokenizer.json: vocabulary, ranked merges, and the merge loop
// that turns one pre-token (raw bytes) into ids. Private to core/tokenizer.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tokenizer/string-table.h"

namespace kvsvd {

class BpeModel {
 public:
  // `model` is the "model" object of tokenizer.json; `source` names the file in errors.
  BpeModel(const nlohmann::json& model, const std::string& source);

  // Appends the ids of one pre-token given as raw bytes (not yet byte-level mapped).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  // Vocabulary token (in its stored, byte-level-mapped spelling) -> id, or -1.
  int32_t token_id(std::string_view token) const;
  // id -> stored spelling; empty for an id the vocabulary does not use.
  const std::vector<std::string>& id_to_token() const { return id_to_token_; }

 private:
  struct Merge {
    uint32_t rank;
    int32_t id;
  };
  static constexpr uint64_t kNoMerge = ~uint64_t{0};
  // (rank << 32 | new id) of the pair (a, b), or kNoMerge: one packed number orders merges by
  // rank and carries the result.
  uint64_t merge_of(int32_t a, int32_t b) const;
  void insert_merge(int32_t a, int32_t b, uint64_t packed);
  int32_t byte_id(uint8_t b) const;
  void merge_short(std::vector<int32_t>& ids) const;
  void merge_long(std::vector<int32_t>& ids) const;

  std::string source_;
  StringTable vocab_;      // stored spelling -> id
  StringTable raw_vocab_;  // raw bytes -> id, for tokens made only of byte-level characters
  std::vector<std::string> id_to_token_;
  std::array<int32_t, 256> byte_ids_{};  // id of each single byte, -1 when the vocab lacks it
  int32_t unk_id_ = -1;
  bool ignore_merges_ = false;

  // Open addressing on the 64-bit pair key (a << 32 | b).
  struct MergeSlot {
    uint64_t key;
    uint64_t packed;
  };
  std::vector<MergeSlot> merges_;
  uint64_t merge_mask_ = 0;

  // Pre-token -> ids, shared by threads calling encode on one Tokenizer. A value is the offset in
  // cache_ids_ of the id count, which the ids follow.
  mutable std::mutex cache_mutex_;
  mutable StringTable cache_;
  mutable std::vector<int32_t> cache_ids_;
};

}  // namespace kvsvd
