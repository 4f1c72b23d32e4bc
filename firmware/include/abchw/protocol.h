/* The board link's framed protocol (version 1), as specified in abchw/protocol.py: CRC-16,
 * SLIP framing, frame bodies and the INFO reply. Pure functions, no I/O, no allocation.
 *
 * Frame body: kind u8 | seq u8 | length u16 LE | payload[length] | crc u16 BIG-endian, where
 * crc is CRC-16/CCITT-FALSE over kind..payload (so the CRC over the whole body is 0). On the
 * wire a body is END, the body with END and ESC escaped, END. */
#ifndef ABCHW_PROTOCOL_H
#define ABCHW_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ABCHW_PROTOCOL_VERSION 1
#define ABCHW_SLIP_END 0xC0
#define ABCHW_SLIP_ESC 0xDB
#define ABCHW_SLIP_ESC_END 0xDC
#define ABCHW_SLIP_ESC_ESC 0xDD
/* kind, seq and length. */
#define ABCHW_FRAME_HEADER_BYTES 4
/* Header and CRC: a body is this plus its payload. */
#define ABCHW_FRAME_OVERHEAD 6
/* The largest payload of a build that does not say otherwise (INFO tells the real one). */
#define ABCHW_DEFAULT_MAX_PAYLOAD 256

enum abchw_kind { ABCHW_KIND_INFO = 0x01, ABCHW_KIND_EXEC = 0x02, ABCHW_KIND_RESET = 0x03 };
/* Reply kinds: a good request of kind k is answered with k | 0x80, or these. */
#define ABCHW_REPLY_KIND(kind) ((uint8_t)((kind) | 0x80))
#define ABCHW_KIND_NAK 0xFF
#define ABCHW_KIND_OVERFLOW 0x90

/* Why a body is refused (the payload byte of a NAK). */
enum abchw_nak_reason {
    ABCHW_NAK_CRC = 1,      /* the CRC does not check */
    ABCHW_NAK_LENGTH = 2,   /* the length field disagrees with the bytes received */
    ABCHW_NAK_OVERSIZE = 3, /* longer than max_payload */
    ABCHW_NAK_KIND = 4,     /* unknown kind */
    ABCHW_NAK_SHORT = 5     /* fewer bytes than a header and a CRC */
};

/* CRC-16/CCITT-FALSE: start with crc = 0xFFFF (abchw_crc16 does). */
uint16_t abchw_crc16_update(uint16_t crc, const uint8_t *data, size_t len);
uint16_t abchw_crc16(const uint8_t *data, size_t len);

/* Receives the wire bytes of a frame, a few at a time; returns 0, or a negative error that
 * stops the frame. */
typedef int (*abchw_sink_fn)(void *ctx, const uint8_t *data, size_t len);

/* Streams the wire bytes of the frame (kind, seq, payload = prefix then data) to `sink`, in
 * pieces of at most 64 bytes, without building the frame in memory. The payload must be at most
 * 65535 bytes (else ABCHW_ERR_TOO_LONG). Returns ABCHW_OK or the sink's error. */
int abchw_frame_write(uint8_t kind, uint8_t seq, const uint8_t *prefix, size_t prefix_len,
                      const uint8_t *data, size_t data_len, abchw_sink_fn sink, void *ctx);

/* The wire bytes of a frame in `out`: their count, or 0 when they do not fit `cap` bytes (at
 * most 2 * (len + ABCHW_FRAME_OVERHEAD) + 2 are needed). */
size_t abchw_frame_encode(uint8_t kind, uint8_t seq, const uint8_t *payload, size_t len,
                          uint8_t *out, size_t cap);

/* A decoded frame; `payload` points into the body it was parsed from. */
typedef struct {
    uint8_t kind;
    uint8_t seq;
    uint16_t length;
    const uint8_t *payload;
} abchw_frame;

/* Parses an unescaped body with the board's checks, in its order: 0 and `*frame` filled, or the
 * abchw_nak_reason the body fails (SHORT, OVERSIZE past max_payload, LENGTH, CRC). */
int abchw_frame_parse(const uint8_t *body, size_t len, size_t max_payload, abchw_frame *frame);

/* Unescapes a byte stream into frame bodies held in a caller's buffer. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;          /* bytes of the body so far (or of the body just completed) */
    uint8_t escaped;     /* the last byte was ESC */
    uint8_t overflowed;  /* the body is longer than cap: its extra bytes were dropped */
    uint8_t complete;    /* the last byte ended a body: the next one starts a new body */
} abchw_slip_decoder;

enum abchw_slip_status {
    ABCHW_SLIP_MORE = 0,      /* no body ended */
    ABCHW_SLIP_BODY = 1,      /* a non-empty body ended: d->len bytes in d->buf */
    ABCHW_SLIP_TOO_LONG = -1  /* a body longer than cap ended (it is lost) */
};

void abchw_slip_init(abchw_slip_decoder *d, uint8_t *buf, size_t cap);
/* Feeds one byte; an empty body (END END) is ignored. An ESC followed by anything but ESC_END or
 * ESC_ESC keeps that byte (the CRC then rejects the frame), as abchw.protocol does. */
int abchw_slip_feed(abchw_slip_decoder *d, uint8_t byte);

/* An engine build (abchw.gateware.engine.config.EngineConfig, its fields in their order). */
typedef struct {
    uint8_t m, n, pes;
    uint16_t lanes;
    uint8_t coef_bits;
    uint32_t act_words, weight_words, coef_words, threshold_words;
    uint8_t stages_max;
    uint8_t hard_macro;
    uint8_t weight_spram;
} abchw_engine_config;

/* The INFO reply (abchw.protocol.BuildInfo): version u8, the config fields in the order above
 * (lanes u16, the *_words u32, the others u8), clock_hz u32, baud u32, max_payload u16, all
 * little-endian. It follows EngineConfig's fields: a field added there must be added here. */
typedef struct {
    uint8_t version;
    abchw_engine_config config;
    uint32_t clock_hz;
    uint32_t baud;
    uint16_t max_payload;
} abchw_build_info;

#define ABCHW_BUILD_INFO_BYTES 36

/* ABCHW_OK, ABCHW_ERR_VERSION (version byte not ABCHW_PROTOCOL_VERSION) or ABCHW_ERR_REPLY
 * (wrong size, or max_payload 0). */
int abchw_build_info_parse(const uint8_t *payload, size_t len, abchw_build_info *info);

/* 1 when the two builds are the same, else 0. */
int abchw_config_equal(const abchw_engine_config *a, const abchw_engine_config *b);

#ifdef __cplusplus
}
#endif

#endif
