// The evaluate stage's sources, compiled into this test: tests/CMakeLists.txt links MPI tests
// against the core and mpi libraries only, not the stage libraries, and the test must run the
// real stage body in-process. (If the stage library is ever linked here, delete this file.)
#include "stages/evaluate/evaluate-options.cpp"
#include "stages/evaluate/evaluate-stage.cpp"
#include "stages/evaluate/run-output.cpp"
