/* The minimal JSON scanner of the program image header (see json.h). */
#include "json.h"

#include <string.h>

/* Nesting deeper than this is refused, so the recursion of skip_value stays bounded on a
 * microcontroller's stack (a program header nests 3 deep). */
#define DEPTH_MAX 16

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the string that starts at `p` (a '"'), or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p == end)
                return NULL;
        } else if (*p == '"')
            return p + 1;
        else if ((unsigned char)*p < 0x20)
            return NULL;
    }
    return NULL;
}

static int is_scalar_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.'
           || c == 'E';
}

/* Past the value at `p` (no leading space), or NULL when it is malformed. Scalars are only
 * checked to be made of number and literal characters: the readers check what they use. */
static const char *skip_value(const char *p, const char *end, int depth)
{
    char close;
    if (p >= end || depth > DEPTH_MAX)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        const char *start = p;
        while (p < end && is_scalar_char(*p))
            p++;
        return p > start ? p : NULL;
    }
    close = *p == '{' ? '}' : ']';
    p = skip_space(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (close == '}') {
            if (p >= end || *p != '"' || !(p = skip_string(p, end)))
                return NULL;
            p = skip_space(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = skip_space(p + 1, end);
        }
        if (!(p = skip_value(p, end, depth + 1)))
            return NULL;
        p = skip_space(p, end);
        if (p < end && *p == close)
            return p + 1;
        if (p >= end || *p != ',')
            return NULL;
        p = skip_space(p + 1, end);
    }
}

int json_value(const char *text, size_t len, json_span *value)
{
    const char *end = text + len, *p = skip_space(text, end), *after = skip_value(p, end, 0);
    if (!after || skip_space(after, end) != end)
        return -1;
    value->start = p;
    value->end = after;
    return 0;
}

int json_member(json_span object, const char *key, json_span *value)
{
    const char *p = object.start, *end = object.end;
    size_t key_len = strlen(key);
    if (p >= end || *p != '{')
        return -1;
    p = skip_space(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    for (;;) {
        const char *name = p + 1, *name_end, *after;
        int match;
        if (p >= end || *p != '"' || !(name_end = skip_string(p, end)))
            return -1;
        match = (size_t)(name_end - 1 - name) == key_len && !memcmp(name, key, key_len);
        p = skip_space(name_end, end);
        if (p >= end || *p != ':')
            return -1;
        p = skip_space(p + 1, end);
        if (!(after = skip_value(p, end, 1)))
            return -1;
        if (match) {
            value->start = p;
            value->end = after;
            return 1;
        }
        p = skip_space(after, end);
        if (p < end && *p == '}')
            return 0;
        if (p >= end || *p != ',')
            return -1;
        p = skip_space(p + 1, end);
    }
}

int json_uint(json_span value, uint32_t max, uint32_t *out)
{
    const char *p = value.start;
    uint32_t number = 0;
    if (p >= value.end)
        return -1;
    for (; p < value.end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if ((uint32_t)(*p - '0') > max || number > (max - (uint32_t)(*p - '0')) / 10)
            return -1;
        number = number * 10 + (uint32_t)(*p - '0');
    }
    *out = number;
    return 0;
}

int json_bool(json_span value, uint8_t *out)
{
    size_t len = (size_t)(value.end - value.start);
    if (len == 4 && !memcmp(value.start, "true", 4))
        *out = 1;
    else if (len == 5 && !memcmp(value.start, "false", 5))
        *out = 0;
    else
        return -1;
    return 0;
}

int json_uint_array(json_span value, uint32_t max, uint32_t *out, unsigned capacity,
                    unsigned *count)
{
    const char *p = value.start, *end = value.end;
    unsigned n = 0;
    if (p >= end || *p != '[')
        return -1;
    p = skip_space(p + 1, end);
    for (;;) {
        json_span item;
        item.start = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        item.end = p;
        if (n == capacity || json_uint(item, max, &out[n]) || out[n] == 0)
            return -1;
        n++;
        p = skip_space(p, end);
        if (p < end && *p == ']' && p + 1 == end)
            break;
        if (p >= end || *p != ',')
            return -1;
        p = skip_space(p + 1, end);
    }
    *count = n;
    return 0;
}
