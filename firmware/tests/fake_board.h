/* A board in memory for the unit tests: it speaks the link protocol (NAKs, dedup by seq,
 * RESET, OVERFLOW) behind the two transport callbacks of abchw_link, and injects a scripted
 * fault into chosen frames. Reading from an empty reply queue times out at once. */
#ifndef ABCHW_TEST_FAKE_BOARD_H
#define ABCHW_TEST_FAKE_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "abchw/protocol.h"

enum fake_fault {
    FAULT_NONE,
    FAULT_DROP_REQUEST,    /* the frame is lost on its way to the board */
    FAULT_CORRUPT_REQUEST, /* a bit of the frame flips on its way: the board NAKs it */
    FAULT_DROP_REPLY,      /* the board acts but its reply is lost */
    FAULT_CORRUPT_REPLY,   /* a bit of the reply's CRC flips */
    FAULT_TRUNCATE_REPLY,  /* the reply loses its last byte */
    FAULT_STALE_FIRST,     /* a good reply with the previous seq comes before the real one */
    FAULT_NOISE_FIRST,     /* line noise comes before the reply */
    FAULT_WRONG_KIND       /* the reply has a kind that answers nothing */
};

#define FAKE_FAULTS_MAX 64
#define FAKE_QUEUE_BYTES 16384

typedef struct fake_board fake_board;
/* The engine: the result bytes (at most cap) that the command bytes `cmd` produce. */
typedef size_t (*fake_engine_fn)(fake_board *board, const uint8_t *cmd, size_t len,
                                 uint8_t *out, size_t cap);

struct fake_board {
    fake_engine_fn engine;            /* NULL: EXEC produces no results */
    void *engine_ctx;
    uint16_t max_payload;             /* ABCHW_DEFAULT_MAX_PAYLOAD */
    uint8_t info[64];                 /* the INFO reply payload */
    size_t info_len;
    uint8_t faults[FAKE_FAULTS_MAX];  /* the fault of the n-th frame to arrive */
    int fail_writes;                  /* the host's writes fail */
    int closed;                       /* the host's reads fail */
    /* What happened. */
    unsigned frames;                  /* frames arrived (good or not, dropped included) */
    unsigned executed;                /* good frames acted on (not resends) */
    unsigned resends;                 /* good frames answered from the remembered reply */
    unsigned naks;
    unsigned timeouts;                /* reads from the empty queue */
    uint8_t seqs[FAKE_FAULTS_MAX];    /* seq of the n-th frame to arrive */
    uint8_t commands[FAKE_QUEUE_BYTES];
    size_t commands_len;              /* EXEC payload bytes acted on, in order */
    /* State. */
    int last_seq;                     /* -1: none */
    uint8_t last_reply[2 * (ABCHW_FRAME_OVERHEAD + 1024) + 2];
    size_t last_reply_len;
    uint8_t rx[1100];
    abchw_slip_decoder decoder;
    uint8_t queue[FAKE_QUEUE_BYTES];
    size_t queue_len, queue_pos;
};

void fake_board_init(fake_board *board);
/* abchw_write_fn and abchw_read_byte_fn with a fake_board as ctx. */
int fake_board_write(void *ctx, const uint8_t *data, size_t len);
int fake_board_read_byte(void *ctx, uint8_t *byte, uint32_t timeout_ms);

#endif
