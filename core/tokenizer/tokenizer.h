// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (Llama-3 style). Torch-free.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kvsvd {

class Tokenizer {
 public:
  // tokenizer.json; tokenizer_config.json beside it is read when present (bos/eos, add_bos).
  static Tokenizer from_file(const std::string& path);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Invalid UTF-8 in `text` is an error naming the byte offset.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false) const;
  // Invalid byte sequences become U+FFFD, as Hugging Face does.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int64_t vocab_size() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvsvd
