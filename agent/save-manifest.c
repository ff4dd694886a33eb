/* The manifest of a save directory: written once the save is complete, read and checked
 * before anything is restored. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/save-manifest.h"
#include "common/wire.h"

#define MANIFEST_MAX_BYTES (4u << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

struct text {
	char *buf;
	size_t used, cap;
	bool bad;
};

/* Make room for n more bytes. */
static bool room(struct text *t, size_t n)
{
	if (t->bad)
		return false;
	if (t->used + n + 1 > t->cap) {
		size_t cap = (t->used + n + 1) * 2;
		char *b = cap <= MANIFEST_MAX_BYTES ? realloc(t->buf, cap) : NULL;

		if (!b) {
			t->bad = true;
			return false;
		}
		t->buf = b;
		t->cap = cap;
	}
	return true;
}

static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !room(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->used, t->cap - t->used, fmt, ap);
	va_end(ap);
	t->used += (size_t)n;
}

/* "key VALUE\n" with the value percent-encoded. */
static void add_escaped(struct text *t, const char *key, const char *value)
{
	add(t, "%s ", key);
	if (!room(t, strlen(value) * 3 + 1) ||
	    cpr_wire_escape(t->buf, t->cap, &t->used, value) < 0) {
		t->bad = true;
		return;
	}
	add(t, "\n");
}

