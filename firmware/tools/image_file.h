/* Input images for a program, from files: binary PGM (P5, C = 1) or PPM (P6, C = 3) of maxval
 * 255, one image or several of one size back to back; or raw pixels in a file named *.u8: one
 * or more images of C * H * W bytes each, in H, W, C order (what the engine takes). */
#ifndef ABCHW_IMAGE_FILE_H
#define ABCHW_IMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "abchw/program.h"

/* The pixels of the images in `path` for `prog` (allocated; free them), `*count` images of
 * prog->image_bytes; or NULL with a message naming the file in `err`. */
uint8_t *image_file_read(const char *path, const abchw_program *prog, size_t *count, char *err,
                         size_t err_len);

/* The bytes of the file `path` (allocated; free them), or NULL with a message in `err`. */
uint8_t *read_whole_file(const char *path, const char *what, size_t *len, char *err,
                         size_t err_len);

#endif
