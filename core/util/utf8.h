// UTF-8 validation and lossy decoding with the exact rules of Rust's str::from_utf8 /
// String::from_utf8_lossy, so the tokenizer accepts and rejects what Hugging Face does; the YAML
// loaders use the same validation for config values.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvsvd::utf8 {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlong
// forms, surrogates and code points above U+10FFFF are ill-formed), or npos when `s` is valid.
size_t first_invalid(std::string_view s);

// Valid sequences are copied; each maximal ill-formed subpart becomes one U+FFFD.
std::string decode_lossy(std::string_view bytes);

// Decodes the code point starting at s[i] of a *valid* string; advances i past it.
uint32_t next_code_point(std::string_view s, size_t& i);
// Decodes the code point ending just before s[end] of a *valid* string; returns its start in
// `start`.
uint32_t prev_code_point(std::string_view s, size_t end, size_t& start);

// Appends the UTF-8 encoding of `cp` (a valid scalar value).
void append(std::string& out, uint32_t cp);

// Unicode White_Space property (what Rust's char::is_whitespace tests).
bool is_whitespace(uint32_t cp);

}  // namespace kvsvd::utf8
