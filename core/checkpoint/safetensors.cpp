#include "core/checkpoint/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace kvsvd {
namespace {

// One table: safetensors name, DType, bytes per element.
struct DTypeEntry {
  const char* name;
  DType dtype;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {"F32", DType::F32, 4}, {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2},
    {"F64", DType::F64, 8}, {"I64", DType::I64, 8}, {"I32", DType::I32, 4},
    {"I16", DType::I16, 2}, {"I8", DType::I8, 1},   {"U8", DType::U8, 1},
    {"BOOL", DType::BOOL, 1},
};

const DTypeEntry& entry(DType t) {
  for (const auto& e : kDTypes)
    if (e.dtype == t) return e;
  fail(cat("internal: unknown DType ", static_cast<int>(t)));
}

// pread until `len` bytes are in or the file ends; returns the count read.
size_t read_at(int fd, void* buf, size_t len, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, static_cast<char*>(buf) + done, len - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    KVSVD_CHECK(n >= 0, "error reading ", path, ": ", std::strerror(errno));
    if (n == 0) break;
    done += size_t(n);
  }
  return done;
}

uint64_t parse_u64(const nlohmann::json& v, const std::string& what, const std::string& source,
                   const std::string& tensor) {
  KVSVD_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), source,
              ": tensor '", tensor, "': ", what, " must be a non-negative integer, got ", v.dump());
  return v.get<uint64_t>();
}

}  // namespace

const char* dtype_name(DType t) { return entry(t).name; }
size_t dtype_size(DType t) { return entry(t).size; }

DType parse_safetensors_dtype(const std::string& s, const std::string& source) {
  for (const auto& e : kDTypes)
    if (s == e.name) return e.dtype;
  fail(cat(source, ": unknown dtype '", s, "'"));
}

