#include "core/checkpoint/checkpoint.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/checkpoint/safetensors.h"
#include "core/util/error.h"
#include "core/util/json-util.h"

namespace kvsvd {
namespace {

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  KVSVD_CHECK(::realpath(p.c_str(), buf) != nullptr, "cannot resolve ", p, ": ",
              std::strerror(errno));
  return buf;
}

// The index names shard files; it must not reach outside the checkpoint directory, neither by
// its spelling ('/', '..') nor through a symlink that resolves elsewhere.
void check_shard_name(const std::string& shard, const std::string& tensor,
                      const std::string& index_path, const std::string& dir,
                      const std::string& dir_real) {
  KVSVD_CHECK(!shard.empty() && shard != "." && shard != ".." &&
                  shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos &&
                  shard.find('\0') == std::string::npos,
              index_path, ": shard '", shard, "' of tensor '", tensor,
              "' must be a plain file name inside ", dir);
  const std::string full = dir + "/" + shard;
  KVSVD_CHECK(is_file(full), index_path, ": shard file '", shard, "' of tensor '", tensor,
              "' is missing from ", dir);
  const std::string resolved = real_path(full);
  KVSVD_CHECK(resolved.rfind(dir_real + "/", 0) == 0, index_path, ": shard '", shard,
              "' of tensor '", tensor, "' resolves to ", resolved, ", outside ", dir);
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // overflow-checked when the header was parsed
  return n;
}

Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

Checkpoint Checkpoint::open(const std::string& dir_in) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  struct stat st {};
  KVSVD_CHECK(::stat(dir.c_str(), &st) == 0, "checkpoint directory ", dir_in,
              " cannot be opened: ", std::strerror(errno));
  KVSVD_CHECK(S_ISDIR(st.st_mode), "checkpoint path ", dir_in, " is not a directory");
  KVSVD_CHECK(::access(dir.c_str(), R_OK | X_OK) == 0, "checkpoint directory ", dir_in,
              " is not readable: ", std::strerror(errno));

  Checkpoint ck;
  ck.dir_ = dir;
  const std::string config_path = dir + "/config.json";
  KVSVD_CHECK(is_file(config_path), "checkpoint directory ", dir, " has no config.json");
  ck.config_text_ = read_text_file(config_path);
  ck.config_ = parse_llama_config(ck.config_text_, config_path);

  const std::string dir_real = real_path(dir);
  const std::string single = dir + "/model.safetensors";
  const std::string index_path = dir + "/model.safetensors.index.json";
  if (is_file(single)) {
    const std::string resolved = real_path(single);
    KVSVD_CHECK(resolved.rfind(dir_real + "/", 0) == 0, single, " resolves to ", resolved,
                ", outside ", dir);
    ck.shard_paths_.push_back(single);
    ck.files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (TensorInfo t : ck.files_[0]->tensors()) {
      t.shard = 0;
      ck.tensors_.emplace(t.name, std::move(t));
    }
  } else if (is_file(index_path)) {
    nlohmann::json index;
    try {
      index = load_json_file(index_path);
    } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range 406 for 1e999
      fail(cat(index_path, ": malformed JSON: ", e.what()));
    }
    const nlohmann::json& wm = json_require(index, "weight_map", index_path);
    KVSVD_CHECK(wm.is_object(), index_path, ": 'weight_map' must be an object");
    // Shards are opened (headers only) in name order so shard indices do not depend on the
    // order of the JSON object.
    std::map<std::string, int> shard_index;
    for (auto it = wm.begin(); it != wm.end(); ++it) {
      KVSVD_CHECK(it->is_string(), index_path, ": weight_map entry for tensor '", it.key(),
                  "' must be a file name string");
      const std::string shard = it->get<std::string>();
      check_shard_name(shard, it.key(), index_path, dir, dir_real);
      shard_index.emplace(shard, 0);
    }
    KVSVD_CHECK(!shard_index.empty(), index_path, ": 'weight_map' is empty");
    for (auto& kv : shard_index) {
      kv.second = int(ck.shard_paths_.size());
      ck.shard_paths_.push_back(dir + "/" + kv.first);
      ck.files_.push_back(std::make_unique<SafetensorsFile>(ck.shard_paths_.back()));
    }
    for (auto it = wm.begin(); it != wm.end(); ++it) {
      const int s = shard_index.at(it->get<std::string>());
      const TensorInfo* t = ck.files_[size_t(s)]->find(it.key());
      KVSVD_CHECK(t != nullptr, index_path, ": tensor '", it.key(), "' is listed in shard ",
                  ck.shard_paths_[size_t(s)], " but that file does not contain it");
      TensorInfo copy = *t;
      copy.shard = s;
      ck.tensors_.emplace(copy.name, std::move(copy));
    }
  } else {
    fail(cat("checkpoint directory ", dir,
             " has neither model.safetensors nor model.safetensors.index.json"));
  }
  return ck;
}

bool Checkpoint::has(const std::string& name) const { return tensors_.count(name) != 0; }

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = tensors_.find(name);
  KVSVD_CHECK(it != tensors_.end(), "tensor '", name, "' not found in checkpoint ", dir_);
  return it->second;
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& kv : tensors_) names.push_back(kv.first);
  return names;
}

const uint8_t* Checkpoint::data(const TensorInfo& t) const {
  KVSVD_CHECK(t.shard >= 0 && size_t(t.shard) < files_.size(), "tensor '", t.name,
              "': shard index ", t.shard, " out of range for checkpoint ", dir_);
  const SafetensorsFile& f = *files_[size_t(t.shard)];
  // The info must come from this checkpoint: its bytes are checked against this shard's size.
  KVSVD_CHECK(t.end <= f.data_size() && t.begin <= t.end, "tensor '", t.name, "' [", t.begin,
              ", ", t.end, ") lies outside ", f.path());
  return f.data() + t.begin;
}

std::string layer_tensor_name(int64_t layer, const char* suffix) {
  return cat("model.layers.", layer, ".", suffix);
}

}  // namespace kvsvd
