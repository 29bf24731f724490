// LayerProfiles as bytes, so that ranks can send the layers they computed to rank 0.
#pragma once
#include <string>
#include <vector>

#include "core/compress/layer-profile.h"

namespace kvsvd {

// Several profiles back to back: a tag, a count, then per profile its scalars and every array of
// the store schema's layer table (so a new dataset travels without touching this file).
std::string serialize_layer_profiles(const std::vector<LayerProfile>& profiles);
// Inverse of serialize_layer_profiles; truncated or corrupted input is an error naming `source`.
std::vector<LayerProfile> deserialize_layer_profiles(const std::string& bytes,
                                                     const std::string& source);

}  // namespace kvsvd
