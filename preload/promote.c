/* RAM promotion: the command-line rewrite, and the memfds behind the promoted mem-paths. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/qemu-opts.h"
#include "highfd.h"
#include "inherit.h"
#include "log.h"
#include "promote.h"
#include "real.h"
#include "release.h"

/* Fail the rewrite with a reason; argv stays untouched. */
static int refuse(struct cpr_promotion *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Whether binary is a QEMU whose machines libcpr knows (x86: pc, q35, isapc, microvm). */
static bool x86_binary(const char *binary)
{
	return !strcmp(binary, "qemu-system-x86_64") || !strcmp(binary, "qemu-system-i386");
}

/* The RAMBlock name QEMU gives a machine's implicit RAM (mc->default_ram_id). */
static const char *default_ram_id(const char *binary, const char *type)
{
	if (!x86_binary(binary))
		return NULL;
	if (!strncmp(type, "pc", 2) || !strncmp(type, "q35", 3) || !strcmp(type, "isapc"))
		return "pc.ram";
	if (!strcmp(type, "microvm"))
		return "microvm.ram";
	return NULL;
}

/* The size QEMU 7.2 gives the implicit RAM (vl.c parse_memory_options, machine.c
 * machine_set_mem): every -m merged, the last size= wins; a size that reads as 0 bytes is
 * the default (128 MiB on x86); a size ending in a digit is MiB; rounded up to 8 KiB.
 * -1 (p->why) when QEMU would refuse it or libcpr is not sure what QEMU makes of it. */
static int ram_size(const char *const *m, int nm, uint64_t *size, struct cpr_promotion *p)
{
	char sz[64] = "", el[64];
	uint64_t bytes;

	for (int i = 0; i < nm; i++) {
		for (const char *s = m[i]; *s;) {
			size_t n = qemu_opt_element_len(s);
			const char *eq = memchr(s, '=', n);

			if (n >= sizeof(el) || memchr(s, ',', n))
				return refuse(p, "-m %s: cannot read the size", m[i]);
			memcpy(el, s, n);
			el[n] = 0;
			if (!eq && s == m[i])
				snprintf(sz, sizeof(sz), "%s", el); /* the implied size */
			else if (eq && !strncmp(el, "size=", 5))
				snprintf(sz, sizeof(sz), "%s", el + 5);
			else if (!eq || (strncmp(el, "slots=", 6) && strncmp(el, "maxmem=", 7)))
				return refuse(p, "-m %s: %s is not a -m option libcpr reads", m[i], el);
			s += n;
			if (*s == ',')
				s++;
		}
	}
	*size = 128ull << 20;
	if (sz[0]) {
		if (qemu_size_parse(sz, 1, &bytes) < 0)
			return refuse(p, "-m %s: cannot read the size", sz);
		if (bytes && sz[strlen(sz) - 1] >= '0' && sz[strlen(sz) - 1] <= '9' &&
		    qemu_size_parse(sz, 0, &bytes) < 0)
			return refuse(p, "-m %s: cannot read the size", sz);
		if (bytes)
			*size = bytes;
	}
	if (*size > UINT64_MAX - 8191)
		return refuse(p, "-m %s: too large", sz);
	*size = (*size + 8191) & ~8191ull;
	return 0;
}

/* The keys a promoted backend's own settings replace. */
static bool replaced_key(const char *k, size_t n)
{
	static const char *const keys[] = { "qom-type", "share", "seal", "hugetlb", "hugetlbsize",
					    "mem-path" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (n == strlen(keys[i]) && !strncmp(k, keys[i], n))
			return true;
	return false;
}

/* Whether element e (of length n) sets one of the replaced keys, or is the bare type. */
static bool drop_element(const char *e, size_t n, bool first)
{
	const char *eq = memchr(e, '=', n);

	if (first && !eq)
		return true; /* the implied qom-type */
	return replaced_key(e, eq ? (size_t)(eq - e) : n);
}

/* Whether QEMU names the block of this backend by its id, where a file backend would be
 * named by its canonical path: machine types up to 3.1 name file and memfd blocks by
 * /objects/ID (hw_compat_3_1) but ram and shm blocks by their id. */
static bool named_by_id(const char *v)
{
	char type[32] = "", val[8];

	if (qemu_opt_get(v, "qom-type", type, sizeof(type)) != 1)
		qemu_opt_head(v, type, sizeof(type));
	return (!strcmp(type, "memory-backend-ram") || !strcmp(type, "memory-backend-shm")) &&
	       qemu_opt_get(v, "x-use-canonical-path-for-ramblock-id", val, sizeof(val)) == 0;
}

/* "memory-backend-ram,id=x,size=1G,prealloc=on" -> a file backend on our mem-path; with
 * hugepage, the path asks for a hugetlb memfd of that page size. */
static char *rewrite_object(const char *v, const char *id, uint64_t hugepage)
{
	size_t cap = strlen(v) + strlen(id) + 192, used;
	char *out = malloc(cap), huge[32] = "";
	bool first = true, name_by_id = named_by_id(v);

	if (!out)
		return NULL;
	used = (size_t)snprintf(out, cap, "memory-backend-file");
	for (const char *s = v; *s;) {
		size_t n = qemu_opt_element_len(s);

		if (n && !drop_element(s, n, first)) {
			out[used++] = ',';
			memcpy(out + used, s, n);
			used += n;
		}
		first = false;
		s += n;
		if (*s == ',')
			s++;
	}
	if (hugepage)
		snprintf(huge, sizeof(huge), "@%llu", (unsigned long long)hugepage);
	snprintf(out + used, cap - used, ",mem-path=" CPR_PROMOTE_PREFIX "%s%s,share=on%s", id, huge,
		 name_by_id ? ",x-use-canonical-path-for-ramblock-id=off" : "");
	return out;
}

/* The same in JSON form, as libvirt writes it:
 * {"qom-type":"memory-backend-ram","id":"pc.ram","size":1073741824} ->
 * {"qom-type":"memory-backend-file","id":"pc.ram","size":1073741824,"mem-path":...,"share":true}
 * Members are kept as written, in their order. NULL when out of memory. */
static char *rewrite_json_object(const char *v, const char *id, uint64_t hugepage)
{
	size_t cap = strlen(v) + strlen(id) + 224, used, klen;
	char *out = malloc(cap), huge[32] = "";
	struct qemu_json_iter it = { .pos = v };
	const char *key, *val, *end;
	bool name_by_id = named_by_id(v);

	if (!out)
		return NULL;
	used = (size_t)snprintf(out, cap, "{\"qom-type\":\"memory-backend-file\"");
	/* promotable() read the whole object first */
	while (qemu_json_next(&it, &key, &klen, &val, &end) == 1) {
		if (replaced_key(key, klen))
			continue;
		out[used++] = ',';
		memcpy(out + used, key - 1, (size_t)(end - (key - 1)));
		used += (size_t)(end - (key - 1));
	}
	if (hugepage)
		snprintf(huge, sizeof(huge), "@%llu", (unsigned long long)hugepage);
	snprintf(out + used, cap - used,
		 ",\"mem-path\":\"" CPR_PROMOTE_PREFIX "%s%s\",\"share\":true%s}", id, huge,
		 name_by_id ? ",\"x-use-canonical-path-for-ramblock-id\":false" : "");
	return out;
}

/* The system's default huge page size (what a hugetlb memfd without hugetlbsize gets). */
static uint64_t default_hugepage(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kb << 10;
}

/* Whether every member of JSON object v can be read (else QEMU says what is wrong). */
static bool json_readable(const char *v)
{
	struct qemu_json_iter it = { .pos = v };
	const char *key, *val, *end;
	size_t klen;
	int r;

	while ((r = qemu_json_next(&it, &key, &klen, &val, &end)) == 1)
		;
	return r == 0 && !it.pos[strspn(it.pos, " \t\n\r")];
}

/* A memory backend object worth promoting: its id and, for a hugetlb memfd, its page size
 * in *hugepage (else 0); or false (with *skip_why when it is a backend we leave alone). */
static bool promotable(const char *v, char *id, size_t idlen, uint64_t *hugepage,
		       const char **skip_why)
{
	char type[64] = "", val[16];

	*skip_why = NULL;
	*hugepage = 0;
	if (qemu_opt_get(v, "qom-type", type, sizeof(type)) != 1 &&
	    qemu_opt_head(v, type, sizeof(type)) < 0)
		return false;
	/* memory-backend-shm (QEMU 9.1+) is shared but not skipped by x-ignore-shared */
	if (strcmp(type, "memory-backend-ram") && strcmp(type, "memory-backend-memfd") &&
	    strcmp(type, "memory-backend-shm"))
		return false;
	/* a hugetlb memfd stays on huge pages of its size: the shim's memfd is one too */
	if (!strcmp(type, "memory-backend-memfd") && qemu_opt_get(v, "hugetlb", val, sizeof(val)) == 1 &&
	    strcmp(val, "off") && strcmp(val, "false") && strcmp(val, "no")) {
		if (qemu_opt_get(v, "hugetlbsize", val, sizeof(val)) == 1
			    ? qemu_size_parse(val, 1, hugepage) < 0
			    : !(*hugepage = default_hugepage())) {
			*skip_why = "a hugetlb memfd backend whose page size is not known";
			return false;
		}
		if (*hugepage < 4096 || (*hugepage & (*hugepage - 1))) {
			*skip_why = "a hugetlb memfd backend with an odd hugetlbsize";
			return false;
		}
	}
	if (v[0] == '{' && !json_readable(v)) {
		*skip_why = "a JSON object libcpr cannot read";
		return false;
	}
	if (qemu_opt_get(v, "id", id, idlen) != 1 || strpbrk(id, "/\"\\")) {
		*skip_why = "a memory backend without a usable id";
		return false;
	}
	return true;
}

int cpr_promote_argv(const char *binary, int argc, char *const *argv, struct cpr_promotion *p)
{
	const char *implicit = NULL, *skip, *mem_path = NULL, *m[16];
	char type[64] = "", machine_type[64], val[64], id[64];
	bool prealloc = false, explicit = false, numa_memdev = false, taken = false;
	bool json_machine = false;
	uint64_t ram = 0, hugepage = 0, objpage;
	int extra, n = 0, nm = 0;

	memset(p, 0, sizeof(*p));
	if (x86_binary(binary))
		snprintf(type, sizeof(type), "pc"); /* QEMU's default machine there */
	for (int i = 1; i < argc; i++) {
		const char *o = qemu_arg_option(argv[i]), *v = i + 1 < argc ? argv[i + 1] : "";

		if (!o)
			continue;
		if (!strcmp(o, "readconfig"))
			return refuse(p, "-readconfig: the command line does not show all of the RAM");
		if (!strcmp(o, "mem-prealloc"))
			prealloc = true;
		if (!strcmp(o, "mem-path"))
			mem_path = v;
		if (!strcmp(o, "numa") && qemu_opt_get(v, "mem", val, sizeof(val)) == 1)
			return refuse(p, "-numa node,mem=: legacy NUMA RAM is no memory backend");
		/* NUMA nodes on memory backends replace the implicit RAM (numa.c), and QEMU
		 * refuses -machine memory-backend beside them */
		if (!strcmp(o, "numa") && qemu_opt_get(v, "memdev", val, sizeof(val)) == 1)
			numa_memdev = true;
		if (!strcmp(o, "machine") || !strcmp(o, "M")) {
			if (v[0] == '{')
				json_machine = true;
			if (qemu_opt_get(v, "memory-backend", val, sizeof(val)) == 1)
				explicit = true;
			if (qemu_opt_get(v, "type", machine_type, sizeof(machine_type)) == 1 ||
			    (qemu_opt_head(v, machine_type, sizeof(machine_type)) == 0 &&
			     machine_type[0] && !strchr(machine_type, '=')))
				memcpy(type, machine_type, sizeof(type));
		} else if (!strcmp(o, "m")) {
			if (nm == (int)(sizeof(m) / sizeof(m[0])))
				return refuse(p, "more than %d -m options", nm);
			m[nm++] = v;
		} else if (!strcmp(o, "object")) {
			if (promotable(v, id, sizeof(id), &objpage, &skip))
				n++;
			else if (skip)
				cpr_info("promotion: leaving %s alone: %s", v, skip);
		}
	}
	if (mem_path) {
		struct statfs fs;

		/* hugetlbfs RAM stays on huge pages: a hugetlb memfd of the same page size */
		if (explicit)
			return refuse(p, "-mem-path with -machine memory-backend=");
		if (statfs(mem_path, &fs) < 0)
			return refuse(p, "-mem-path %s: %s", mem_path, strerror(errno));
		if (fs.f_type == HUGETLBFS_MAGIC)
			hugepage = (uint64_t)fs.f_bsize;
	}
	if (!explicit && !numa_memdev) {
		/* the implicit RAM's backend is named by a -machine of its own, which QEMU
		 * may not merge with a JSON one */
		if (json_machine)
			return refuse(p, "-machine in JSON form without memory-backend: the implicit "
				      "RAM is not rewritten");
		if (!type[0])
			return refuse(p, "%s: no -machine, and libcpr does not know this binary's "
				      "default machine", binary);
		implicit = default_ram_id(binary, type);
		if (!implicit)
			return refuse(p, "machine type %s of %s: its main RAM's name is not known",
				      type, binary);
		for (int i = 1; i + 1 < argc; i++)
			if (qemu_arg_option(argv[i]) && !strcmp(qemu_arg_option(argv[i]), "object") &&
			    qemu_opt_get(argv[i + 1], "id", id, sizeof(id)) == 1 && !strcmp(id, implicit))
				taken = true;
		if (taken)
			return refuse(p, "an object is already called %s", implicit);
		if (ram_size(m, nm, &ram, p) < 0)
			return -1;
	}
	/* the implicit RAM takes an id slot too */
	if (n + (implicit ? 1 : 0) > CPR_PROMOTE_MAX)
		return refuse(p, "more than %d memory backends", CPR_PROMOTE_MAX);
	if (!n && !implicit) {
		snprintf(p->why, sizeof(p->why), "no anonymous memory backend to promote");
		return 0;
	}
	extra = implicit ? 4 : 0;
	p->argv = calloc((size_t)argc + (size_t)extra + 1, sizeof(char *));
	if (!p->argv)
		return refuse(p, "out of memory");
	for (int i = 0; i < argc; i++) {
		const char *o = qemu_arg_option(argv[i]);

		/* the promoted backend takes over what these said */
		if (o && implicit && (!strcmp(o, "mem-path") || !strcmp(o, "mem-prealloc"))) {
			i += !strcmp(o, "mem-path");
			continue;
		}
		p->argv[p->argc++] = argv[i];
		if (o && !strcmp(o, "object") && i + 1 < argc &&
		    promotable(argv[i + 1], id, sizeof(id), &objpage, &skip)) {
			char *r = argv[i + 1][0] == '{' ? rewrite_json_object(argv[i + 1], id, objpage)
							 : rewrite_object(argv[i + 1], id, objpage);

			if (!r)
				return refuse(p, "out of memory");
			p->argv[p->argc++] = r;
			snprintf(p->ids[p->nblocks++], sizeof(p->ids[0]), "%s", id);
			i++;
		}
	}
	if (implicit) {
		char *obj = malloc(256);

		if (!obj)
			return refuse(p, "out of memory");
		/* exactly what QEMU makes of -m, but a shared file: same RAMBlock name */
		char huge[32] = "";

		if (hugepage)
			snprintf(huge, sizeof(huge), "@%llu", (unsigned long long)hugepage);
		snprintf(obj, 256, "memory-backend-file,id=%s,size=%llu,mem-path=" CPR_PROMOTE_PREFIX
			 "%s%s,share=on%s,x-use-canonical-path-for-ramblock-id=off", implicit,
			 (unsigned long long)ram, implicit, huge, prealloc ? ",prealloc=on" : "");
		p->argv[p->argc++] = "-object";
		p->argv[p->argc++] = obj;
		p->argv[p->argc++] = "-machine";
		p->argv[p->argc++] = implicit[0] == 'p' ? "memory-backend=pc.ram"
							: "memory-backend=microvm.ram";
		snprintf(p->ids[p->nblocks++], sizeof(p->ids[0]), "%s", implicit);
	}
	p->argv[p->argc] = NULL;
	return 1;
}

bool cpr_promote_is_path(const char *path)
{
	return path && !strncmp(path, CPR_PROMOTE_PREFIX, sizeof(CPR_PROMOTE_PREFIX) - 1);
}

/* Promoted RAM kept in an unnamed file of CPR_RAM_DIR, by inode: /proc shows such a file as
 * DIR/#NNN (deleted), and the block still goes by its memfd-style name cpr-ID. Filled while
 * QEMU opens its RAM, read by every mmap of it: published by the count. */
static struct {
	dev_t dev;
	ino_t ino;
	char name[64];
} files[CPR_PROMOTE_MAX];
static unsigned nfiles;

static void remember_file(int fd, const char *name)
{
	unsigned n = __atomic_load_n(&nfiles, __ATOMIC_ACQUIRE);
	struct stat st;

	if (n == CPR_PROMOTE_MAX || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	files[n].dev = st.st_dev;
	files[n].ino = st.st_ino;
	snprintf(files[n].name, sizeof(files[n].name), "%s", name);
	__atomic_store_n(&nfiles, n + 1, __ATOMIC_RELEASE);
}

bool cpr_promote_file_name(int fd, char *name, size_t len)
{
	unsigned n = __atomic_load_n(&nfiles, __ATOMIC_ACQUIRE);
	struct stat st;

	if (!n || fstat(fd, &st) < 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (files[i].dev == st.st_dev && files[i].ino == st.st_ino) {
			snprintf(name, len, "%s", files[i].name);
			return true;
		}
	return false;
}

void cpr_promote_exit(void)
{
	unsigned n = __atomic_load_n(&nfiles, __ATOMIC_ACQUIRE);
	const char *dir = getenv("CPR_RAM_DIR");

	/* released: the RAM is a new QEMU's (a transfer's, or a save's directory's) now */
	if (!n || !dir || !*dir || cpr_released())
		return;
	for (unsigned i = 0; i < n; i++) {
		char path[4200];
		struct stat st;

		snprintf(path, sizeof(path), "%s/" CPR_PROMOTE_LIVE_PREFIX "%llu", dir,
			 (unsigned long long)files[i].ino);
		if (stat(path, &st) == 0 && st.st_dev == files[i].dev && st.st_ino == files[i].ino &&
		    unlink(path) == 0)
			cpr_info("guest RAM %s: removed its name %s as QEMU exits", files[i].name, path);
	}
}

/* Why CPR_RAM_DIR cannot hold RAM of this page size (0: the base page), or NULL. A tmpfs
 * must have no size limit: its pages are taken as the guest touches them, and a full tmpfs
 * would kill the guest with SIGBUS; a memfd has no such limit. Huge pages are reserved
 * when QEMU maps them, as for a hugetlb memfd. */
static const char *ram_dir_unfit(const char *dir, uint64_t hugepage)
{
	static char why[160];
	struct statfs fs;

	if (statfs(dir, &fs) < 0) {
		snprintf(why, sizeof(why), "%s", strerror(errno));
		return why;
	}
	if (hugepage && (fs.f_type != HUGETLBFS_MAGIC || (uint64_t)fs.f_bsize != hugepage)) {
		snprintf(why, sizeof(why), "not a hugetlbfs mount of %llu KiB pages (this RAM's)",
			 (unsigned long long)hugepage >> 10);
		return why;
	}
	if (!hugepage && fs.f_type != TMPFS_MAGIC)
		return "not a tmpfs";
	if (!hugepage && fs.f_blocks)
		return "a tmpfs with a size limit (a full one would end the guest with SIGBUS): "
		       "mount one with size=0";
	return NULL;
}

/* RAM for block name as an unnamed file of CPR_RAM_DIR (what cpr-agent save can name), or
 * -1 where it is not set or not fit (said once; the RAM is then a memfd, as without it). */
static int ram_dir_open(const char *name, uint64_t hugepage, int flags)
{
	static bool said;
	const char *dir = getenv("CPR_RAM_DIR"), *why;
	int fd;

	if (!dir || !*dir)
		return -1;
	why = ram_dir_unfit(dir, hugepage);
	fd = why ? -1 : cpr_real()->open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (!said)
			cpr_warn("CPR_RAM_DIR=%s: %s; guest RAM %s is a memfd: it can be transferred "
				 "but not saved (cpr-agent save)", dir, why ? why : strerror(errno),
				 name);
		said = true;
		return -1;
	}
	fd = cpr_fd_move_high(fd);
	if (!(flags & O_CLOEXEC))
		cpr_real()->fcntl(fd, F_SETFD, 0);
	cpr_debug("promotion: %s is an unnamed file of %s (fd %d)", name, dir, fd);
	return fd;
}

int cpr_promote_open(const char *path, int flags)
{
	const char *id = path + sizeof(CPR_PROMOTE_PREFIX) - 1, *at = strchr(id, '@');
	unsigned huge_flags = 0;
	char name[80];
	int fd;

	/* "ID@PAGESIZE": hugetlbfs RAM, kept on huge pages of that size */
	if (at) {
		unsigned long long size = strtoull(at + 1, NULL, 10);

		if (size < 4096 || (size & (size - 1))) {
			errno = EINVAL;
			return -1;
		}
		huge_flags = MFD_HUGETLB | ((unsigned)__builtin_ctzll(size) << MFD_HUGE_SHIFT);
	}
	snprintf(name, sizeof(name), "cpr-%.*s", (int)(at ? at - id : (long)strlen(id)), id);
	fd = cpr_inherit_named_memfd(name, flags);
	if (fd >= 0) {
		remember_file(fd, name); /* a memfd, or a file: unnamed, or named by a save */
		return fd;
	}
	if (fd != -ENOENT) {
		errno = -fd;
		return -1;
	}
	fd = ram_dir_open(name, at ? strtoull(at + 1, NULL, 10) : 0, flags);
	if (fd >= 0) {
		remember_file(fd, name);
		return fd;
	}
	/* QEMU sizes it (the file is empty) and maps it shared */
	fd = cpr_real()->memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | huge_flags);
	if (fd < 0)
		return -1;
	fd = cpr_fd_move_high(fd); /* plain QEMU has no descriptor for anonymous RAM */
	if (!(flags & O_CLOEXEC))
		cpr_real()->fcntl(fd, F_SETFD, 0);
	cpr_debug("promotion: %s is memfd %s (fd %d)", path, name, fd);
	return fd;
}
