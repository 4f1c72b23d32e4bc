/* The link's exchanges and retries against the in-memory fake board. */
#include <string.h>

#include "abchw/link.h"
#include "check.h"
#include "fake_board.h"

/* Answers every EXEC with its payload, each byte + 1. */
static size_t increment_engine(fake_board *board, const uint8_t *cmd, size_t len, uint8_t *out,
                               size_t cap)
{
    size_t i;
    (void)board;
    for (i = 0; i < len && i < cap; i++)
        out[i] = (uint8_t)(cmd[i] + 1);
    return i;
}

/* Answers with as many bytes as the first command byte says, times 2. */
static size_t sized_engine(fake_board *board, const uint8_t *cmd, size_t len, uint8_t *out,
                           size_t cap)
{
    size_t count = len ? 2u * cmd[0] : 0, i;
    (void)board;
    for (i = 0; i < count && i < cap; i++)
        out[i] = (uint8_t)i;
    return count;
}

static void setup(fake_board *board, abchw_link *link)
{
    fake_board_init(board);
    board->engine = increment_engine;
    abchw_link_init(link, fake_board_write, fake_board_read_byte, board);
}

/* One EXEC of "\x10\x20\x30" must come back as "\x11\x21\x31". */
static int exec_once(abchw_link *link)
{
    static const uint8_t cmd[] = {0x10, 0x20, 0x30};
    uint8_t reply[8];
    size_t got = 99;
    int status = abchw_link_exec(link, cmd, sizeof cmd, reply, sizeof reply, &got);
    if (status == ABCHW_OK) {
        CHECK_EQ(got, 3);
        CHECK(!memcmp(reply, "\x11\x21\x31", 3));
    }
    return status;
}

static void test_clean_exchange(void)
{
    fake_board board;
    abchw_link link;
    setup(&board, &link);
    CHECK_EQ(abchw_link_reset(&link), ABCHW_OK);
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(board.executed, 2);
    CHECK_EQ(board.commands_len, 6);
    CHECK_EQ(board.seqs[0], 0);
    CHECK_EQ(board.seqs[1], 1);
    CHECK_EQ(board.seqs[2], 2);
    CHECK_EQ(link.stats.frames, 3);
    CHECK_EQ(link.stats.retransmissions + link.stats.naks + link.stats.timeouts
             + link.stats.crc_errors + link.stats.other_seq + link.stats.stale_replies, 0);
    CHECK_EQ(link.stats.sent, 3);
}

/* Each fault costs one resend of the same seq, the board acts once, the caller sees nothing. */
static void test_fault(int fault, int naks, int timeouts, int crc_errors)
{
    fake_board board;
    abchw_link link;
    setup(&board, &link);
    board.faults[1] = (uint8_t)fault;
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(board.frames, 3);
    CHECK_EQ(board.seqs[1], 1);
    CHECK_EQ(board.seqs[2], 1);
    CHECK_EQ(board.commands_len, 6);
    CHECK_EQ(board.resends, fault == FAULT_DROP_REPLY || fault == FAULT_CORRUPT_REPLY
                            || fault == FAULT_TRUNCATE_REPLY);
    CHECK_EQ(link.stats.frames, 2);
    CHECK_EQ(link.stats.retransmissions, 1);
    CHECK_EQ(link.stats.naks, naks);
    CHECK_EQ(link.stats.timeouts, timeouts);
    CHECK_EQ(link.stats.crc_errors, crc_errors);
}

static void test_faults(void)
{
    test_fault(FAULT_DROP_REQUEST, 0, 1, 0);
    test_fault(FAULT_CORRUPT_REQUEST, 1, 0, 0);
    test_fault(FAULT_DROP_REPLY, 0, 1, 0);
    test_fault(FAULT_CORRUPT_REPLY, 0, 0, 1);
    test_fault(FAULT_TRUNCATE_REPLY, 0, 0, 1);
}

static void test_nak_reason(void)
{
    fake_board board;
    abchw_link link;
    setup(&board, &link);
    board.faults[0] = FAULT_CORRUPT_REQUEST;
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(link.last_nak_reason, ABCHW_NAK_CRC);
}

