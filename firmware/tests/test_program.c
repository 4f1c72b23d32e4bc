/* Program images: parsing (good and corrupt), loading and inferences against the fake board. */
#include <stdio.h>
#include <string.h>

#include "abchw/program.h"
#include "check.h"
#include "fake_board.h"
#include "json.h"

#define CONFIG_JSON                                                                          \
    "{\"m\": 3, \"n\": 2, \"pes\": 4, \"lanes\": 16, \"coef_bits\": 16, \"act_words\": 4096, " \
    "\"weight_words\": 1024, \"coef_words\": 512, \"threshold_words\": 512, "                \
    "\"stages_max\": 16, \"hard_macro\": false, \"weight_spram\": true}"

/* As abchw writes it, with nested values before the fields that matter (one of them holding an
 * "input_shape" of its own, which must not be taken) and a string with escapes. */
static const char GOOD_HEADER[] =
    "{\"stages\": [{\"kind\": \"c\\\"o]n}v\", \"input_shape\": [9], \"final\": false}], "
    "\"config\": " CONFIG_JSON ", \"input_shape\": [1, 4, 5], \"output_shape\": [3, 2], "
    "\"score_frac_bits\": 18, \"words\": {\"descriptors\": 3, \"weights\": 0}}";

static const uint8_t LOAD[] = {
    0x01, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0xC0, 0xDB, 0x11, 0x22, 0x33, 0x44,
    0x55, 0x66, 0x01, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0xA1, 0xA2, 0xA3, 0xA4,
    0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF, 0xB0};

static void put_le32(uint8_t *p, uint32_t value)
{
    int i;
    for (i = 0; i < 4; i++)
        p[i] = (uint8_t)(value >> (8 * i));
}

/* An image file of `header` and LOAD, with a good CRC; returns its size. */
static size_t make_image(uint8_t *out, const char *header, uint32_t version)
{
    size_t header_len = strlen(header), n = 0;
    memcpy(out, "ABCHWPRG", 8);
    put_le32(out + 8, version);
    put_le32(out + 12, (uint32_t)header_len);
    n = 16;
    memcpy(out + n, header, header_len);
    n += header_len;
    memcpy(out + n, LOAD, sizeof LOAD);
    n += sizeof LOAD;
    put_le32(out + n, abchw_crc32(out, n));
    return n + 4;
}

static void test_crc32(void)
{
    CHECK_EQ(abchw_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    CHECK_EQ(abchw_crc32(NULL, 0), 0);
}

static void test_parse_good(void)
{
    uint8_t image[1024];
    size_t len = make_image(image, GOOD_HEADER, ABCHW_PROGRAM_VERSION);
    abchw_program prog;
    CHECK_EQ(abchw_program_parse(&prog, image, len), ABCHW_OK);
    CHECK_EQ(prog.input_rank, 3);
    CHECK_EQ(prog.input_shape[0], 1);
    CHECK_EQ(prog.input_shape[1], 4);
    CHECK_EQ(prog.input_shape[2], 5);
    CHECK_EQ(prog.image_bytes, 20);
    CHECK_EQ(prog.output_rank, 2);
    CHECK_EQ(prog.output_shape[0], 3);
    CHECK_EQ(prog.output_shape[1], 2);
    CHECK_EQ(prog.score_count, 6);
    CHECK_EQ(prog.config.m, 3);
    CHECK_EQ(prog.config.n, 2);
    CHECK_EQ(prog.config.lanes, 16);
    CHECK_EQ(prog.config.act_words, 4096);
    CHECK_EQ(prog.config.stages_max, 16);
    CHECK_EQ(prog.config.hard_macro, 0);
    CHECK_EQ(prog.config.weight_spram, 1);
    CHECK_EQ(prog.load_len, sizeof LOAD);
    CHECK(prog.load == image + 16 + strlen(GOOD_HEADER));
}

/* The error of an image of `header`. */
static int parse_header(const char *header)
{
    uint8_t image[1024];
    abchw_program prog;
    size_t len = make_image(image, header, ABCHW_PROGRAM_VERSION);
    return abchw_program_parse(&prog, image, len);
}

#define WITH_SHAPES(shapes) "{\"config\": " CONFIG_JSON ", " shapes "}"

static void test_parse_corrupt(void)
{
    uint8_t image[1024];
    abchw_program prog;
    size_t len = make_image(image, GOOD_HEADER, ABCHW_PROGRAM_VERSION);
    CHECK_EQ(abchw_program_parse(&prog, image, 19), ABCHW_ERR_PROG_MAGIC);
    image[len - 10] ^= 0x01; /* a load byte */
    CHECK_EQ(abchw_program_parse(&prog, image, len), ABCHW_ERR_PROG_CRC);
    CHECK_EQ(abchw_program_parse(&prog, image, len - 1), ABCHW_ERR_PROG_CRC);
    image[0] = 'X';
    CHECK_EQ(abchw_program_parse(&prog, image, len), ABCHW_ERR_PROG_MAGIC);
    len = make_image(image, GOOD_HEADER, ABCHW_PROGRAM_VERSION + 1);
    CHECK_EQ(abchw_program_parse(&prog, image, len), ABCHW_ERR_PROG_VERSION);
    /* A header length past the end, with a CRC that checks. */
    len = make_image(image, GOOD_HEADER, ABCHW_PROGRAM_VERSION);
    put_le32(image + 12, (uint32_t)(len - 19));
    put_le32(image + len - 4, abchw_crc32(image, len - 4));
    CHECK_EQ(abchw_program_parse(&prog, image, len), ABCHW_ERR_PROG_HEADER);

    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, 8, 8], \"output_shape\": [10]")),
             ABCHW_OK);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, 8, 8]")), ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, 0, 8], \"output_shape\": [10]")),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, 8, 8, 1], \"output_shape\": [10]")),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, 8.5, 8], \"output_shape\": [10]")),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, -8, 8], \"output_shape\": [10]")),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [], \"output_shape\": [10]")),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": \"1x8x8\", \"output_shape\": [10]")),
             ABCHW_ERR_PROG_HEADER);
    /* Dimensions whose product passes the limit. */
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [4096, 4096, 2], \"output_shape\": [1]")),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header("{\"input_shape\": [1, 8, 8], \"output_shape\": [10]}"),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, 8, 8], \"output_shape\": [10],")),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, 8, 8] \"output_shape\": [10]")),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(WITH_SHAPES("\"input_shape\": [1, 8, 8], \"output_shape\": [10]") " x"),
             ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header("{\"config\": {\"m\": 3}, \"input_shape\": [1, 8, 8], "
                          "\"output_shape\": [10]}"), ABCHW_ERR_PROG_HEADER);
    CHECK_EQ(parse_header(""), ABCHW_ERR_PROG_HEADER);
}