/* Write all of buf to path and sync it. 0 or -errno. */
static int write_synced(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t done = 0;
	int r = 0;

	if (fd < 0)
		return -errno;
	while (done < len && r == 0) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			done += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int manifest_write(const char *dir, const struct manifest *m, char *err, size_t errlen)
{
	struct text t = { 0 };
	char tmp[4200], path[4200], rec[1024];
	int r, dfd;

	add(&t, "cpr-save 1\n");
	add_escaped(&t, "version", m->version);
	add(&t, "ver %d\n", m->ver);
	add_escaped(&t, "machine", m->machine);
	add_escaped(&t, "cwd", m->cwd);
	if (m->log[0])
		add_escaped(&t, "log", m->log);
	add(&t, "suspended %d\nstop-usec %lld\nstate-size %" PRIu64 "\n", m->suspended,
	    m->stop_usec, m->state_size);
	for (int i = 0; i < m->argc; i++)
		add_escaped(&t, "arg", m->argv[i]);
	for (int i = 0; i < m->envc; i++)
		add_escaped(&t, "env", m->env[i]);
	for (size_t i = 0; i < m->nram; i++) {
		size_t used = 0;

		if (cpr_wire_format_record(&m->ram[i].rec, rec, sizeof(rec)) < 0) {
			t.bad = true;
			break;
		}
		add(&t, "ram ");
		if (room(&t, strlen(m->ram[i].file) * 3 + 1) &&
		    cpr_wire_escape(t.buf + t.used, t.cap - t.used, &used, m->ram[i].file) == 0)
			t.used += used;
		else
			t.bad = true;
		add(&t, " %" PRIu64 " %s", m->ram[i].ino, rec); /* rec ends with its newline */
	}
	add(&t, "end\n");
	if (t.bad) {
		free(t.buf);
		return fail(err, errlen, "the manifest does not fit in %u MiB (a command line or "
			    "environment that long?)", MANIFEST_MAX_BYTES >> 20);
	}
	snprintf(tmp, sizeof(tmp), "%s/manifest.tmp", dir);
	snprintf(path, sizeof(path), "%s/manifest", dir);
	r = write_synced(tmp, t.buf, t.used);
	free(t.buf);
	if (r < 0)
		return fail(err, errlen, "%s: %s", tmp, strerror(-r));
	if (rename(tmp, path) < 0)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	/* the rename itself must be on disk where the directory is (a DAX or disk save) */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* One "key value" line's value, percent-decoded in place. */
static int value(char *v, char *err, size_t errlen, const char *key)
{
	if (cpr_wire_unescape(v, strlen(v), v, strlen(v) + 1) < 0)
		return fail(err, errlen, "the manifest's %s is not percent-encoded text", key);
	return 0;
}

/* Copy a decoded value into a fixed field. */
static int field(char *dst, size_t len, char *v, char *err, size_t errlen, const char *key)
{
	if (value(v, err, errlen, key) < 0)
		return -1;
	if (strlen(v) >= len)
		return fail(err, errlen, "the manifest's %s is too long", key);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* "ram FILE INO R ..." */
static int parse_ram(char *v, struct manifest *m, char *err, size_t errlen)
{
	struct manifest_ram *r = &m->ram[m->nram];
	char *sp = strchr(v, ' '), *end;

	if (m->nram == MANIFEST_MAX_RAM)
		return fail(err, errlen, "the manifest has more than %d RAM blocks", MANIFEST_MAX_RAM);
	if (!sp)
		return fail(err, errlen, "the manifest's ram line has no inode");
	*sp = 0;
	if (field(r->file, sizeof(r->file), v, err, errlen, "ram file") < 0)
		return -1;
	errno = 0;
	r->ino = strtoull(sp + 1, &end, 10);
	if (errno || end == sp + 1 || *end != ' ' ||
	    cpr_wire_parse_record(end + 1, strlen(end + 1), &r->rec) < 0 ||
	    !CPR_KIND_IS_RAM(r->rec.kind) || !r->rec.size)
		return fail(err, errlen, "the manifest's ram line for %s is malformed", r->file);
	if (!r->file[0] || strstr(r->file, "..") || (r->file[0] != '/' && strchr(r->file, '/')))
		return fail(err, errlen, "the manifest names RAM file '%s': not a file of its "
			    "directory or an absolute path", r->file);
	m->nram++;
	return 0;
}

int manifest_parse(char *text, struct manifest *m, char *err, size_t errlen)
{
	bool ended = false;
	char *line = text, *nl;

	memset(m, 0, sizeof(*m));
	m->text = text;
	if (strncmp(text, "cpr-save 1\n", 11) != 0)
		return fail(err, errlen, "not a cpr-agent save manifest (or of another version)");
	for (line = text + 11; *line; line = nl + 1) {
		char *v, *end;

		nl = strchr(line, '\n');
		if (!nl)
			return fail(err, errlen, "the manifest ends in the middle of a line");
		*nl = 0;
		if (ended)
			return fail(err, errlen, "the manifest goes on after its end");
		if (!strcmp(line, "end")) {
			ended = true;
			continue;
		}
		v = strchr(line, ' ');
		if (!v)
			return fail(err, errlen, "manifest line '%.40s' has no value", line);
		*v++ = 0;
		errno = 0;
		if (!strcmp(line, "version")) {
			if (field(m->version, sizeof(m->version), v, err, errlen, line) < 0)
				return -1;
		} else if (!strcmp(line, "ver")) {
			m->ver = (int)strtol(v, &end, 10);
			if (*end || m->ver <= 0)
				return fail(err, errlen, "the manifest's ver is not a version");
		} else if (!strcmp(line, "machine")) {
			if (field(m->machine, sizeof(m->machine), v, err, errlen, line) < 0)
				return -1;
		} else if (!strcmp(line, "cwd")) {
			if (field(m->cwd, sizeof(m->cwd), v, err, errlen, line) < 0)
				return -1;
		} else if (!strcmp(line, "log")) {
			if (field(m->log, sizeof(m->log), v, err, errlen, line) < 0)
				return -1;
		} else if (!strcmp(line, "suspended")) {
			m->suspended = !strcmp(v, "1");
		} else if (!strcmp(line, "stop-usec")) {
			m->stop_usec = strtoll(v, &end, 10);
			if (*end || errno)
				return fail(err, errlen, "the manifest's stop-usec is not a number");
		} else if (!strcmp(line, "state-size")) {
			m->state_size = strtoull(v, &end, 10);
			if (*end || errno || !m->state_size)
				return fail(err, errlen, "the manifest's state-size is not a size");
		} else if (!strcmp(line, "arg") || !strcmp(line, "env")) {
			bool arg = line[0] == 'a';
			int *n = arg ? &m->argc : &m->envc;

			if (*n == MANIFEST_MAX_WORDS)
				return fail(err, errlen, "the manifest has more than %d %ss",
					    MANIFEST_MAX_WORDS, line);
			if (value(v, err, errlen, line) < 0)
				return -1;
			(arg ? m->argv : m->env)[(*n)++] = v;
		} else if (!strcmp(line, "ram")) {
			if (parse_ram(v, m, err, errlen) < 0)
				return -1;
		} else {
			return fail(err, errlen, "the manifest has an unknown line '%.40s'", line);
		}
	}
	if (!ended)
		return fail(err, errlen, "the manifest is cut short (no end line)");
	if (!m->argc || !m->nram || !m->state_size || !m->machine[0] || !m->ver)
		return fail(err, errlen, "the manifest lacks %s", !m->argc ? "the command line" :
			    !m->nram ? "RAM blocks" : !m->state_size ? "the state's size" :
			    !m->machine[0] ? "the machine type" : "the QEMU version");
	return 0;
}

int manifest_read(const char *dir, struct manifest *m, char *err, size_t errlen)
{
	char path[4200], *text;
	struct stat st;
	ssize_t n;
	int fd;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/manifest", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MANIFEST_MAX_BYTES) {
		close(fd);
		return fail(err, errlen, "%s: not a manifest (not a file, or over %u MiB)", path,
			    MANIFEST_MAX_BYTES >> 20);
	}
	text = malloc((size_t)st.st_size + 1);
	n = text ? read(fd, text, (size_t)st.st_size) : -1;
	close(fd);
	if (n != st.st_size) {
		free(text);
		return fail(err, errlen, "%s: cannot read it", path);
	}
	text[n] = 0;
	if (strlen(text) != (size_t)n) {
		free(text);
		return fail(err, errlen, "%s: not text", path);
	}
	if (manifest_parse(text, m, err, errlen) < 0) {
		manifest_free(m);
		return -1;
	}
	return 0;
}

void manifest_ram_path(const char *dir, const struct manifest_ram *r, char *buf, size_t len)
{
	if (r->file[0] == '/')
		snprintf(buf, len, "%s", r->file);
	else
		snprintf(buf, len, "%s/%s", dir, r->file);
}

int manifest_check(const char *dir, const struct manifest *m, char *err, size_t errlen)
{
	char path[4400];
	struct stat st;

	for (size_t i = 0; i < m->nram; i++) {
		const struct manifest_ram *r = &m->ram[i];

		manifest_ram_path(dir, r, path, sizeof(path));
		if (lstat(path, &st) < 0)
			return fail(err, errlen, "RAM block %s: %s: %s: the guest's memory is not "
				    "there, nothing is loaded", r->rec.name, path, strerror(errno));
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_ino != r->ino)
			return fail(err, errlen, "RAM block %s: %s is not the file that was saved "
				    "(inode %llu, saved %" PRIu64 "): nothing is loaded", r->rec.name,
				    path, (unsigned long long)st.st_ino, r->ino);
		if ((uint64_t)st.st_size < r->rec.offset + r->rec.size)
			return fail(err, errlen, "RAM block %s: %s holds %lld bytes, the block "
				    "needs %" PRIu64 ": nothing is loaded", r->rec.name, path,
				    (long long)st.st_size, r->rec.offset + r->rec.size);
	}
	snprintf(path, sizeof(path), "%s/state", dir);
	if (lstat(path, &st) < 0)
		return fail(err, errlen, "%s: %s: the device state is missing, nothing is loaded",
			    path, strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != m->state_size)
		return fail(err, errlen, "%s holds %lld bytes, the save wrote %" PRIu64 ": nothing "
			    "is loaded", path, (long long)st.st_size, m->state_size);
	return 0;
}

void manifest_free(struct manifest *m)
{
	free(m->text);
	m->text = NULL;
}
