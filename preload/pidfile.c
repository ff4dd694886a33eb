/* The pidfile (pidfile.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inherit.h"
#include "log.h"
#include "owner.h"
#include "pidfile.h"
#include "real.h"
#include "registry.h"

static int real_fd = -1;   /* new QEMU: the real pidfile, until QEMU's number holds it again */
static int qemu_fd = -1;   /* new QEMU: QEMU's pidfile descriptor (a placeholder until commit) */
static int state = -1;     /* 1 locked by us, 0 waiting for the lock, -1 no pidfile */
static char path[256];

static bool whole_file_write_lock(int cmd, const struct flock *lk)
{
	return cmd == F_SETLK && lk && lk->l_type == F_WRLCK && lk->l_whence == SEEK_SET &&
	       lk->l_start == 0 && lk->l_len == 0;
}

/* The file of fd, as /proc shows it. */
static void fd_path(int fd, char *buf, size_t len)
{
	char link[40];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
}

/* No descriptor: closing any descriptor of the pidfile would drop QEMU's lock, so libcpr
 * keeps none; cpr-agent opens the file by its path. */
static void record(const char *p, bool inherited)
{
	struct cpr_record rec = { .kind = CPR_KIND_PIDFILE, .fd = -1 };
	int id;

	snprintf(rec.path, sizeof(rec.path), "%s", p);
	snprintf(rec.name, sizeof(rec.name), "pidfile");
	rec.flags = inherited ? CPR_REC_INHERITED : 0;
	id = cpr_registry_add(&rec);
	if (id < 0)
		cpr_warn("cannot record pidfile %s: %s; it will not be handed over", p, strerror(-id));
	else
		cpr_info("recorded pidfile %s", p);
}

void cpr_pidfile_locked(int fd, int cmd, const struct flock *lk)
{
	struct stat st;
	char p[256];

	if (!whole_file_write_lock(cmd, lk) || !cpr_owner() || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || state != -1)
		return;
	fd_path(fd, p, sizeof(p));
	if (p[0] != '/')
		return;
	snprintf(path, sizeof(path), "%s", p);
	state = 1;
	record(p, false);
}

static bool same_file(const struct cpr_record *rec, const void *key)
{
	(void)key;
	return rec->kind == CPR_KIND_PIDFILE;
}

int cpr_pidfile_claim(int fd, int cmd, const struct flock *lk)
{
	struct stat mine, theirs;
	struct cpr_record rec;
	int f, scratch, fdflags;

	if (!whole_file_write_lock(cmd, lk) || !cpr_owner() ||
	    !cpr_inherit_has(CPR_KIND_PIDFILE, same_file, NULL) || fstat(fd, &mine) < 0)
		return 0;
	f = cpr_inherit_take(CPR_KIND_PIDFILE, same_file, NULL, &rec);
	if (f < 0)
		return 0;
	if (fstat(f, &theirs) < 0 || theirs.st_dev != mine.st_dev || theirs.st_ino != mine.st_ino) {
		cpr_warn("inherit: this QEMU's pidfile is not the old QEMU's %s: it keeps its own",
			 rec.path);
		cpr_real()->close(f);
		return 0;
	}
	/* QEMU truncates and writes its pid next: into a placeholder, so the file keeps
	 * naming the QEMU that runs the guest until this one does. */
	scratch = cpr_real()->memfd_create("cpr-pidfile", MFD_CLOEXEC);
	fdflags = cpr_real()->fcntl(fd, F_GETFD);
	if (scratch < 0 || fdflags < 0 ||
	    cpr_real()->dup3(scratch, fd, fdflags & FD_CLOEXEC ? O_CLOEXEC : 0) < 0)
		cpr_inherit_fatal("cannot stand in for the pidfile %s: %s", rec.path, strerror(errno));
	cpr_real()->close(scratch);
	real_fd = f;
	qemu_fd = fd;
	state = 0;
	snprintf(path, sizeof(path), "%s", rec.path);
	record(rec.path, true);
	return 1;
}

/* Waits for the old QEMU to let go of the lock (it exits), then holds it for this QEMU. */
static void *take_lock(void *arg)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = (int)(long)arg;

	while (cpr_real()->fcntl(fd, F_SETLKW, &lk) < 0 && errno == EINTR)
		;
	__atomic_store_n(&state, 1, __ATOMIC_RELEASE);
	cpr_info("pidfile %s: locked", path);
	return NULL;
}

void cpr_pidfile_commit(void)
{
	char pid[24];
	int n, fdflags;
	sigset_t all, old;
	pthread_t t;

	if (real_fd < 0)
		return;
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	/* written over the old pid, then cut to its length: the file never reads empty (a
	 * manager that checks the pidfile then would think the VM stopped: Proxmox's
	 * check_running); in between it reads our pid and a newline, maybe followed by the
	 * end of a longer old pid on the next line */
	if (pwrite(real_fd, pid, (size_t)n, 0) != n || ftruncate(real_fd, n) < 0)
		cpr_warn("pidfile %s: cannot write our pid: %s", path, strerror(errno));
	/* QEMU's number is the real file again; its placeholder goes */
	fdflags = cpr_real()->fcntl(qemu_fd, F_GETFD);
	if (cpr_real()->dup3(real_fd, qemu_fd, fdflags >= 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC
									      : 0) < 0)
		cpr_warn("pidfile %s: %s", path, strerror(errno));
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, NULL, take_lock, (void *)(long)real_fd) == 0)
		pthread_detach(t);
	else
		cpr_warn("pidfile %s: cannot start the thread that takes its lock", path);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* real_fd stays open for good: closing it would drop the lock */
}

int cpr_pidfile_state(void)
{
	return __atomic_load_n(&state, __ATOMIC_ACQUIRE);
}
