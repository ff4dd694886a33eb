/* The memory backends of the two QEMUs: what a transfer preserves, and the new QEMU's claim. */
#include "config.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/control.h"
#include "agent/memdev.h"
#include "agent/qemu-argv.h"
#include "agent/qmp.h"
#include "agent/transfer.h"

/* query-memdev says share=on from QEMU 6.1; before, the backend's own QOM property does
 * (QEMU 5.2 read as not shared would be copied, though it skips the block). */
static bool backend_shared(struct qmp *q, json_t *info, const char *id)
{
	json_t *share = json_object_get(info, "share"), *ret = NULL;
	char path[128];
	bool yes;

	if (share || !id)
		return json_is_true(share);
	snprintf(path, sizeof(path), "/objects/%s", id);
	if (qmp_execute(q, "qom-get", json_pack("{s:s,s:s}", "path", path, "property", "share"),
			&ret) < 0)
		return false;
	yes = json_is_true(ret);
	json_decref(ret);
	return yes;
}

int memdev_list(struct transfer *t, struct qmp *q, struct memdev *out, size_t max,
			size_t *n)
{
	json_t *devs = NULL, *objs = NULL, *d, *o;
	size_t i, j;

	*n = 0;
	if (qmp_execute(q, "query-memdev", NULL, &devs) < 0 ||
	    qmp_execute(q, "qom-list", json_pack("{s:s}", "path", "/objects"), &objs) < 0) {
		json_decref(devs);
		return transfer_why(t, "query-memdev: %s", qmp_last_error(q));
	}
	json_array_foreach(devs, i, d) {
		struct memdev *m = &out[*n];
		const char *id = json_string_value(json_object_get(d, "id"));

		if (*n == max)
			break;
		memset(m, 0, sizeof(*m));
		snprintf(m->id, sizeof(m->id), "%s", id ? id : "");
		m->size = (uint64_t)json_integer_value(json_object_get(d, "size"));
		m->share = backend_shared(q, d, id);
		json_array_foreach(objs, j, o) {
			const char *name = json_string_value(json_object_get(o, "name"));
			const char *type = json_string_value(json_object_get(o, "type"));

			if (name && type && id && !strcmp(name, id) && !strncmp(type, "child<", 6))
				snprintf(m->type, sizeof(m->type), "%.*s", (int)strlen(type) - 7,
					 type + 6);
		}
		(*n)++;
	}
	json_decref(devs);
	json_decref(objs);
	return 0;
}

/* Whether a client (conn record) of the old QEMU can be handed to the new one: a client of
 * a UNIX chardev socket the old command line serves, not a QMP monitor's nor a TLS one's.
 * The others stay with the old QEMU and end when it quits; they reconnect to the same
 * address, where the new QEMU serves them at once. */
static bool session_moves(const struct cpr_record *rec, const struct qemu_argv *old)
{
	if (strncmp(rec->name, "unix:", 5) != 0)
		return false;
	for (size_t i = 0; i < old->nlisten; i++)
		if (!strcmp(old->listen[i], rec->path))
			return !old->ends_sessions[i];
	return false;
}

/* Choose what is preserved: the memory backends' RAM, then the devices. QEMU allocates
 * every backend before any device RAM (ROMs, VRAM), so they are the first records, in
 * order; their sizes must be the backends' sizes. ROMs and VRAM travel in the stream,
 * where the old bytes win. */
