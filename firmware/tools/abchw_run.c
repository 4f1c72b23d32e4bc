/* abchw-run: runs a compiled program on a board from a POSIX host, without Python.
 *
 *   abchw-run [--baud N] [--timeout MS] [--run-timeout MS] [--retries N] PORT PROGRAM IMAGE...
 *
 * PORT is a serial device (raw 8N1 at --baud, 3000000 by default) or tcp:HOST:PORT (a simulated
 * board). It resets the board, asks its build (INFO), loads PROGRAM (.abchwprog) and runs every
 * image of every IMAGE file (image_file.h), printing one line each: the class (the index of the
 * largest score), the scores in (C, H, W) order and the engine's cycle counters. Exit status 0;
 * 2 for bad input (options, files, a program for another build), one message on stderr; 1 when
 * the link fails. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abchw/link.h"
#include "abchw/program.h"
#include "image_file.h"
#include "posix_port.h"

#define USAGE \
    "usage: abchw-run [--baud N] [--timeout MS] [--run-timeout MS] [--retries N] " \
    "PORT PROGRAM IMAGE..."
#define EXIT_BAD_INPUT 2
#define EXIT_LINK 1
#define DEFAULT_BAUD 3000000L

typedef struct {
    long baud, timeout_ms, run_timeout_ms, retries;
    const char *port, *program;
    char **images;
    int image_count;
} options;

#ifdef __GNUC__
#define NORETURN __attribute__((noreturn))
#define PRINTF_LIKE __attribute__((format(printf, 2, 3)))
#else
#define NORETURN
#define PRINTF_LIKE
#endif

/* Prints "abchw-run: <message>" on stderr and exits with `status`. */
static void fail(int status, const char *format, ...) NORETURN PRINTF_LIKE;
static void link_failed(const options *o, const abchw_link *link, const char *what, int status)
    NORETURN;

