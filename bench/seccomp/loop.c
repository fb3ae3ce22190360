/*
 * Syscall-heavy loop for the seccomp benchmark: N rounds of getppid + getuid + read(1 byte of /dev/zero) +
 * lseek, timed inside the container with CLOCK_MONOTONIC (vDSO, no syscall), so container start-up is not measured.
 * Prints "<iterations> <nanoseconds per round>".
 *
 * Syscalls it makes after start-up (the "observed" list the benchmark feeds to least_privilege):
 *   openat, getppid, getuid, read, lseek, write, exit_group
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    char byte;
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0)
        return 2;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < rounds; i++) {
        syscall(SYS_getppid);
        syscall(SYS_getuid);
        if (read(fd, &byte, 1) != 1)
            return 3;
        lseek(fd, 0, SEEK_SET);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
    printf("%ld %.1f\n", rounds, ns / rounds);
    return 0;
}
