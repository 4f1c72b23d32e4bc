/* Error codes of the abchw board driver: every function returns ABCHW_OK or one of these. */
#ifndef ABCHW_ERROR_H
#define ABCHW_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum abchw_error {
    ABCHW_OK = 0,
    ABCHW_ERR_ARGUMENT = -1,       /* a NULL pointer or an impossible value */
    ABCHW_ERR_TOO_LONG = -2,       /* a payload longer than the link's max_payload */
    ABCHW_ERR_IO = -3,             /* a transport callback failed */
    ABCHW_ERR_TIMEOUT = -4,        /* the last attempt got no reply in time */
    ABCHW_ERR_NAK = -5,            /* the last attempt was refused (link->last_nak_reason) */
    ABCHW_ERR_CORRUPT = -6,        /* the last attempt's reply failed its checks */
    ABCHW_ERR_REPLY = -7,          /* a good frame that is not a valid reply to the request */
    ABCHW_ERR_OVERFLOW = -8,       /* the engine's results were cut at max_payload */
    ABCHW_ERR_NO_SPACE = -9,       /* a reply longer than the buffer given for it */
    ABCHW_ERR_VERSION = -10,       /* the board speaks another link protocol version */
    ABCHW_ERR_PROG_MAGIC = -11,    /* not a program image */
    ABCHW_ERR_PROG_VERSION = -12,  /* a program image of another format version */
    ABCHW_ERR_PROG_CRC = -13,      /* a program image whose CRC-32 does not check */
    ABCHW_ERR_PROG_HEADER = -14,   /* a program image whose JSON header lacks or garbles a field */
    ABCHW_ERR_PROG_BUILD = -15,    /* a program compiled for another build than the board's */
    ABCHW_ERR_RESULTS = -16        /* result bytes that do not fit the program's score count */
};

/* A one-line English description of `error` (never NULL). */
const char *abchw_strerror(int error);

#ifdef __cplusplus
}
#endif

#endif
