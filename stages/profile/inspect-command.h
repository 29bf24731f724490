// `kvsvd inspect STORE [--verify]`: schema, provenance and per-layer table of a profile store.
#pragma once
namespace CLI {
class App;
}
namespace kvsvd {
void register_inspect_command(CLI::App& app);
}
