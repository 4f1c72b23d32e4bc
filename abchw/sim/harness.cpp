// Cycle loop of the abchw simulator: drives a Verilated `engine` with no Python per cycle.
//
// Built by abchw.sim.build (verilator --cc --exe --build ... engine.v harness.cpp) and run by
// abchw.sim.run, which documents the files below. Usage:
//
//   engine-sim --input FILE --outdir DIR [--stall-in P] [--stall-out P] [--seed N]
//              [--max-cycles N] [--idle-cycles N] [--expect-output N] [--reset-cycles N]
//              [--waveform FILE] [--progress] [--no-writes]
//
// Each cycle: decide the stream inputs (a command byte once offered stays offered until taken,
// as lib.stream and AXI-stream require; results__ready may drop any cycle), eval with clk low,
// sample the outputs that decide this cycle's handshakes and observations, then the rising edge.
// Stop: every input byte taken and either --expect-output bytes received or --idle-cycles
// cycles in a row with phase 0, no results__valid and no command taken; or $finish; or
// --max-cycles (exit status 3). Results: DIR/output.bin (the result bytes), DIR/writes.bin
// (one record per cycle with observe__write_en: u64 cycle, u32 addr, u8 stage, 3 zero bytes,
// then the write data as little-endian u64 words, word 0 = bits 0..63), DIR/stats.json.
// With --progress, lines "@abchw progress cycle=C input=I output=O new=HEX" go to stdout
// every 65536 cycles and soon after output arrives; anything else on stdout is the design's.

#include "Vengine.h"
#include "verilated.h"

#if VM_TRACE_FST
#include "verilated_fst_c.h"
using Trace = VerilatedFstC;
#elif VM_TRACE
#include "verilated_vcd_c.h"
using Trace = VerilatedVcdC;
#endif

#include <chrono>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace {

// How many u64 words hold a port of Verilator type T, and how to copy it into them: one word
// for CData/SData/IData/QData, ceil(N/2) for the 32-bit words of VlWide<N>.
template <typename T>
struct Words64 {
    static_assert(std::is_integral<T>::value, "unexpected Verilator port type");
    static constexpr size_t count = 1;
    static void store(const T& value, uint64_t* out) { out[0] = static_cast<uint64_t>(value); }
};

template <std::size_t N>
struct Words64<VlWide<N>> {
    static constexpr size_t count = (N + 1) / 2;
    static void store(const VlWide<N>& value, uint64_t* out) {
        for (size_t i = 0; i < N; i += 2) {
            uint64_t high = i + 1 < N ? value.at(i + 1) : 0;
            out[i / 2] = static_cast<uint64_t>(value.at(i)) | (high << 32);
        }
    }
};

// Verilator spells "__" in a Verilog name as "___05F" in C++ (see main).
using WriteData =
    std::remove_cv_t<std::remove_reference_t<decltype(Vengine::observe___05Fwrite_data)>>;
using DataWords = Words64<WriteData>;
constexpr size_t kRecordWords = 2 + DataWords::count;  // cycle; addr | stage << 32; data
constexpr size_t kFlushWords = size_t{1} << 17;         // 1 MiB of records per fwrite
constexpr uint64_t kProgressEvery = 65536;
constexpr uint64_t kProgressOutputGap = 1024;  // cycles between lines while output streams in

// xorshift64* seeded through splitmix64, so that seed 0 is as good as any other.
struct Rng {
    uint64_t state;
    explicit Rng(uint64_t seed) {
        uint64_t z = seed + 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        state = (z ^ (z >> 31)) | 1;
    }
    uint64_t next() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545f4914f6cdd1dull;
    }
};

// A probability as a threshold on next(): withheld when next() < threshold.
uint64_t threshold(double probability) {
    if (probability <= 0.0) return 0;
    if (probability >= 1.0) return UINT64_MAX;
    return static_cast<uint64_t>(probability * 18446744073709551616.0);
}

[[noreturn]] void usage(const char* message, const char* argument = "") {
    std::fprintf(stderr, "engine-sim: %s%s\n", message, argument);
    std::exit(2);
}

struct Options {
    std::string input, outdir, waveform;
    double stall_in = 0.0, stall_out = 0.0;
    uint64_t seed = 0, max_cycles = 100000000, idle_cycles = 1000, reset_cycles = 4;
    int64_t expect_output = -1;
    bool progress = false, record_writes = true;
};

