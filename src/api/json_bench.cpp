// Parse cost of typical control-socket requests (docs/api.md), for comparing
// JSON readers: ./json_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include "api/json.h"
#include "api/protocol.h"

namespace {

const char* kSave = R"({"cmd":"save","path":"/var/lib/amber/vm-0042.amber","compress":true,"then":"continue"})";

void BM_ParseStatus(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(amber::api::parse_json_object(R"({"cmd":"status"})"));
}
BENCHMARK(BM_ParseStatus);

void BM_ParseSave(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(amber::api::parse_json_object(kSave));
}
BENCHMARK(BM_ParseSave);

void BM_ParseRequestSave(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(amber::api::parse_request(kSave));
}
BENCHMARK(BM_ParseRequestSave);

void BM_WriteAnswer(benchmark::State& st) {
  for (auto _ : st)
    benchmark::DoNotOptimize(amber::api::JsonWriter()
                                 .boolean("ok", true)
                                 .str("path", "/var/lib/amber/vm-0042.amber")
                                 .uint("bytes", 27332608)
                                 .num("pause_ms", 571.2)
                                 .str("then", "continue")
                                 .done());
}
BENCHMARK(BM_WriteAnswer);

}  // namespace

BENCHMARK_MAIN();
