/* libvirt's status file of a running domain: read the few values the agent needs, and
 * replace the pid (and emulator) without touching anything else. libvirt writes the file
 * itself (virDomainObjFormat), so the text is regular: one <domstatus> element with its
 * attributes in quotes, then the domain definition. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/libvirt-status.h"

/* The element's start tag <NAME ...>: where it begins, and its end ('>'), or NULL. */
static const char *start_tag(const char *from, const char *name, const char **end)
{
	size_t n = strlen(name);

	for (const char *p = strchr(from, '<'); p; p = strchr(p + 1, '<'))
		if (!strncmp(p + 1, name, n) && strchr(" \t\r\n/>", p[1 + n])) {
			*end = strchr(p, '>');
			return *end ? p : NULL;
		}
	return NULL;
}

/* The value of attribute attr in the tag [tag, end): its first character and length. */
static const char *attribute(const char *tag, const char *end, const char *attr, size_t *len)
{
	size_t n = strlen(attr);

	for (const char *p = tag; p + n + 2 < end; p++) {
		const char *v, *close;

		if (!strchr(" \t\r\n", *p) || strncmp(p + 1, attr, n) || p[1 + n] != '=')
			continue;
		v = p + n + 2;
		if (*v != '\'' && *v != '"')
			return NULL;
		close = memchr(v + 1, *v, (size_t)(end - v - 1));
		if (!close)
			return NULL;
		*len = (size_t)(close - v - 1);
		return v + 1;
	}
	return NULL;
}

/* Copy XML text [s, s+len) into buf with the five predefined entities decoded. */
static int unescape(const char *s, size_t len, char *buf, size_t size)
{
	static const char *const ent[][2] = { { "&amp;", "&" },  { "&lt;", "<" },
					       { "&gt;", ">" },   { "&apos;", "'" },
					       { "&quot;", "\"" } };
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		size_t k = 0;

		if (s[i] == '&') {
			for (k = 0; k < 5; k++)
				if (!strncmp(s + i, ent[k][0], strlen(ent[k][0])))
					break;
			if (k == 5)
				return -1; /* a character reference: not in a path libvirt writes */
		}
		if (o + 1 >= size)
			return -1;
		if (s[i] == '&') {
			buf[o++] = ent[k][1][0];
			i += strlen(ent[k][0]);
		} else {
			buf[o++] = s[i++];
		}
	}
	buf[o] = 0;
	return 0;
}

/* The text of element <name>TEXT</name> after from: its first character and length. */
static const char *element_text(const char *from, const char *name, size_t *len)
{
	const char *end, *tag = start_tag(from, name, &end), *close;
	char closing[64];

	if (!tag || end[-1] == '/')
		return NULL;
	snprintf(closing, sizeof(closing), "</%s>", name);
	close = strstr(end + 1, closing);
	if (!close)
		return NULL;
	*len = (size_t)(close - end - 1);
	return end + 1;
}

int libvirt_status_parse(const char *xml, struct libvirt_status *st, char *err, size_t errlen)
{
	const char *end, *tag = start_tag(xml, "domstatus", &end), *v, *mon_end, *mon, *dom, *dom_end;
	char num[32];
	size_t len;
	long pid;

	memset(st, 0, sizeof(*st));
	if (!tag) {
		snprintf(err, errlen, "no <domstatus> element: not a libvirt status file");
		return -1;
	}
	v = attribute(tag, end, "pid", &len);
	if (!v || unescape(v, len, num, sizeof(num)) < 0 || (pid = strtol(num, NULL, 10)) <= 0) {
		snprintf(err, errlen, "<domstatus> records no QEMU pid");
		return -1;
	}
	st->pid = (pid_t)pid;
	v = attribute(tag, end, "state", &len);
	if (v && unescape(v, len, st->state, sizeof(st->state)) < 0)
		st->state[0] = 0;
	/* the monitor is recorded in domstatus, before the domain definition begins */
	dom = start_tag(end, "domain", &dom_end);
	if (!dom) {
		snprintf(err, errlen, "no <domain> definition in the status file");
		return -1;
	}
	mon = start_tag(end, "monitor", &mon_end);
	if (!mon || mon > dom ||
	    !(v = attribute(mon, mon_end, "path", &len)) ||
	    unescape(v, len, st->monitor, sizeof(st->monitor)) < 0 || st->monitor[0] != '/') {
		snprintf(err, errlen, "the status file records no monitor UNIX socket path");
		return -1;
	}
	v = element_text(dom, "emulator", &len);
	if (!v || unescape(v, len, st->emulator, sizeof(st->emulator)) < 0) {
		snprintf(err, errlen, "the status file records no <emulator>");
		return -1;
	}
	return 0;
}