static void test_json(void)
{
    static const char text[] = " {\"a\": [1, {\"b\": 2}], \"big\": 4294967295, \"c\": true} ";
    json_span object, value;
    uint32_t number = 0;
    uint8_t flag = 0;
    CHECK_EQ(json_value(text, sizeof text - 1, &object), 0);
    CHECK_EQ(json_member(object, "b", &value), 0);
    CHECK_EQ(json_member(object, "big", &value), 1);
    CHECK_EQ(json_uint(value, 0xFFFFFFFFu, &number), 0);
    CHECK_EQ(number, 4294967295u);
    CHECK_EQ(json_uint(value, 0xFFFFFFFEu, &number), -1);
    CHECK_EQ(json_member(object, "c", &value), 1);
    CHECK_EQ(json_bool(value, &flag), 0);
    CHECK_EQ(flag, 1);
    CHECK_EQ(json_member(value, "c", &value), -1);
    CHECK_EQ(json_value("{\"a\": [1, 2}", 12, &object), -1);
    CHECK_EQ(json_value("{\"a\": \"x}", 9, &object), -1);
    CHECK_EQ(json_value("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", 41, &object), -1);
}

/* The fake engine: LOAD is taken as it is; then every RUN command (0x02 and image_bytes pixels)
 * answers `results`, unless `results_len` is 0 (then it answers nothing). */
typedef struct {
    size_t load_len, image_bytes, position, runs;
    uint8_t results[300];
    size_t results_len;
    size_t load_answer; /* result bytes answered to each load frame */
} fake_engine;

static size_t engine(fake_board *board, const uint8_t *cmd, size_t len, uint8_t *out, size_t cap)
{
    fake_engine *e = (fake_engine *)board->engine_ctx;
    size_t i, count = 0;
    for (i = 0; i < len; i++, e->position++) {
        size_t run_position;
        if (e->position < e->load_len)
            continue;
        run_position = (e->position - e->load_len) % (1 + e->image_bytes);
        if (run_position == 0)
            CHECK_EQ(cmd[i], ABCHW_ENGINE_RUN);
        if (run_position == e->image_bytes) {
            e->runs++;
            memcpy(out, e->results, e->results_len < cap ? e->results_len : cap);
            count = e->results_len;
        }
    }
    return e->position <= e->load_len ? e->load_answer : count;
}

/* A link sending frames of 16 bytes at most (so that loads and images take several) to a board
 * of max_payload 64, with a parsed GOOD_HEADER program; results: 6 scores of 3 bytes and 3
 * counters. */
typedef struct {
    uint8_t image[1024];
    abchw_program prog;
    fake_board board;
    fake_engine engine;
    abchw_link link;
} fixture;

