// One .safetensors file: header read and checked at open, data region memory-mapped on first use.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/checkpoint/checkpoint.h"

namespace kvsvd {

// Largest JSON header accepted (the format's own readers use the same bound).
constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1000 * 1000;

// Parses and validates a safetensors JSON header against a data region of `data_size` bytes:
// known dtype, non-negative shape with an overflow-checked element count, data_offsets
// [begin, end] inside the region, end - begin == numel * dtype_size, no two tensors
// overlapping, no duplicate names. `__metadata__` is skipped. Every error names `source` and the
// tensor. Returned infos have shard = 0 and are sorted by begin offset.
std::vector<TensorInfo> parse_safetensors_header(const std::string& header_json, uint64_t data_size,
                                                 const std::string& source);

// Name as written in safetensors headers ("F32", "BF16", ...) -> DType; error names `source`.
DType parse_safetensors_dtype(const std::string& s, const std::string& source);

class SafetensorsFile {
 public:
  // Reads the 8-byte little-endian header length and the header (no mapping yet) and validates
  // both against the file size. The file descriptor stays open until destruction so that the
  // lazy mapping sees the same file that was checked.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();  // munmap + close
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by begin
  const TensorInfo* find(const std::string& name) const;  // nullptr when absent
  uint64_t file_size() const { return file_size_; }
  uint64_t data_offset() const { return data_offset_; }  // 8 + header length
  uint64_t data_size() const { return file_size_ - data_offset_; }
  bool mapped() const { return data_.load(std::memory_order_acquire) != nullptr; }
  // Start of the data region; maps the whole file on the first call (thread-safe).
  const uint8_t* data() const;
  // Bytes of one tensor of this file (t.begin/t.end as parsed from this file's header).
  const uint8_t* tensor_data(const TensorInfo& t) const { return data() + t.begin; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;
  mutable std::mutex map_mutex_;
  mutable void* map_base_ = nullptr;
  mutable std::atomic<const uint8_t*> data_{nullptr};
};

}  // namespace kvsvd