std::vector<TensorInfo> parse_safetensors_header(const std::string& header_json, uint64_t data_size,
                                                 const std::string& source) {
  // nlohmann keeps the last of duplicate keys silently; a parser callback sees every top-level
  // key, so two tensors with one name are caught before one hides the other.
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    if (ev == nlohmann::json::parse_event_t::key && depth == 1) {
      const std::string k = parsed.get<std::string>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header_json, on_event);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range 406 for a number such as 1e999 that overflows a double.
    fail(cat(source, ": malformed safetensors JSON header: ", e.what()));
  }
  KVSVD_CHECK(j.is_object(), source, ": safetensors header must be a JSON object");
  KVSVD_CHECK(duplicate.empty(), source, ": tensor '", duplicate, "' appears twice in the header");

  std::vector<TensorInfo> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const nlohmann::json& e = *it;
    const std::string where = cat(source, ": tensor '", name, "'");
    KVSVD_CHECK(e.is_object(), where, ": entry must be an object, got ", e.dump());
    KVSVD_CHECK(e.contains("dtype") && e["dtype"].is_string(), where, ": missing string 'dtype'");
    KVSVD_CHECK(e.contains("shape") && e["shape"].is_array(), where, ": missing list 'shape'");
    KVSVD_CHECK(e.contains("data_offsets") && e["data_offsets"].is_array() &&
                    e["data_offsets"].size() == 2,
                where, ": 'data_offsets' must be a list [begin, end]");

    TensorInfo t;
    t.name = name;
    const std::string dt = e["dtype"].get<std::string>();
    t.dtype = parse_safetensors_dtype(dt, where);

    // numel with overflow checks: every product stays below 2^63 / dtype size.
    const uint64_t limit = uint64_t(std::numeric_limits<int64_t>::max()) / dtype_size(t.dtype);
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      const uint64_t dim = parse_u64(d, "every shape entry", source, name);
      KVSVD_CHECK(dim <= limit, where, ": shape entry ", dim, " is too large");
      if (dim != 0 && numel > limit / dim) fail(cat(where, ": shape ", e["shape"].dump(),
                                                    " overflows the element count"));
      numel *= dim;
      t.shape.push_back(int64_t(dim));
    }
    t.begin = parse_u64(e["data_offsets"][0], "data_offsets[0]", source, name);
    t.end = parse_u64(e["data_offsets"][1], "data_offsets[1]", source, name);
    KVSVD_CHECK(t.begin <= t.end, where, ": data_offsets begin ", t.begin, " > end ", t.end);
    KVSVD_CHECK(t.end <= data_size, where, ": data_offsets end ", t.end,
                " is past the end of the data region (", data_size, " bytes)");
    const uint64_t want = numel * dtype_size(t.dtype);
    KVSVD_CHECK(t.end - t.begin == want, where, ": byte length ", t.end - t.begin,
                " != ", want, " (shape ", e["shape"].dump(), " x ", dtype_size(t.dtype),
                " bytes of ", dt, ")");
    out.push_back(std::move(t));
  }

  std::sort(out.begin(), out.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // After sorting by begin, a tensor overlaps an earlier one iff it starts before the furthest
  // end seen so far (empty tensors occupy no bytes and overlap nothing).
  const TensorInfo* furthest = nullptr;
  for (const auto& t : out) {
    if (t.begin == t.end) continue;
    if (furthest) {
      KVSVD_CHECK(t.begin >= furthest->end, source, ": tensor '", t.name, "' [", t.begin, ", ",
                  t.end, ") overlaps tensor '", furthest->name, "' [", furthest->begin, ", ",
                  furthest->end, ")");
    }
    if (!furthest || t.end > furthest->end) furthest = &t;
  }
  return out;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KVSVD_CHECK(fd_ >= 0, "cannot open ", path, ": ", std::strerror(errno));
  try {
    struct stat st {};
    KVSVD_CHECK(::fstat(fd_, &st) == 0, "cannot stat ", path, ": ", std::strerror(errno));
    KVSVD_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
    file_size_ = uint64_t(st.st_size);
    KVSVD_CHECK(file_size_ >= 8, path, ": truncated safetensors file (", file_size_,
                " bytes, the 8-byte header length alone needs 8)");
    uint8_t len_bytes[8];
    KVSVD_CHECK(read_at(fd_, len_bytes, 8, 0, path) == 8, path, ": cannot read header length");
    uint64_t header_len = 0;  // little-endian regardless of the host
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
    KVSVD_CHECK(header_len <= kMaxSafetensorsHeader, path, ": header length ", header_len,
                " exceeds the ", kMaxSafetensorsHeader, "-byte limit (corrupt or not safetensors)");
    KVSVD_CHECK(header_len <= file_size_ - 8, path, ": header length ", header_len,
                " runs past the end of the file (", file_size_, " bytes): truncated file?");
    std::string header(size_t(header_len), '\0');
    KVSVD_CHECK(read_at(fd_, &header[0], header.size(), 8, path) == header.size(), path,
                ": short read of the header");
    data_offset_ = 8 + header_len;
    tensors_ = parse_safetensors_header(header, data_size(), path);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_base_) ::munmap(map_base_, size_t(file_size_));
  if (fd_ >= 0) ::close(fd_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const uint8_t* SafetensorsFile::data() const {
  const uint8_t* p = data_.load(std::memory_order_acquire);
  if (p) return p;
  std::lock_guard<std::mutex> lock(map_mutex_);
  p = data_.load(std::memory_order_acquire);
  if (p) return p;
  // A file shortened since its header was checked would turn reads into SIGBUS: check again.
  struct stat st {};
  KVSVD_CHECK(::fstat(fd_, &st) == 0, "cannot stat ", path_, ": ", std::strerror(errno));
  KVSVD_CHECK(uint64_t(st.st_size) >= file_size_, path_, ": file shrank from ", file_size_,
              " to ", st.st_size, " bytes since it was opened");
  void* base = ::mmap(nullptr, size_t(file_size_), PROT_READ, MAP_PRIVATE, fd_, 0);
  KVSVD_CHECK(base != MAP_FAILED, "cannot mmap ", path_, " (", file_size_, " bytes): ",
              std::strerror(errno));
  map_base_ = base;
  p = static_cast<const uint8_t*>(base) + data_offset_;
  data_.store(p, std::memory_order_release);
  return p;
}

}  // namespace kvsvd