/* A late reply to an earlier seq is skipped, then the right one is taken. */
static void test_stale_reply(void)
{
    fake_board board;
    abchw_link link;
    setup(&board, &link);
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    board.faults[1] = FAULT_STALE_FIRST;
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(link.stats.other_seq, 1);
    CHECK_EQ(link.stats.retransmissions, 0);
    CHECK_EQ(board.commands_len, 6);
}

/* Noise before a reply reads as a corrupt frame: the host resends, takes the first reply, and
 * skips the board's second answer (to the resend) in the next exchange. */
static void test_noise(void)
{
    fake_board board;
    abchw_link link;
    setup(&board, &link);
    board.faults[0] = FAULT_NOISE_FIRST;
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(link.stats.crc_errors, 1);
    CHECK_EQ(link.stats.retransmissions, 1);
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(link.stats.other_seq, 1);
    CHECK_EQ(board.executed, 2);
    CHECK_EQ(board.resends, 1);
}

/* The retries run out: the error of the last attempt, and the next frame takes a new seq. */
static void test_retries_exhausted(void)
{
    fake_board board;
    abchw_link link;
    int i;
    setup(&board, &link);
    link.max_retries = 2;
    for (i = 0; i < 3; i++)
        board.faults[i] = FAULT_DROP_REPLY;
    CHECK_EQ(exec_once(&link), ABCHW_ERR_TIMEOUT);
    CHECK_EQ(board.frames, 3);
    CHECK_EQ(link.stats.timeouts, 3);
    CHECK_EQ(link.stats.retransmissions, 2);
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(board.seqs[3], 1);
    CHECK_EQ(board.executed, 2);

    setup(&board, &link);
    link.max_retries = 1;
    board.faults[0] = board.faults[1] = FAULT_CORRUPT_REQUEST;
    CHECK_EQ(exec_once(&link), ABCHW_ERR_NAK);
    CHECK_EQ(link.stats.naks, 2);
    CHECK_EQ(board.executed, 0);

    setup(&board, &link);
    link.max_retries = 0;
    board.faults[0] = FAULT_CORRUPT_REPLY;
    CHECK_EQ(exec_once(&link), ABCHW_ERR_CORRUPT);
    CHECK_EQ(board.frames, 1);
}

/* A new host session on a board that remembers seq 0 from the last one: its first frame (seq 0)
 * is answered with that remembered reply, of the wrong kind; it is sent again under seq 1. */
static void test_new_session(void)
{
    static const uint8_t info[] = {
        0x01, 0x03, 0x03, 0x04, 0x10, 0x00, 0x10, 0x00, 0x10, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x1B,
        0xB7, 0x00, 0xC0, 0xC6, 0x2D, 0x00, 0x00, 0x01};
    fake_board board;
    abchw_link link;
    abchw_build_info got;
    setup(&board, &link);
    memcpy(board.info, info, sizeof info);
    board.info_len = sizeof info;
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    abchw_link_init(&link, fake_board_write, fake_board_read_byte, &board);
    CHECK_EQ(abchw_link_info(&link, &got), ABCHW_OK);
    CHECK_EQ(got.max_payload, 256);
    CHECK_EQ(link.stats.stale_replies, 1);
    CHECK_EQ(board.seqs[2], 1);
    CHECK_EQ(board.executed, 2);
    /* RESET is never taken for a copy: a session that begins with it is not even delayed. */
    abchw_link_init(&link, fake_board_write, fake_board_read_byte, &board);
    link.seq = 1;
    CHECK_EQ(abchw_link_reset(&link), ABCHW_OK);
    CHECK_EQ(exec_once(&link), ABCHW_OK);
    CHECK_EQ(link.stats.stale_replies + link.stats.retransmissions, 0);
    CHECK_EQ(board.executed, 3);
}

static void test_transport_failure(void)
{
    fake_board board;
    abchw_link link;
    setup(&board, &link);
    board.fail_writes = 1;
    CHECK_EQ(exec_once(&link), ABCHW_ERR_IO);
    board.fail_writes = 0;
    board.closed = 1;
    CHECK_EQ(exec_once(&link), ABCHW_ERR_IO);
    CHECK_EQ(link.stats.retransmissions, 0);
}

