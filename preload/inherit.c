/* Inherit mode: receive the old QEMU's records from cpr-agent before QEMU's main() runs,
 * then hand each RAM record to the matching RAM allocation, strictly in order, and each
 * device record (tap, listening socket, numbered fd, pidfile) to whoever opens the same
 * resource, by its key (preload/kinds.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "common/fdpass.h"
#include "common/usock.h"
#include "common/wire.h"
#include "control.h"
#include "fdtrack.h"
#include "highfd.h"
#include "inherit.h"
#include "kinds.h"
#include "log.h"
#include "real.h"
#include "size.h"
#include "trimhold.h"

#define INHERIT_MAX 64

struct inherited {
	struct cpr_record rec; /* as the old QEMU recorded it */
	int fd;                /* our descriptor of it, -1 once given away */
	dev_t dev;
	ino_t ino;
	bool claimed, memfd_given;
};

static struct inherited table[INHERIT_MAX];   /* guest RAM, in allocation order */
static struct inherited devices[INHERIT_MAX]; /* the other kinds, claimed by key */
static unsigned count, next_claim, ndevices;
static volatile bool pending, committed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void cpr_inherit_fatal(const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cpr_log(CPR_LOG_WARN, "inherit: %s; QEMU stops here, before the guest runs", msg);
	cpr_control_shutdown();
	_exit(1);
}

/* Reply to the agent, best effort: it learns the verdict, or sees the channel close. */
static void reply(int sock, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!send(sock, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
			    MSG_NOSIGNAL);
}

struct channel {
	struct cpr_reader rd; /* rd.sock: the agent */
	int64_t deadline_ms;
	int fds[CPR_WIRE_MAX_FDS];
	unsigned nfds;
};

/* Next line from the agent (NUL-terminated, newline removed); fds that arrive with it are
 * appended to ch->fds. Returns its length or fails QEMU. */
static size_t read_line(struct channel *ch, char *out, size_t outlen)
{
	char *line;
	int used = cpr_recv_line(&ch->rd, ch->deadline_ms, &line, ch->fds, CPR_WIRE_MAX_FDS,
				 &ch->nfds);
	size_t n;

	switch (used) {
	case -ETIMEDOUT:
		cpr_inherit_fatal("no handover from cpr-agent within the time limit (CPR_INHERIT_TIMEOUT)");
	case -EMSGSIZE:
		cpr_inherit_fatal("line from cpr-agent too long");
	case -EPROTO:
		cpr_inherit_fatal("fds from cpr-agent were truncated or more than announced (fd limit?)");
	default:
		if (used < 0)
			cpr_inherit_fatal("cpr-agent closed the inherit channel mid-way (did the agent die?): %s",
			      strerror(-used));
	}
	n = (size_t)used - 1;
	if (n >= outlen)
		cpr_inherit_fatal("line from cpr-agent too long");
	memcpy(out, line, n + 1);
	cpr_consume(&ch->rd, (size_t)used);
	return n;
}

/* The channel named by CPR_INHERIT: an inherited socket or a path to connect to. Only
 * root or our own uid may hand us memory to map. */
static int open_channel(const char *spec)
{
	struct ucred cred = { 0 };
	struct stat st;
	int sock, r;

	if (strncmp(spec, "fd:", 3) == 0) {
		char *end;
		long v = strtol(spec + 3, &end, 10);

		if (*end || v < 0 || v > 65535 || fstat((int)v, &st) < 0 || !S_ISSOCK(st.st_mode))
			cpr_inherit_fatal("CPR_INHERIT=%s: not an inherited socket", spec);
		sock = (int)v;
		cpr_real()->fcntl(sock, F_SETFD, FD_CLOEXEC);
	} else if (strncmp(spec, "unix:", 5) == 0) {
		sock = cpr_unix_connect(spec + 5);
		if (sock == -ENAMETOOLONG)
			cpr_inherit_fatal("CPR_INHERIT=%s: path too long", spec);
		if (sock < 0)
			cpr_inherit_fatal("CPR_INHERIT=%s: %s (is cpr-agent transfer --receive waiting there?)",
			      spec, strerror(-sock));
	} else {
		cpr_inherit_fatal("CPR_INHERIT=%s: expected fd:N or unix:PATH", spec);
	}
	r = cpr_peer_check(sock, &cred);
	if (r < 0)
		cpr_inherit_fatal("CPR_INHERIT: the peer (uid %u) is neither root nor our uid %u%s%s",
		      (unsigned)cred.uid, (unsigned)geteuid(), r == -EPERM ? "" : ": ",
		      r == -EPERM ? "" : strerror(-r));
	return sock;
}

/* Promoted RAM (cpr-ID) may be a file of a tmpfs or hugetlbfs where it is not a memfd:
 * CPR_RAM_DIR's unnamed file, or the one a save named (doc/cpr-reboot.md). */