size_t libvirt_status_vcpus(const char *xml, struct libvirt_vcpu *v, size_t max)
{
	const char *end, *from = start_tag(xml, "vcpus", &end);
	const char *stop = from ? strstr(from, "</vcpus>") : NULL;
	size_t n = 0;

	/* libvirt writes them in domstatus, before the definition's own <vcpu> element */
	while (stop && n < max && (from = start_tag(end, "vcpu", &end)) && from < stop) {
		const char *id, *tid;
		char num[2][24];
		size_t idlen, tidlen;

		id = attribute(from, end, "id", &idlen);
		tid = attribute(from, end, "pid", &tidlen);
		if (!id || !tid || unescape(id, idlen, num[0], sizeof(num[0])) < 0 ||
		    unescape(tid, tidlen, num[1], sizeof(num[1])) < 0 || atoi(num[1]) <= 0)
			continue;
		v[n].id = atoi(num[0]);
		v[n].tid = (pid_t)atoi(num[1]);
		n++;
	}
	return n;
}

/* Append [s, s+len) to the buffer at *out (of *cap bytes, *used used). */
static int append(char **out, size_t *used, size_t *cap, const char *s, size_t len)
{
	if (*used + len + 1 > *cap) {
		size_t want = (*used + len + 1) * 2;
		char *p = realloc(*out, want);

		if (!p)
			return -1;
		*out = p;
		*cap = want;
	}
	memcpy(*out + *used, s, len);
	*used += len;
	(*out)[*used] = 0;
	return 0;
}

/* Append s with the characters XML gives a meaning escaped. */
static int append_escaped(char **out, size_t *used, size_t *cap, const char *s)
{
	for (; *s; s++) {
		const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" :
				*s == '\'' ? "&apos;" : *s == '"' ? "&quot;" : NULL;

		if (append(out, used, cap, e ? e : s, e ? strlen(e) : 1) < 0)
			return -1;
	}
	return 0;
}

char *libvirt_status_rewrite(const char *xml, pid_t pid, const char *emulator, char *err,
			     size_t errlen)
{
	const char *end, *tag = start_tag(xml, "domstatus", &end), *v, *dom_end, *emu = NULL;
	char num[32];
	char *out = NULL;
	size_t len, emu_len = 0, used = 0, cap = 0;

	v = tag ? attribute(tag, end, "pid", &len) : NULL;
	if (!v) {
		snprintf(err, errlen, "no <domstatus pid=...> to rewrite");
		return NULL;
	}
	if (emulator) {
		emu = element_text(start_tag(end, "domain", &dom_end) ?: end, "emulator", &emu_len);
		if (!emu) {
			snprintf(err, errlen, "no <emulator> to rewrite");
			return NULL;
		}
	}
	snprintf(num, sizeof(num), "%d", (int)pid);
	if (append(&out, &used, &cap, xml, (size_t)(v - xml)) < 0 ||
	    append(&out, &used, &cap, num, strlen(num)) < 0)
		goto oom;
	if (!emulator) {
		if (append(&out, &used, &cap, v + len, strlen(v + len)) < 0)
			goto oom;
		return out;
	}
	if (append(&out, &used, &cap, v + len, (size_t)(emu - v - len)) < 0 ||
	    append_escaped(&out, &used, &cap, emulator) < 0 ||
	    append(&out, &used, &cap, emu + emu_len, strlen(emu + emu_len)) < 0)
		goto oom;
	return out;
oom:
	free(out);
	snprintf(err, errlen, "out of memory");
	return NULL;
}

int libvirt_status_path(const char *dir, const char *name, char *buf, size_t len)
{
	/* a domain name never holds '/'; one that does names no status file */
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s/%s.xml", dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int libvirt_status_load(const char *path, char **xml, struct libvirt_status *st, char *err,
			size_t errlen)
{
	char why[300];
	struct stat sb;
	FILE *f;

	*xml = NULL;
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s (is the domain running under this host's libvirt?)",
			 path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &sb) < 0 || sb.st_size <= 0 || sb.st_size > (64 << 20) ||
	    !(*xml = calloc(1, (size_t)sb.st_size + 1)) ||
	    fread(*xml, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		snprintf(err, errlen, "%s: cannot read it whole", path);
		fclose(f);
		free(*xml);
		*xml = NULL;
		return -1;
	}
	fclose(f);
	if (libvirt_status_parse(*xml, st, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		free(*xml);
		*xml = NULL;
		return -1;
	}
	return 0;
}

int libvirt_domain_of(const char *dir, pid_t pid, const char *monitor, char *name, size_t len)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int found = 0;

	if (!d)
		return 0; /* no libvirt on this host */
	while (!found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		struct libvirt_status st;
		char path[4200], why[300], *xml;

		if (n < 5 || strcmp(e->d_name + n - 4, ".xml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (libvirt_status_load(path, &xml, &st, why, sizeof(why)) < 0)
			continue;
		free(xml);
		if (pid > 0 ? st.pid == pid : monitor && !strcmp(st.monitor, monitor)) {
			snprintf(name, len, "%.*s", (int)(n - 4), e->d_name);
			found = 1;
		}
	}
	closedir(d);
	return found;
}

int libvirt_file_replace(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[4200], dirbuf[4200];
	size_t len = strlen(text);
	struct stat sb;
	int fd, dfd;

	if (stat(path, &sb) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.cpr-new", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, sb.st_mode & 07777);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchown(fd, sb.st_uid, sb.st_gid) < 0 || fchmod(fd, sb.st_mode & 07777) < 0 ||
	    write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
