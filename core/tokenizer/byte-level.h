// GPT-2's reversible byte <-> printable-character map (bytes_to_unicode), used by the
// ByteLevel pre-tokenizer and decoder of byte-level BPE tokenizers.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvsvd {

class ByteLevelMap {
 public:
  static const ByteLevelMap& get();

  // UTF-8 of the character standing for byte b (e.g. 0x20 -> "Ġ").
  const std::string& char_of(uint8_t b) const { return chars_[b]; }
  // Maps a vocabulary token back to the bytes it stands for. Returns false when a character of
  // `token` is outside the 256-character alphabet (the token is then not byte-level).
  bool token_to_bytes(std::string_view token, std::string& bytes) const;

 private:
  ByteLevelMap();
  std::array<std::string, 256> chars_;
  std::array<int16_t, 512> byte_of_cp_{};  // code point (< 512) -> byte, -1 when none
};

}  // namespace kvsvd