static bool promoted_file(const struct cpr_record *r, int fd)
{
	struct statfs fs;

	return r->kind == CPR_KIND_RAM_MEMFD && !strncmp(r->name, "cpr-", 4) && fstatfs(fd, &fs) == 0 &&
	       (fs.f_type == TMPFS_MAGIC || fs.f_type == HUGETLBFS_MAGIC);
}

/* A received RAM fd must be what its record says before anything maps it: a memfd for RAM
 * the old QEMU held in one, a regular file otherwise, at least as large as the block. */
static const char *check_ram_fd(const struct cpr_record *r, int fd, struct stat *st)
{
	char link[64], target[160];
	ssize_t n;

	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))
		return "not a regular file or memfd";
	/* offset + size must not wrap: a mapping past the end of the file is SIGBUS */
	if (r->offset > UINT64_MAX - r->size || (uint64_t)st->st_size < r->offset + r->size)
		return "smaller than the block";
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	if ((r->kind == CPR_KIND_RAM_ANON || r->kind == CPR_KIND_RAM_MEMFD) &&
	    strncmp(target, "/memfd:", 7) != 0 && !promoted_file(r, fd))
		return "not a memfd";
	return NULL;
}

/* Put a received record in its table, after checking its fd. NULL, or what is wrong. */
static const char *take_record(const struct cpr_record *r, int fd)
{
	struct inherited *in;
	struct stat st;
	const char *bad;

	if (CPR_KIND_IS_RAM(r->kind)) {
		bad = check_ram_fd(r, fd, &st);
		in = &table[count];
	} else {
		bad = cpr_kind_check_fd(r, fd, &st);
		in = &devices[ndevices];
	}
	if (bad)
		return bad;
	*in = (struct inherited){ .rec = *r, .fd = fd, .dev = st.st_dev, .ino = st.st_ino };
	if (CPR_KIND_IS_RAM(r->kind))
		count++;
	else
		ndevices++;
	return NULL;
}

void cpr_inherit_init(void)
{
	const char *spec = getenv("CPR_INHERIT"), *t = getenv("CPR_INHERIT_TIMEOUT");
	static struct cpr_record recs[INHERIT_MAX];
	struct channel ch = { .rd.sock = -1 };
	char line[CPR_WIRE_MAX_LINE];
	const char *text = "";
	int n, version;

	if (!spec || !*spec)
		return;
	/* high, so that no numbered fd placed below lands on it */
	ch.rd.sock = cpr_fd_move_high(open_channel(spec));
	ch.deadline_ms = cpr_now_ms() + 1000 * (t && atoi(t) > 0 ? atoi(t) : 60);
	read_line(&ch, line, sizeof(line));
	if (sscanf(line, "CPR%d ", &version) != 1 || version != CPR_WIRE_VERSION)
		cpr_inherit_fatal("the inherit channel speaks '%.40s', not protocol %d", line, CPR_WIRE_VERSION);
	read_line(&ch, line, sizeof(line));
	n = cpr_wire_parse_reply(line, strlen(line), &text);
	if (n < 0 || n > INHERIT_MAX) {
		reply(ch.rd.sock, "ERR EINVAL expected OK N with N <= %d\n", INHERIT_MAX);
		cpr_inherit_fatal("bad handover header '%.40s'", line);
	}
	for (int i = 0; i < n; i++) {
		read_line(&ch, line, sizeof(line));
		if (cpr_wire_parse_record(line, strlen(line), &recs[i]) < 0) {
			reply(ch.rd.sock, "ERR EINVAL malformed record %d\n", i);
			cpr_inherit_fatal("malformed record from cpr-agent: %.60s", line);
		}
	}
	while ((int)ch.nfds < n) {
		unsigned before = ch.nfds;

		read_line(&ch, line, sizeof(line));
		if (strncmp(line, "FDS ", 4) != 0 || ch.nfds == before)
			cpr_inherit_fatal("expected fds from cpr-agent, got '%.40s'", line);
	}
	if ((int)ch.nfds != n)
		cpr_inherit_fatal("cpr-agent sent %u fds for %d records", ch.nfds, n);
	for (int i = 0; i < n; i++) {
		const struct cpr_record *r = &recs[i];
		const char *bad = take_record(r, cpr_fd_move_high(ch.fds[i]));

		if (bad) {
			reply(ch.rd.sock, "ERR EINVAL record %d (%s%u): fd is %s\n", i,
			      cpr_kind_name(r->kind), r->ordinal, bad);
			cpr_inherit_fatal("record %d (%s%u %s) from cpr-agent: its fd is %s", i,
			      cpr_kind_name(r->kind), r->ordinal, r->name, bad);
		}
	}
	pending = count > 0;
	reply(ch.rd.sock, "OK %d\n", n);
	cpr_real()->close(ch.rd.sock);
	unsetenv("CPR_INHERIT");
	cpr_control_set_role("inherit");
	cpr_info("inherit: received %u block(s) of guest RAM and %u other record(s) from cpr-agent",
		 count, ndevices);
	cpr_trimhold_begin(CPR_TRIMHOLD_LIMIT_MS);
}

