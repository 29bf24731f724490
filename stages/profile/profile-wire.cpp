#include "stages/profile/profile-wire.h"

#include <cstdint>

#include "core/store/store-schema.h"
#include "core/util/error.h"
#include "mpi/wire.h"

namespace kvsvd {
namespace {

constexpr uint64_t kTag = 0x6b76737664707731ull;  // "kvsvdpw1"

}  // namespace

std::string serialize_layer_profiles(const std::vector<LayerProfile>& profiles) {
  WireWriter w;
  w.put<uint64_t>(kTag);
  w.put<uint64_t>(profiles.size());
  for (const auto& p : profiles) {
    for (int64_t v : {p.layer, p.n_kv, p.head_dim, p.key_rank, p.value_rank, p.hidden}) w.put(v);
    for (const auto& spec : store_schema::layer_datasets()) {
      if (spec.f32) w.put_array(p.*(spec.f32));
      if (spec.i32) w.put_array(p.*(spec.i32));
    }
  }
  return w.bytes();
}

std::vector<LayerProfile> deserialize_layer_profiles(const std::string& bytes,
                                                     const std::string& source) {
  WireReader r(bytes, source);
  KVSVD_CHECK(bytes.size() >= sizeof kTag && r.get<uint64_t>() == kTag, source,
              ": not a layer profile message");
  const uint64_t n = r.get<uint64_t>();
  std::vector<LayerProfile> out;
  for (uint64_t i = 0; i < n; ++i) {
    LayerProfile p;
    for (int64_t* f : {&p.layer, &p.n_kv, &p.head_dim, &p.key_rank, &p.value_rank, &p.hidden}) {
      *f = r.get<int64_t>();
    }
    for (const auto& spec : store_schema::layer_datasets()) {
      if (spec.f32) p.*(spec.f32) = r.get_array<float>();
      if (spec.i32) p.*(spec.i32) = r.get_array<int32_t>();
    }
    out.push_back(std::move(p));
  }
  r.expect_done();
  return out;
}

}  // namespace kvsvd
