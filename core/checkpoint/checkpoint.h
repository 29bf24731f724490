// A Hugging Face model directory: config.json plus safetensors weights (one file or sharded
// through model.safetensors.index.json), memory-mapped, every header checked. Torch-free.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/checkpoint/llama-config.h"

namespace kvsvd {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };
const char* dtype_name(DType t);
size_t dtype_size(DType t);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the file's data region
  uint64_t end = 0;
  int shard = 0;       // index into Checkpoint::shard_paths()
  int64_t numel() const;
};

class SafetensorsFile;  // one mmapped file (safetensors.h)

class Checkpoint {
 public:
  // Opens DIR/config.json and DIR/model.safetensors or DIR/model.safetensors.index.json.
  static Checkpoint open(const std::string& dir);
  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  ~Checkpoint();

  const std::string& dir() const { return dir_; }
  const LlamaConfig& config() const { return config_; }
  const std::string& config_text() const { return config_text_; }  // config.json as read
  bool has(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // error names tensor and dir
  std::vector<std::string> tensor_names() const;
  const std::vector<std::string>& shard_paths() const { return shard_paths_; }
  // Raw bytes of a tensor inside its mmapped shard (mapped lazily, on first use of that shard).
  const uint8_t* data(const TensorInfo& t) const;

 private:
  Checkpoint() = default;
  std::string dir_;
  LlamaConfig config_;
  std::string config_text_;
  std::vector<std::string> shard_paths_;
  std::map<std::string, TensorInfo> tensors_;
  mutable std::vector<std::unique_ptr<SafetensorsFile>> files_;
};

// HF tensor names for a layer (model.layers.{i}.self_attn.k_proj.weight, ...).
std::string layer_tensor_name(int64_t layer, const char* suffix);

}  // namespace kvsvd
