/* CRC, SLIP, frames and the INFO layout against vectors made by abchw.protocol. */
#include <string.h>

#include "abchw/error.h"
#include "abchw/protocol.h"
#include "check.h"

static void test_crc16(void)
{
    static const uint8_t check[] = "123456789";
    uint8_t body[11];
    uint16_t crc = abchw_crc16(check, 9);
    CHECK_EQ(crc, 0x29B1);
    CHECK_EQ(abchw_crc16(NULL, 0), 0xFFFF);
    CHECK_EQ(abchw_crc16_update(abchw_crc16(check, 4), check + 4, 5), 0x29B1);
    /* Sent big-endian, the CRC makes the CRC over the whole body 0 (what the board checks). */
    memcpy(body, check, 9);
    body[9] = (uint8_t)(crc >> 8);
    body[10] = (uint8_t)(crc & 0xFF);
    CHECK_EQ(abchw_crc16(body, sizeof body), 0);
}

static void test_encode(void)
{
    /* encode_frame(2, 0xC0, b"\xc0\xdb\x01"): END and ESC escaped in seq, payload and CRC. */
    static const uint8_t payload[] = {0xC0, 0xDB, 0x01};
    static const uint8_t wire[] = {0xC0, 0x02, 0xDB, 0xDC, 0x03, 0x00, 0xDB, 0xDC, 0xDB, 0xDD,
                                   0x01, 0x3E, 0xC4, 0xC0};
    /* encode_frame(1, 7, b"") */
    static const uint8_t empty[] = {0xC0, 0x01, 0x07, 0x00, 0x00, 0x77, 0xE4, 0xC0};
    uint8_t out[64];
    size_t n = abchw_frame_encode(2, 0xC0, payload, sizeof payload, out, sizeof out);
    CHECK_EQ(n, sizeof wire);
    CHECK(n == sizeof wire && !memcmp(out, wire, n));
    n = abchw_frame_encode(1, 7, NULL, 0, out, sizeof out);
    CHECK_EQ(n, sizeof empty);
    CHECK(n == sizeof empty && !memcmp(out, empty, n));
    CHECK_EQ(abchw_frame_encode(2, 0xC0, payload, sizeof payload, out, sizeof wire - 1), 0);
}

typedef struct {
    uint8_t bytes[4096];
    size_t len;
    unsigned calls;
} collector;

static int collect(void *ctx, const uint8_t *data, size_t len)
{
    collector *c = (collector *)ctx;
    memcpy(c->bytes + c->len, data, len);
    c->len += len;
    c->calls++;
    return 0;
}

static int refuse(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
    return ABCHW_ERR_IO;
}

/* A long frame of only END and ESC bytes: every byte is escaped, escapes straddle the writer's
 * flushes, and decoding gives back the payload. */
static void test_write_round_trip(void)
{
    static const uint8_t prefix[] = {0x02};
    uint8_t data[1000], body[1100];
    collector c;
    abchw_slip_decoder d;
    abchw_frame frame;
    size_t i;
    int status = ABCHW_SLIP_MORE;
    for (i = 0; i < sizeof data; i++)
        data[i] = i % 3 ? ABCHW_SLIP_END : ABCHW_SLIP_ESC;
    c.len = 0;
    c.calls = 0;
    CHECK_EQ(abchw_frame_write(2, 9, prefix, 1, data, sizeof data, collect, &c), ABCHW_OK);
    CHECK(c.len > 2 * sizeof data);
    CHECK(c.calls > 1 && c.calls < c.len / 32);
    abchw_slip_init(&d, body, sizeof body);
    for (i = 0; i < c.len; i++) {
        status = abchw_slip_feed(&d, c.bytes[i]);
        if (status != ABCHW_SLIP_MORE)
            break;
    }
    CHECK_EQ(status, ABCHW_SLIP_BODY);
    CHECK_EQ(i, c.len - 1);
    CHECK_EQ(abchw_frame_parse(d.buf, d.len, 1024, &frame), 0);
    CHECK_EQ(frame.kind, 2);
    CHECK_EQ(frame.seq, 9);
    CHECK_EQ(frame.length, 1 + sizeof data);
    CHECK(frame.payload[0] == 0x02 && !memcmp(frame.payload + 1, data, sizeof data));
    CHECK_EQ(abchw_frame_write(2, 9, NULL, 0, data, sizeof data, refuse, NULL), ABCHW_ERR_IO);
    CHECK_EQ(abchw_frame_write(2, 9, NULL, 0, data, 0x10000, collect, &c), ABCHW_ERR_TOO_LONG);
}

