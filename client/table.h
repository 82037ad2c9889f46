#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace gridserve::client {

// Prints `rows` (the first is the header) as left-aligned columns two spaces apart, without
// trailing spaces: gridserve-cli's table output.
void PrintTable(const std::vector<std::vector<std::string>>& rows, std::ostream& out);

}  // namespace gridserve::client
