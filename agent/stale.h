/* What QEMUs that died leave in the runtime directory: control sockets (PID.sock),
 * transfer locks and journals (transfer-PID.lock, .journal), migration sockets
 * (migrate-PID.sock). Recognised by pid and start time, and removed. */
#ifndef CPR_AGENT_STALE_H
#define CPR_AGENT_STALE_H

/* Remove what belongs to processes that are gone. A journal goes only when neither of its
 * QEMUs is left (else recover still has work) and no agent holds its lock. Returns how
 * many files were removed. */
int stale_sweep(void);

#endif
