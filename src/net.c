/* net.c - sockets and addresses (see net.h). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "banned.h"

/* Parse a decimal port 1..65535 from a NUL-terminated string. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (!*s)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 5)
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int fg_net_parse_host(const char *s, struct fg_sockaddr *out)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		out->len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		out->len = sizeof(*a6);
		return 0;
	}
	return -1;
}

int fg_net_parse_hostport(const char *s, bool resolve, uint16_t default_port,
			  struct fg_sockaddr *out, const char **err)
{
	char host[256];
	const char *port_s = NULL;
	uint16_t port = default_port;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			*err = "missing ']' after IPv6 address";
			return -1;
		}
		hl = (size_t)(close - s - 1);
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1] != '\0') {
			*err = "garbage after ']'";
			return -1;
		}
		if (hl >= sizeof(host)) {
			*err = "address too long";
			return -1;
		}
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (!strchr(host, ':')) {
			*err = "brackets are for IPv6 addresses";
			return -1;
		}
	} else {
		const char *colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon) {
			*err = "IPv6 addresses must be written as [ADDR]:PORT";
			return -1;
		}
		hl = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port_s = colon + 1;
		if (hl >= sizeof(host)) {
			*err = "address too long";
			return -1;
		}
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	if (hl == 0) {
		*err = "missing address";
		return -1;
	}
	if (port_s) {
		if (parse_port(port_s, &port) < 0) {
			*err = "bad port (1-65535)";
			return -1;
		}
	} else if (!default_port) {
		*err = "missing :PORT";
		return -1;
	}
	if (fg_net_parse_host(host, out) < 0) {
		struct addrinfo hints, *res = NULL;
		if (!resolve) {
			*err = "not a numeric IPv4 or IPv6 address";
			return -1;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
			*err = "host name does not resolve";
			return -1;
		}
		memset(out, 0, sizeof(*out));
		memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
		out->len = res->ai_addrlen;
		freeaddrinfo(res);
	}
	fg_net_set_port((struct sockaddr *)&out->ss, port);
	return 0;
}

char *fg_net_ntop(const struct sockaddr *sa, bool with_port, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	int r;

	if (len == 0)
		return buf;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
		r = with_port ? snprintf(buf, len, "%s:%u", host, fg_net_port(sa))
			      : snprintf(buf, len, "%s", host);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
		r = with_port ? snprintf(buf, len, "[%s]:%u", host, fg_net_port(sa))
			      : snprintf(buf, len, "%s", host);
	} else {
		r = snprintf(buf, len, "(family %d)", sa->sa_family);
	}
	if (r < 0 || (size_t)r >= len)
		buf[len - 1] = '\0';
	return buf;
}

uint16_t fg_net_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void fg_net_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

void fg_net_unmap(struct fg_sockaddr *a)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a->ss;
	struct sockaddr_in a4;

	if (a6->sin6_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
		return;
	memset(&a4, 0, sizeof(a4));
	a4.sin_family = AF_INET;
	a4.sin_port = a6->sin6_port;
	memcpy(&a4.sin_addr, &a6->sin6_addr.s6_addr[12], 4);
	memset(&a->ss, 0, sizeof(a->ss));
	memcpy(&a->ss, &a4, sizeof(a4));
	a->len = sizeof(a4);
}

/* The 4 bytes of an IPv4 or IPv4-mapped address, or NULL. */
static const unsigned char *v4_bytes(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return &a->s6_addr[12];
	}
	return NULL;
}

int fg_net_family(const struct sockaddr *sa)
{
	return v4_bytes(sa) ? AF_INET : sa->sa_family;
}

bool fg_net_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	const unsigned char *a4 = v4_bytes(a), *b4 = v4_bytes(b);

	if (a4 || b4)
		return a4 && b4 && memcmp(a4, b4, 4) == 0;
	if (a->sa_family != AF_INET6 || b->sa_family != AF_INET6)
		return false;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

int fg_net_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* A non-blocking, close-on-exec TCP socket of sa's family. */
static int tcp_socket(const struct sockaddr *sa)
{
	return socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static int bind_listen(int fd, const struct sockaddr *sa, socklen_t len, int backlog)
{
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -1;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -1;
	if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0)
		return -1;
	return 0;
}

int fg_net_listen(const struct fg_sockaddr *a, int backlog)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
	int fd = tcp_socket(sa), e;

	if (fd < 0)
		return -1;
	if (bind_listen(fd, sa, a->len, backlog) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int fg_net_listen_range(const struct sockaddr *local, uint16_t lo, uint16_t hi)
{
	struct sockaddr_storage ss;
	socklen_t len = local->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in);
	unsigned n = (unsigned)hi - lo + 1, start = 0, i;
	int one = 1;

	if (lo == 0 || hi < lo) {
		errno = EINVAL;
		return -1;
	}
	if (getrandom(&start, sizeof(start), GRND_NONBLOCK) != sizeof(start))
		start = (unsigned)getpid();
	memcpy(&ss, local, len);
	for (i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(lo + (start + i) % n);
		int fd = tcp_socket(local);
		if (fd < 0)
			return -1;
		/* SO_REUSEADDR: the data connections of earlier transfers leave
		 * their port in TIME_WAIT for a minute; without it a small range
		 * runs dry (TIME_WAIT keeps its own 4-tuple, so stale segments
		 * still cannot reach a new connection).  Linux never lets two
		 * sockets listen on one port: listen() fails and we move on. */
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (local->sa_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		fg_net_set_port((struct sockaddr *)&ss, port);
		if (bind(fd, (struct sockaddr *)&ss, len) == 0 && listen(fd, 1) == 0)
			return fd;
		close(fd);
		if (errno != EADDRINUSE && errno != EACCES)
			return -1;
	}
	errno = EADDRINUSE;
	return -1;
}

int fg_net_connect(const struct sockaddr *to, socklen_t tolen)
{
	int fd = tcp_socket(to), e;

	if (fd < 0)
		return -1;
	if (connect(fd, to, tolen) < 0 && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int fg_net_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

void fg_net_control_opts(int fd)
{
	int one = 1, idle = 60, intvl = 20, cnt = 3;

	/* Failures are harmless (e.g. a socketpair in inetd tests). */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int sockname(int fd, struct fg_sockaddr *out, bool peer)
{
	memset(out, 0, sizeof(*out));
	out->len = sizeof(out->ss);
	if ((peer ? getpeername(fd, (struct sockaddr *)&out->ss, &out->len)
		  : getsockname(fd, (struct sockaddr *)&out->ss, &out->len)) < 0)
		return -1;
	fg_net_unmap(out);
	return 0;
}

int fg_net_local(int fd, struct fg_sockaddr *out) { return sockname(fd, out, false); }
int fg_net_peer(int fd, struct fg_sockaddr *out) { return sockname(fd, out, true); }
