/* cpr-agent status --all: every QEMU on this host, whether it runs a replaced binary, and
 * what a transfer would get. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/commands.h"
#include "agent/fleet.h"

static void print_table(const struct fleet_vm *vms, size_t n)
{
	int w = 4;
	char v[64], pv[64];

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(vms[i].name) > w)
			w = (int)strlen(vms[i].name) < 32 ? (int)strlen(vms[i].name) : 32;
	printf("%-8s %-*s %-6s %-10s %-8s %-10s %-7s %s\n", "PID", w, "NAME", "LIBCPR", "VERSION",
	       "REPLACED", "AT PATH", "TIER", "BINARY");
	for (size_t i = 0; i < n; i++)
		printf("%-8d %-*.*s %-6s %-10s %-8s %-10s %-7s %s\n", (int)vms[i].pid, w, w,
		       vms[i].name, vms[i].libcpr ? "yes" : "no",
		       fleet_short_version(vms[i].version, v, sizeof(v)),
		       vms[i].replaced ? "yes" : "no",
		       fleet_short_version(vms[i].path_version, pv, sizeof(pv)), vms[i].tier,
		       vms[i].binary);
	if (n)
		printf("\n");
	for (size_t i = 0; i < n; i++) {
		/* one version number, two builds (a distribution's revision) */
		if (vms[i].ver && vms[i].path_ver && strcmp(vms[i].version, vms[i].path_version) &&
		    !strcmp(fleet_short_version(vms[i].version, v, sizeof(v)),
			    fleet_short_version(vms[i].path_version, pv, sizeof(pv))))
			printf("%d: runs %s; %s is %s\n", (int)vms[i].pid, vms[i].version,
			       vms[i].binary, vms[i].path_version);
		printf("%d: tier %s: %s\n", (int)vms[i].pid, vms[i].tier, vms[i].tier_reason);
	}
}

int cmd_status_all(int json)
{
	struct fleet_vm *vms;
	size_t n;

	if (fleet_scan(&vms, &n) < 0) {
		perror("cpr-agent: /proc");
		return 1;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, fleet_vm_json(&vms[i]));
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(arr);
	} else if (n == 0) {
		printf("no QEMU runs on this host\n");
	} else {
		print_table(vms, n);
	}
	free(vms);
	return 0;
}
