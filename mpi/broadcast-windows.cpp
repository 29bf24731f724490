#include "mpi/broadcast-windows.h"

#include "mpi/wire.h"

namespace kvsvd {

void broadcast_windows(const Comm& comm, std::vector<std::vector<int32_t>>& windows) {
  std::string bytes;
  if (comm.is_root()) {
    WireWriter w;
    w.put<uint64_t>(windows.size());
    for (const auto& win : windows) w.put_array(win);
    bytes = w.bytes();
  }
  comm.broadcast(bytes);
  if (comm.is_root()) return;
  WireReader r(bytes, "broadcast_windows: rank 0 message");
  const uint64_t n = r.get<uint64_t>();
  windows.clear();
  for (uint64_t i = 0; i < n; ++i) windows.push_back(r.get_array<int32_t>());
  r.expect_done();
}

}  // namespace kvsvd
