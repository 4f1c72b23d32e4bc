// The simulated board: a Verilated `soc` behind a TCP socket, its UART pins driven bit by bit.
//
// Built by abchw.sim.build (SOC_HARNESS) and started by abchw.sim.serve. Usage:
//
//   soc-sim --divisor D [--host ADDR] [--port N] [--reset-cycles N]
//
// It listens on ADDR:N (default 127.0.0.1, port 0: a free port chosen by the system), then prints
// "@abchw listening PORT" on stdout. One client at a time: the bytes it sends are serialized onto
// `rx` (8N1, D cycles a bit, back to back), and `tx` is deserialized (each bit sampled in its
// middle) into the bytes sent back; a connection made while another is served is closed at once.
// Every kPollCycles cycles the sockets are served without blocking. Once nothing has happened for
// a while (no bit on either line, no byte waiting, `activity` low) the clock stops and the
// harness sleeps in poll() until a client connects or sends: the design is waiting for input,
// so stopping its clock changes nothing it can see. SIGTERM or SIGINT (or, on Linux, the end of
// the parent process): exit 0, after one line of statistics on stderr. Exit status 1: cannot
// listen; 2: bad options.

#include "Vsoc.h"
#include "verilated.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kPollCycles = 256;          // cycles between socket services
constexpr uint64_t kQuietBytes = 16;           // byte times of nothing before the clock stops
constexpr uint64_t kQuietCyclesMin = 4096;
constexpr int kSleepMilliseconds = 100;        // longest sleep: bounds the reaction to a signal
constexpr size_t kQueueMax = 1 << 16;          // bytes from the client waiting for `rx`
constexpr int kBitsPerByte = 10;               // start, 8 data, stop

volatile std::sig_atomic_t stop_requested = 0;

void request_stop(int) { stop_requested = 1; }

[[noreturn]] void usage(const char* message, const char* argument = "") {
    std::fprintf(stderr, "soc-sim: %s%s\n", message, argument);
    std::exit(2);
}

struct Options {
    std::string host = "127.0.0.1";
    uint64_t port = 0, divisor = 0, reset_cycles = 4;
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
        if (i + 1 >= argc) usage("missing value after ", argv[i]);
        const char* value = argv[++i];
        if (flag == "--host") options.host = value;
        else if (flag == "--port") options.port = parse_count(value);
        else if (flag == "--divisor") options.divisor = parse_count(value);
        else if (flag == "--reset-cycles") options.reset_cycles = parse_count(value);
        else usage("unknown option ", argv[i - 1]);
    }
    if (options.divisor < 2) usage("--divisor of at least 2 cycles a bit is required");
    if (options.port > 65535) usage("--port must be 0..65535");
    return options;
}

[[noreturn]] void cannot_listen(const Options& options, const char* why) {
    std::fprintf(stderr, "soc-sim: cannot listen on %s:%" PRIu64 ": %s\n", options.host.c_str(),
                 options.port, why);
    std::exit(1);
}

// A non-blocking listening socket on options.host:options.port; *port gets the actual port.
int listen_on(const Options& options, uint16_t* port) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(options.port);
    const int error = getaddrinfo(options.host.c_str(), service.c_str(), &hints, &found);
    if (error) cannot_listen(options, gai_strerror(error));
    const int fd = socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int yes = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0 ||
        bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 4) != 0)
        cannot_listen(options, std::strerror(errno));
    freeaddrinfo(found);
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
    *port = ntohs(bound.sin_port);
    return fd;
}

// The host's side of `rx`: queued bytes go out back to back, 8N1, `divisor` cycles a bit.
struct Serializer {
    uint64_t divisor;
    int bit = -1;  // -1: idle (line high); 0: start bit; 1..8: data bits; 9: stop bit
    uint64_t left = 0;
    uint8_t byte = 0;

    bool idle() const { return bit < 0; }
    int line() const {
        if (bit <= 0) return bit < 0 ? 1 : 0;
        return bit <= 8 ? (byte >> (bit - 1)) & 1 : 1;
    }
    // After a cycle: move to the next bit, or the next byte of `queue`.
    void advance(std::deque<uint8_t>& queue) {
        if (bit >= 0 && --left > 0) return;
        if (bit >= 0 && ++bit < kBitsPerByte) {
            left = divisor;
            return;
        }
        bit = -1;
        if (!queue.empty()) {
            byte = queue.front();
            queue.pop_front();
            bit = 0;
            left = divisor;
        }
    }
};

// The host's side of `tx`: a falling edge starts a byte; every bit is sampled in its middle.
struct Deserializer {
    uint64_t divisor;
    int bit = -1;  // -1: waiting for a start bit; 0: in the start bit; 1..8: data; 9: stop bit
    uint64_t wait = 0;
    uint8_t byte = 0;
    bool previous = true;
    uint64_t framing_errors = 0;

