/* Programs a test runs (cpr-agent above all) and what they leave behind. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

pid_t run_logged(const char *const *argv, const char *log, const char *report, bool append)
{
	pid_t pid = fork();

	if (pid == 0) {
		int trunc = append ? O_APPEND : O_TRUNC;
		int err = open(log, O_WRONLY | O_CREAT | O_CLOEXEC | trunc, 0644);
		int out = report ? open(report, O_WRONLY | O_CREAT | O_CLOEXEC | O_TRUNC, 0644) : err;

		if (err < 0 || out < 0)
			_exit(126);
		dup2(out, 1);
		dup2(err, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int wait_exit_status(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool file_contains(const char *path, const char *s)
{
	static char text[65536];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	return strstr(text, s) != NULL;
}

json_t *agent_report(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);

	if (!j)
		fprintf(stderr, "%s: no JSON report: %s (line %d)\n", path, e.text, e.line);
	else if (!json_is_object(j)) {
		fprintf(stderr, "%s: the report is not a JSON object\n", path);
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* The value at key, where "a.b" is b inside the object a. */
static json_t *report_get(json_t *report, const char *key)
{
	const char *dot = strchr(key, '.');
	char head[64];

	if (!dot)
		return json_object_get(report, key);
	snprintf(head, sizeof(head), "%.*s", (int)(dot - key), key);
	return json_object_get(json_object_get(report, head), dot + 1);
}

const char *report_str(json_t *report, const char *key)
{
	const char *s = json_string_value(report_get(report, key));

	return s ? s : "";
}

double report_num(json_t *report, const char *key)
{
	json_t *v = report_get(report, key);

	return json_is_number(v) ? json_number_value(v) : -1;
}
