/* The shim is built with -fvisibility=hidden: only the libc entry points it interposes are
 * exported, so nothing else of it can shadow a symbol of QEMU or its libraries. */
#ifndef CPR_EXPORT_H
#define CPR_EXPORT_H

#define CPR_EXPORT __attribute__((visibility("default")))

#endif