int memdev_choose_records(struct transfer *t, const struct memdev *devs, size_t ndevs)
{
	struct qemu_argv old_args;
	char err[256];
	bool old_args_known;
	size_t nsessions = 0;
	struct cpr_record *recs = NULL;
	size_t n = 0, k = 0;
	bool used[MAX_PRESERVED] = { 0 };

	if (ctl_list(t->oldctl, &recs, &n) < 0)
		return transfer_why(t, "old QEMU's libcpr: %s", ctl_error(t->oldctl));
	if (ndevs == 0 || ndevs > MAX_PRESERVED) {
		free(recs);
		return transfer_why(t, "old QEMU has %zu memory backends: cannot tell its guest RAM", ndevs);
	}
	for (size_t i = 0; i < n && k < ndevs; i++) {
		size_t d;

		if (!CPR_KIND_IS_RAM(recs[i].kind))
			continue;
		for (d = 0; d < ndevs; d++)
			if (!used[d] && devs[d].size == recs[i].size)
				break;
		if (d == ndevs) {
			transfer_why(t, "old QEMU's RAM record %s%u (%" PRIu64 " bytes) is no memory backend: "
			       "cannot tell its guest RAM apart", cpr_kind_name(recs[i].kind),
			    recs[i].ordinal, recs[i].size);
			free(recs);
			return -1;
		}
		used[d] = true;
		t->keep[k] = recs[i];
		/* the backend id travels as the record's name only for the report */
		t->ram_bytes += recs[i].size;
		k++;
	}
	if (k != ndevs) {
		free(recs);
		return transfer_why(t, "libcpr recorded %zu of the old QEMU's %zu memory backends (was it "
			      "loaded from the start?)", k, ndevs);
	}
	t->nram = k;
	old_args_known = qemu_argv_of_pid(t->old_pid, &old_args, err, sizeof(err)) == 0;
	/* then every device the old QEMU holds: taps, listening sockets, numbered fds, pidfile,
	 * clients of its chardev sockets */
	for (size_t i = 0; i < n; i++) {
		if (CPR_KIND_IS_RAM(recs[i].kind))
			continue;
		if (recs[i].kind == CPR_KIND_CONN &&
		    (!old_args_known || !session_moves(&recs[i], &old_args) ||
		     nsessions++ == MAX_SESSIONS))
			continue;
		if (k == MAX_PRESERVED) {
			free(recs);
			return transfer_why(t, "the old QEMU holds more than %d records: cannot hand "
					    "them all over", MAX_PRESERVED);
		}
		t->keep[k++] = recs[i];
	}
	free(recs);
	t->nkeep = k;
	return 0;
}

/* The new QEMU claimed every preserved block, with the same sizes. */
int memdev_verify_claim(struct transfer *t, const struct memdev *olddevs, size_t nold)
{
	struct memdev newdevs[MAX_PRESERVED];
	struct cpr_record *recs = NULL;
	char err[512], val[32];
	size_t nnew = 0, n = 0, claimed = 0;

	if (memdev_list(t, t->newq, newdevs, MAX_PRESERVED, &nnew) < 0)
		return -1;
	if (nnew != nold)
		return transfer_why(t, "the new QEMU has %zu memory backends, the old one %zu: the command "
			      "lines differ", nnew, nold);
	for (size_t i = 0; i < nold; i++) {
		size_t j;

		for (j = 0; j < nnew; j++)
			if (!strcmp(olddevs[i].id, newdevs[j].id))
				break;
		if (j == nnew)
			return transfer_why(t, "memory backend %s is missing in the new QEMU", olddevs[i].id);
		if (newdevs[j].size != olddevs[i].size)
			return transfer_why(t, "memory backend %s: %" PRIu64 " bytes in the old QEMU, %" PRIu64
				      " in the new one: the command lines differ", olddevs[i].id,
				   olddevs[i].size, newdevs[j].size);
	}
	if (ctl_connect_pid(&t->newctl, t->new_pid, err, sizeof(err)) < 0)
		return transfer_why(t, "new QEMU's libcpr: %s", err);
	if (ctl_status(t->newctl, "unclaimed", val, sizeof(val)) < 0)
		return transfer_why(t, "new QEMU's libcpr: %s", ctl_error(t->newctl));
	if (strcmp(val, "0") != 0)
		return transfer_why(t, "the new QEMU left %s preserved block(s) unclaimed: its RAM differs "
			      "from the old one's", val);
	if (ctl_list(t->newctl, &recs, &n) < 0)
		return transfer_why(t, "new QEMU's libcpr: %s", ctl_error(t->newctl));
	for (size_t i = 0; i < n; i++) {
		if (!(recs[i].flags & CPR_REC_INHERITED) || !CPR_KIND_IS_RAM(recs[i].kind))
			continue;
		if (claimed < t->nram && recs[i].size != t->keep[claimed].size) {
			free(recs);
			return transfer_why(t, "block %zu: %" PRIu64 " bytes preserved, %" PRIu64 " claimed",
				   claimed, t->keep[claimed].size, recs[i].size);
		}
		claimed++;
	}
	free(recs);
	if (claimed != t->nram)
		return transfer_why(t, "the new QEMU claimed %zu of %zu preserved blocks", claimed, t->nram);
	return 0;
}
