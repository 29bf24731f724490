#include "core/tokenizer/byte-level.h"

#include "core/util/utf8.h"

namespace kvsvd {

ByteLevelMap::ByteLevelMap() {
  // Printable Latin-1 bytes stand for themselves; the other 68 bytes are given the code points
  // 256, 257, ... in byte order, so every byte has a visible, non-space character.
  byte_of_cp_.fill(-1);
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + next++);
    utf8::append(chars_[b], cp);
    byte_of_cp_[cp] = static_cast<int16_t>(b);
  }
}

const ByteLevelMap& ByteLevelMap::get() {
  static const ByteLevelMap map;
  return map;
}

bool ByteLevelMap::token_to_bytes(std::string_view token, std::string& bytes) const {
  bytes.clear();
  if (utf8::first_invalid(token) != std::string_view::npos) return false;
  size_t i = 0;
  while (i < token.size()) {
    const uint32_t cp = utf8::next_code_point(token, i);
    if (cp >= byte_of_cp_.size() || byte_of_cp_[cp] < 0) return false;
    bytes += static_cast<char>(byte_of_cp_[cp]);
  }
  return true;
}

}  // namespace kvsvd
