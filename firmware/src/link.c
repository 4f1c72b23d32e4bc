/* Stop-and-wait exchanges over the board link (see abchw/link.h). */
#include "abchw/link.h"

#include <string.h>

void abchw_link_init(abchw_link *link, abchw_write_fn write, abchw_read_byte_fn read_byte,
                     void *ctx)
{
    memset(link, 0, sizeof *link);
    link->write = write;
    link->read_byte = read_byte;
    link->ctx = ctx;
    link->timeout_ms = ABCHW_LINK_DEFAULT_TIMEOUT_MS;
    link->run_timeout_ms = ABCHW_LINK_DEFAULT_RUN_TIMEOUT_MS;
    link->max_retries = ABCHW_LINK_DEFAULT_RETRIES;
    link->max_payload = ABCHW_DEFAULT_MAX_PAYLOAD < ABCHW_LINK_PAYLOAD_MAX
                        ? ABCHW_DEFAULT_MAX_PAYLOAD : ABCHW_LINK_PAYLOAD_MAX;
}

static int transport_sink(void *ctx, const uint8_t *data, size_t len)
{
    abchw_link *link = (abchw_link *)ctx;
    return link->write(link->ctx, data, len) < 0 ? ABCHW_ERR_IO : ABCHW_OK;
}

/* Reads until a good frame that answers `seq` (or a NAK: whatever it refused, resending is
 * safe since the board dedups): ABCHW_OK, ABCHW_ERR_TIMEOUT, ABCHW_ERR_CORRUPT or ABCHW_ERR_IO.
 * Good replies to earlier seqs (late answers to a resent frame) are skipped. */
static int await_reply(abchw_link *link, uint8_t seq, abchw_frame *frame)
{
    abchw_slip_decoder decoder;
    /* Line noise without an END must not keep the host here forever. */
    size_t budget = 4 * sizeof link->rx;
    abchw_slip_init(&decoder, link->rx, sizeof link->rx);
    for (;;) {
        uint8_t byte;
        int got = link->read_byte(link->ctx, &byte, link->timeout_ms), status;
        if (got < 0)
            return ABCHW_ERR_IO;
        if (got == 0)
            return ABCHW_ERR_TIMEOUT;
        if (budget-- == 0)
            return ABCHW_ERR_CORRUPT;
        status = abchw_slip_feed(&decoder, byte);
        if (status == ABCHW_SLIP_MORE)
            continue;
        if (status == ABCHW_SLIP_TOO_LONG
            || abchw_frame_parse(decoder.buf, decoder.len, ABCHW_LINK_PAYLOAD_MAX, frame) != 0)
            return ABCHW_ERR_CORRUPT;
        if (frame->kind == ABCHW_KIND_NAK || frame->seq == seq)
            return ABCHW_OK;
        link->stats.other_seq++;
    }
}

static int answers(uint8_t request, uint8_t reply)
{
    return reply == ABCHW_REPLY_KIND(request)
           || (request == ABCHW_KIND_EXEC && reply == ABCHW_KIND_OVERFLOW);
}

/* Sends the frame until a reply that answers it comes, or the retries run out (the error of the
 * last attempt); abchw_link_init says how each failure is met. A failed exchange uses up its seq
 * too: the board may have run it, and a new frame with its seq would be taken for a copy. */
static int transact(abchw_link *link, uint8_t kind, const uint8_t *prefix, size_t prefix_len,
                    const uint8_t *data, size_t data_len, abchw_frame *reply)
{
    uint8_t seq = link->seq++;
    unsigned attempt;
    if (!link->write || !link->read_byte)
        return ABCHW_ERR_ARGUMENT;
    for (attempt = 0;; attempt++) {
        int status;
        if (attempt)
            link->stats.retransmissions++;
        status = abchw_frame_write(kind, seq, prefix, prefix_len, data, data_len,
                                   transport_sink, link);
        if (status != ABCHW_OK)
            return status;
        link->stats.sent++;
        status = await_reply(link, seq, reply);
        if (status == ABCHW_OK && reply->kind == ABCHW_KIND_NAK) {
            link->stats.naks++;
            link->last_nak_reason = reply->length ? reply->payload[0] : 0;
            status = ABCHW_ERR_NAK;
        } else if (status == ABCHW_OK && !answers(kind, reply->kind)) {
            link->stats.stale_replies++;
            seq = link->seq++;
            status = ABCHW_ERR_REPLY;
        } else if (status == ABCHW_ERR_TIMEOUT) {
            link->stats.timeouts++;
        } else if (status == ABCHW_ERR_CORRUPT) {
            link->stats.crc_errors++;
        }
        if (status == ABCHW_OK) {
            link->stats.frames++;
            return ABCHW_OK;
        }
        if (status == ABCHW_ERR_IO || attempt >= link->max_retries)
            return status;
    }
}

int abchw_link_reset(abchw_link *link)
{
    abchw_frame reply;
    if (!link)
        return ABCHW_ERR_ARGUMENT;
    return transact(link, ABCHW_KIND_RESET, NULL, 0, NULL, 0, &reply);
}

int abchw_link_info(abchw_link *link, abchw_build_info *info)
{
    abchw_frame reply;
    int status;
    if (!link || !info)
        return ABCHW_ERR_ARGUMENT;
    status = transact(link, ABCHW_KIND_INFO, NULL, 0, NULL, 0, &reply);
    if (status != ABCHW_OK)
        return status;
    status = abchw_build_info_parse(reply.payload, reply.length, info);
    if (status == ABCHW_OK)
        link->max_payload = info->max_payload < ABCHW_LINK_PAYLOAD_MAX
                            ? info->max_payload : ABCHW_LINK_PAYLOAD_MAX;
    return status;
}

int abchw_link_exec_prefixed(abchw_link *link, const uint8_t *prefix, size_t prefix_len,
                             const uint8_t *data, size_t data_len, uint8_t *reply, size_t cap,
                             size_t *reply_len)
{
    abchw_frame frame;
    int status;
    if (!link || !reply_len || (cap && !reply) || (prefix_len && !prefix)
        || (data_len && !data))
        return ABCHW_ERR_ARGUMENT;
    *reply_len = 0;
    if (prefix_len > link->max_payload || data_len > link->max_payload - prefix_len)
        return ABCHW_ERR_TOO_LONG;
    status = transact(link, ABCHW_KIND_EXEC, prefix, prefix_len, data, data_len, &frame);
    if (status != ABCHW_OK)
        return status;
    *reply_len = frame.length;
    if (frame.length > cap)
        return ABCHW_ERR_NO_SPACE;
    if (frame.length)
        memcpy(reply, frame.payload, frame.length);
    return frame.kind == ABCHW_KIND_OVERFLOW ? ABCHW_ERR_OVERFLOW : ABCHW_OK;
}

int abchw_link_exec(abchw_link *link, const uint8_t *payload, size_t len, uint8_t *reply,
                    size_t cap, size_t *reply_len)
{
    return abchw_link_exec_prefixed(link, NULL, 0, payload, len, reply, cap, reply_len);
}
