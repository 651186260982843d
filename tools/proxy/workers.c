/*
 * sipflow-proxy --workers N: N worker processes on the same public ports
 * (SO_REUSEPORT), each a node of the Redis registrar cluster with a
 * private loopback port of its own, and the supervisor that starts them,
 * forwards SIGTERM and SIGINT to them by PID, restarts one that dies
 * (with a growing delay, so never a fork storm) and exits once they are
 * gone. docs/proxy.md, "Using more than one core".
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <sipflow/token.h>

#include "proxy.h"

/* A worker that dies within this long of its start died "quickly". */
#define QUICK_MS 10000
/* The first restart waits this long, each quick death in a row doubles
 * it, up to MAX_DELAY_MS; QUICK_LIMIT quick deaths in a row and the
 * supervisor gives up on that worker. */
#define FIRST_DELAY_MS 250
#define MAX_DELAY_MS 30000
#define QUICK_LIMIT 5
/* After SIGTERM, workers still running this long after get SIGKILL. */
#define STOP_GRACE_MS 10000

typedef struct worker {
  pid_t pid;        /* 0: not running */
  uint64_t started; /* ms */
  uint64_t restart; /* ms; when pid is 0 and not given up */
  unsigned quick;   /* quick deaths in a row */
  int given_up;
} worker;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The key ring all workers share: made here, before any fork, when the
 * file does not exist yet (as a single process makes it, docs/tokens.md),
 * so that every worker loads the same keys and verifies the others'
 * tokens. */
static int shared_keys(const char *path) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  char hex[2 * SIPFLOW_TOKEN_KEY_LEN + 1];
  struct stat st;
  mode_t old;
  FILE *f;
  int rv = 0;
  if (stat(path, &st) == 0)
    return 0;
  if (errno != ENOENT || sipflow_token_key_generate(key, sizeof(key)) != 0)
    return -1;
  old = umask(077);
  f = fopen(path, "wx");
  umask(old);
  if (!f) {
    sodium_memzero(key, sizeof(key));
    return -1;
  }
  sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
  if (fprintf(f, "%u %s\n", (unsigned)(1 + randombytes_uniform(255)), hex) < 0)
    rv = -1;
  if (fclose(f) != 0)
    rv = -1;
  sodium_memzero(hex, sizeof(hex));
  sodium_memzero(key, sizeof(key));
  return rv;
}

static int bind_lo(int type, uint16_t port, uint16_t *got) {
  struct sockaddr_in sa;
  socklen_t n = sizeof(sa);
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &n) != 0) {
    close(fd);
    return -1;
  }
  *got = ntohs(sa.sin_port);
  return fd;
}

/* One private port per worker, free on loopback for both UDP and TCP:
 * --worker-port BASE gives BASE..BASE+N-1, else the kernel picks. They
 * are chosen once and kept across restarts, since the other workers list
 * them as peers and the Paths in Redis name them. */
static int pick_ports(const px_config *cfg, uint16_t *ports) {
  int fds[2 * PX_MAX_WORKERS], nfd = 0, rv = 0;
  for (unsigned i = 0; i < cfg->workers && rv == 0; i++) {
    int tries = 0;
    for (;;) {
      uint16_t want = cfg->worker_port ? (uint16_t)(cfg->worker_port + i) : 0;
      uint16_t got, got2;
      int t = bind_lo(SOCK_STREAM, want, &got);
      int u = t >= 0 ? bind_lo(SOCK_DGRAM, got, &got2) : -1;
      if (t >= 0 && u >= 0) {
        ports[i] = got;
        fds[nfd++] = t;
        fds[nfd++] = u;
        break;
      }
      if (t >= 0)
        close(t);
      if (cfg->worker_port || ++tries == 50) {
        fprintf(stderr, "sipflow-proxy: no free private port for worker %u\n",
                i + 1);
        rv = -1;
        break;
      }
    }
  }
  while (nfd > 0)
    close(fds[--nfd]);
  return rv;
}

static int add_endpoint(px_endpoint_cfg *ep, const char *tp, uint16_t port) {
  char s[64];
  snprintf(s, sizeof(s), "%s:" PX_WORKER_HOST ":%u", tp, (unsigned)port);
  return px_parse_endpoint(s, ep);
}

void px_worker_hop(const px *p, char *host, size_t hostlen, uint16_t *port) {
  snprintf(host, hostlen, PX_WORKER_HOST);
  *port = p->cfg.path_port;
}

/* Worker i's own configuration, from the one given (in the child). */
static int worker_config(px_config *cfg, unsigned i, const uint16_t *ports) {
  char id[sizeof(cfg->node_id)];
  unsigned n = cfg->workers;
  if ((size_t)snprintf(id, sizeof(id), "%s.%u", cfg->node_id, i + 1) >=
      sizeof(id))
    return -1;
  strcpy(cfg->node_id, id);
  if (cfg->control_path[0]) {
    size_t len = strlen(cfg->control_path);
    if (len + 4 >= sizeof(cfg->control_path))
      return -1;
    snprintf(cfg->control_path + len, sizeof(cfg->control_path) - len, ".%u",
             i + 1);
  }
  if (add_endpoint(&cfg->listen[cfg->nlisten++], "udp", ports[i]) != 0 ||
      add_endpoint(&cfg->listen[cfg->nlisten++], "tcp", ports[i]) != 0)
    return -1;
  cfg->first_worker_peer = cfg->npeers;
  for (unsigned j = 0; j < n; j++)
    if (j != i && add_endpoint(&cfg->peers[cfg->npeers++], "tcp", ports[j]))
      return -1;
  cfg->path_port = ports[i];
  cfg->worker_index = i;
  cfg->reuse_port = true;
  cfg->workers = 1;
  return 0;
}

