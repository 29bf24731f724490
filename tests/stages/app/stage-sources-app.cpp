// The option sources under test, compiled in (unit tests link the core libraries, not the stage
// libraries): one file per stage folder, each its own translation unit.
#include "stages/app/option-check.cpp"
#include "stages/app/yaml-options.cpp"
