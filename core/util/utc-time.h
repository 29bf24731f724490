// The current UTC time as ISO 8601 ("2026-11-23T08:15:00Z"), the one format every record uses.
#pragma once
#include <string>

namespace kvsvd {

std::string utc_now_iso();

}  // namespace kvsvd