bool cpr_inherit_pending(void)
{
	return pending;
}

/* The old and the new QEMU must allocate the same RAM in the same order. QEMU 10 maps a
 * shared RAM block (memory-backend-ram share=on) from a memfd where 7.2 mapped shared
 * anonymous memory, which libcpr converted: the same block if fd is that very memfd (the
 * caller checks the inode). */
static bool same_kind(const struct cpr_record *old, uint32_t now, int fd)
{
	return old->kind == now || (old->kind == CPR_KIND_RAM_ANON && now == CPR_KIND_RAM_MEMFD &&
				    (old->flags & CPR_REC_SHARED) && fd >= 0);
}

int cpr_inherit_claim(uint32_t kind, uint64_t len, int fd, struct cpr_record *rec)
{
	struct inherited *in;
	char want[32], got[32];
	int r;

	if (!pending)
		return -ENOENT;
	pthread_mutex_lock(&lock);
	in = &table[next_claim];
	cpr_size_str(in->rec.size, want, sizeof(want));
	cpr_size_str(len, got, sizeof(got));
	if (!same_kind(&in->rec, kind, fd))
		cpr_inherit_fatal("preserved block %s%u (%s) does not match the kind of what this QEMU "
		      "allocates next (%s, %s): the memory backends differ",
		      cpr_kind_name(in->rec.kind), in->rec.ordinal, want, cpr_kind_name(kind), got);
	if (in->rec.size != len)
		cpr_inherit_fatal("preserved block %s%u is %s, what this QEMU allocates next is %s: the new "
		      "command line must describe the same RAM as the old one",
		      cpr_kind_name(in->rec.kind), in->rec.ordinal, want, got);
	if (fd >= 0) {
		struct stat st;

		if (fstat(fd, &st) < 0 || st.st_dev != in->dev || st.st_ino != in->ino)
			cpr_inherit_fatal("preserved block %s%u (%s) is another file than the one this QEMU maps "
			      "(%s): the memory backends differ", cpr_kind_name(in->rec.kind),
			      in->rec.ordinal, in->rec.path[0] ? in->rec.path : in->rec.name,
			      rec->path[0] ? rec->path : "fd");
		r = fd;
		if (in->fd >= 0) {
			cpr_real()->close(in->fd); /* QEMU's own descriptor carries it now */
			in->fd = -1;
		}
	} else {
		r = in->fd; /* the caller maps and keeps it */
		in->fd = -1;
	}
	snprintf(rec->name, sizeof(rec->name), "%s", in->rec.name);
	rec->flags |= CPR_REC_INHERITED;
	in->claimed = true;
	next_claim++;
	pending = next_claim < count;
	cpr_info("inherit: claimed %s%u (%s)%s", cpr_kind_name(in->rec.kind), in->rec.ordinal,
		 want, pending ? "" : "; every preserved block is claimed");
	pthread_mutex_unlock(&lock);
	return r;
}

/* A new descriptor of inherited record in, handed to QEMU as its own. */
static int give_memfd(struct inherited *in, bool cloexec)
{
	int r = cpr_real()->fcntl(in->fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);

	if (r < 0)
		cpr_inherit_fatal("cannot duplicate the inherited memfd: %s", strerror(errno));
	in->memfd_given = true;
	return r;
}

/* The name of memfd fd (without "memfd:"), into name; false if fd is no memfd. */
static bool memfd_name(int fd, char *name, size_t len)
{
	static const char prefix[] = "/memfd:", deleted[] = " (deleted)";
	char link[32], target[300];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < (ssize_t)sizeof(prefix) - 1)
		return false;
	target[n] = 0;
	if (strncmp(target, prefix, sizeof(prefix) - 1) != 0)
		return false;
	if ((size_t)n >= sizeof(deleted) - 1 && !strcmp(target + n - sizeof(deleted) + 1, deleted))
		target[n - sizeof(deleted) + 1] = 0;
	n = (ssize_t)strnlen(target + sizeof(prefix) - 1, len - 1);
	memcpy(name, target + sizeof(prefix) - 1, (size_t)n);
	name[n] = 0;
	return true;
}

/* Whether the next record is the block QEMU's memfd fd (named name) stands for. A
 * ram-memfd record by its memfd name (QEMU names every memory-backend-memfd
 * "memory-backend-memfd", QEMU 10 the memfd of a shared RAM block after the block). Shared
 * RAM that 7.2 mapped anonymously was converted to libcpr's own memfd, named cpr-ram-anonN
 * (and keeps that name through later transfers): QEMU 10's memfd of a shared RAM block is
 * that block. Size, offset and order are checked by the caller. */
