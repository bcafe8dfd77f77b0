// slipstream-synack-hold: holds the SYN-ACKs the kernel queues to it (NFQUEUE) until the agent says the
// client has its bypass entries, or the source's hold time runs out; then lets them go on unchanged.
// It never drops a packet it can still answer for: every one it takes gets NF_ACCEPT, at the latest when
// its time is up, when stdin closes (the agent went away), on SIGTERM/SIGINT, or before it exits on an
// error. (Only a SIGKILL loses what it holds: the kernel drops a queue's packets when its reader goes, and
// those clients get their SYN-ACK again from the server's retransmission, a second later.) The agent runs one per host, feeding it lines on stdin:
//   cap <vip> <port> <ms>   hold SYN-ACKs from vip:port for at most ms (0: let them pass at once)
//   r <client> <port>       the flow to client:port is bypassed (or will not be): let its SYN-ACK go
//   s                       print "held N released N expired N passed N early N" on stdout
// Usage: slipstream-synack-hold QUEUE
// Netlink by hand (linux uapi headers only), so that a C compiler is all a host needs to build it.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HELD 4096  // beyond this a SYN-ACK passes at once (the kernel queue holds 1024 by default)
#define MAX_CAPS 1024
#define PACKET_MSG ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)
#define EARLY 256       // releases that came before their SYN-ACK, remembered for EARLY_MS
#define EARLY_MS 100.0

struct held { uint32_t id, dst; uint16_t dport; double until; int used; };
struct cap { uint32_t src; uint16_t sport; double ms; };
struct early { uint32_t dst; uint16_t dport; double at; };

static struct held held[MAX_HELD];
static struct cap caps[MAX_CAPS];
static struct early early[EARLY];
static int ncaps, nheld;
static unsigned early_next;
static volatile sig_atomic_t stop_signal;
static int fd;
static uint16_t qnum;
static unsigned long s_held, s_released, s_expired, s_passed, s_early;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void release_all(void);

static void die(const char *what) {
  int err = errno;
  fprintf(stderr, "slipstream-synack-hold: %s: %s\n", what, strerror(err));
  static int dying;
  if (!dying && fd > 0) {
    dying = 1;  // release_all may fail too: once
    release_all();
  }
  exit(1);
}

static void on_signal(int sig) { stop_signal = sig; }

static struct nlmsghdr *msg(char *buf, size_t size, int type, int flags) {
  memset(buf, 0, size);
  struct nlmsghdr *n = (struct nlmsghdr *)buf;
  n->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  n->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  n->nlmsg_flags = NLM_F_REQUEST | flags;
  struct nfgenmsg *g = NLMSG_DATA(n);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(qnum);
  return n;
}

