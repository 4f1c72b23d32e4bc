/* CRC-16, SLIP framing, frame bodies and the INFO reply of the board link protocol. */
#include "abchw/protocol.h"

#include <string.h>

#include "abchw/error.h"

uint16_t abchw_crc16_update(uint16_t crc, const uint8_t *data, size_t len)
{
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (bit = 0; bit < 8; bit++)
            crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

uint16_t abchw_crc16(const uint8_t *data, size_t len)
{
    return abchw_crc16_update(0xFFFF, data, len);
}

/* Escaped bytes wait here so that the sink sees a few calls per frame, not one per byte. */
typedef struct {
    uint8_t buf[64];
    size_t len;
    uint16_t crc;
    abchw_sink_fn sink;
    void *ctx;
} frame_writer;

static int writer_flush(frame_writer *w)
{
    int status = w->len ? w->sink(w->ctx, w->buf, w->len) : ABCHW_OK;
    w->len = 0;
    return status;
}

static int writer_raw(frame_writer *w, uint8_t byte)
{
    /* Room for an escaped pair is kept, so an escape is never split across flushes. */
    if (w->len + 2 > sizeof w->buf) {
        int status = writer_flush(w);
        if (status != ABCHW_OK)
            return status;
    }
    w->buf[w->len++] = byte;
    return ABCHW_OK;
}

static int writer_body(frame_writer *w, const uint8_t *data, size_t len, int checked)
{
    size_t i;
    int status = ABCHW_OK;
    if (checked)
        w->crc = abchw_crc16_update(w->crc, data, len);
    for (i = 0; i < len && status == ABCHW_OK; i++) {
        if (data[i] == ABCHW_SLIP_END || data[i] == ABCHW_SLIP_ESC) {
            status = writer_raw(w, ABCHW_SLIP_ESC);
            w->buf[w->len++] = data[i] == ABCHW_SLIP_END ? ABCHW_SLIP_ESC_END : ABCHW_SLIP_ESC_ESC;
        } else {
            status = writer_raw(w, data[i]);
        }
    }
    return status;
}

int abchw_frame_write(uint8_t kind, uint8_t seq, const uint8_t *prefix, size_t prefix_len,
                      const uint8_t *data, size_t data_len, abchw_sink_fn sink, void *ctx)
{
    frame_writer w;
    uint8_t header[ABCHW_FRAME_HEADER_BYTES], crc[2];
    size_t length = prefix_len + data_len;
    int status;
    if (!sink || (prefix_len && !prefix) || (data_len && !data))
        return ABCHW_ERR_ARGUMENT;
    if (length > 0xFFFF || length < prefix_len)
        return ABCHW_ERR_TOO_LONG;
    w.len = 0;
    w.crc = 0xFFFF;
    w.sink = sink;
    w.ctx = ctx;
    header[0] = kind;
    header[1] = seq;
    header[2] = (uint8_t)(length & 0xFF);
    header[3] = (uint8_t)(length >> 8);
    status = writer_raw(&w, ABCHW_SLIP_END);
    if (status == ABCHW_OK)
        status = writer_body(&w, header, sizeof header, 1);
    if (status == ABCHW_OK)
        status = writer_body(&w, prefix, prefix_len, 1);
    if (status == ABCHW_OK)
        status = writer_body(&w, data, data_len, 1);
    if (status == ABCHW_OK) {
        crc[0] = (uint8_t)(w.crc >> 8);
        crc[1] = (uint8_t)(w.crc & 0xFF);
        status = writer_body(&w, crc, sizeof crc, 0);
    }
    if (status == ABCHW_OK)
        status = writer_raw(&w, ABCHW_SLIP_END);
    if (status == ABCHW_OK)
        status = writer_flush(&w);
    return status;
}

typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;
} memory_sink;

static int memory_sink_put(void *ctx, const uint8_t *data, size_t len)
{
    memory_sink *m = (memory_sink *)ctx;
    if (len > m->cap - m->len)
        return ABCHW_ERR_NO_SPACE;
    memcpy(m->out + m->len, data, len);
    m->len += len;
    return ABCHW_OK;
}

size_t abchw_frame_encode(uint8_t kind, uint8_t seq, const uint8_t *payload, size_t len,
                          uint8_t *out, size_t cap)
{
    memory_sink m;
    m.out = out;
    m.cap = out ? cap : 0;
    m.len = 0;
    if (abchw_frame_write(kind, seq, NULL, 0, payload, len, memory_sink_put, &m) != ABCHW_OK)
        return 0;
    return m.len;
}

