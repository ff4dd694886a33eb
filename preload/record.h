/* Record mode: the shim recording what a running QEMU must hand to its successor. */
#ifndef CPR_RECORD_H
#define CPR_RECORD_H

/* Set-up, from the constructor before QEMU's main(): real functions resolved (so QEMU's
 * threads and CLONE_VM children never resolve anything), the owner process, settings. */
void cpr_record_init(void);

#endif
