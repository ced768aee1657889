#pragma once
// The image metadata is a flattened device tree (libfdt). This file maps
// StateNode trees onto FDT nodes and properties, and wraps libfdt's
// sequential-write API and its read accessors.
//
// Name mapping: FDT node names allow [A-Za-z0-9,._+-] and one '@'; property
// names allow [A-Za-z0-9,._+?#-]. Any other byte (and '%') is written as %XX
// (two upper-case hex digits); the empty name is written as "%". Reading
// reverses this, so every StateNode name survives a round trip.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amber/state.h"

namespace amber::image {

std::string escape_node_name(std::string_view name);
std::string escape_prop_name(std::string_view name);
// Inverse of both escapes; std::nullopt for an invalid escape.
std::optional<std::string> unescape_name(std::string_view name);

// Builds an FDT blob with libfdt's sequential-write API, growing its buffer.
class FdtWriter {
 public:
  FdtWriter();
  void begin_node(const std::string& name);  // name already escaped
  void end_node();
  void prop(const std::string& name, std::span<const uint8_t> value);
  void prop_str(const std::string& name, std::string_view s);  // no NUL terminator: length is the prop size
  void prop_u64(const std::string& name, uint64_t v);           // big-endian, like dtc's /bits/ 64
  void prop_u64s(const std::string& name, const std::vector<uint64_t>& v);
  std::vector<uint8_t> finish();

 private:
  template <class F>
  void call(F&& f, const char* what);
  std::vector<uint8_t> buf_;
};

// Writes the properties, then the children, of `node` into the current FDT node.
void write_state(FdtWriter& w, const StateNode& node);

// Read-side helpers over a blob that passed fdt_check_full(). `where` names
// the node in error messages ("vm.amber: metadata /ram/region@0").
// Checks what fdt_check_full() would otherwise pay for per property: no
// string in the strings block is longer than kMaxNameLen. Call it after
// fdt_check_header() and before fdt_check_full(). Error naming `file`.
void check_fdt_strings(const void* fdt, const std::string& file);

class FdtReader {
 public:
  FdtReader(const void* fdt, std::string file) : fdt_(fdt), file_(std::move(file)) {}
  const void* fdt() const { return fdt_; }
  const std::string& file() const { return file_; }
  int subnode(int parent, const char* name) const;  // -1 when absent
  std::optional<std::span<const uint8_t>> prop(int node, const char* name) const;
  // Required properties: Error naming node and property when absent or malformed.
  uint64_t u64(int node, const char* name, const std::string& where) const;
  std::optional<uint64_t> opt_u64(int node, const char* name, const std::string& where) const;
  std::string str(int node, const char* name, const std::string& where, bool required = false) const;
  std::vector<uint64_t> u64s(int node, const char* name, const std::string& where, size_t group) const;
  // The StateNode under `node` (all its properties and children, unescaped),
  // at most kMaxStateItems nodes and properties, names of at most kMaxNameLen.
  StateNode state(int node, const std::string& where) const;
  [[noreturn]] void fail(const std::string& where, const std::string& why) const;

 private:
  StateNode state(int node, const std::string& where, int depth, uint64_t& items) const;
  std::string name(const char* raw, int len, const std::string& where, const char* kind) const;
  const void* fdt_;
  std::string file_;
};

}  // namespace amber::image
