/* net.h - sockets, address parsing and formatting, passive port ranges. */
#ifndef FG_NET_H
#define FG_NET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "config.h"

/* Longest text of fg_net_ntop(): "[v6-address%scope]:65535". */
#define FG_ADDRSTRLEN 80

/* Parse "ADDR:PORT", "[V6ADDR]:PORT" or "HOST:PORT" into *out.  Numeric
 * addresses are taken as they are; a host name is resolved (first result)
 * only when resolve is true.  When default_port is non-zero the ":PORT" part
 * may be omitted.  Returns 0, or -1 with a static message in *err. */
int fg_net_parse_hostport(const char *s, bool resolve, uint16_t default_port,
			  struct fg_sockaddr *out, const char **err);

/* Parse a numeric address without port ("1.2.3.4" or "::1"). */
int fg_net_parse_host(const char *s, struct fg_sockaddr *out);

/* "1.2.3.4:21" or "[::1]:21" (with_port) or "1.2.3.4" / "::1".  Returns buf. */
char *fg_net_ntop(const struct sockaddr *sa, bool with_port, char *buf, size_t len);

uint16_t fg_net_port(const struct sockaddr *sa);
void fg_net_set_port(struct sockaddr *sa, uint16_t port);

/* Turn an IPv4-mapped IPv6 address (::ffff:a.b.c.d) into plain IPv4 in place. */
void fg_net_unmap(struct fg_sockaddr *a);

/* True when a and b are the same host address (ports ignored; IPv4-mapped
 * IPv6 compares equal to the IPv4 address). */
bool fg_net_same_host(const struct sockaddr *a, const struct sockaddr *b);

/* Address family after unmapping (AF_INET for ::ffff:a.b.c.d). */
int fg_net_family(const struct sockaddr *sa);

/* Set O_NONBLOCK and FD_CLOEXEC. Returns 0 or -1. */
int fg_net_nonblock(int fd);

/* A listening socket (SO_REUSEADDR, IPV6_V6ONLY for v6, non-blocking,
 * close-on-exec). Returns fd or -1 with errno. */
int fg_net_listen(const struct fg_sockaddr *a, int backlog);

/* A listening socket on `local` (port ignored) with a port from lo..hi,
 * starting the search at a random point of the range so that concurrent
 * sessions rarely collide; the kernel arbitrates (EADDRINUSE -> next port).
 * Never falls back to an ephemeral port.  Returns fd, or -1 with errno
 * (EADDRINUSE when the whole range is taken). */
int fg_net_listen_range(const struct sockaddr *local, uint16_t lo, uint16_t hi);

/* Start a non-blocking connect to `to`.  Returns fd (connecting or
 * connected), or -1 with errno. */
int fg_net_connect(const struct sockaddr *to, socklen_t tolen);

/* Result of a non-blocking connect once the fd is writable: 0 or an errno. */
int fg_net_connect_result(int fd);

/* TCP keepalive (idle 60 s, interval 20 s, 3 probes) and TCP_NODELAY. */
void fg_net_control_opts(int fd);

/* Local / peer address of a socket (unmapped). Returns 0 or -1. */
int fg_net_local(int fd, struct fg_sockaddr *out);
int fg_net_peer(int fd, struct fg_sockaddr *out);

#endif
