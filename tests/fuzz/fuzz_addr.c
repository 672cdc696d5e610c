/* fuzz_addr.c - libFuzzer harness for ftp/addr.c.
 *
 * Feeds the input to every parser.  Whenever a parse succeeds, the result
 * is formatted and parsed again, and the second parse must give the same
 * address and port (the round-trip property); the formatted text must also
 * be a fixed point (formatting the re-parsed value gives the same text).
 * Any violation calls abort() so libFuzzer records the input.  Formatters
 * also write into heap blocks of exactly the size chosen by the input, so
 * ASan catches any write past outlen.
 *
 * The input is copied to a block of exactly its size, so that a read past
 * len is an ASan error rather than a silent read of libFuzzer's padding. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ftp/addr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Accepts a condition.  Aborts when it is false (assert() may be compiled
 * out by NDEBUG; this never is). */
static void check(int ok)
{
	if (!ok)
		abort();
}

/* Accepts two IPv4 sockaddrs.  Returns nonzero if family, address and
 * port are the same. */
static int same_in(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_family == AF_INET && b->sin_family == AF_INET &&
	       a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

/* Accepts two parsed EPRT results.  Returns nonzero if family, length,
 * address and port are the same. */
static int same_ss(const struct sockaddr_storage *a, socklen_t alen,
		   const struct sockaddr_storage *b, socklen_t blen)
{
	if (a->ss_family != b->ss_family || alen != blen)
		return 0;
	if (a->ss_family == AF_INET)
		return same_in((const struct sockaddr_in *)a,
			       (const struct sockaddr_in *)b);
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
		       x->sin6_port == y->sin6_port;
	}
	return 0;
}

/* Accepts a formatter's return value r and the text it wrote into buf.
 * Checks the contract: r is the exact length of a NUL-terminated text. */
static void check_len(int r, const char *buf, size_t cap)
{
	check(r > 0 && (size_t)r < cap && strlen(buf) == (size_t)r);
}

/* Accepts a formatter selector (0 PORT, 1 227, 2 EPRT, 3 229), its
 * argument (addr or port), the text f of length n it wrote into a big
 * buffer, and a buffer size cap taken from the input.  Formats again into a
 * heap block of exactly cap bytes: the result must be the same text when it
 * fits and -1 with an empty string when it does not. */
static void small_buffer(int which, const void *addr, uint16_t port,
			 const char *f, int n, size_t cap)
{
	char *out = malloc(cap ? cap : 1);
	int r;

	if (out == NULL)
		return;
	switch (which) {
	case 0: r = fg_addr_format_port(addr, out, cap); break;
	case 1: r = fg_addr_format_227(addr, out, cap); break;
	case 2: r = fg_addr_format_eprt(addr, out, cap); break;
	default: r = fg_addr_format_229(port, out, cap); break;
	}
	if (cap > (size_t)n)
		check(r == n && memcmp(out, f, (size_t)n + 1) == 0);
	else
		check(r == -1 && (cap == 0 || out[0] == '\0'));
	free(out);
}

/* Accepts a parsed IPv4 address.  Formats it as PORT and as 227, parses
 * each again and checks that the same address and port come back, and that
 * formatting is a fixed point. */
static void roundtrip_in(const struct sockaddr_in *a, size_t cap)
{
	struct sockaddr_in b;
	char buf[128], again[128];
	int r;

	r = fg_addr_format_port(a, buf, sizeof(buf));
	check_len(r, buf, sizeof(buf));
	check(fg_addr_parse_port(buf, (size_t)r, &b) == 0 && same_in(a, &b));
	check(fg_addr_format_port(&b, again, sizeof(again)) == r &&
	      strcmp(buf, again) == 0);
	small_buffer(0, a, 0, buf, r, cap);

	r = fg_addr_format_227(a, buf, sizeof(buf));
	check_len(r, buf, sizeof(buf));
	check(fg_addr_parse_227(buf, (size_t)r, &b) == 0 && same_in(a, &b));
	check(fg_addr_format_227(&b, again, sizeof(again)) == r &&
	      strcmp(buf, again) == 0);
	small_buffer(1, a, 0, buf, r, cap);

	/* The same address also survives EPRT as protocol 1. */
	{
		struct sockaddr_storage ss;
		socklen_t sl;

		r = fg_addr_format_eprt((const struct sockaddr *)a, buf, sizeof(buf));
		check_len(r, buf, sizeof(buf));
		check(fg_addr_parse_eprt(buf, (size_t)r, &ss, &sl) == 0);
		check(sl == sizeof(struct sockaddr_in) &&
		      same_in(a, (struct sockaddr_in *)&ss));
	}
}

/* Accepts a 229 port.  Formats and re-parses it. */
static void roundtrip_229(uint16_t port, size_t cap)
{
	char buf[128], again[128];
	uint16_t p2 = 0;
	int r;

	r = fg_addr_format_229(port, buf, sizeof(buf));
	check_len(r, buf, sizeof(buf));
	check(fg_addr_parse_229(buf, (size_t)r, &p2) == 0 && p2 == port);
	check(fg_addr_format_229(p2, again, sizeof(again)) == r &&
	      strcmp(buf, again) == 0);
	small_buffer(3, NULL, port, buf, r, cap);
}

/* Accepts a parsed EPRT address.  Formats it, parses it again and checks
 * the same family, address and port come back. */
static void roundtrip_eprt(const struct sockaddr_storage *ss, socklen_t sl,
			   size_t cap)
{
	struct sockaddr_storage b;
	socklen_t bl = 0;
	char buf[128], again[128];
	int r;

	r = fg_addr_format_eprt((const struct sockaddr *)ss, buf, sizeof(buf));
	check_len(r, buf, sizeof(buf));
	check(fg_addr_parse_eprt(buf, (size_t)r, &b, &bl) == 0);
	check(same_ss(ss, sl, &b, bl));
	check(fg_addr_format_eprt((const struct sockaddr *)&b, again, sizeof(again)) == r &&
	      strcmp(buf, again) == 0);
	small_buffer(2, ss, 0, buf, r, cap);
	if (ss->ss_family == AF_INET)
		roundtrip_in((const struct sockaddr_in *)ss, cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in in;
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	uint16_t port = 0;
	char *s;
	size_t cap;
	int r;

	/* The formatter buffer size for the small-buffer check comes from the
	 * input, so the fuzzer explores every size up to a bit over the
	 * longest text (the 227 reply for 255.255.255.255:65535 is 52). */
	cap = size ? data[size - 1] % 64 : 0;

	s = malloc(size ? size : 1);
	if (s == NULL)
		return 0;
	if (size)
		memcpy(s, data, size);

	if (fg_addr_parse_port(s, size, &in) == 0)
		roundtrip_in(&in, cap);
	if (fg_addr_parse_227(s, size, &in) == 0)
		roundtrip_in(&in, cap);
	r = fg_addr_parse_eprt(s, size, &ss, &sl);
	check(r == 0 || r == -1 || r == -2);
	if (r == 0) {
		check(sl == (ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						     : sizeof(struct sockaddr_in6)));
		roundtrip_eprt(&ss, sl, cap);
	}
	if (fg_addr_parse_229(s, size, &port) == 0) {
		check(port != 0);
		roundtrip_229(port, cap);
	}

	free(s);
	return 0;
}
