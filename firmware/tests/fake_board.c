/* The in-memory board of the unit tests (see fake_board.h). */
#include "fake_board.h"

#include <string.h>

void fake_board_init(fake_board *board)
{
    memset(board, 0, sizeof *board);
    board->max_payload = ABCHW_DEFAULT_MAX_PAYLOAD;
    board->last_seq = -1;
    abchw_slip_init(&board->decoder, board->rx, sizeof board->rx);
}

static void queue_byte(fake_board *board, uint8_t byte)
{
    if (board->queue_len < sizeof board->queue)
        board->queue[board->queue_len++] = byte;
}

/* SLIP-encodes a body (which may be deliberately wrong) into `out`; returns the byte count. */
static size_t slip_encode(const uint8_t *body, size_t len, uint8_t *out)
{
    size_t i, n = 0;
    out[n++] = ABCHW_SLIP_END;
    for (i = 0; i < len; i++) {
        if (body[i] == ABCHW_SLIP_END || body[i] == ABCHW_SLIP_ESC) {
            out[n++] = ABCHW_SLIP_ESC;
            out[n++] = body[i] == ABCHW_SLIP_END ? ABCHW_SLIP_ESC_END : ABCHW_SLIP_ESC_ESC;
        } else {
            out[n++] = body[i];
        }
    }
    out[n++] = ABCHW_SLIP_END;
    return n;
}

/* A reply body with its fault applied, encoded into `out`. */
static size_t reply_bytes(uint8_t kind, uint8_t seq, const uint8_t *payload, size_t len,
                          int fault, uint8_t *out)
{
    uint8_t body[ABCHW_FRAME_OVERHEAD + 1024];
    uint16_t crc;
    body[0] = fault == FAULT_WRONG_KIND ? 0x85 : kind;
    body[1] = seq;
    body[2] = (uint8_t)(len & 0xFF);
    body[3] = (uint8_t)(len >> 8);
    if (len)
        memcpy(body + ABCHW_FRAME_HEADER_BYTES, payload, len);
    crc = abchw_crc16(body, ABCHW_FRAME_HEADER_BYTES + len);
    body[ABCHW_FRAME_HEADER_BYTES + len] = (uint8_t)(crc >> 8);
    body[ABCHW_FRAME_HEADER_BYTES + len + 1] = (uint8_t)(crc & 0xFF);
    len += ABCHW_FRAME_OVERHEAD;
    if (fault == FAULT_CORRUPT_REPLY)
        body[len - 1] ^= 0x01;
    if (fault == FAULT_TRUNCATE_REPLY)
        len--;
    return slip_encode(body, len, out);
}

static void send(fake_board *board, const uint8_t *wire, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        queue_byte(board, wire[i]);
}

static void send_reply(fake_board *board, uint8_t kind, uint8_t seq, const uint8_t *payload,
                       size_t len, int fault, int remember)
{
    uint8_t wire[sizeof board->last_reply];
    size_t n;
    if (fault == FAULT_STALE_FIRST) {
        n = reply_bytes(kind, (uint8_t)(seq - 1), payload, len, FAULT_NONE, wire);
        send(board, wire, n);
    }
    if (fault == FAULT_NOISE_FIRST) {
        static const uint8_t noise[] = {0x55, 0xAA, 0x00, ABCHW_SLIP_ESC, 0x13};
        send(board, noise, sizeof noise);
    }
    if (remember) {
        board->last_seq = seq;
        board->last_reply_len = reply_bytes(kind, seq, payload, len, FAULT_NONE,
                                            board->last_reply);
    }
    if (fault == FAULT_DROP_REPLY)
        return;
    n = reply_bytes(kind, seq, payload, len, fault, wire);
    send(board, wire, n);
}

static void act(fake_board *board, uint8_t *body, size_t len)
{
    unsigned number = board->frames++;
    int fault = number < FAKE_FAULTS_MAX ? board->faults[number] : FAULT_NONE;
    uint8_t results[1024];
    size_t count = 0;
    abchw_frame frame;
    int reason;
    if (number < FAKE_FAULTS_MAX)
        board->seqs[number] = len > 1 ? body[1] : 0;
    if (fault == FAULT_DROP_REQUEST)
        return;
    if (fault == FAULT_CORRUPT_REQUEST)
        body[len / 2] ^= 0x10;
    reason = abchw_frame_parse(body, len, board->max_payload, &frame);
    if (!reason && frame.kind != ABCHW_KIND_INFO && frame.kind != ABCHW_KIND_EXEC
        && frame.kind != ABCHW_KIND_RESET)
        reason = ABCHW_NAK_KIND;
    if (reason) {
        uint8_t why = (uint8_t)reason;
        board->naks++;
        send_reply(board, ABCHW_KIND_NAK, len > 1 ? body[1] : 0, &why, 1, fault, 0);
        return;
    }
    if (frame.kind == ABCHW_KIND_RESET) {
        board->last_seq = -1;
        send_reply(board, ABCHW_REPLY_KIND(frame.kind), frame.seq, NULL, 0, fault, 0);
        return;
    }
    if (frame.seq == board->last_seq) {
        board->resends++;
        if (fault != FAULT_DROP_REPLY)
            send(board, board->last_reply, board->last_reply_len);
        return;
    }
    board->executed++;
    if (frame.kind == ABCHW_KIND_INFO) {
        send_reply(board, ABCHW_REPLY_KIND(frame.kind), frame.seq, board->info, board->info_len,
                   fault, 1);
        return;
    }
    if (board->commands_len + frame.length <= sizeof board->commands) {
        memcpy(board->commands + board->commands_len, frame.payload, frame.length);
        board->commands_len += frame.length;
    }
    if (board->engine)
        count = board->engine(board, frame.payload, frame.length, results, sizeof results);
    if (count > board->max_payload)
        send_reply(board, ABCHW_KIND_OVERFLOW, frame.seq, results, board->max_payload, fault, 1);
    else
        send_reply(board, ABCHW_REPLY_KIND(frame.kind), frame.seq, results, count, fault, 1);
}

int fake_board_write(void *ctx, const uint8_t *data, size_t len)
{
    fake_board *board = (fake_board *)ctx;
    size_t i;
    if (board->fail_writes)
        return -1;
    for (i = 0; i < len; i++) {
        int status = abchw_slip_feed(&board->decoder, data[i]);
        if (status == ABCHW_SLIP_BODY)
            act(board, board->decoder.buf, board->decoder.len);
    }
    return 0;
}

int fake_board_read_byte(void *ctx, uint8_t *byte, uint32_t timeout_ms)
{
    fake_board *board = (fake_board *)ctx;
    (void)timeout_ms;
    if (board->closed)
        return -1;
    if (board->queue_pos == board->queue_len) {
        board->queue_pos = board->queue_len = 0;
        board->timeouts++;
        return 0;
    }
    *byte = board->queue[board->queue_pos++];
    return 1;
}