    bool idle() const { return bit < 0 && previous; }
    // One cycle's level of `tx`; true when a byte has just been completed into `out`.
    bool sample(bool level, std::vector<uint8_t>& out) {
        const bool falling = previous && !level;
        previous = level;
        if (bit < 0) {
            if (falling) {
                bit = 0;
                wait = divisor / 2;
            }
            return false;
        }
        if (--wait > 0) return false;
        wait = divisor;
        if (bit == 0) {
            if (level) bit = -1;  // a glitch, not a start bit
            else bit = 1;
            return false;
        }
        if (bit <= 8) {
            byte = static_cast<uint8_t>((byte >> 1) | (level ? 0x80 : 0));
            ++bit;
            return false;
        }
        bit = -1;
        if (!level) {
            ++framing_errors;  // no stop bit: the byte is dropped, as a UART would flag it
            return false;
        }
        out.push_back(byte);
        return true;
    }
};

// The one connection served, and the listening socket that offers the next.
struct Link {
    int listener = -1, client = -1;
    std::deque<uint8_t> to_board;
    std::vector<uint8_t> to_host;
    uint64_t received = 0, sent = 0, connections = 0;

    void drop_client() {
        close(client);
        client = -1;
        to_board.clear();
        to_host.clear();
    }

    // Accept, receive and send what can be without blocking; first wait up to `sleep_ms`
    // for something to happen when asked to.
    void serve(int sleep_ms) {
        pollfd fds[2] = {{listener, POLLIN, 0}, {client, POLLIN, 0}};
        if (client >= 0 && !to_host.empty()) fds[1].events |= POLLOUT;
        if (poll(fds, client >= 0 ? 2 : 1, sleep_ms) <= 0) return;  // nothing, or a signal
        if (fds[0].revents & POLLIN) {
            const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0 && client >= 0) {
                close(fd);  // one client at a time
            } else if (fd >= 0) {
                const int yes = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
                client = fd;
                ++connections;
            }
        }
        if (client < 0) return;
        uint8_t chunk[4096];
        while (to_board.size() < kQueueMax) {
            const ssize_t got = recv(client, chunk, sizeof chunk, 0);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                drop_client();
                return;
            }
            if (got < 0) break;
            to_board.insert(to_board.end(), chunk, chunk + got);
            received += uint64_t(got);
        }
        if (!to_host.empty()) {
            const ssize_t put = send(client, to_host.data(), to_host.size(), MSG_NOSIGNAL);
            if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                drop_client();
                return;
            }
            if (put > 0) {
                to_host.erase(to_host.begin(), to_host.begin() + put);
                sent += uint64_t(put);
            }
        }
    }
};

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    struct sigaction action {};
    action.sa_handler = request_stop;  // no SA_RESTART: poll() returns at once on a signal
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the Python process that serves the board
#endif

    Link link;
    uint16_t port = 0;
    link.listener = listen_on(options, &port);
    std::printf("@abchw listening %u\n", unsigned(port));
    std::fflush(stdout);

    auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(1, argv);
    auto top = std::make_unique<Vsoc>(context.get(), "soc");
    top->rx = 1;
    top->rst = 1;
    for (uint64_t i = 0; i < options.reset_cycles; ++i) {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
    }
    top->rst = 0;

    Serializer serializer{options.divisor};
    Deserializer deserializer{options.divisor};
    const uint64_t quiet_cycles = std::max(kQuietCyclesMin, kQuietBytes * kBitsPerByte * options.divisor);
    uint64_t cycle = 0, quiet = 0;
    const auto started = std::chrono::steady_clock::now();
    while (!stop_requested) {
        if (cycle % kPollCycles == 0) {
            link.serve(quiet >= quiet_cycles ? kSleepMilliseconds : 0);
            if (serializer.idle()) serializer.advance(link.to_board);
        }
        top->rx = serializer.line();
        top->clk = 0;
        top->eval();
        const bool tx = top->tx & 1, activity = top->activity & 1;
        top->clk = 1;
        top->eval();
        ++cycle;
        const bool got = deserializer.sample(tx, link.to_host);
        if (got && link.client < 0) link.to_host.clear();  // nobody to tell
        serializer.advance(link.to_board);
        const bool busy = activity || !serializer.idle() || !deserializer.idle() ||
                          !link.to_board.empty() || !link.to_host.empty();
        quiet = busy ? 0 : quiet + 1;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    top->final();
    if (link.client >= 0) close(link.client);
    close(link.listener);
    std::fprintf(stderr,
                 "soc-sim: %" PRIu64 " cycles in %.3f s, %" PRIu64 " connection(s), %" PRIu64
                 " bytes in, %" PRIu64 " bytes out, %" PRIu64 " framing errors\n",
                 cycle, seconds, link.connections, link.received, link.sent,
                 deserializer.framing_errors);
    return 0;
}
