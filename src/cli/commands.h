#pragma once
#include <string>
#include <vector>

namespace amber::cli {

// The whole `amber` program minus process setup: parses argv (without the
// program name), runs the command and returns the exit status. Usage errors
// give 2, other errors 1 (printed as "amber: error: ...").
int amber_main(const std::vector<std::string>& args);

}  // namespace amber::cli
