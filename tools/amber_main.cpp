// The `amber` executable: everything lives in src/cli (amber_main).
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) { return amber::cli::amber_main(std::vector<std::string>(argv + 1, argv + argc)); }
