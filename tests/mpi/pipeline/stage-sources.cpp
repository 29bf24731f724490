// The evaluate stage's sources, compiled into this test (see tests/mpi/evaluate/stage-sources.cpp
// for why): the pipeline test runs the real stage body in-process.
#include "../evaluate/stage-sources.cpp"