static void attr(struct nlmsghdr *n, int type, const void *data, int len) {
  struct nlattr *a = (struct nlattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
  a->nla_type = type;
  a->nla_len = NLA_HDRLEN + len;
  memcpy((char *)a + NLA_HDRLEN, data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void send_nl(struct nlmsghdr *n) {
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) die("sendto");
}

static void accept_packet(uint32_t id) {
  char buf[128];
  struct nlmsghdr *n = msg(buf, sizeof buf, NFQNL_MSG_VERDICT, 0);
  struct nfqnl_msg_verdict_hdr v = {htonl(NF_ACCEPT), htonl(id)};
  attr(n, NFQA_VERDICT_HDR, &v, sizeof v);
  send_nl(n);
}

static double cap_of(uint32_t src, uint16_t sport) {
  for (int i = 0; i < ncaps; i++)
    if (caps[i].src == src && caps[i].sport == sport) return caps[i].ms;
  return 0;
}

static void set_cap(uint32_t src, uint16_t sport, double ms) {
  for (int i = 0; i < ncaps; i++)
    if (caps[i].src == src && caps[i].sport == sport) {
      if (ms > 0) caps[i].ms = ms;
      else caps[i] = caps[--ncaps];  // 0: no hold, as for a source never named
      return;
    }
  if (ms <= 0) return;
  if (ncaps < MAX_CAPS) caps[ncaps++] = (struct cap){src, sport, ms};
  else fprintf(stderr, "slipstream-synack-hold: more than %d held sources; not holding for another\n", MAX_CAPS);
}

static void release(uint32_t dst, uint16_t dport) {
  int found = 0;
  for (int i = 0; i < MAX_HELD && nheld > 0; i++)
    if (held[i].used && held[i].dst == dst && held[i].dport == dport) {
      accept_packet(held[i].id);
      held[i].used = 0;
      nheld--;
      s_released++;
      found = 1;
    }
  if (!found) {
    early[early_next] = (struct early){dst, dport, now_ms()};
    early_next = (early_next + 1) % EARLY;
  }
}

static void on_packet(struct nlmsghdr *m, double t) {
  uint32_t id = 0;
  unsigned char *pkt = NULL;
  int plen = 0;
  int left = m->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
  struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(m) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
  while (left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= left) {
    int type = a->nla_type & NLA_TYPE_MASK;
    if (type == NFQA_PACKET_HDR && a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr))
      id = ntohl(((struct nfqnl_msg_packet_hdr *)((char *)a + NLA_HDRLEN))->packet_id);
    else if (type == NFQA_PAYLOAD) {
      pkt = (unsigned char *)a + NLA_HDRLEN;
      plen = a->nla_len - NLA_HDRLEN;
    }
    left -= NLA_ALIGN(a->nla_len);
    a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
  }
  int ihl = pkt && plen >= 20 ? (pkt[0] & 15) * 4 : 0;
  if (ihl < 20 || plen < ihl + 4) {
    accept_packet(id);
    s_passed++;
    return;
  }
  uint32_t src, dst;
  uint16_t sport, dport;
  memcpy(&src, pkt + 12, 4);
  memcpy(&dst, pkt + 16, 4);
  memcpy(&sport, pkt + ihl, 2);
  memcpy(&dport, pkt + ihl + 2, 2);
  sport = ntohs(sport);
  dport = ntohs(dport);
  double ms = cap_of(src, sport);
  int was_released = 0;
  for (int i = 0; i < EARLY; i++)
    if (early[i].dst == dst && early[i].dport == dport && t - early[i].at < EARLY_MS) {
      early[i].at = -1e18;
      was_released = 1;
    }
  if (ms <= 0 || was_released || nheld >= MAX_HELD) {
    accept_packet(id);
    if (was_released) s_early++;
    else s_passed++;
    return;
  }
  for (int i = 0; i < MAX_HELD; i++)
    if (!held[i].used) {
      held[i] = (struct held){id, dst, dport, t + ms, 1};
      nheld++;
      s_held++;
      return;
    }
}

/**
 * Sends a config message and reads until the kernel's ack: a refused bind must not go unnoticed. A packet
 * queued meanwhile is handled as usual (no caps yet: it passes).
 */
static void config(struct nlmsghdr *n) {
  send_nl(n);
  static char buf[65536];
  for (;;) {
    int len = recv(fd, buf, sizeof buf, 0);
    if (len < 0) die("recv (config ack)");
    for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_type == PACKET_MSG) on_packet(r, now_ms());
      if (r->nlmsg_type != NLMSG_ERROR) continue;
      struct nlmsgerr *e = NLMSG_DATA(r);
      if (e->error != 0) {
        errno = -e->error;
        die("queue config");
      }
      return;
    }
  }
}

static void on_line(char *line) {
  char a[64];
  unsigned port;
  double ms;
  struct in_addr in;
  if (sscanf(line, "cap %63s %u %lf", a, &port, &ms) == 3 && inet_aton(a, &in) && port < 65536)
    set_cap(in.s_addr, port, ms);
  else if (sscanf(line, "r %63s %u", a, &port) == 2 && inet_aton(a, &in) && port < 65536)
    release(in.s_addr, port);
  else if (strcmp(line, "s") == 0) {
    printf("held %lu released %lu expired %lu passed %lu early %lu\n", s_held, s_released, s_expired,
           s_passed, s_early);
    fflush(stdout);
  } else
    fprintf(stderr, "slipstream-synack-hold: ignored line: %s\n", line);
}

