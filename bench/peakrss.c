/*
 * peakrss: run a command and print the peak resident set size, in KiB, of the
 * program image it runs (VmHWM, read from /proc when the process exits).
 *
 * Why not only /usr/bin/time: the kernel's ru_maxrss for a child also counts the
 * pages the child had *before* exec, i.e. what it inherited from the forking
 * parent. GNU time is a dynamically linked glibc program, so a static no-op
 * already "peaks" at 400-500 KiB under `time -v`. VmHWM of the exec'd image
 * is what the probe itself costs.
 *
 * It also counts the program's own minor page faults: minflt (from
 * /proc/PID/stat) at exit minus minflt right after exec, so the faults of the
 * forked child before exec are not counted, as they are by `time`.
 *
 * Usage: peakrss OUTFILE CMD [ARG...]   writes "<vmhwm_kib> <minor_faults>" to
 * OUTFILE (CMD keeps stdout and stderr) and exits with CMD's exit status (128+N
 * if killed by signal N).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static long read_vmhwm_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Field 10 of /proc/PID/stat, after the command name in parentheses. */
static long read_minflt(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	long minflt = -1;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %ld", &minflt) != 1)
		return -1;
	return minflt;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: peakrss OUTFILE CMD [ARG...]\n");
		return 2;
	}
	const char *outfile = argv[1];
	argv++;
	pid_t pid = fork();
	if (pid < 0) {
		perror("peakrss: fork");
		return 2;
	}
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execvp(argv[1], argv + 1);
		perror("peakrss: exec");
		_exit(127);
	}

	int st;
	/* The first stop is the SIGTRAP that follows a successful exec. */
	if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) {
		fprintf(stderr, "peakrss: %s did not start\n", argv[1]);
		return 2;
	}
	long faults_at_exec = read_minflt(pid);
	ptrace(PTRACE_SETOPTIONS, pid, 0,
	       (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL));
	ptrace(PTRACE_CONT, pid, 0, 0);

	long hwm = -1, faults = -1;
	for (;;) {
		if (waitpid(pid, &st, 0) < 0) {
			perror("peakrss: waitpid");
			return 2;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (!WIFSTOPPED(st))
			continue;
		if ((st >> 16) == PTRACE_EVENT_EXIT) {
			/* Still has its address space here: the last moment to read it. */
			hwm = read_vmhwm_kib(pid);
			long at_exit = read_minflt(pid);
			if (at_exit >= 0 && faults_at_exec >= 0)
				faults = at_exit - faults_at_exec;
			ptrace(PTRACE_CONT, pid, 0, 0);
			continue;
		}
		/* Pass real signals on (a watchdog's SIGALRM, say). */
		int sig = WSTOPSIG(st);
		ptrace(PTRACE_CONT, pid, 0, (void *)(long)(sig == SIGTRAP ? 0 : sig));
	}
	FILE *out = fopen(outfile, "w");
	if (!out || fprintf(out, "%ld %ld\n", hwm, faults) < 0 || fclose(out) != 0) {
		perror("peakrss: writing the result");
		return 2;
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}
