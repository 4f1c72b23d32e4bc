/* Descriptions of the error codes. */
#include "abchw/error.h"

const char *abchw_strerror(int error)
{
    switch (error) {
    case ABCHW_OK: return "success";
    case ABCHW_ERR_ARGUMENT: return "invalid argument";
    case ABCHW_ERR_TOO_LONG: return "payload longer than the board's max_payload";
    case ABCHW_ERR_IO: return "the transport failed (write or read error, or connection closed)";
    case ABCHW_ERR_TIMEOUT: return "no reply from the board (timed out after every retry)";
    case ABCHW_ERR_NAK: return "the board refused the frame after every retry (NAK)";
    case ABCHW_ERR_CORRUPT: return "the board's replies were corrupt after every retry";
    case ABCHW_ERR_REPLY: return "the board sent a reply of the wrong kind or size";
    case ABCHW_ERR_OVERFLOW:
        return "the engine's results were longer than the board's max_payload (OVERFLOW)";
    case ABCHW_ERR_NO_SPACE: return "the reply is longer than the buffer given for it";
    case ABCHW_ERR_VERSION:
        return "the board speaks another link protocol version: rebuild the bitstream";
    case ABCHW_ERR_PROG_MAGIC: return "not an abchw program image (no ABCHWPRG header)";
    case ABCHW_ERR_PROG_VERSION:
        return "program image of another format version: compile the model again";
    case ABCHW_ERR_PROG_CRC: return "program image is corrupt (CRC mismatch): compile the model again";
    case ABCHW_ERR_PROG_HEADER:
        return "program image header is malformed (config, input_shape or output_shape)";
    case ABCHW_ERR_PROG_BUILD:
        return "the program was compiled for another build than the board's: compile the model "
               "for this build";
    case ABCHW_ERR_RESULTS:
        return "the board's result bytes do not match the program's scores and counters";
    default: return "unknown abchw error";
    }
}