uint64_t parse_count(const char* text) {
    char* end = nullptr;
    errno = 0;
    unsigned long long value = std::strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-') usage("not a count: ", text);
    return value;
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        if (flag == "--progress") { options.progress = true; continue; }
        if (flag == "--no-writes") { options.record_writes = false; continue; }
        if (i + 1 >= argc) usage("missing value after ", argv[i]);
        const char* value = argv[++i];
        if (flag == "--input") options.input = value;
        else if (flag == "--outdir") options.outdir = value;
        else if (flag == "--waveform") options.waveform = value;
        else if (flag == "--stall-in") options.stall_in = std::atof(value);
        else if (flag == "--stall-out") options.stall_out = std::atof(value);
        else if (flag == "--seed") options.seed = parse_count(value);
        else if (flag == "--max-cycles") options.max_cycles = parse_count(value);
        else if (flag == "--idle-cycles") options.idle_cycles = parse_count(value);
        else if (flag == "--reset-cycles") options.reset_cycles = parse_count(value);
        else if (flag == "--expect-output") options.expect_output = int64_t(parse_count(value));
        else usage("unknown option ", argv[i - 1]);
    }
    if (options.input.empty() || options.outdir.empty())
        usage("--input and --outdir are required");
#if !VM_TRACE
    if (!options.waveform.empty())
        usage("built without tracing; rebuild with trace='vcd' or 'fst' to write a waveform");
#endif
    return options;
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::vector<uint8_t> data;
    FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) usage("cannot read ", path.c_str());
    uint8_t chunk[65536];
    size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0)
        data.insert(data.end(), chunk, chunk + got);
    std::fclose(file);
    return data;
}

FILE* open_out(const Options& options, const char* name) {
    std::string path = options.outdir + "/" + name;
    FILE* file = std::fopen(path.c_str(), "wb");
    if (!file) {
        std::fprintf(stderr, "engine-sim: cannot write %s\n", path.c_str());
        std::exit(1);
    }
    return file;
}

void write_all(FILE* file, const void* data, size_t bytes) {
    if (bytes && std::fwrite(data, 1, bytes, file) != bytes) {
        std::fprintf(stderr, "engine-sim: write failed (disk full?)\n");
        std::exit(1);
    }
}

