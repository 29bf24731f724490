#include "mpi/wire.h"

#include "core/util/error.h"

namespace kvsvd {

void WireReader::check_left(size_t elem_size, uint64_t count) const {
  KVSVD_CHECK(count <= (in_.size() - pos_) / elem_size, source_, ": ", count, " element(s) of ",
              elem_size, " bytes overrun the message at byte ", pos_, " of ", in_.size(),
              " (truncated or corrupt)");
}

void WireReader::expect_done() const {
  KVSVD_CHECK(done(), source_, ": ", in_.size() - pos_, " trailing bytes at byte ", pos_);
}

}  // namespace kvsvd
