/*
 * syscall_probe: try every syscall number of the native architecture and report how it ended.
 *
 * Each call runs in its own child process with harmless invalid arguments (all -1), so a call that crashes or
 * changes process state cannot disturb the probe. Calls that would end the process, fork or block are not
 * made; they are listed as "skip". Output, one line per number:
 *   <nr> ok          the call returned >= 0
 *   <nr> errno <n>   the call failed with errno n (EPERM = 1 is what a seccomp ERRNO rule returns by default)
 *   <nr> signal <n>  the child died from signal n (SIGSYS = 31 for SCMP_ACT_KILL/TRAP)
 *   <nr> timeout     the call was still blocked after the alarm
 *   <nr> skip        not tried (exit, fork, exec, pause... see SKIP below)
 *
 * Usage: syscall_probe [max_nr]   (default 460)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const long SKIP[] = {
    SYS_exit, SYS_exit_group, SYS_fork, SYS_vfork, SYS_clone,
#ifdef SYS_clone3
    SYS_clone3,
#endif
    SYS_execve, SYS_execveat, SYS_pause, SYS_rt_sigsuspend, SYS_rt_sigreturn,
};

static int skipped(long nr)
{
    for (size_t i = 0; i < sizeof(SKIP) / sizeof(SKIP[0]); i++)
        if (SKIP[i] == nr)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    long max_nr = argc > 1 ? strtol(argv[1], NULL, 10) : 460;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (long nr = 0; nr <= max_nr; nr++) {
        if (skipped(nr)) {
            printf("%ld skip\n", nr);
            continue;
        }
        pid_t child = fork();
        if (child < 0) {
            perror("fork");
            return 2;
        }
        if (child == 0) {
            alarm(2);
            long r = syscall(nr, -1L, -1L, -1L, -1L, -1L, -1L);
            _exit(r == -1 ? (errno & 0xff ? errno & 0xff : 255) : 0);
        }
        int status = 0;
        while (waitpid(child, &status, 0) < 0) {
            if (errno != EINTR) {
                perror("waitpid");
                return 2;
            }
        }
        if (WIFEXITED(status)) {
            if (WEXITSTATUS(status) == 0)
                printf("%ld ok\n", nr);
            else
                printf("%ld errno %d\n", nr, WEXITSTATUS(status));
        } else if (WIFSIGNALED(status)) {
            if (WTERMSIG(status) == SIGALRM)
                printf("%ld timeout\n", nr);
            else
                printf("%ld signal %d\n", nr, WTERMSIG(status));
        }
    }
    return 0;
}