void print_counts(FILE* file, const char* name, const uint64_t* counts, size_t n) {
    std::fprintf(file, "  \"%s\": [", name);
    for (size_t i = 0; i < n; ++i) std::fprintf(file, "%s%" PRIu64, i ? ", " : "", counts[i]);
    std::fprintf(file, "],\n");
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    const std::vector<uint8_t> input = read_file(options.input);
    const uint64_t stall_in = threshold(options.stall_in), stall_out = threshold(options.stall_out);
    Rng rng(options.seed);

    auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(1, argv);  // only the program name: the options above are ours
#if VM_TRACE
    if (!options.waveform.empty()) context->traceEverOn(true);
#endif
    auto top = std::make_unique<Vengine>(context.get(), "engine");
    // Verilator spells "__" in a Verilog name as "___05F" in C++ (names with "__" are reserved
    // to the C++ implementation): commands__valid is the member commands___05Fvalid.
    auto& commands_valid = top->commands___05Fvalid;
    auto& commands_ready = top->commands___05Fready;
    auto& commands_payload = top->commands___05Fpayload;
    auto& results_valid = top->results___05Fvalid;
    auto& results_ready = top->results___05Fready;
    auto& results_payload = top->results___05Fpayload;
    auto& observe_write_en = top->observe___05Fwrite_en;
    auto& observe_write_addr = top->observe___05Fwrite_addr;
    auto& observe_write_data = top->observe___05Fwrite_data;
    auto& observe_stage = top->observe___05Fstage;
    auto& observe_phase = top->observe___05Fphase;
    auto& observe_beat = top->observe___05Fbeat;
#if VM_TRACE
    std::unique_ptr<Trace> trace;
    if (!options.waveform.empty()) {
        trace = std::make_unique<Trace>();
        top->trace(trace.get(), 99);
        trace->open(options.waveform.c_str());
    }
    uint64_t time = 0;  // 10 time units a cycle: clk low at 10c, rising edge at 10c + 5
    auto dump = [&] { if (trace) trace->dump(time); time += 5; };
#else
    auto dump = [] {};
#endif

    commands_valid = 0;
    commands_payload = 0;
    results_ready = 0;
    top->rst = 1;
    for (uint64_t i = 0; i < options.reset_cycles; ++i) {
        top->clk = 0;
        top->eval();
        dump();
        top->clk = 1;
        top->eval();
        dump();
    }
    top->rst = 0;

    std::vector<uint8_t> output;
    std::vector<uint64_t> records;
    records.reserve(kFlushWords + kRecordWords);
    FILE* writes_file = open_out(options, "writes.bin");
    uint64_t writes = 0, load_cycles = 0, idle = 0, cycle = 0;
    uint64_t phase_cycles[4] = {}, stage_cycles[16] = {}, stage_beats[16] = {};
    uint64_t last_line = 0;
    size_t sent = 0, reported = 0;
    bool offered = false;
    const char* status = "done";
    const auto started = std::chrono::steady_clock::now();

    for (;;) {
        // Inputs of this cycle: they must not depend on the outputs of this cycle.
        if (!offered && sent < input.size() && !(stall_in && rng.next() < stall_in)) offered = true;
        commands_valid = offered;
        if (offered) commands_payload = input[sent];
        const bool ready = !(stall_out && rng.next() < stall_out);
        results_ready = ready;
        top->clk = 0;
        top->eval();
        dump();

        const bool taken = offered && commands_ready;
        const bool offering = results_valid;
        if (ready && offering) output.push_back(results_payload);
        const unsigned phase = observe_phase & 3u, stage = observe_stage & 15u;
        ++phase_cycles[phase];
        if (phase == 2) {
            ++stage_cycles[stage];
            stage_beats[stage] += observe_beat & 1u;
        } else if (phase == 1) {
            ++load_cycles;
        }
        if (observe_write_en && options.record_writes) {
            const size_t at = records.size();
            records.resize(at + kRecordWords);
            records[at] = cycle;
            records[at + 1] = static_cast<uint64_t>(observe_write_addr) |
                              static_cast<uint64_t>(stage) << 32;
            DataWords::store(observe_write_data, &records[at + 2]);
            ++writes;
            if (records.size() >= kFlushWords) {
                write_all(writes_file, records.data(), records.size() * 8);
                records.clear();
            }
        }

        top->clk = 1;
        top->eval();
        dump();
        if (taken) {
            ++sent;
            offered = false;
        }
        ++cycle;

        idle = (phase == 0 && !offering && !taken) ? idle + 1 : 0;
        if (sent == input.size()) {
            if (options.expect_output >= 0 ? output.size() >= uint64_t(options.expect_output)
                                           : idle >= options.idle_cycles)
                break;
        }
        if (context->gotFinish()) {
            status = "finish";
            break;
        }
        if (cycle >= options.max_cycles) {
            status = "max_cycles";
            break;
        }
        if (options.progress &&
            (cycle % kProgressEvery == 0 ||
             (output.size() > reported && cycle - last_line >= kProgressOutputGap))) {
            std::printf("@abchw progress cycle=%" PRIu64 " input=%zu output=%zu new=", cycle, sent,
                        output.size());
            for (; reported < output.size(); ++reported) std::printf("%02x", output[reported]);
            std::printf("\n");
            std::fflush(stdout);
            last_line = cycle;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fflush(stdout);

    write_all(writes_file, records.data(), records.size() * 8);
    std::fclose(writes_file);
    FILE* output_file = open_out(options, "output.bin");
    write_all(output_file, output.data(), output.size());
    std::fclose(output_file);
#if VM_TRACE
    if (trace) trace->close();
#endif
    top->final();

    FILE* stats = open_out(options, "stats.json");
    std::fprintf(stats, "{\n  \"status\": \"%s\",\n  \"cycles\": %" PRIu64 ",\n", status, cycle);
    std::fprintf(stats, "  \"input_bytes\": %zu,\n  \"input_consumed\": %zu,\n", input.size(),
                 sent);
    std::fprintf(stats, "  \"output_bytes\": %zu,\n  \"writes\": %" PRIu64 ",\n", output.size(),
                 writes);
    std::fprintf(stats, "  \"write_words\": %zu,\n  \"load_cycles\": %" PRIu64 ",\n",
                 DataWords::count, load_cycles);
    print_counts(stats, "phase_cycles", phase_cycles, 4);
    print_counts(stats, "stage_cycles", stage_cycles, 16);
    print_counts(stats, "stage_beats", stage_beats, 16);
    std::fprintf(stats, "  \"final_phase\": %u,\n  \"final_stage\": %u,\n",
                 unsigned(observe_phase & 3u), unsigned(observe_stage & 15u));
    std::fprintf(stats, "  \"wall_seconds\": %.9g\n}\n", seconds);
    std::fclose(stats);
    return std::strcmp(status, "max_cycles") == 0 ? 3 : 0;
}
