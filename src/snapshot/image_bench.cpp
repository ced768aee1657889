// Image save and resume costs (docs/image-format.md, "Performance").
//   build-img/src/snapshot/image_bench [--benchmark_filter=...]
// Files go to $AMBER_BENCH_DIR (default: the temp directory).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "amber/mapping.h"
#include "amber/unique_fd.h"
#include "snapshot/elf_core.h"
#include "snapshot/image.h"
#include "snapshot/zero_scan.h"

namespace amber::image {
namespace {

std::string bench_file(const std::string& name) {
  const char* dir = std::getenv("AMBER_BENCH_DIR");
  auto base = dir ? std::filesystem::path(dir) : std::filesystem::temp_directory_path();
  return (base / ("amber-bench-" + std::to_string(::getpid()) + "-" + name)).string();
}

// A guest of `size` bytes, every page touched (a booted guest's free memory is
// zero-filled but populated), with about `data_bytes` of non-zero pages
// scattered over it pseudo-randomly (the fragmented case: short runs).
// `cluster` > 1 makes the data come in runs of that many pages (closer to a
// real guest, whose kernel and page cache are mostly contiguous).
Mapping make_guest(uint64_t size, uint64_t data_bytes = 40ull << 20, uint64_t cluster = 1) {
  Mapping m = Mapping::anonymous(size);
  std::memset(m.data(), 0, size);
  uint64_t pages = size / 4096, want = data_bytes / 4096;
  for (uint64_t p = 0; p < pages; ++p) {
    uint64_t h = (p / cluster + 1) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    if (h % pages >= want) continue;
    h += p;
    for (size_t b = 0; b < 4096; b += 8) {
      uint64_t v = h + b * 0xff51afd7ed558ccdull;
      std::memcpy(m.data() + p * 4096 + b, &v, 8);
    }
  }
  return m;
}

// CPU seconds of the whole process (all worker threads, user + system): the
// host work of a save, independent of how loaded the machine is.
double process_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void write_bench(benchmark::State& state, bool compress, bool sync, uint64_t cluster = 1) {
  static std::map<uint64_t, Mapping> guests;
  auto& guest = guests[cluster];
  if (!guest) guest = make_guest(256ull << 20, 40ull << 20, cluster);
  SaveInput in;
  in.ram.push_back({0, {guest.data(), guest.size()}});
  std::string path = bench_file("write.amber");
  SaveStats stats;
  double cpu0 = process_cpu();
  for (auto _ : state) stats = write_image(path, in, {.compress = compress, .sync = sync});
  state.counters["host_cpu_ms"] = (process_cpu() - cpu0) * 1e3 / double(state.iterations());
  state.counters["data_MiB"] = double(stats.ram_data_bytes) / (1 << 20);
  state.counters["stored_MiB"] = double(stats.ram_stored_bytes) / (1 << 20);
  state.counters["alloc_MiB"] = double(stats.allocated_bytes) / (1 << 20);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(guest.size()));
  std::filesystem::remove(path);
}

void BM_Write256Raw(benchmark::State& s) { write_bench(s, false, false); }
void BM_Write256RawFsync(benchmark::State& s) { write_bench(s, false, true); }
void BM_Write256Zstd(benchmark::State& s) { write_bench(s, true, false); }
void BM_Write256RawClustered16(benchmark::State& s) { write_bench(s, false, false, 16); }
BENCHMARK(BM_Write256RawClustered16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Write256Raw)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Write256RawFsync)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Write256Zstd)->Unit(benchmark::kMillisecond)->UseRealTime();

// Save throughput for dirty RAM (issue 12 goal 5: <= 0.4 s/GiB to tmpfs): a
// guest whose every page holds data, saved raw. Arg: MiB of RAM, all dirty.
// Run with AMBER_BENCH_DIR=/dev/shm for the tmpfs figure; s_per_GiB is the
// wall time of one save divided by the data it wrote.
void BM_WriteDirty(benchmark::State& state) {
  uint64_t size = uint64_t(state.range(0)) << 20;
  Mapping guest = make_guest(size, size);
  SaveInput in;
  in.ram.push_back({0, {guest.data(), guest.size()}});
  std::string path = bench_file("dirty.amber");
  SaveStats stats;
  double cpu0 = process_cpu();
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) stats = write_image(path, in, {.threads = unsigned(state.range(1)), .sync = false});
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double iters = double(state.iterations());
  state.counters["host_cpu_ms"] = (process_cpu() - cpu0) * 1e3 / iters;
  state.counters["data_MiB"] = double(stats.ram_data_bytes) / (1 << 20);
  state.counters["s_per_GiB"] = wall / iters / (double(stats.ram_data_bytes) / double(1ull << 30));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(stats.ram_data_bytes));
  std::filesystem::remove(path);
}
BENCHMARK(BM_WriteDirty)->Args({256, 0})->Args({256, 1})->Args({1024, 0})->Unit(benchmark::kMillisecond)->UseRealTime();

// The floor under BM_WriteDirty: the same bytes written to a new file with
// plain 4 MiB pwrites and nothing else (no zero scan, no checksums, no
// metadata, no rename): what the kernel's copy into the file system costs.
void BM_PwriteFloor(benchmark::State& state) {
  uint64_t size = uint64_t(state.range(0)) << 20;
  Mapping guest = make_guest(size, size);
  std::string path = bench_file("floor.bin");
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) state.SkipWithError("open failed");
    for (uint64_t off = 0; fd && off < size; off += 4u << 20)
      if (::pwrite(fd.get(), guest.data() + off, std::min<uint64_t>(4u << 20, size - off), off) < 0)
        state.SkipWithError("pwrite failed");
    ::unlink(path.c_str());
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["s_per_GiB"] = wall / double(state.iterations()) / (double(size) / double(1ull << 30));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(size));
}
BENCHMARK(BM_PwriteFloor)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// The zero-page scan alone, one thread: the floor of a raw save.
void BM_ScanZero256(benchmark::State& state) {
  static Mapping guest = make_guest(256ull << 20);
  uint64_t data = 0;
  for (auto _ : state) {
    data = 0;
    for_each_nonzero_run(guest.data(), guest.size(), {}, [&](uint64_t, uint64_t n) { data += n; });
  }
  state.counters["data_MiB"] = double(data) / (1 << 20);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(guest.size()));
}
BENCHMARK(BM_ScanZero256)->Unit(benchmark::kMillisecond)->UseRealTime();