int abchw_frame_parse(const uint8_t *body, size_t len, size_t max_payload, abchw_frame *frame)
{
    size_t received;
    uint16_t length;
    if (!body || len < ABCHW_FRAME_OVERHEAD)
        return ABCHW_NAK_SHORT;
    received = len - ABCHW_FRAME_OVERHEAD;
    if (received > max_payload)
        return ABCHW_NAK_OVERSIZE;
    length = (uint16_t)(body[2] | (body[3] << 8));
    if (length != received)
        return ABCHW_NAK_LENGTH;
    if (abchw_crc16(body, len) != 0)
        return ABCHW_NAK_CRC;
    if (frame) {
        frame->kind = body[0];
        frame->seq = body[1];
        frame->length = length;
        frame->payload = body + ABCHW_FRAME_HEADER_BYTES;
    }
    return 0;
}

void abchw_slip_init(abchw_slip_decoder *d, uint8_t *buf, size_t cap)
{
    d->buf = buf;
    d->cap = cap;
    d->len = 0;
    d->escaped = 0;
    d->overflowed = 0;
    d->complete = 0;
}

int abchw_slip_feed(abchw_slip_decoder *d, uint8_t byte)
{
    if (d->complete) {
        d->len = 0;
        d->overflowed = 0;
        d->complete = 0;
    }
    if (byte == ABCHW_SLIP_END) {
        int status = d->overflowed ? ABCHW_SLIP_TOO_LONG
                     : d->len ? ABCHW_SLIP_BODY : ABCHW_SLIP_MORE;
        d->escaped = 0;
        d->complete = 1;
        return status;
    }
    if (d->escaped) {
        d->escaped = 0;
        if (byte == ABCHW_SLIP_ESC_END)
            byte = ABCHW_SLIP_END;
        else if (byte == ABCHW_SLIP_ESC_ESC)
            byte = ABCHW_SLIP_ESC;
    } else if (byte == ABCHW_SLIP_ESC) {
        d->escaped = 1;
        return ABCHW_SLIP_MORE;
    }
    if (d->len < d->cap)
        d->buf[d->len++] = byte;
    else
        d->overflowed = 1;
    return ABCHW_SLIP_MORE;
}

static uint32_t read_le(const uint8_t **p, int bytes)
{
    uint32_t value = 0;
    int i;
    for (i = 0; i < bytes; i++)
        value |= (uint32_t)(*p)[i] << (8 * i);
    *p += bytes;
    return value;
}

int abchw_build_info_parse(const uint8_t *payload, size_t len, abchw_build_info *info)
{
    const uint8_t *p = payload;
    abchw_engine_config *c;
    if (!info || (len && !payload))
        return ABCHW_ERR_ARGUMENT;
    if (len < 1 || payload[0] != ABCHW_PROTOCOL_VERSION) {
        info->version = len ? payload[0] : 0;
        return ABCHW_ERR_VERSION;
    }
    if (len != ABCHW_BUILD_INFO_BYTES)
        return ABCHW_ERR_REPLY;
    c = &info->config;
    info->version = (uint8_t)read_le(&p, 1);
    c->m = (uint8_t)read_le(&p, 1);
    c->n = (uint8_t)read_le(&p, 1);
    c->pes = (uint8_t)read_le(&p, 1);
    c->lanes = (uint16_t)read_le(&p, 2);
    c->coef_bits = (uint8_t)read_le(&p, 1);
    c->act_words = read_le(&p, 4);
    c->weight_words = read_le(&p, 4);
    c->coef_words = read_le(&p, 4);
    c->threshold_words = read_le(&p, 4);
    c->stages_max = (uint8_t)read_le(&p, 1);
    c->hard_macro = (uint8_t)read_le(&p, 1);
    c->weight_spram = (uint8_t)read_le(&p, 1);
    info->clock_hz = read_le(&p, 4);
    info->baud = read_le(&p, 4);
    info->max_payload = (uint16_t)read_le(&p, 2);
    return info->max_payload ? ABCHW_OK : ABCHW_ERR_REPLY;
}

int abchw_config_equal(const abchw_engine_config *a, const abchw_engine_config *b)
{
    return a->m == b->m && a->n == b->n && a->pes == b->pes && a->lanes == b->lanes
           && a->coef_bits == b->coef_bits && a->act_words == b->act_words
           && a->weight_words == b->weight_words && a->coef_words == b->coef_words
           && a->threshold_words == b->threshold_words && a->stages_max == b->stages_max
           && !a->hard_macro == !b->hard_macro && !a->weight_spram == !b->weight_spram;
}
