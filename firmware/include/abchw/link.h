/* The host side of the board link: stop-and-wait exchanges of frames (abchw/protocol.py) over a
 * transport given as two callbacks, with retransmission after a NAK, a timeout or a corrupt
 * reply. No allocation, no OS calls: it runs on a microcontroller as well as on a PC. It
 * behaves as abchw.host.Board (the Python host) does, and counts the same things.
 *
 *   abchw_link link;
 *   abchw_link_init(&link, uart_write, uart_read_byte, &uart);
 *   abchw_link_reset(&link);             // the board forgets the last seq of an earlier host
 *   abchw_link_info(&link, &info);       // and adopts the board's max_payload
 *   abchw_link_exec(&link, commands, n, reply, sizeof reply, &reply_len);
 */
#ifndef ABCHW_LINK_H
#define ABCHW_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "abchw/error.h"
#include "abchw/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest payload this host sends or receives (the receive buffer is part of abchw_link).
 * A board with a larger max_payload is sent frames of this size. */
#ifndef ABCHW_LINK_PAYLOAD_MAX
#define ABCHW_LINK_PAYLOAD_MAX 1024
#endif
#if ABCHW_LINK_PAYLOAD_MAX < 1 || ABCHW_LINK_PAYLOAD_MAX > 65535
#error "ABCHW_LINK_PAYLOAD_MAX must be 1..65535"
#endif

#define ABCHW_LINK_DEFAULT_TIMEOUT_MS 1000
#define ABCHW_LINK_DEFAULT_RUN_TIMEOUT_MS 30000
#define ABCHW_LINK_DEFAULT_RETRIES 8

/* Sends all `len` bytes: returns 0, or a negative value when the transport failed. */
typedef int (*abchw_write_fn)(void *ctx, const uint8_t *data, size_t len);
/* Waits up to `timeout_ms` for one byte: 1 and `*byte` set, 0 when none came in time, or a
 * negative value when the transport failed (a closed connection, for example). */
typedef int (*abchw_read_byte_fn)(void *ctx, uint8_t *byte, uint32_t timeout_ms);

/* Counts since abchw_link_init (the caller may zero them). */
typedef struct {
    uint32_t frames;          /* requests answered */
    uint32_t sent;            /* frames written, copies included */
    uint32_t retransmissions; /* copies sent again */
    uint32_t naks;            /* NAK replies */
    uint32_t timeouts;        /* attempts with no reply within the timeout of silence */
    uint32_t crc_errors;      /* reply bodies that failed their checks (CRC, length, size) */
    uint32_t other_seq;       /* good replies with another seq (late answers), skipped */
    uint32_t stale_replies;   /* the board took a new frame for a copy of its last one */
} abchw_link_stats;

typedef struct {
    abchw_write_fn write;
    abchw_read_byte_fn read_byte;
    void *ctx;
    uint32_t timeout_ms;      /* longest silence while a reply is awaited */
    uint32_t run_timeout_ms;  /* the same for frames that run inferences (abchw_classify) */
    unsigned max_retries;     /* resends of a frame after its first send */
    uint16_t max_payload;     /* largest payload sent: the board's (INFO) up to the limit */
    uint8_t seq;              /* seq of the next new frame */
    uint8_t last_nak_reason;  /* abchw_nak_reason of the latest NAK, 0 before any */
    abchw_link_stats stats;
    uint8_t rx[ABCHW_LINK_PAYLOAD_MAX + ABCHW_FRAME_OVERHEAD];
} abchw_link;

/* Defaults: ABCHW_LINK_DEFAULT_{TIMEOUT_MS,RUN_TIMEOUT_MS,RETRIES}, max_payload
 * ABCHW_DEFAULT_MAX_PAYLOAD (until abchw_link_info), seq 0, stats zero.
 *
 * Every request takes a new seq. A NAK, a timeout or a corrupt reply sends the same frame again
 * (the board runs a frame once and answers a copy with its remembered reply); a good reply with
 * another seq is skipped; a reply with the right seq but a kind that does not answer the request
 * is the board's remembered reply to an earlier host's frame: the frame is sent again under a
 * new seq. After 1 + max_retries failed attempts, the error of the last one. */
void abchw_link_init(abchw_link *link, abchw_write_fn write, abchw_read_byte_fn read_byte,
                     void *ctx);

/* RESET: the engine's logic restarts (its memories keep the program) and the board forgets the
 * last seq; the board never takes a RESET for a copy. Call it first: a board that still holds
 * an earlier host's seq would take a new EXEC with that seq for a copy and not run it. */
int abchw_link_reset(abchw_link *link);

/* INFO: fills `info` and sets link->max_payload to the board's (at most
 * ABCHW_LINK_PAYLOAD_MAX). ABCHW_ERR_VERSION when the board speaks another protocol. */
int abchw_link_info(abchw_link *link, abchw_build_info *info);

/* EXEC: feeds `payload` (engine command bytes, at most link->max_payload) to the engine; the
 * result bytes it sent meanwhile land in `reply` (`*reply_len` of them). ABCHW_ERR_NO_SPACE when
 * they exceed `cap` (`*reply_len` says how many came), ABCHW_ERR_OVERFLOW when the board cut
 * them at its max_payload (the cut bytes are in `reply`). */
int abchw_link_exec(abchw_link *link, const uint8_t *payload, size_t len, uint8_t *reply,
                    size_t cap, size_t *reply_len);

/* abchw_link_exec of the payload `prefix` then `data`, without copying them together (for a
 * command byte in front of data). */
int abchw_link_exec_prefixed(abchw_link *link, const uint8_t *prefix, size_t prefix_len,
                             const uint8_t *data, size_t data_len, uint8_t *reply, size_t cap,
                             size_t *reply_len);

#ifdef __cplusplus
}
#endif

#endif