static void setup(fixture *f)
{
    static const uint8_t scores[18] = {
        /* position 0: channels 0, 1, 2; then position 1 */
        0x05, 0x00, 0x00, 0xFE, 0xFF, 0xFF, 0x00, 0x00, 0x80,
        0xFF, 0xFF, 0x7F, 0x07, 0x00, 0x00, 0x00, 0x01, 0x00};
    size_t i;
    size_t len = make_image(f->image, GOOD_HEADER, ABCHW_PROGRAM_VERSION);
    CHECK_EQ(abchw_program_parse(&f->prog, f->image, len), ABCHW_OK);
    fake_board_init(&f->board);
    f->board.max_payload = 64;
    f->board.engine = engine;
    f->board.engine_ctx = &f->engine;
    memset(&f->engine, 0, sizeof f->engine);
    f->engine.load_len = sizeof LOAD;
    f->engine.image_bytes = 20;
    memcpy(f->engine.results, scores, sizeof scores);
    for (i = 0; i < 24; i++)
        f->engine.results[18 + i] = (uint8_t)(i % 8 == 0 ? 1 + i / 8 : i % 8 == 7 ? 0x80 : 0);
    f->engine.results_len = 18 + 24;
    abchw_link_init(&f->link, fake_board_write, fake_board_read_byte, &f->board);
    f->link.max_payload = 16;
}

static void test_load_and_classify(void)
{
    fixture f;
    uint8_t pixels[20];
    int64_t scores[6];
    abchw_counters counters;
    size_t i;
    setup(&f);
    f.board.faults[1] = FAULT_CORRUPT_REPLY;
    f.board.faults[4] = FAULT_DROP_REQUEST;
    CHECK_EQ(abchw_program_load(&f.link, &f.prog), ABCHW_OK);
    CHECK_EQ(f.board.executed, 3);
    CHECK_EQ(f.board.commands_len, sizeof LOAD);
    CHECK(!memcmp(f.board.commands, LOAD, sizeof LOAD));
    for (i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(200 + i);
    CHECK_EQ(abchw_classify(&f.link, &f.prog, pixels, scores, &counters), ABCHW_OK);
    CHECK_EQ(f.engine.runs, 1);
    /* 0x02 and 15 pixels, then 5 pixels */
    CHECK_EQ(f.board.executed, 5);
    CHECK_EQ(f.board.commands_len, sizeof LOAD + 21);
    CHECK_EQ(f.board.commands[sizeof LOAD], 0x02);
    CHECK(!memcmp(f.board.commands + sizeof LOAD + 1, pixels, sizeof pixels));
    /* (C, H) order: channel 0 at positions 0 and 1, then channel 1, then channel 2. */
    CHECK_EQ(scores[0], 5);
    CHECK_EQ(scores[1], 8388607);
    CHECK_EQ(scores[2], -2);
    CHECK_EQ(scores[3], 7);
    CHECK_EQ(scores[4], -8388608);
    CHECK_EQ(scores[5], 256);
    CHECK_EQ(abchw_argmax(scores, 6), 1);
    CHECK(counters.load_cycles == 0x8000000000000001ull);
    CHECK(counters.compute_cycles == 0x8000000000000002ull);
    CHECK(counters.busy_cycles == 0x8000000000000003ull);
    CHECK_EQ(f.link.stats.retransmissions, 2);
}

static void test_classify_errors(void)
{
    fixture f;
    uint8_t pixels[20] = {0};
    int64_t scores[6];
    setup(&f);
    f.engine.load_len = 0;
    f.board.max_payload = 200;
    f.link.max_payload = 200;
    f.engine.results_len = 18 + 23;
    CHECK_EQ(abchw_classify(&f.link, &f.prog, pixels, scores, NULL), ABCHW_ERR_RESULTS);
    f.engine.results_len = 6 * 9 + 24; /* 9-byte scores */
    CHECK_EQ(abchw_classify(&f.link, &f.prog, pixels, scores, NULL), ABCHW_ERR_RESULTS);
    f.engine.results_len = 6 * 8 + 24; /* 8-byte scores: the most negative one */
    memset(f.engine.results, 0, sizeof f.engine.results);
    f.engine.results[7] = 0x80;
    CHECK_EQ(abchw_classify(&f.link, &f.prog, pixels, scores, NULL), ABCHW_OK);
    CHECK(scores[0] == -9223372036854775807ll - 1);
    CHECK_EQ(scores[1], 0);
    f.board.max_payload = 16;
    f.link.max_payload = 16;
    CHECK_EQ(abchw_classify(&f.link, &f.prog, pixels, scores, NULL), ABCHW_ERR_OVERFLOW);
    CHECK_EQ(f.link.timeout_ms, ABCHW_LINK_DEFAULT_TIMEOUT_MS);
    CHECK_EQ(abchw_classify(&f.link, &f.prog, NULL, scores, NULL), ABCHW_ERR_ARGUMENT);

    setup(&f);
    f.engine.load_answer = 1;
    CHECK_EQ(abchw_program_load(&f.link, &f.prog), ABCHW_ERR_REPLY);
}

static void test_check_build(void)
{
    fixture f;
    abchw_build_info info;
    setup(&f);
    memset(&info, 0, sizeof info);
    info.config = f.prog.config;
    CHECK_EQ(abchw_program_check_build(&f.prog, &info), ABCHW_OK);
    info.config.act_words = 8192;
    CHECK_EQ(abchw_program_check_build(&f.prog, &info), ABCHW_ERR_PROG_BUILD);
}

int main(void)
{
    test_crc32();
    test_parse_good();
    test_parse_corrupt();
    test_json();
    test_load_and_classify();
    test_classify_errors();
    test_check_build();
    return check_report("test_program");
}