static void test_slip_decoder(void)
{
    /* Empty frames are ignored; an unknown escape keeps its byte; an overlong body is lost and
     * the next one decodes. */
    static const uint8_t stream[] = {0xC0, 0xC0, 0x11, 0xDB, 0xDC, 0xDB, 0xDD, 0xDB, 0x42, 0xC0,
                                     0x01, 0x02, 0x03, 0x04, 0x05, 0xC0, 0x07, 0xC0};
    uint8_t buf[4];
    abchw_slip_decoder d;
    int statuses[sizeof stream];
    size_t i;
    abchw_slip_init(&d, buf, sizeof buf);
    for (i = 0; i < sizeof stream; i++) {
        statuses[i] = abchw_slip_feed(&d, stream[i]);
        if (i == 9) {
            CHECK_EQ(d.len, 4);
            CHECK(!memcmp(buf, "\x11\xC0\xDB\x42", 4));
        }
    }
    CHECK_EQ(statuses[0], ABCHW_SLIP_MORE);
    CHECK_EQ(statuses[1], ABCHW_SLIP_MORE);
    CHECK_EQ(statuses[9], ABCHW_SLIP_BODY);
    CHECK_EQ(statuses[15], ABCHW_SLIP_TOO_LONG);
    CHECK_EQ(statuses[17], ABCHW_SLIP_BODY);
    CHECK_EQ(d.len, 1);
    CHECK_EQ(buf[0], 0x07);
}

static void test_parse_errors(void)
{
    uint8_t wire[32], body[32];
    abchw_frame frame;
    size_t n = abchw_frame_encode(2, 5, (const uint8_t *)"abcd", 4, wire, sizeof wire);
    size_t len = n - 2;
    CHECK_EQ(n, 12);
    memcpy(body, wire + 1, len); /* no escapes in this frame */
    CHECK_EQ(abchw_frame_parse(body, len, 4, &frame), 0);
    CHECK(frame.length == 4 && !memcmp(frame.payload, "abcd", 4));
    CHECK_EQ(abchw_frame_parse(body, 5, 256, &frame), ABCHW_NAK_SHORT);
    CHECK_EQ(abchw_frame_parse(body, len, 3, &frame), ABCHW_NAK_OVERSIZE);
    CHECK_EQ(abchw_frame_parse(body, len - 1, 256, &frame), ABCHW_NAK_LENGTH);
    body[5] ^= 0x04;
    CHECK_EQ(abchw_frame_parse(body, len, 256, &frame), ABCHW_NAK_CRC);
}

static void test_build_info(void)
{
    /* BuildInfo(EngineConfig(m=3, n=2, pes=4, lanes=16, act_words=70000, weight_words=1024,
     * coef_words=512, threshold_words=513, stages_max=16, hard_macro=True, weight_spram=True),
     * clock_hz=12000000, baud=3000000, max_payload=300).to_bytes() */
    static const uint8_t payload[] = {
        0x01, 0x03, 0x02, 0x04, 0x10, 0x00, 0x10, 0x70, 0x11, 0x01, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x10, 0x01, 0x01, 0x00, 0x1B,
        0xB7, 0x00, 0xC0, 0xC6, 0x2D, 0x00, 0x2C, 0x01};
    uint8_t other[sizeof payload];
    abchw_build_info info, copy;
    CHECK_EQ(sizeof payload, ABCHW_BUILD_INFO_BYTES);
    CHECK_EQ(abchw_build_info_parse(payload, sizeof payload, &info), ABCHW_OK);
    CHECK_EQ(info.version, 1);
    CHECK_EQ(info.config.m, 3);
    CHECK_EQ(info.config.n, 2);
    CHECK_EQ(info.config.pes, 4);
    CHECK_EQ(info.config.lanes, 16);
    CHECK_EQ(info.config.coef_bits, 16);
    CHECK_EQ(info.config.act_words, 70000);
    CHECK_EQ(info.config.weight_words, 1024);
    CHECK_EQ(info.config.coef_words, 512);
    CHECK_EQ(info.config.threshold_words, 513);
    CHECK_EQ(info.config.stages_max, 16);
    CHECK_EQ(info.config.hard_macro, 1);
    CHECK_EQ(info.config.weight_spram, 1);
    CHECK_EQ(info.clock_hz, 12000000);
    CHECK_EQ(info.baud, 3000000);
    CHECK_EQ(info.max_payload, 300);
    copy = info;
    CHECK(abchw_config_equal(&info.config, &copy.config));
    copy.config.weight_spram = 0;
    CHECK(!abchw_config_equal(&info.config, &copy.config));
    CHECK_EQ(abchw_build_info_parse(payload, sizeof payload - 1, &info), ABCHW_ERR_REPLY);
    memcpy(other, payload, sizeof other);
    other[0] = 2;
    CHECK_EQ(abchw_build_info_parse(other, sizeof other, &info), ABCHW_ERR_VERSION);
    CHECK_EQ(info.version, 2);
    CHECK_EQ(abchw_build_info_parse(NULL, 0, &info), ABCHW_ERR_VERSION);
    other[0] = 1;
    other[34] = other[35] = 0;
    CHECK_EQ(abchw_build_info_parse(other, sizeof other, &info), ABCHW_ERR_REPLY);
}

int main(void)
{
    test_crc16();
    test_encode();
    test_write_round_trip();
    test_slip_decoder();
    test_parse_errors();
    test_build_info();
    return check_report("test_protocol");
}
