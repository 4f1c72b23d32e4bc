/* Compiled programs (`.abchwprog`, abchw/program.py) and running them on a board.
 *
 * Image file: "ABCHWPRG" | u32 version | u32 header length | JSON header | load bytes | u32 CRC-32
 * (zlib) of everything before, little-endian. The load bytes are the engine WRITE commands that
 * load the program; an inference is the RUN command 0x02 and the image's pixels (H, W, C order,
 * uint8). The engine answers it with the scores (score_bytes each, little-endian two's
 * complement, position by position, channel by channel) then 3 u64 LE counters. */
#ifndef ABCHW_PROGRAM_H
#define ABCHW_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "abchw/link.h"
#include "abchw/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ABCHW_PROGRAM_VERSION 2
#define ABCHW_PROGRAM_MAGIC "ABCHWPRG"
/* Dimensions of a shape (C, H, W): an output shape may have fewer. */
#define ABCHW_SHAPE_MAX 3
/* The largest shape dimension and product accepted. */
#define ABCHW_SHAPE_LIMIT (1UL << 24)
/* The RUN command byte. */
#define ABCHW_ENGINE_RUN 0x02

typedef struct {
    uint64_t load_cycles;
    uint64_t compute_cycles;
    uint64_t busy_cycles;
} abchw_counters;

#define ABCHW_COUNTER_BYTES 24

/* A parsed image; `load` points into the buffer it was parsed from (keep it alive). */
typedef struct {
    abchw_engine_config config;              /* the build it was compiled for */
    uint32_t input_shape[ABCHW_SHAPE_MAX];   /* (C, H, W) */
    unsigned input_rank;
    uint32_t output_shape[ABCHW_SHAPE_MAX];  /* (C[, H[, W]]) */
    unsigned output_rank;
    size_t image_bytes;                      /* product of input_shape */
    size_t score_count;                      /* product of output_shape */
    const uint8_t *load;                     /* the WRITE commands that load it */
    size_t load_len;
} abchw_program;

/* CRC-32 as zlib computes it. */
uint32_t abchw_crc32(const uint8_t *data, size_t len);

/* Checks magic, version, CRC-32 and the header's "config", "input_shape" and "output_shape":
 * ABCHW_OK or ABCHW_ERR_PROG_{MAGIC,VERSION,CRC,HEADER}. */
int abchw_program_parse(abchw_program *prog, const uint8_t *image, size_t len);

/* ABCHW_OK when `prog` was compiled for the board's build, else ABCHW_ERR_PROG_BUILD. */
int abchw_program_check_build(const abchw_program *prog, const abchw_build_info *info);

/* Sends the load bytes in EXEC frames of link->max_payload bytes (call abchw_link_info first);
 * ABCHW_ERR_REPLY if the engine answers them with result bytes. */
int abchw_program_load(abchw_link *link, const abchw_program *prog);

/* Runs one inference on `pixels` (prog->image_bytes, H, W, C order): `scores` gets
 * prog->score_count values in (C, H, W) order (as abchw's Program.decode_results gives them),
 * `counters` (may be NULL) the engine's cycle counters. Its frames wait up to
 * link->run_timeout_ms for their replies (an inference takes time). The results must come within
 * ABCHW_LINK_PAYLOAD_MAX bytes (they are gathered on the stack), else ABCHW_ERR_RESULTS, as
 * when their size is not score_count * score_bytes + 24 with score_bytes 1..8. */
int abchw_classify(abchw_link *link, const abchw_program *prog, const uint8_t *pixels,
                   int64_t *scores, abchw_counters *counters);

/* The index of the first largest of `count` scores (0 when count is 0). */
size_t abchw_argmax(const int64_t *scores, size_t count);

#ifdef __cplusplus
}
#endif

#endif
