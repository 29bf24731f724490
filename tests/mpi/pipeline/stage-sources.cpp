// The evaluate stage's sources, compiled into this test (see tests/mpi/evaluate/stage-sources.cpp
// for why): the pipeline test runs the real stage body in-process.
#include "stages/evaluate/evaluate-options.cpp"
#include "stages/evaluate/evaluate-stage.cpp"
#include "stages/evaluate/pipeline-evaluator.cpp"
#include "stages/evaluate/pipeline-plan.cpp"
#include "stages/evaluate/pipeline-run.cpp"
#include "stages/evaluate/run-output.cpp"
