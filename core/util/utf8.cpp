#include "core/util/utf8.h"

namespace kvsvd::utf8 {

namespace {

bool is_cont(unsigned char b) { return (b & 0xC0) == 0x80; }

// Length of the ill-formed prefix starting at s[i] (0 when a valid sequence starts there), and
// the length of the valid sequence in `valid_len`. Mirrors the table in Rust's run_utf8_validation:
// the second byte's allowed range depends on the lead byte (this is what excludes overlongs,
// surrogates and values above U+10FFFF).
size_t check_at(std::string_view s, size_t i, size_t& valid_len) {
  const size_t n = s.size();
  const auto b0 = static_cast<unsigned char>(s[i]);
  valid_len = 0;
  if (b0 < 0x80) {
    valid_len = 1;
    return 0;
  }
  int width = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) width = 2;
  else if (b0 >= 0xE0 && b0 <= 0xEF) width = 3;
  else if (b0 >= 0xF0 && b0 <= 0xF4) width = 4;
  if (width == 0) return 1;
  if (i + 1 >= n) return 1;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 == 0xE0) lo = 0xA0;
  else if (b0 == 0xED) hi = 0x9F;
  else if (b0 == 0xF0) lo = 0x90;
  else if (b0 == 0xF4) hi = 0x8F;
  if (b1 < lo || b1 > hi) return 1;
  if (width == 2) {
    valid_len = 2;
    return 0;
  }
  if (i + 2 >= n || !is_cont(static_cast<unsigned char>(s[i + 2]))) return 2;
  if (width == 3) {
    valid_len = 3;
    return 0;
  }
  if (i + 3 >= n || !is_cont(static_cast<unsigned char>(s[i + 3]))) return 3;
  valid_len = 4;
  return 0;
}

}  // namespace

size_t first_invalid(std::string_view s) {
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path: most text is ASCII, test 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    size_t len = 0;
    if (check_at(s, i, len) != 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string decode_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    size_t len = 0;
    const size_t bad = check_at(bytes, i, len);
    if (bad == 0) {
      out.append(bytes.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += bad;
    }
  }
  return out;
}

uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int width = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  uint32_t cp = b0 & (0x7F >> width);
  for (int k = 1; k < width; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += width;
  return cp;
}

uint32_t prev_code_point(std::string_view s, size_t end, size_t& start) {
  start = end - 1;
  while (start > 0 && is_cont(static_cast<unsigned char>(s[start]))) --start;
  size_t j = start;
  return next_code_point(s, j);
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_whitespace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace kvsvd::utf8
