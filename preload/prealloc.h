/* A new QEMU that inherits its guest RAM does not preallocate it. The pages are in place
 * already (the old QEMU allocated them), and QEMU before 7.0, or any QEMU on a kernel
 * without MADV_POPULATE_WRITE (before 5.14), preallocates by reading each page's first
 * byte and writing it back: a guest write in the old QEMU, still running while the new
 * one starts, could be undone in between. */
#ifndef CPR_PREALLOC_H
#define CPR_PREALLOC_H

/* In argv[0..*argc): every memory backend's prealloc set to off (-object key=value and
 * JSON forms), -mem-prealloc left out. Changed strings are malloc'd; the array is edited in
 * place and *argc shrinks. Returns how many settings it turned off, or -1 when out of memory
 * (some backends then keep theirs; every string is still a valid option). */
int cpr_prealloc_off(int *argc, char **argv);

#endif
