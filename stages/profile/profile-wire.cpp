#include "stages/profile/profile-wire.h"

#include <cstdint>
#include <cstring>

#include "core/store/store-schema.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

constexpr uint64_t kTag = 0x6b76737664707731ull;  // "kvsvdpw1"

template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
void put_vec(std::string& out, const std::vector<T>& v) {
  put<uint64_t>(out, v.size());
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

struct Reader {
  const std::string& in;
  const std::string& source;
  size_t pos = 0;
  template <typename T>
  T get() {
    KVSVD_CHECK(in.size() - pos >= sizeof(T), source, ": layer profile bytes truncated at ", pos);
    T v;
    std::memcpy(&v, in.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  template <typename T>
  std::vector<T> get_vec() {
    const uint64_t n = get<uint64_t>();
    KVSVD_CHECK(n <= (in.size() - pos) / sizeof(T), source, ": layer profile array of ", n,
                " elements overruns the buffer at ", pos);
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), in.data() + pos, n * sizeof(T));
    pos += n * sizeof(T);
    return v;
  }
};

}  // namespace

std::string serialize_layer_profiles(const std::vector<LayerProfile>& profiles) {
  std::string out;
  put<uint64_t>(out, kTag);
  put<uint64_t>(out, profiles.size());
  for (const auto& p : profiles) {
    for (int64_t v : {p.layer, p.n_kv, p.head_dim, p.key_rank, p.value_rank, p.hidden}) put(out, v);
    for (const auto& spec : store_schema::layer_datasets()) {
      if (spec.f32) put_vec(out, p.*(spec.f32));
      if (spec.i32) put_vec(out, p.*(spec.i32));
    }
  }
  return out;
}

std::vector<LayerProfile> deserialize_layer_profiles(const std::string& bytes,
                                                     const std::string& source) {
  Reader r{bytes, source};
  KVSVD_CHECK(r.get<uint64_t>() == kTag, source, ": not a layer profile message");
  const uint64_t n = r.get<uint64_t>();
  std::vector<LayerProfile> out;
  for (uint64_t i = 0; i < n; ++i) {
    LayerProfile p;
    for (int64_t* f : {&p.layer, &p.n_kv, &p.head_dim, &p.key_rank, &p.value_rank, &p.hidden}) {
      *f = r.get<int64_t>();
    }
    for (const auto& spec : store_schema::layer_datasets()) {
      if (spec.f32) p.*(spec.f32) = r.get_vec<float>();
      if (spec.i32) p.*(spec.i32) = r.get_vec<int32_t>();
    }
    out.push_back(std::move(p));
  }
  KVSVD_CHECK(r.pos == bytes.size(), source, ": ", bytes.size() - r.pos,
              " trailing bytes after the layer profiles");
  return out;
}

}  // namespace kvsvd
