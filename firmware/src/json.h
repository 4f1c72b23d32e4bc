/* A minimal JSON scanner for the program image header: finds object members and reads
 * unsigned integers, booleans and short arrays of unsigned integers, in place (no allocation).
 * Keys are compared as written (escaped keys never match); numbers must be plain digits. */
#ifndef ABCHW_JSON_H
#define ABCHW_JSON_H

#include <stddef.h>
#include <stdint.h>

/* The text of one JSON value, without surrounding whitespace. */
typedef struct {
    const char *start;
    const char *end;
} json_span;

/* The value that `text` is (ignoring surrounding whitespace): 0, or -1 when it is not exactly
 * one well-formed value. */
int json_value(const char *text, size_t len, json_span *value);
/* The value of member `key` of the object `object`: 1 and `*value` set, 0 when there is no such
 * member, -1 when `object` is not an object. */
int json_member(json_span object, const char *key, json_span *value);
/* `value` as an unsigned integer no more than `max`: 0, or -1. */
int json_uint(json_span value, uint32_t max, uint32_t *out);
/* `value` (true or false) as 1 or 0: 0, or -1. */
int json_bool(json_span value, uint8_t *out);
/* `value` as an array of 1..`capacity` unsigned integers, each 1..`max`: 0, or -1. */
int json_uint_array(json_span value, uint32_t max, uint32_t *out, unsigned capacity,
                    unsigned *count);

#endif
