/* Serial devices and TCP connections as the board link's transport (see posix_port.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* CRTSCTS and the baud rates past B38400 on glibc */

#include "posix_port.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define TCP_PREFIX "tcp:"

static const struct {
    long baud;
    speed_t speed;
} SPEEDS[] = {
    {9600, B9600}, {19200, B19200}, {38400, B38400},
#ifdef B57600
    {57600, B57600},
#endif
#ifdef B115200
    {115200, B115200},
#endif
#ifdef B230400
    {230400, B230400},
#endif
#ifdef B460800
    {460800, B460800},
#endif
#ifdef B921600
    {921600, B921600},
#endif
#ifdef B1000000
    {1000000, B1000000},
#endif
#ifdef B1500000
    {1500000, B1500000},
#endif
#ifdef B2000000
    {2000000, B2000000},
#endif
#ifdef B3000000
    {3000000, B3000000},
#endif
#ifdef B4000000
    {4000000, B4000000},
#endif
};

static int find_speed(long baud, speed_t *speed)
{
    size_t i;
    for (i = 0; i < sizeof SPEEDS / sizeof SPEEDS[0]; i++)
        if (SPEEDS[i].baud == baud) {
            *speed = SPEEDS[i].speed;
            return 1;
        }
    return 0;
}

/* Splits "tcp:HOST:PORT" into `host` and `service`: 1, or 0 with a message. */
static int split_tcp(const char *spec, char *host, size_t host_len, char *service, char *err,
                     size_t err_len)
{
    const char *rest = spec + strlen(TCP_PREFIX), *colon = strrchr(rest, ':');
    size_t len;
    char *end;
    long number;
    if (!colon || colon == rest || !colon[1]) {
        snprintf(err, err_len, "port '%s' must be tcp:HOST:PORT", spec);
        return 0;
    }
    number = strtol(colon + 1, &end, 10);
    if (*end || number < 1 || number > 65535 || colon[1] < '0' || colon[1] > '9') {
        snprintf(err, err_len, "TCP port in '%s' must be a number 1..65535, not '%s'", spec,
                 colon + 1);
        return 0;
    }
    len = (size_t)(colon - rest);
    if (rest[0] == '[' && colon[-1] == ']') { /* [IPv6] */
        rest++;
        len -= 2;
    }
    if (len == 0 || len >= host_len) {
        snprintf(err, err_len, "host in '%s' is empty or too long", spec);
        return 0;
    }
    memcpy(host, rest, len);
    host[len] = '\0';
    sprintf(service, "%ld", number);
    return 1;
}

int posix_port_check(const char *spec, long baud, char *err, size_t err_len)
{
    char host[256], service[8];
    speed_t speed;
    if (!strncmp(spec, TCP_PREFIX, strlen(TCP_PREFIX)))
        return split_tcp(spec, host, sizeof host, service, err, err_len) ? PORT_OK
                                                                           : PORT_BAD_SPEC;
    if (!*spec) {
        snprintf(err, err_len, "the port is empty: give a serial device or tcp:HOST:PORT");
        return PORT_BAD_SPEC;
    }
    if (!find_speed(baud, &speed)) {
        snprintf(err, err_len, "baud %ld is not a rate this system's serial driver can set "
                 "(3000000, 1000000, 115200, ... where supported)", baud);
        return PORT_BAD_SPEC;
    }
    return PORT_OK;
}

static int open_tcp(posix_port *port, const char *spec, char *err, size_t err_len)
{
    char host[256], service[8];
    struct addrinfo hints, *found, *a;
    int status, fd = -1, saved = 0, one = 1;
    if (!split_tcp(spec, host, sizeof host, service, err, err_len))
        return PORT_BAD_SPEC;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    status = getaddrinfo(host, service, &hints, &found);
    if (status) {
        snprintf(err, err_len, "cannot resolve host '%s': %s", host, gai_strerror(status));
        return PORT_FAILED;
    }
    for (a = found; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    if (fd < 0) {
        snprintf(err, err_len, "cannot connect to %s:%s: %s", host, service,
                 strerror(saved ? saved : errno));
        return PORT_FAILED;
    }
    /* Stop-and-wait sends small frames: Nagle's delay would hold each one back. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    port->fd = fd;
    return PORT_OK;
}

static int open_serial(posix_port *port, const char *path, long baud, char *err,
                       size_t err_len)
{
    struct termios t;
    speed_t speed = B9600;
    /* O_NONBLOCK: do not wait for a modem's carrier; cleared once the line is set up. */
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open serial port '%s': %s", path, strerror(errno));
        return PORT_FAILED;
    }
    find_speed(baud, &speed); /* posix_port_check made sure that there is one */
    if (tcgetattr(fd, &t) < 0) {
        snprintf(err, err_len, "'%s' is not a serial port: %s", path, strerror(errno));
        close(fd);
        return PORT_FAILED;
    }
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON
                             | IXOFF | IXANY);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB);
#ifdef CRTSCTS
    t.c_cflag &= ~(tcflag_t)CRTSCTS;
#endif
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, speed) < 0 || cfsetospeed(&t, speed) < 0
        || tcsetattr(fd, TCSANOW, &t) < 0) {
        snprintf(err, err_len, "cannot set serial port '%s' to %ld baud 8N1: %s", path, baud,
                 strerror(errno));
        close(fd);
        return PORT_FAILED;
    }
    tcflush(fd, TCIOFLUSH); /* bytes from before this session */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    port->fd = fd;
    return PORT_OK;
}

int posix_port_open(posix_port *port, const char *spec, long baud, char *err, size_t err_len)
{
    int status = posix_port_check(spec, baud, err, err_len);
    port->fd = -1;
    port->len = port->pos = 0;
    if (status != PORT_OK)
        return status;
    if (!strncmp(spec, TCP_PREFIX, strlen(TCP_PREFIX)))
        return open_tcp(port, spec, err, err_len);
    return open_serial(port, spec, baud, err, err_len);
}

void posix_port_close(posix_port *port)
{
    if (port->fd >= 0)
        close(port->fd);
    port->fd = -1;
}

int posix_port_write(void *ctx, const uint8_t *data, size_t len)
{
    posix_port *port = (posix_port *)ctx;
    while (len) {
        ssize_t n = write(port->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int posix_port_read_byte(void *ctx, uint8_t *byte, uint32_t timeout_ms)
{
    posix_port *port = (posix_port *)ctx;
    while (port->pos == port->len) {
        struct pollfd p;
        ssize_t n;
        int ready;
        p.fd = port->fd;
        p.events = POLLIN;
        p.revents = 0;
        ready = poll(&p, 1, timeout_ms > (uint32_t)INT32_MAX ? -1 : (int)timeout_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return -1;
        if (ready == 0)
            return 0;
        n = read(port->fd, port->buf, sizeof port->buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) /* an error, or the other end closed the connection */
            return -1;
        port->len = (size_t)n;
        port->pos = 0;
    }
    *byte = port->buf[port->pos++];
    return 1;
}
