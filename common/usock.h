/* UNIX stream sockets by path, as every part of libcpr and cpr-agent opens them: the one
 * address setup (with its length check) and the one peer check. Safe inside libcpr: no
 * libc function the shim interposes is called. */
#ifndef CPR_USOCK_H
#define CPR_USOCK_H

#include <sys/socket.h>
#include <sys/un.h>

/* sa for path; -ENAMETOOLONG when path does not fit sun_path (never cut short). */
int cpr_sockaddr_un(struct sockaddr_un *sa, const char *path);

/* A connected, blocking socket (close-on-exec) to path, or -errno: -EAGAIN when the
 * listener's backlog is full (connect never waits for room). */
int cpr_unix_connect(const char *path);

/* A listening socket (close-on-exec) at path, mode 0600: a stale socket there is removed
 * first. Returns the fd or -errno. */
int cpr_unix_listen(const char *path, int backlog);

/* Who is on the other end of sock (SO_PEERCRED), in *cred. Returns 0 when the peer is
 * root or our own effective uid (the only peers either side trusts), -EPERM for anyone
 * else (*cred still filled), or -errno. */
int cpr_peer_check(int sock, struct ucred *cred);

#endif
