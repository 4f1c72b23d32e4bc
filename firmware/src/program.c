/* Program images: parsing, loading and running inferences (see abchw/program.h). */
#include "abchw/program.h"

#include <string.h>

#include "json.h"

#define MAGIC_BYTES 8
/* magic, version, header length */
#define PREAMBLE_BYTES (MAGIC_BYTES + 8)
#define CRC_BYTES 4

uint32_t abchw_crc32(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= data[i];
        for (bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The fields of "config", with their limits (the sizes of abchw_engine_config's fields). */
static const struct {
    const char *name;
    uint32_t max;
} CONFIG_FIELDS[] = {
    {"m", 0xFF}, {"n", 0xFF}, {"pes", 0xFF}, {"lanes", 0xFFFF}, {"coef_bits", 0xFF},
    {"act_words", 0xFFFFFFFFu}, {"weight_words", 0xFFFFFFFFu}, {"coef_words", 0xFFFFFFFFu},
    {"threshold_words", 0xFFFFFFFFu}, {"stages_max", 0xFF},
};
#define CONFIG_INTS (sizeof CONFIG_FIELDS / sizeof CONFIG_FIELDS[0])

static int parse_config(json_span header, abchw_engine_config *c)
{
    json_span object, value;
    uint32_t v[CONFIG_INTS];
    size_t i;
    if (json_member(header, "config", &object) != 1)
        return -1;
    for (i = 0; i < CONFIG_INTS; i++)
        if (json_member(object, CONFIG_FIELDS[i].name, &value) != 1
            || json_uint(value, CONFIG_FIELDS[i].max, &v[i]))
            return -1;
    if (json_member(object, "hard_macro", &value) != 1 || json_bool(value, &c->hard_macro)
        || json_member(object, "weight_spram", &value) != 1
        || json_bool(value, &c->weight_spram))
        return -1;
    c->m = (uint8_t)v[0];
    c->n = (uint8_t)v[1];
    c->pes = (uint8_t)v[2];
    c->lanes = (uint16_t)v[3];
    c->coef_bits = (uint8_t)v[4];
    c->act_words = v[5];
    c->weight_words = v[6];
    c->coef_words = v[7];
    c->threshold_words = v[8];
    c->stages_max = (uint8_t)v[9];
    return 0;
}

/* The shape `key` of the header and the product of its dimensions. */
static int parse_shape(json_span header, const char *key, uint32_t *shape, unsigned *rank,
                       size_t *product)
{
    json_span value;
    unsigned i;
    if (json_member(header, key, &value) != 1
        || json_uint_array(value, ABCHW_SHAPE_LIMIT, shape, ABCHW_SHAPE_MAX, rank))
        return -1;
    *product = 1;
    for (i = 0; i < *rank; i++) {
        *product *= shape[i];
        if (*product > ABCHW_SHAPE_LIMIT)
            return -1;
    }
    return 0;
}

int abchw_program_parse(abchw_program *prog, const uint8_t *image, size_t len)
{
    json_span header;
    uint32_t header_len;
    if (!prog || (len && !image))
        return ABCHW_ERR_ARGUMENT;
    if (len < PREAMBLE_BYTES + CRC_BYTES || memcmp(image, ABCHW_PROGRAM_MAGIC, MAGIC_BYTES))
        return ABCHW_ERR_PROG_MAGIC;
    if (le32(image + MAGIC_BYTES) != ABCHW_PROGRAM_VERSION)
        return ABCHW_ERR_PROG_VERSION;
    if (abchw_crc32(image, len - CRC_BYTES) != le32(image + len - CRC_BYTES))
        return ABCHW_ERR_PROG_CRC;
    header_len = le32(image + MAGIC_BYTES + 4);
    if (header_len > len - PREAMBLE_BYTES - CRC_BYTES
        || json_value((const char *)image + PREAMBLE_BYTES, header_len, &header)
        || parse_config(header, &prog->config)
        || parse_shape(header, "input_shape", prog->input_shape, &prog->input_rank,
                       &prog->image_bytes)
        || parse_shape(header, "output_shape", prog->output_shape, &prog->output_rank,
                       &prog->score_count))
        return ABCHW_ERR_PROG_HEADER;
    prog->load = image + PREAMBLE_BYTES + header_len;
    prog->load_len = len - PREAMBLE_BYTES - CRC_BYTES - header_len;
    return ABCHW_OK;
}

int abchw_program_check_build(const abchw_program *prog, const abchw_build_info *info)
{
    if (!prog || !info)
        return ABCHW_ERR_ARGUMENT;
    return abchw_config_equal(&prog->config, &info->config) ? ABCHW_OK : ABCHW_ERR_PROG_BUILD;
}

int abchw_program_load(abchw_link *link, const abchw_program *prog)
{
    size_t offset = 0;
    if (!link || !prog || !link->max_payload)
        return ABCHW_ERR_ARGUMENT;
    while (offset < prog->load_len) {
        size_t chunk = prog->load_len - offset, got;
        int status;
        if (chunk > link->max_payload)
            chunk = link->max_payload;
        /* WRITE commands answer nothing: a reply buffer of 0 bytes says so. */
        status = abchw_link_exec(link, prog->load + offset, chunk, NULL, 0, &got);
        if (status == ABCHW_ERR_NO_SPACE)
            return ABCHW_ERR_REPLY;
        if (status != ABCHW_OK)
            return status;
        offset += chunk;
    }
    return ABCHW_OK;
}

static int64_t signed_le(const uint8_t *p, size_t bytes)
{
    uint64_t value = 0, sign = (uint64_t)1 << (8 * bytes - 1);
    uint64_t mask = bytes == 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * bytes)) - 1;
    size_t i;
    for (i = 0; i < bytes; i++)
        value |= (uint64_t)p[i] << (8 * i);
    /* Negated as a complement so that no conversion overflows, even at INT64_MIN. */
    return (value & sign) ? -(int64_t)(~value & mask) - 1 : (int64_t)value;
}

static uint64_t unsigned_le(const uint8_t *p)
{
    uint64_t value = 0;
    int i;
    for (i = 0; i < 8; i++)
        value |= (uint64_t)p[i] << (8 * i);
    return value;
}

/* Scores from the engine's order (position by position, channel by channel) into (C, H, W). */
static void decode_scores(const abchw_program *prog, const uint8_t *bytes, size_t score_bytes,
                          int64_t *scores)
{
    size_t c = prog->output_shape[0];
    size_t h = prog->output_rank > 1 ? prog->output_shape[1] : 1;
    size_t w = prog->output_rank > 2 ? prog->output_shape[2] : 1;
    size_t y, x, k;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            for (k = 0; k < c; k++, bytes += score_bytes)
                scores[(k * h + y) * w + x] = signed_le(bytes, score_bytes);
}

int abchw_classify(abchw_link *link, const abchw_program *prog, const uint8_t *pixels,
                   int64_t *scores, abchw_counters *counters)
{
    static const uint8_t run = ABCHW_ENGINE_RUN;
    uint8_t results[ABCHW_LINK_PAYLOAD_MAX];
    size_t sent = 0, have = 0, score_bytes;
    uint32_t timeout_ms;
    int first = 1, status = ABCHW_OK;
    if (!link || !prog || !scores || !prog->score_count || (prog->image_bytes && !pixels)
        || !link->max_payload)
        return ABCHW_ERR_ARGUMENT;
    timeout_ms = link->timeout_ms;
    link->timeout_ms = link->run_timeout_ms;
    /* The RUN byte goes in front of the first pixels; results come with the last. */
    while (status == ABCHW_OK && (first || sent < prog->image_bytes)) {
        size_t chunk = prog->image_bytes - sent, got;
        if (chunk > link->max_payload - (size_t)first)
            chunk = link->max_payload - (size_t)first;
        status = abchw_link_exec_prefixed(link, &run, (size_t)first, pixels + sent, chunk,
                                          results + have, sizeof results - have, &got);
        have += got;
        sent += chunk;
        first = 0;
    }
    link->timeout_ms = timeout_ms;
    if (status == ABCHW_ERR_NO_SPACE)
        return ABCHW_ERR_RESULTS;
    if (status != ABCHW_OK)
        return status;
    if (have <= ABCHW_COUNTER_BYTES || (have - ABCHW_COUNTER_BYTES) % prog->score_count)
        return ABCHW_ERR_RESULTS;
    score_bytes = (have - ABCHW_COUNTER_BYTES) / prog->score_count;
    if (score_bytes > 8)
        return ABCHW_ERR_RESULTS;
    decode_scores(prog, results, score_bytes, scores);
    if (counters) {
        const uint8_t *tail = results + have - ABCHW_COUNTER_BYTES;
        counters->load_cycles = unsigned_le(tail);
        counters->compute_cycles = unsigned_le(tail + 8);
        counters->busy_cycles = unsigned_le(tail + 16);
    }
    return ABCHW_OK;
}

size_t abchw_argmax(const int64_t *scores, size_t count)
{
    size_t best = 0, i;
    for (i = 1; i < count; i++)
        if (scores[i] > scores[best])
            best = i;
    return best;
}