static void fail(int status, const char *format, ...)
{
    va_list args;
    fflush(stdout);
    fputs("abchw-run: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    exit(status);
}

static long parse_number(const char *name, const char *text, long min, long max)
{
    char *end;
    long value;
    errno = 0;
    value = strtol(text, &end, 10);
    if (!*text || *end || errno || value < min || value > max)
        fail(EXIT_BAD_INPUT, "%s must be an integer %ld..%ld, not '%s'", name, min, max, text);
    return value;
}

static options parse_options(int argc, char **argv)
{
    static const struct {
        const char *name;
        long min, max;
    } NUMERIC[] = {{"--baud", 1, 100000000}, {"--timeout", 1, 3600000},
                   {"--run-timeout", 1, 3600000}, {"--retries", 0, 1000}};
    options o;
    long *targets[4];
    char **positional = argv + 1;
    int i, count = 0, only_positional = 0;
    o.baud = DEFAULT_BAUD;
    o.timeout_ms = ABCHW_LINK_DEFAULT_TIMEOUT_MS;
    o.run_timeout_ms = ABCHW_LINK_DEFAULT_RUN_TIMEOUT_MS;
    o.retries = ABCHW_LINK_DEFAULT_RETRIES;
    targets[0] = &o.baud;
    targets[1] = &o.timeout_ms;
    targets[2] = &o.run_timeout_ms;
    targets[3] = &o.retries;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        size_t k, name_len;
        if (only_positional || arg[0] != '-' || !arg[1]) {
            positional[count++] = argv[i];
            continue;
        }
        if (!strcmp(arg, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            puts(USAGE);
            exit(0);
        }
        name_len = strcspn(arg, "=");
        for (k = 0; k < sizeof NUMERIC / sizeof NUMERIC[0]; k++)
            if (strlen(NUMERIC[k].name) == name_len && !strncmp(arg, NUMERIC[k].name, name_len))
                break;
        if (k == sizeof NUMERIC / sizeof NUMERIC[0])
            fail(EXIT_BAD_INPUT, "unknown option '%s' (%s)", arg, USAGE);
        if (arg[name_len] == '=')
            value = arg + name_len + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            fail(EXIT_BAD_INPUT, "option %s needs a value", NUMERIC[k].name);
        *targets[k] = parse_number(NUMERIC[k].name, value, NUMERIC[k].min, NUMERIC[k].max);
    }
    if (count < 3)
        fail(EXIT_BAD_INPUT, "missing %s (%s)",
             count == 0 ? "PORT" : count == 1 ? "PROGRAM" : "IMAGE", USAGE);
    o.port = positional[0];
    o.program = positional[1];
    o.images = positional + 2;
    o.image_count = count - 2;
    return o;
}

static void print_config(FILE *out, const abchw_engine_config *c)
{
    fprintf(out, "m=%u n=%u pes=%u lanes=%u coef_bits=%u act_words=%lu weight_words=%lu "
            "coef_words=%lu threshold_words=%lu stages_max=%u hard_macro=%u weight_spram=%u",
            c->m, c->n, c->pes, c->lanes, c->coef_bits, (unsigned long)c->act_words,
            (unsigned long)c->weight_words, (unsigned long)c->coef_words,
            (unsigned long)c->threshold_words, c->stages_max, c->hard_macro, c->weight_spram);
}

static void print_stats(FILE *out, const abchw_link_stats *s)
{
    fprintf(out, "frames=%lu sent=%lu retransmissions=%lu naks=%lu timeouts=%lu crc_errors=%lu "
            "other_seq=%lu stale_replies=%lu", (unsigned long)s->frames, (unsigned long)s->sent,
            (unsigned long)s->retransmissions, (unsigned long)s->naks,
            (unsigned long)s->timeouts, (unsigned long)s->crc_errors,
            (unsigned long)s->other_seq, (unsigned long)s->stale_replies);
}

/* Exits with the link's failure at `what`, and what the link saw. */
static void link_failed(const options *o, const abchw_link *link, const char *what, int status)
{
    static const char *const NAK_REASONS[] = {"?", "CRC", "LENGTH", "OVERSIZE", "KIND", "SHORT"};
    fflush(stdout);
    fprintf(stderr, "abchw-run: the board at %s failed %s: %s", o->port, what,
            abchw_strerror(status));
    if (status == ABCHW_ERR_NAK)
        fprintf(stderr, " (reason %s)", link->last_nak_reason < 6
                ? NAK_REASONS[link->last_nak_reason] : "?");
    fputs(" [", stderr);
    print_stats(stderr, &link->stats);
    fputs("]\n", stderr);
    exit(EXIT_LINK);
}

/* The images of every file, back to back; `names[i]` the file of image i. */
static uint8_t *read_images(const options *o, const abchw_program *prog, size_t *total,
                            const char ***names, size_t **index_in_file)
{
    uint8_t *all = NULL;
    char err[512];
    int f;
    *total = 0;
    *names = NULL;
    *index_in_file = NULL;
    for (f = 0; f < o->image_count; f++) {
        size_t count, i;
        uint8_t *pixels = image_file_read(o->images[f], prog, &count, err, sizeof err), *grown;
        const char **more_names;
        size_t *more_index;
        if (!pixels)
            fail(EXIT_BAD_INPUT, "%s", err);
        grown = (uint8_t *)realloc(all, (*total + count) * prog->image_bytes);
        more_names = (const char **)realloc((void *)*names, (*total + count) * sizeof **names);
        if (more_names)
            *names = more_names;
        more_index = (size_t *)realloc(*index_in_file, (*total + count) * sizeof **index_in_file);
        if (more_index)
            *index_in_file = more_index;
        if (!grown || !more_names || !more_index)
            fail(EXIT_BAD_INPUT, "the images do not fit in memory");
        all = grown;
        memcpy(all + *total * prog->image_bytes, pixels, count * prog->image_bytes);
        for (i = 0; i < count; i++) {
            (*names)[*total + i] = o->images[f];
            (*index_in_file)[*total + i] = count > 1 ? i + 1 : 0;
        }
        *total += count;
        free(pixels);
    }
    return all;
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    char err[512];
    size_t image_len, total, i, k;
    uint8_t *image = NULL, *pixels;
    const char **names;
    size_t *index_in_file;
    abchw_program prog;
    abchw_build_info info;
    abchw_link link;
    posix_port port;
    int64_t *scores;
    int status;

    /* A board that closes the connection must end in a message, not in SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (posix_port_check(o.port, o.baud, err, sizeof err) != PORT_OK)
        fail(EXIT_BAD_INPUT, "%s", err);
    image = read_whole_file(o.program, "program", &image_len, err, sizeof err);
    if (!image)
        fail(EXIT_BAD_INPUT, "%s", err);
    status = abchw_program_parse(&prog, image, image_len);
    if (status != ABCHW_OK)
        fail(EXIT_BAD_INPUT, "program '%s': %s", o.program, abchw_strerror(status));
    pixels = read_images(&o, &prog, &total, &names, &index_in_file);
    scores = (int64_t *)malloc(prog.score_count * sizeof *scores);
    if (!scores)
        fail(EXIT_BAD_INPUT, "program '%s': too many scores", o.program);

    status = posix_port_open(&port, o.port, o.baud, err, sizeof err);
    if (status != PORT_OK)
        fail(status == PORT_BAD_SPEC ? EXIT_BAD_INPUT : EXIT_LINK, "%s", err);
    abchw_link_init(&link, posix_port_write, posix_port_read_byte, &port);
    link.timeout_ms = (uint32_t)o.timeout_ms;
    link.run_timeout_ms = (uint32_t)o.run_timeout_ms;
    link.max_retries = (unsigned)o.retries;
    if ((status = abchw_link_reset(&link)) != ABCHW_OK)
        link_failed(&o, &link, "to RESET", status);
    if ((status = abchw_link_info(&link, &info)) != ABCHW_OK)
        link_failed(&o, &link, "to say its build (INFO)", status);
    printf("board: protocol=%u ", info.version);
    print_config(stdout, &info.config);
    printf(" clock_hz=%lu baud=%lu max_payload=%u\n", (unsigned long)info.clock_hz,
           (unsigned long)info.baud, info.max_payload);
    if (abchw_program_check_build(&prog, &info) != ABCHW_OK) {
        fflush(stdout);
        fprintf(stderr, "abchw-run: program '%s' was compiled for the build ", o.program);
        print_config(stderr, &prog.config);
        fputs(", not for the board's: compile the model for this build\n", stderr);
        return EXIT_BAD_INPUT;
    }
    if ((status = abchw_program_load(&link, &prog)) != ABCHW_OK)
        link_failed(&o, &link, "to load the program", status);
    printf("program: %s input=", o.program);
    for (k = 0; k < prog.input_rank; k++)
        printf("%s%lu", k ? "x" : "", (unsigned long)prog.input_shape[k]);
    printf(" scores=%lu load_bytes=%lu\n", (unsigned long)prog.score_count,
           (unsigned long)prog.load_len);

    for (i = 0; i < total; i++) {
        abchw_counters counters;
        status = abchw_classify(&link, &prog, pixels + i * prog.image_bytes, scores, &counters);
        if (status != ABCHW_OK) {
            snprintf(err, sizeof err, "on image '%s'", names[i]);
            link_failed(&o, &link, err, status);
        }
        if (index_in_file[i])
            printf("%s#%lu:", names[i], (unsigned long)index_in_file[i]);
        else
            printf("%s:", names[i]);
        printf(" class=%lu scores=", (unsigned long)abchw_argmax(scores, prog.score_count));
        for (k = 0; k < prog.score_count; k++)
            printf("%s%" PRId64, k ? "," : "", scores[k]);
        printf(" load_cycles=%" PRIu64 " compute_cycles=%" PRIu64 " busy_cycles=%" PRIu64 "\n",
               counters.load_cycles, counters.compute_cycles, counters.busy_cycles);
    }
    printf("link: ");
    print_stats(stdout, &link.stats);
    printf("\n");
    posix_port_close(&port);
    free(scores);
    free(pixels);
    free((void *)names);
    free(index_in_file);
    free(image);
    return 0;
}