/* One write() per line: the workers log to the same stderr, and a line
 * written in pieces can be cut by one of theirs. */
static void say(const char *fmt, unsigned i, long a) {
  char line[256], what[160];
  int n;
  snprintf(what, sizeof(what), fmt, a);
  n = snprintf(line, sizeof(line), "sipflow-proxy: worker %u %s\n", i + 1,
               what);
  if (n > 0)
    fwrite(line, 1, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
           stderr);
}

/* Returns the child's pid in the parent, 0 in the child, -1 on error. */
static pid_t spawn(worker *w, unsigned i, const sigset_t *old, pid_t sup) {
  pid_t pid = fork();
  if (pid < 0) {
    say("not started: fork: errno %ld", i, (long)errno);
    return -1;
  }
  if (pid == 0) {
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, old, NULL);
    /* A supervisor killed outright takes its workers with it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != sup)
      _exit(1);
    return 0;
  }
  w->pid = pid;
  w->started = now_ms();
  say("started (pid %ld)", i, (long)pid);
  return pid;
}

int px_workers_run(px_config *cfg, int *status) {
  worker ws[PX_MAX_WORKERS];
  uint16_t ports[PX_MAX_WORKERS];
  unsigned n = cfg->workers;
  sigset_t set, old;
  pid_t sup = getpid();
  int stopping = 0, killed = 0;
  uint64_t stop_at = 0;

  *status = 1;
  if (shared_keys(cfg->token_key_file) != 0) {
    fprintf(stderr, "sipflow-proxy: cannot create the key ring %s\n",
            cfg->token_key_file);
    return 0;
  }
  if (pick_ports(cfg, ports) != 0)
    return 0;
  {
    int made = px_steer_prepare(cfg);
    if (made < 0)
      fprintf(stderr,
              "sipflow-proxy: warn: cannot keep each UDP source with one "
              "worker across restarts (eBPF: %s); the kernel's own spread "
              "applies\n",
              strerror(-made));
  }
  memset(ws, 0, sizeof(ws));
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, &old);
  for (unsigned i = 0; i < n; i++) {
    fprintf(stderr,
            "sipflow-proxy: worker %u: node %s.%u, private port " PX_WORKER_HOST
            ":%u\n",
            i + 1, cfg->node_id, i + 1, (unsigned)ports[i]);
    pid_t pid = spawn(&ws[i], i, &old, sup);
    if (pid == 0)
      return worker_config(cfg, i, ports) == 0 ? 1 : (_exit(2), 0);
    if (pid < 0)
      ws[i].restart = now_ms() + FIRST_DELAY_MS;
  }
  for (;;) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    siginfo_t si;
    int sig = sigtimedwait(&set, &si, &ts);
    int st, live = 0, pending = 0;
    pid_t pid;
    uint64_t now = now_ms();
    if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
      stopping = 1;
      stop_at = now + STOP_GRACE_MS;
      fprintf(stderr, "sipflow-proxy: %s: stopping the workers\n",
              sig == SIGTERM ? "SIGTERM" : "SIGINT");
      for (unsigned i = 0; i < n; i++)
        if (ws[i].pid > 0)
          kill(ws[i].pid, sig);
    }
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
      for (unsigned i = 0; i < n; i++) {
        if (ws[i].pid != pid)
          continue;
        ws[i].pid = 0;
        if (WIFSIGNALED(st))
          say("exited on signal %ld", i, (long)WTERMSIG(st));
        else
          say("exited with status %ld", i, (long)WEXITSTATUS(st));
        if (stopping)
          break;
        ws[i].quick = now - ws[i].started < QUICK_MS ? ws[i].quick + 1 : 0;
        if (ws[i].quick >= QUICK_LIMIT) {
          say("died %ld times in a row at start: not restarted", i,
              (long)ws[i].quick);
          ws[i].given_up = 1;
          break;
        }
        uint64_t delay = (uint64_t)FIRST_DELAY_MS << ws[i].quick;
        ws[i].restart = now + (delay > MAX_DELAY_MS ? MAX_DELAY_MS : delay);
        say("restarts in %ld ms", i, (long)(ws[i].restart - now));
        break;
      }
    }
    for (unsigned i = 0; i < n; i++) {
      if (ws[i].pid > 0) {
        live++;
        continue;
      }
      if (stopping || ws[i].given_up)
        continue;
      pending++;
      if (now < ws[i].restart)
        continue;
      pid = spawn(&ws[i], i, &old, sup);
      if (pid == 0)
        return worker_config(cfg, i, ports) == 0 ? 1 : (_exit(2), 0);
      if (pid < 0)
        ws[i].restart = now + MAX_DELAY_MS;
      else
        live++;
    }
    if (stopping && live == 0) {
      *status = 0;
      break;
    }
    if (!stopping && live == 0 && pending == 0) {
      fprintf(stderr, "sipflow-proxy: every worker gave up\n");
      break;
    }
    if (stopping && !killed && now >= stop_at) {
      killed = 1;
      for (unsigned i = 0; i < n; i++)
        if (ws[i].pid > 0) {
          say("still running: SIGKILL (pid %ld)", i, (long)ws[i].pid);
          kill(ws[i].pid, SIGKILL);
        }
    }
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  return 0;
}