/** Lets everything go: what it holds, and what the kernel queued that it has not read yet. */
static void release_all(void) {
  for (int i = 0; i < MAX_HELD; i++)
    if (held[i].used) {
      accept_packet(held[i].id);
      held[i].used = 0;
      s_released++;
    }
  nheld = 0;
  static char rx[65536];
  for (;;) {
    int len = recv(fd, rx, sizeof rx, MSG_DONTWAIT);
    if (len <= 0) break;
    for (struct nlmsghdr *m = (struct nlmsghdr *)rx; NLMSG_OK(m, len); m = NLMSG_NEXT(m, len)) {
      if (m->nlmsg_type != PACKET_MSG) continue;
      uint32_t id = 0;
      int left = m->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
      struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(m) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
      for (; left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= left;
           left -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len)))
        if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
            a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr))
          id = ntohl(((struct nfqnl_msg_packet_hdr *)((char *)a + NLA_HDRLEN))->packet_id);
      if (id != 0) {
        accept_packet(id);
        s_passed++;
      }
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 2 || atoi(argv[1]) < 0 || atoi(argv[1]) > 65535) {
    fprintf(stderr, "usage: slipstream-synack-hold QUEUE (0-65535)\n");
    return 2;
  }
  qnum = (uint16_t)atoi(argv[1]);
  // The agent gone mid-answer must not kill the helper (SIGPIPE); a stop lets everything go first.
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa_stop = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa_stop, NULL);
  sigaction(SIGINT, &sa_stop, NULL);
  fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  if (fd < 0) die("netlink socket");
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("netlink bind");
  char buf[256];
  struct nlmsghdr *n = msg(buf, sizeof buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
  struct nfqnl_msg_config_cmd cmd = {NFQNL_CFG_CMD_BIND, 0, htons(AF_INET)};
  attr(n, NFQA_CFG_CMD, &cmd, sizeof cmd);
  config(n);
  n = msg(buf, sizeof buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
  struct nfqnl_msg_config_params params = {htonl(64), NFQNL_COPY_PACKET};
  attr(n, NFQA_CFG_PARAMS, &params, sizeof params);
  uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN);  // a full queue lets packets pass instead of dropping
  attr(n, NFQA_CFG_FLAGS, &flags, 4);
  attr(n, NFQA_CFG_MASK, &flags, 4);
  config(n);
  fprintf(stderr, "slipstream-synack-hold: bound to queue %u\n", qnum);

  struct pollfd pfd[2] = {{fd, POLLIN, 0}, {0, POLLIN, 0}};
  static char rx[65536];
  char in[4096];
  size_t inlen = 0;
  for (;;) {
    double t = now_ms(), next = t + 1000;
    for (int i = 0; i < MAX_HELD && nheld > 0; i++)
      if (held[i].used && held[i].until < next) next = held[i].until;
    int timeout = next > t ? (int)(next - t) + 1 : 0;
    if (poll(pfd, 2, timeout) < 0 && errno != EINTR) die("poll");
    if (stop_signal) {
      release_all();
      return 0;
    }
    t = now_ms();
    if (pfd[0].revents & POLLIN) {
      int len = recv(fd, rx, sizeof rx, MSG_DONTWAIT);
      if (len < 0 && errno != EAGAIN && errno != ENOBUFS) die("recv");
      for (struct nlmsghdr *m = (struct nlmsghdr *)rx; len > 0 && NLMSG_OK(m, len); m = NLMSG_NEXT(m, len))
        if (m->nlmsg_type == PACKET_MSG) on_packet(m, t);
    }
    if (pfd[1].revents & (POLLIN | POLLHUP)) {
      ssize_t r = read(0, in + inlen, sizeof in - 1 - inlen);
      if (r <= 0) {
        release_all();
        return 0;
      }
      inlen += r;
      char *start = in, *nl;
      while ((nl = memchr(start, '\n', in + inlen - start)) != NULL) {
        *nl = 0;
        on_line(start);
        start = nl + 1;
      }
      inlen -= start - in;
      memmove(in, start, inlen);
      if (inlen == sizeof in - 1) inlen = 0;  // a line too long to be ours
    }
    for (int i = 0; i < MAX_HELD && nheld > 0; i++)
      if (held[i].used && held[i].until <= t) {
        accept_packet(held[i].id);
        held[i].used = 0;
        nheld--;
        s_expired++;
      }
  }
}
