/* progtime: the benchmark's start-up clock. Joins a network namespace, starts a command in it
 * (fork + exec, no shell, no `ip netns exec` in between) and reads the namespace's
 * /proc/net/ip_vs every 2 ms until it lists WANT real servers; prints the milliseconds from
 * just before the fork to the first read that saw them all, then the command's pid. The
 * command keeps running; progtime waits for it to end (so it stays the daemon's parent and
 * reaps it) and exits 0 if it saw them all. A shell loop of grep + sleep under TCG needs 20-90 ms per look and
 * `ip netns exec` adds ~70 ms before the daemon starts: both would count as the daemon's.
 *
 *   progtime NETNS_PATH WANT LIMIT_MS LOG -- COMMAND [ARGS...]
 * (the command's standard output and error go to LOG)
 * Exit: 0 seen, 1 not within LIMIT_MS (prints -1), 2 usage or system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static long long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_BOOTTIME, &t);
    return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

/* Real servers listed: lines holding "->", less the header's. */
static long count(int fd)
{
    static char buf[1 << 16];
    long n = 0;
    char prev = 0, pprev = 0;
    ssize_t r;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return -1;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            /* "  -> " starts a real server line (and the header's second line) */
            if (buf[i] == '>' && prev == '-' && pprev == ' ')
                n++;
            pprev = prev;
            prev = buf[i];
        }
    }
    return n - 1;
}

int main(int argc, char **argv)
{
    if (argc < 7 || strcmp(argv[5], "--") != 0) {
        fprintf(stderr, "usage: progtime NETNS_PATH WANT LIMIT_MS LOG -- COMMAND [ARGS...]\n");
        return 2;
    }
    long want = atol(argv[2]);
    long long limit = atoll(argv[3]) * 1000;
    int ns = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
        perror("progtime: setns");
        return 2;
    }
    int fd = open("/proc/self/net/ip_vs", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror("progtime: /proc/self/net/ip_vs");
        return 2;
    }
    int log = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0) {
        perror("progtime: LOG");
        return 2;
    }
    fflush(stdout);
    long long t0 = now_us();
    /* On the clock of /proc/uptime and keepalived-rs's KEEPALIVED_RS_TIMING marks. */
    fprintf(stderr, "progtime: start %lld ms\n", t0 / 1000);
    pid_t pid = fork();
    if (pid < 0) {
        perror("progtime: fork");
        return 2;
    }
    if (pid == 0) {
        dup2(log, 1);
        dup2(log, 2);
        execvp(argv[6], argv + 6);
        perror("progtime: exec");
        _exit(127);
    }
    for (;;) {
        long n = count(fd);
        long long t = now_us();
        int seen = n >= want;
        if (seen || t - t0 > limit) {
            printf("%lld %d\n", seen ? (t - t0) / 1000 : -1, (int)pid);
            fflush(stdout);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            return seen ? 0 : 1;
        }
        usleep(2000);
    }
}