static bool is_block(const struct inherited *in, int fd, const char *name)
{
	bool block_memfd = cpr_fd_flags(fd) & CPR_FD_BLOCK_MEMFD;

	if (in->rec.kind == CPR_KIND_RAM_MEMFD)
		return strcmp(in->rec.name, name) == 0 ||
		       (block_memfd && strncmp(in->rec.name, "cpr-ram-anon", 12) == 0);
	return in->rec.kind == CPR_KIND_RAM_ANON && (in->rec.flags & CPR_REC_SHARED) &&
	       block_memfd;
}

void cpr_inherit_substitute(int fd, uint64_t len, uint64_t offset)
{
	struct inherited *in;
	char name[256];
	int cloexec;

	if (!pending || !memfd_name(fd, name, sizeof(name)))
		return;
	pthread_mutex_lock(&lock);
	in = &table[next_claim];
	if (next_claim >= count || in->memfd_given || in->fd < 0 || in->rec.size != len ||
	    in->rec.offset != offset || !is_block(in, fd, name))
		goto out;
	cloexec = cpr_real()->fcntl(fd, F_GETFD);
	if (cloexec < 0 || cpr_real()->dup3(in->fd, fd, cloexec & FD_CLOEXEC ? O_CLOEXEC : 0) < 0)
		cpr_inherit_fatal("cannot put the inherited memfd %s in place of QEMU's: %s", in->rec.name,
		      strerror(errno));
	in->memfd_given = true;
	cpr_debug("inherit: memfd %s (fd %d) is %s%u", name, fd, cpr_kind_name(in->rec.kind),
		  in->rec.ordinal);
out:
	pthread_mutex_unlock(&lock);
}

int cpr_inherit_named_memfd(const char *name, int open_flags)
{
	int r = -ENOENT;

	if (!pending)
		return -ENOENT;
	pthread_mutex_lock(&lock);
	for (unsigned i = next_claim; i < count && r == -ENOENT; i++)
		if (!table[i].memfd_given && table[i].rec.kind == CPR_KIND_RAM_MEMFD &&
		    !strcmp(table[i].rec.name, name))
			r = give_memfd(&table[i], open_flags & O_CLOEXEC);
	pthread_mutex_unlock(&lock);
	return r;
}

bool cpr_inherit_is_inherited_fd(int fd)
{
	struct stat st;

	if (count == 0 || fstat(fd, &st) < 0)
		return false;
	for (unsigned i = 0; i < count; i++)
		if (table[i].memfd_given && table[i].dev == st.st_dev && table[i].ino == st.st_ino)
			return true;
	return false;
}

unsigned cpr_inherit_received(void)
{
	return count + ndevices;
}

unsigned cpr_inherit_unclaimed(void)
{
	return count - next_claim;
}

int cpr_inherit_take(uint32_t kind, bool (*match)(const struct cpr_record *rec, const void *key),
		     const void *key, struct cpr_record *out)
{
	int r = -ENOENT;

	if (ndevices == 0)
		return -ENOENT;
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < ndevices && r == -ENOENT; i++) {
		struct inherited *in = &devices[i];

		if (in->claimed || in->fd < 0 || in->rec.kind != kind || !match(&in->rec, key))
			continue;
		in->claimed = true;
		if (out)
			*out = in->rec;
		r = in->fd;
		in->fd = -1;
		cpr_info("inherit: claimed %s%u (%s)", cpr_kind_name(kind), in->rec.ordinal,
			 in->rec.path[0] ? in->rec.path : in->rec.name);
	}
	pthread_mutex_unlock(&lock);
	return r;
}

bool cpr_inherit_has(uint32_t kind, bool (*match)(const struct cpr_record *rec, const void *key),
		     const void *key)
{
	bool found = false;

	for (unsigned i = 0; i < ndevices && !found; i++)
		found = devices[i].rec.kind == kind && match(&devices[i].rec, key);
	return found;
}

void cpr_inherit_commit(void)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < ndevices; i++) {
		struct inherited *in = &devices[i];

		if (in->claimed || in->fd < 0)
			continue;
		cpr_warn("inherit: %s%u (%s) was never claimed: this QEMU does not open it; closed",
			 cpr_kind_name(in->rec.kind), in->rec.ordinal,
			 in->rec.path[0] ? in->rec.path : in->rec.name);
		cpr_real()->close(in->fd);
		in->fd = -1;
	}
	__atomic_store_n(&committed, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
}

bool cpr_inherit_committed(void)
{
	return __atomic_load_n(&committed, __ATOMIC_ACQUIRE);
}

unsigned cpr_inherit_unclaimed_devices(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ndevices; i++)
		n += !devices[i].claimed;
	return n;
}
