// Sends rank 0's token windows to every rank (one message in the wire format of mpi/wire.h).
#pragma once
#include <cstdint>
#include <vector>

#include "mpi/comm.h"

namespace kvsvd {

// windows: rank 0's are kept; on other ranks they are replaced by rank 0's.
void broadcast_windows(const Comm& comm, std::vector<std::vector<int32_t>>& windows);

}  // namespace kvsvd