// A guest whose zero memory was never touched, saved with private_anonymous:
// pagemap lets the writer skip unpopulated pages unread.
void BM_Write256SparseAnon(benchmark::State& state) {
  static Mapping guest = [] {
    Mapping m = Mapping::anonymous(256ull << 20);
    Mapping src = make_guest(256ull << 20);
    for (uint64_t p = 0; p < m.size(); p += 4096)
      if (!is_zero(src.data() + p, 4096)) std::memcpy(m.data() + p, src.data() + p, 4096);
    return m;
  }();
  SaveInput in;
  in.ram.push_back({0, {guest.data(), guest.size()}, true});
  std::string path = bench_file("anon.amber");
  double cpu0 = process_cpu();
  for (auto _ : state) write_image(path, in, {.sync = false});
  state.counters["host_cpu_ms"] = (process_cpu() - cpu0) * 1e3 / double(state.iterations());
  std::filesystem::remove(path);
}
BENCHMARK(BM_Write256SparseAnon)->Unit(benchmark::kMillisecond)->UseRealTime();

// One image per region size, written once.
const std::string& image_of(uint64_t size, bool compress) {
  static std::map<std::pair<uint64_t, bool>, std::string> made;
  auto& path = made[{size, compress}];
  if (path.empty()) {
    Mapping guest = make_guest(size);
    SaveInput in;
    in.ram.push_back({0, {guest.data(), guest.size()}});
    path = bench_file(std::to_string(size >> 20) + (compress ? "z" : "r") + ".amber");
    write_image(path, in, {.compress = compress, .sync = false});
    std::atexit([] {
      for (auto& [k, p] : made) std::filesystem::remove(p);
    });
  }
  return path;
}

// Resume's file work: open + validate + map. Raw mapping is O(1) in the size,
// but without a check record map_ram reads every run once to compare its
// checksum (40 MiB of data here): O(data). With a record (a later resume of
// the same unchanged file, checked_images.h) it is O(1) again.
void open_map_raw(benchmark::State& state, bool recorded) {
  const auto& path = image_of(uint64_t(state.range(0)) << 20, false);
  std::string dir = bench_file("records");
  CheckedImages records(recorded ? dir : "", -std::chrono::hours(1));
  uint64_t checked = 0;
  if (recorded) {  // the first resume checks and records, outside the timing
    auto img = Image::open(path);
    img.use_check_records(records);
    img.map_ram(0);
  }
  for (auto _ : state) {
    auto img = Image::open(path);
    img.use_check_records(records);
    Mapping m = img.map_ram(0);
    checked += img.runs_checked();
    benchmark::DoNotOptimize(m.data());
  }
  state.counters["runs_checked"] = double(checked) / double(state.iterations());
  std::filesystem::remove_all(dir);
}
void BM_OpenMapRaw(benchmark::State& s) { open_map_raw(s, false); }
void BM_OpenMapRawRecorded(benchmark::State& s) { open_map_raw(s, true); }
BENCHMARK(BM_OpenMapRaw)->Arg(256)->Arg(2048)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_OpenMapRawRecorded)->Arg(256)->Arg(2048)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Compressed resume decompresses everything up front (eager).
void BM_OpenMapZstd(benchmark::State& state) {
  const auto& path = image_of(uint64_t(state.range(0)) << 20, true);
  for (auto _ : state) {
    auto img = Image::open(path);
    Mapping m = img.map_ram(0);
    benchmark::DoNotOptimize(m.data());
  }
}
BENCHMARK(BM_OpenMapZstd)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

// amber dump --elf of a 256 MiB guest with 40 MiB of data in runs of 16
// pages: read (and checksum or decompress) every stored byte, write the
// non-zero pages into a sparse core file.
void BM_DumpElf256(benchmark::State& state) {
  bool compress = state.range(0) != 0;
  Mapping guest = make_guest(256ull << 20, 40ull << 20, 16);
  SaveInput in;
  in.machine.children["vcpus"].children["vcpu@0"].props["regs"] = std::vector<uint8_t>(144, 0);
  in.ram.push_back({0, {guest.data(), guest.size()}});
  std::string path = bench_file(compress ? "dump-z.amber" : "dump.amber");
  std::string core = bench_file("dump.core");
  write_image(path, in, {.compress = compress, .sync = false});
  auto img = Image::open(path);
  ElfCoreStats st;
  double cpu0 = process_cpu();
  for (auto _ : state) st = write_elf_core(img, core, {.sync = false});
  state.counters["host_cpu_ms"] = (process_cpu() - cpu0) * 1e3 / double(state.iterations());
  state.counters["data_MiB"] = double(st.data_bytes) / (1 << 20);
  state.counters["file_MiB"] = double(st.file_size) / (1 << 20);
  state.counters["alloc_MiB"] = double(st.allocated_bytes) / (1 << 20);
  std::filesystem::remove(path);
  std::filesystem::remove(core);
}
BENCHMARK(BM_DumpElf256)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace amber::image

BENCHMARK_MAIN();
