#include "mpi/broadcast-windows.h"

namespace kvsvd {

void broadcast_windows(const Comm& comm, std::vector<std::vector<int32_t>>& windows) {
  std::vector<int32_t> flat;
  std::vector<int64_t> lengths;
  if (comm.is_root()) {
    for (const auto& w : windows) {
      lengths.push_back(static_cast<int64_t>(w.size()));
      flat.insert(flat.end(), w.begin(), w.end());
    }
  }
  comm.broadcast(lengths);
  comm.broadcast(flat);
  if (comm.is_root()) return;
  windows.clear();
  size_t off = 0;
  for (int64_t n : lengths) {
    windows.emplace_back(flat.begin() + off, flat.begin() + off + n);
    off += static_cast<size_t>(n);
  }
}

}  // namespace kvsvd