static void test_reply_kinds(void)
{
    fake_board board;
    abchw_link link;
    uint8_t cmd[1] = {10}, reply[64];
    size_t got;
    /* A reply of a kind that answers nothing, every time. */
    setup(&board, &link);
    link.max_retries = 1;
    board.faults[0] = board.faults[1] = FAULT_WRONG_KIND;
    CHECK_EQ(exec_once(&link), ABCHW_ERR_REPLY);
    CHECK_EQ(link.stats.stale_replies, 2);
    CHECK_EQ(board.seqs[1], 1);

    /* Results longer than max_payload are cut there: OVERFLOW, with the cut bytes. */
    setup(&board, &link);
    board.engine = sized_engine;
    board.max_payload = 16;
    CHECK_EQ(abchw_link_exec(&link, cmd, 1, reply, sizeof reply, &got), ABCHW_ERR_OVERFLOW);
    CHECK_EQ(got, 16);
    CHECK_EQ(reply[15], 15);
    /* A reply longer than the caller's buffer. */
    cmd[0] = 5;
    CHECK_EQ(abchw_link_exec(&link, cmd, 1, reply, 9, &got), ABCHW_ERR_NO_SPACE);
    CHECK_EQ(got, 10);
    CHECK_EQ(abchw_link_exec(&link, cmd, 1, reply, 10, &got), ABCHW_OK);
}

static void test_payload_limit(void)
{
    fake_board board;
    abchw_link link;
    uint8_t cmd[300] = {0}, reply[300];
    size_t got;
    setup(&board, &link);
    CHECK_EQ(abchw_link_exec(&link, cmd, 257, reply, sizeof reply, &got), ABCHW_ERR_TOO_LONG);
    CHECK_EQ(abchw_link_exec_prefixed(&link, cmd, 1, cmd, 256, reply, sizeof reply, &got),
             ABCHW_ERR_TOO_LONG);
    CHECK_EQ(board.frames, 0);
    CHECK_EQ(abchw_link_exec_prefixed(&link, (const uint8_t *)"\x07", 1, cmd, 255, reply,
                                      sizeof reply, &got), ABCHW_OK);
    CHECK_EQ(got, 256);
    CHECK_EQ(reply[0], 8);
    CHECK_EQ(reply[255], 1);
    CHECK_EQ(abchw_link_exec(NULL, cmd, 1, reply, sizeof reply, &got), ABCHW_ERR_ARGUMENT);
}

static void test_info(void)
{
    /* BuildInfo(EngineConfig(m=3, n=3, pes=4, lanes=16), clock_hz=12000000, baud=3000000,
     * max_payload=300).to_bytes() */
    static const uint8_t payload[] = {
        0x01, 0x03, 0x03, 0x04, 0x10, 0x00, 0x10, 0x00, 0x10, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x1B,
        0xB7, 0x00, 0xC0, 0xC6, 0x2D, 0x00, 0x2C, 0x01};
    fake_board board;
    abchw_link link;
    abchw_build_info info;
    setup(&board, &link);
    memcpy(board.info, payload, sizeof payload);
    board.info_len = sizeof payload;
    board.faults[0] = FAULT_CORRUPT_REPLY;
    CHECK_EQ(abchw_link_info(&link, &info), ABCHW_OK);
    CHECK_EQ(info.config.lanes, 16);
    CHECK_EQ(info.max_payload, 300);
    CHECK_EQ(link.max_payload, 300);
    board.info[0] = 2;
    CHECK_EQ(abchw_link_info(&link, &info), ABCHW_ERR_VERSION);
}

static void test_strerror(void)
{
    int code;
    for (code = ABCHW_OK; code >= ABCHW_ERR_RESULTS; code--)
        CHECK(strcmp(abchw_strerror(code), "unknown abchw error") != 0);
    CHECK(strcmp(abchw_strerror(1), "unknown abchw error") == 0);
    CHECK(strstr(abchw_strerror(ABCHW_ERR_TIMEOUT), "no reply") != NULL);
}

int main(void)
{
    test_clean_exchange();
    test_faults();
    test_nak_reason();
    test_stale_reply();
    test_noise();
    test_retries_exhausted();
    test_new_session();
    test_transport_failure();
    test_reply_kinds();
    test_payload_limit();
    test_info();
    test_strerror();
    return check_report("test_link");
}
