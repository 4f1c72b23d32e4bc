/* Reading input images and whole files (see image_file.h). */
#include "image_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *read_whole_file(const char *path, const char *what, size_t *len, char *err,
                         size_t err_len)
{
    FILE *file = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t cap = 0;
    *len = 0;
    if (!file) {
        snprintf(err, err_len, "cannot read %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t got;
        if (*len == cap) {
            uint8_t *bigger;
            cap = cap ? 2 * cap : 65536;
            bigger = (uint8_t *)realloc(data, cap);
            if (!bigger) {
                snprintf(err, err_len, "%s '%s' does not fit in memory", what, path);
                break;
            }
            data = bigger;
        }
        got = fread(data + *len, 1, cap - *len, file);
        *len += got;
        if (got == 0) {
            if (!ferror(file)) {
                fclose(file);
                return data;
            }
            snprintf(err, err_len, "cannot read %s '%s': %s", what, path, strerror(errno));
            break;
        }
    }
    fclose(file);
    free(data);
    return NULL;
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The next header number of a netpbm file from `*at` (whitespace and # comments before it):
 * 1, or 0 when there is none. */
static int netpbm_number(const uint8_t *data, size_t len, size_t *at, unsigned long *value)
{
    size_t i = *at, digits = 0;
    while (i < len && (is_space(data[i]) || data[i] == '#')) {
        if (data[i] == '#')
            while (i < len && data[i] != '\n' && data[i] != '\r')
                i++;
        else
            i++;
    }
    *value = 0;
    for (; i < len && data[i] >= '0' && data[i] <= '9' && digits < 9; i++, digits++)
        *value = *value * 10 + (unsigned long)(data[i] - '0');
    if (!digits || (i < len && !is_space(data[i])))
        return 0;
    *at = i;
    return 1;
}

/* The images of a PGM/PPM file: their pixels in `out` (room for len bytes), their count. */
static int read_netpbm(const char *path, const uint8_t *data, size_t len,
                       const abchw_program *prog, uint8_t *out, size_t *count, char *err,
                       size_t err_len)
{
    size_t at = 0;
    *count = 0;
    if (prog->input_rank != 3) {
        snprintf(err, err_len, "image file '%s': the program's input is not (C, H, W)", path);
        return 0;
    }
    while (at < len) {
        unsigned long width, height, maxval, channels;
        if (len - at < 2 || data[at] != 'P' || (data[at + 1] != '5' && data[at + 1] != '6')) {
            snprintf(err, err_len, "image file '%s': not a binary PGM/PPM (P5/P6) file%s", path,
                     at ? " after its first image" : " (raw pixels need a name ending in .u8)");
            return 0;
        }
        channels = data[at + 1] == '5' ? 1 : 3;
        at += 2;
        if (!netpbm_number(data, len, &at, &width) || !netpbm_number(data, len, &at, &height)
            || !netpbm_number(data, len, &at, &maxval) || at >= len) {
            snprintf(err, err_len, "image file '%s': damaged PGM/PPM header", path);
            return 0;
        }
        at++; /* the one whitespace byte before the pixels */
        if (maxval != 255) {
            snprintf(err, err_len, "image file '%s': maxval %lu, only 255 (8-bit) is supported",
                     path, maxval);
            return 0;
        }
        if (channels != prog->input_shape[0] || height != prog->input_shape[1]
            || width != prog->input_shape[2]) {
            snprintf(err, err_len, "image file '%s': a %lux%lu %s image, the program takes "
                     "(C, H, W) = (%lu, %lu, %lu)", path, width, height,
                     channels == 1 ? "greyscale" : "RGB", (unsigned long)prog->input_shape[0],
                     (unsigned long)prog->input_shape[1], (unsigned long)prog->input_shape[2]);
            return 0;
        }
        if (len - at < prog->image_bytes) {
            snprintf(err, err_len, "image file '%s': truncated (%lu of %lu pixel bytes)", path,
                     (unsigned long)(len - at), (unsigned long)prog->image_bytes);
            return 0;
        }
        memcpy(out + *count * prog->image_bytes, data + at, prog->image_bytes);
        at += prog->image_bytes;
        ++*count;
    }
    return 1;
}

static int ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && !strcmp(text + n - m, suffix);
}

uint8_t *image_file_read(const char *path, const abchw_program *prog, size_t *count, char *err,
                         size_t err_len)
{
    size_t len;
    uint8_t *data = read_whole_file(path, "image file", &len, err, err_len);
    uint8_t *pixels;
    *count = 0;
    if (!data)
        return NULL;
    if (len == 0) {
        snprintf(err, err_len, "image file '%s' is empty", path);
        free(data);
        return NULL;
    }
    if (ends_with(path, ".u8")) {
        if (len % prog->image_bytes) {
            snprintf(err, err_len, "image file '%s': %lu bytes is not a whole number of "
                     "images of %lu bytes (C * H * W)", path, (unsigned long)len,
                     (unsigned long)prog->image_bytes);
            free(data);
            return NULL;
        }
        *count = len / prog->image_bytes;
        return data;
    }
    pixels = (uint8_t *)malloc(len);
    if (!pixels) {
        snprintf(err, err_len, "image file '%s' does not fit in memory", path);
    } else if (!read_netpbm(path, data, len, prog, pixels, count, err, err_len)) {
        free(pixels);
        pixels = NULL;
    }
    free(data);
    return pixels;
}
