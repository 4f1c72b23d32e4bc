/* The board link's transport on a POSIX host: a serial device (raw 8N1) or a TCP connection,
 * behind the two callbacks of abchw_link. */
#ifndef ABCHW_POSIX_PORT_H
#define ABCHW_POSIX_PORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;
    uint8_t buf[4096]; /* bytes read but not yet taken */
    size_t len, pos;
} posix_port;

enum { PORT_OK = 0, PORT_FAILED = -1, PORT_BAD_SPEC = -2 };

/* Opens `spec`: "tcp:HOST:PORT" (HOST may be [IPv6]) or the path of a serial device, set to
 * `baud`. PORT_OK; PORT_BAD_SPEC (a malformed spec, or a baud this system cannot set) or
 * PORT_FAILED (it cannot be opened or connected), with a message in `err`. */
int posix_port_open(posix_port *port, const char *spec, long baud, char *err, size_t err_len);
/* PORT_OK, or PORT_BAD_SPEC with a message, without opening anything. */
int posix_port_check(const char *spec, long baud, char *err, size_t err_len);
void posix_port_close(posix_port *port);

/* abchw_write_fn and abchw_read_byte_fn with a posix_port as ctx. */
int posix_port_write(void *ctx, const uint8_t *data, size_t len);
int posix_port_read_byte(void *ctx, uint8_t *byte, uint32_t timeout_ms);

#endif
