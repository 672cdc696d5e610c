/* check_addr.c - unit tests for ftp/addr.c (PORT/227/EPRT/229 parse and
 * format).
 *
 * Every parser input is copied into a heap block of exactly its length, so
 * that under AddressSanitizer a read of even one byte past len fails the
 * test: the parsers must never rely on NUL termination. */
#include "ftp/addr.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Accepts n bytes at s.  Returns a malloc'd copy of exactly n bytes (no
 * NUL); the test aborts if allocation fails. */
static char *dup_exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	if (n)
		memcpy(p, s, n);
	return p;
}

/* PORT and 227 parse to the same thing, and format from it. */
typedef int v4_parser(const char *s, size_t len, struct sockaddr_in *out);
typedef int v4_formatter(const struct sockaddr_in *a, char *out, size_t outlen);

/* The parse_* wrappers accept a C string, call the parser on an exact-size
 * heap copy of it (no NUL) and return the parser's result. */
static int parse_v4(v4_parser *parse, const char *s, struct sockaddr_in *out)
{
	size_t n = strlen(s);
	char *p = dup_exact(s, n);
	int r = parse(p, n, out);

	free(p);
	return r;
}

static int parse_port(const char *s, struct sockaddr_in *out)
{
	return parse_v4(fg_addr_parse_port, s, out);
}

static int parse_227(const char *s, struct sockaddr_in *out)
{
	return parse_v4(fg_addr_parse_227, s, out);
}

static int parse_eprt(const char *s, struct sockaddr_storage *out,
		      socklen_t *outlen)
{
	size_t n = strlen(s);
	char *p = dup_exact(s, n);
	int r = fg_addr_parse_eprt(p, n, out, outlen);

	free(p);
	return r;
}

static int parse_229(const char *s, uint16_t *port)
{
	size_t n = strlen(s);
	char *p = dup_exact(s, n);
	int r = fg_addr_parse_229(p, n, port);

	free(p);
	return r;
}

/* Checks that a holds the IPv4 address ip (dotted quad) and port. */
static void expect_in(const struct sockaddr_in *a, const char *ip, unsigned port)
{
	struct in_addr want;

	ck_assert_int_eq(inet_pton(AF_INET, ip, &want), 1);
	ck_assert_int_eq(a->sin_family, AF_INET);
	ck_assert_uint_eq(a->sin_addr.s_addr, want.s_addr);
	ck_assert_uint_eq(ntohs(a->sin_port), port);
}

/* Every prefix of in is refused up to its closing paren and accepted
 * after it; no prefix is read past its length. */
static void expect_prefixes(const char *in, int (*parse)(const char *s, size_t len))
{
	const char *close = strchr(in, ')');
	size_t n, len = strlen(in);

	for (n = 0; n <= len; n++) {
		char *p = dup_exact(in, n);
		int r = parse(p, n);

		free(p);
		if (n > (size_t)(close - in))
			ck_assert_msg(r == 0, "len %zu", n);
		else
			ck_assert_msg(r == -1, "len %zu", n);
	}
}

/* ---- PORT ---------------------------------------------------------- */

struct v4_case {
	const char *in;
	const char *ip;
	unsigned port;
};

/* c->in parses to c's address and port. */
static void expect_v4_ok(v4_parser *parse, const struct v4_case *c)
{
	struct sockaddr_in a;

	ck_assert_msg(parse_v4(parse, c->in, &a) == 0, "%s", c->in);
	expect_in(&a, c->ip, c->port);
}

/* in is refused. */
static void expect_v4_bad(v4_parser *parse, const char *in)
{
	struct sockaddr_in a;

	memset(&a, 0xa5, sizeof(a));
	ck_assert_msg(parse_v4(parse, in, &a) == -1, "accepted \"%s\"", in);
	/* A failed parse leaves *out alone. */
	ck_assert_uint_eq(a.sin_port, 0xa5a5);
}

/* in parses and formats back to itself, byte for byte. */
static void expect_v4_roundtrip(v4_parser *parse, v4_formatter *format, const char *in)
{
	struct sockaddr_in a;
	char buf[128];

	ck_assert_int_eq(parse_v4(parse, in, &a), 0);
	ck_assert_int_eq(format(&a, buf, sizeof(buf)), (int)strlen(in));
	ck_assert_str_eq(buf, in);
}

static const struct v4_case port_ok[] = {
	{ "10,0,0,5,195,80", "10.0.0.5", 50000 },
	{ "127,0,0,1,4,1", "127.0.0.1", 1025 },
	{ "255,255,255,255,255,255", "255.255.255.255", 65535 },
	{ "0,0,0,0,0,1", "0.0.0.0", 1 },
	{ "1,2,3,4,1,0", "1.2.3.4", 256 },
	{ "1,2,3,4,0,255", "1.2.3.4", 255 },
	{ "1,2,3,4,5,6\r\n", "1.2.3.4", 1286 },
	{ "1,2,3,4,5,6  ", "1.2.3.4", 1286 },
	{ "1,2,3,4,5,6\n", "1.2.3.4", 1286 },
	{ "00255,1,2,3,4,5", "255.1.2.3", 1029 },   /* 5 digits, leading 0s */
	{ "010,0,0,5,0,21", "10.0.0.5", 21 },       /* leading 0 is decimal */
};

START_TEST(t_port_ok)
{
	expect_v4_ok(fg_addr_parse_port, &port_ok[_i]);
}
END_TEST

static const char *const port_bad[] = {
	"",
	" ",
	"\r\n",
	"1,2,3,4,0,0",            /* port 0 */
	"256,2,3,4,5,6",          /* octet 256 */
	"1,2,3,256,5,6",
	"1,2,3,4,256,6",          /* p1 256 */
	"1,2,3,4,5,256",          /* p2 256 */
	"1,2,3,4,5,000256",       /* 6 digits */
	"000001,2,3,4,5,6",       /* 6 digits even though small */
	"99999999999999999999,2,3,4,5,6", /* overflow attempt */
	"+1,2,3,4,5,6",
	"-1,2,3,4,5,6",
	"1,2,3,4,5,+6",
	"1,2,3,4,5,-6",
	"1,2,3,4,5",              /* missing field */
	"1,2,3,4,5,",             /* empty last field */
	",1,2,3,4,5,6",           /* empty first field */
	"1,,3,4,5,6",
	"1,2,3,4,5,6,7",          /* extra field */
	"1,2,3,4,5,6,",
	"1,2,3,4,5,6x",           /* trailing garbage */
	"1,2,3,4,5,6 x",
	"1,2,3,4,5,6\t",          /* tab is not allowed trailing */
	"1,2,3,4,5,6\r\nPORT",
	"1.2.3.4,5,6",
	"1, 2,3,4,5,6",           /* space inside */
	" 1,2,3,4,5,6",           /* leading space: caller strips the verb */
	"a,b,c,d,e,f",
	"0x1,2,3,4,5,6",
	"1,2,3,4,5,6)",
};

START_TEST(t_port_bad)
{
	expect_v4_bad(fg_addr_parse_port, port_bad[_i]);
}
END_TEST

/* An embedded NUL is just an invalid byte, not an end of string. */
START_TEST(t_port_nul)
{
	static const char in[] = "1,2,3,4,5,6\0";
	struct sockaddr_in a;
	char *p = dup_exact(in, sizeof(in) - 1);

	ck_assert_int_eq(fg_addr_parse_port(p, sizeof(in) - 1, &a), -1);
	ck_assert_int_eq(fg_addr_parse_port(p, sizeof(in) - 2, &a), 0);
	expect_in(&a, "1.2.3.4", 1286);
	free(p);
}
END_TEST

/* len, not NUL, ends the span: bytes past it are never looked at. */
START_TEST(t_port_span)
{
	static const char in[] = "1,2,3,4,5,6789";
	struct sockaddr_in a;

	ck_assert_int_eq(fg_addr_parse_port(in, 11, &a), 0);
	expect_in(&a, "1.2.3.4", 1286);
	ck_assert_int_eq(fg_addr_parse_port(in, 0, &a), -1);
	ck_assert_int_eq(fg_addr_parse_port(NULL, 0, &a), -1);
	ck_assert_int_eq(fg_addr_parse_port(in, 11, NULL), -1);
}
END_TEST

/* ---- 227 ----------------------------------------------------------- */

static const struct v4_case r227_ok[] = {
	{ "227 Entering Passive Mode (10,0,0,5,195,80).", "10.0.0.5", 50000 },
	{ "227 Entering Passive Mode (10,0,0,5,195,80).\r\n", "10.0.0.5", 50000 },
	{ "227 Entering Passive Mode (10,0,0,5,195,80)", "10.0.0.5", 50000 },
	{ "227 Entering Passive Mode (10,0,0,5,195,80)\r\n", "10.0.0.5", 50000 },
	{ "227 =10,0,0,5,195,80", "10.0.0.5", 50000 },
	{ "227 =10,0,0,5,195,80\r\n", "10.0.0.5", 50000 },
	{ "227 Entering Passive Mode 10,0,0,5,195,80", "10.0.0.5", 50000 },
	{ "227 Entering Passive Mode 10,0,0,5,195,80.\r\n", "10.0.0.5", 50000 },
	{ "227 10,0,0,5,195,80", "10.0.0.5", 50000 },
	{ "227 PASV ok (255,255,255,255,255,255)", "255.255.255.255", 65535 },
	{ "227 (0,0,0,0,0,1)", "0.0.0.0", 1 },
};

START_TEST(t_227_ok)
{
	expect_v4_ok(fg_addr_parse_227, &r227_ok[_i]);
}
END_TEST

/* Replies a hostile or broken backend might send. */
static const char *const r227_bad[] = {
	"",
	"227",
	"227 ",
	"227 Entering Passive Mode",
	"227 Entering Passive Mode ().",
	"227 Entering Passive Mode (10,0,0,5,195,80",     /* unclosed ( */
	"227 Entering Passive Mode (10,0,0,5,195,80).x",
	"227 Entering Passive Mode (10,0,0,5,195,80) and more",
	"227 Entering Passive Mode (10,0,0,5,195,80)..",
	"227 Entering Passive Mode (10,0,0,5,195)",       /* missing number */
	"227 Entering Passive Mode (10,0,0,5,195,)",
	"227 Entering Passive Mode (10,0,0,5,,80)",
	"227 Entering Passive Mode (10,0,0,5,195,80,1)",  /* extra number */
	"227 Entering Passive Mode (300,0,0,5,195,80)",   /* octet > 255 */
	"227 Entering Passive Mode (10,0,0,256,195,80)",
	"227 Entering Passive Mode (10,0,0,5,256,80)",
	"227 Entering Passive Mode (10,0,0,5,195,999)",
	"227 Entering Passive Mode (10,0,0,5,0,0)",       /* port 0 */
	"227 Entering Passive Mode (4294967306,0,0,5,195,80)", /* wraps to 10 */
	"227 Entering Passive Mode (10,0,0,5,195,000000080)",
	"227 Entering Passive Mode (99999999999999999999999999999999,1,1,1,1,1)",
	"227 Entering Passive Mode (-10,0,0,5,195,80)",
	"227 Entering Passive Mode (+10,0,0,5,195,80)",
	"227 Entering Passive Mode (10,-0,0,5,195,80)",
	"227 Entering Passive Mode ( 10,0,0,5,195,80 )",
	"227 Entering Passive Mode (10, 0, 0, 5, 195, 80)",
	"227 Entering Passive Mode (10.0.0.5,195,80)",
	"227 Entering Passive Mode (0x0a,0,0,5,195,80)",
	"227 Entering Passive Mode 10,0,0,5,195,80)",     /* ) without ( */
	"227 Entering Passive Mode (10,0,0,5,195,80)\r\n227 (1,2,3,4,5,6)",
	"227 Entering Passive Mode v2 (10,0,0,5,195,80)", /* first digit wins */
	"228 Entering Passive Mode (10,0,0,5,195,80)",    /* wrong code */
	"229 Entering Passive Mode (10,0,0,5,195,80)",
	"227-Entering Passive Mode (10,0,0,5,195,80)",
	"2270,0,0,5,195,80",
	" 227 (10,0,0,5,195,80)",
	"Entering Passive Mode (10,0,0,5,195,80)",
	"227 Entering Passive Mode (10,0,0,5,195,80)\t",
};

START_TEST(t_227_bad)
{
	expect_v4_bad(fg_addr_parse_227, r227_bad[_i]);
}
END_TEST

/* A 227 line cut anywhere before the closing paren is refused, and no
 * prefix is read past its length. */
static int parse_227_len(const char *s, size_t len)
{
	struct sockaddr_in a;

	return fg_addr_parse_227(s, len, &a);
}

START_TEST(t_227_prefixes)
{
	expect_prefixes("227 Entering Passive Mode (10,0,0,5,195,80).\r\n", parse_227_len);
}
END_TEST

/* ---- EPRT ---------------------------------------------------------- */

struct eprt_case {
	const char *in;
	int family;
	const char *ip;
	unsigned port;
};

static const struct eprt_case eprt_ok[] = {
	{ "|1|132.235.1.2|6275|", AF_INET, "132.235.1.2", 6275 },
	{ "|2|1080::8:800:200C:417A|5282|", AF_INET6, "1080::8:800:200c:417a", 5282 },
	{ "|2|::1|65535|", AF_INET6, "::1", 65535 },
	{ "|1|0.0.0.0|1|", AF_INET, "0.0.0.0", 1 },
	{ "|1|255.255.255.255|65535|\r\n", AF_INET, "255.255.255.255", 65535 },
	{ "|2|::ffff:127.0.0.1|1025|", AF_INET6, "::ffff:127.0.0.1", 1025 },
	{ "!1!1.2.3.4!21!", AF_INET, "1.2.3.4", 21 },
	{ "~2~::1~21~", AF_INET6, "::1", 21 },
	{ "a1a1.2.3.4a21a", AF_INET, "1.2.3.4", 21 },   /* letters are printable */
	{ "(1(1.2.3.4(21(", AF_INET, "1.2.3.4", 21 },
	{ "|1|1.2.3.4|00021|", AF_INET, "1.2.3.4", 21 },
	{ "|2|2001:db8:0:0:0:0:0:1|21|  ", AF_INET6, "2001:db8::1", 21 },
	{ "|2|ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255|21|", AF_INET6,
	  "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 21 },
};

START_TEST(t_eprt_ok)
{
	const struct eprt_case *c = &eprt_ok[_i];
	struct sockaddr_storage ss;
	socklen_t sl = 0;

	ck_assert_msg(parse_eprt(c->in, &ss, &sl) == 0, "%s", c->in);
	ck_assert_int_eq(ss.ss_family, c->family);
	if (c->family == AF_INET) {
		ck_assert_uint_eq(sl, sizeof(struct sockaddr_in));
		expect_in((struct sockaddr_in *)&ss, c->ip, c->port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		struct in6_addr want;

		ck_assert_uint_eq(sl, sizeof(struct sockaddr_in6));
		ck_assert_int_eq(inet_pton(AF_INET6, c->ip, &want), 1);
		ck_assert_mem_eq(&s6->sin6_addr, &want, sizeof(want));
		ck_assert_uint_eq(ntohs(s6->sin6_port), c->port);
		ck_assert_uint_eq(s6->sin6_scope_id, 0);
		ck_assert_uint_eq(s6->sin6_flowinfo, 0);
	}
}
END_TEST

/* The mapped form stays AF_INET6: whether ::ffff:a.b.c.d means the IPv4
 * host is the caller's decision, not the parser's. */
START_TEST(t_eprt_mapped)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	ck_assert_int_eq(parse_eprt("|2|::ffff:127.0.0.1|1025|", &ss, &sl), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert(IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr));
	ck_assert_uint_eq(s6->sin6_addr.s6_addr[12], 127);
	ck_assert_uint_eq(s6->sin6_addr.s6_addr[15], 1);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 1025);
}
END_TEST

static const char *const eprt_bad[] = {
	"",
	"|",
	"||",
	"|||",
	"||||",
	"|1|",
	"|1|1.2.3.4|",
	"|1|1.2.3.4|21",          /* missing final delimiter */
	"|1|1.2.3.4||",           /* empty port */
	"|1||21|",                /* empty address */
	"||1.2.3.4|21|",          /* empty protocol */
	"|1|1.2.3.4|0|",          /* port 0 */
	"|1|1.2.3.4|65536|",
	"|1|1.2.3.4|99999|",
	"|1|1.2.3.4|000021|",     /* 6 digits */
	"|1|1.2.3.4|+21|",
	"|1|1.2.3.4|-21|",
	"|+1|1.2.3.4|21|",
	"|-1|1.2.3.4|21|",
	"|1|1.2.3.4|21|x",        /* trailing garbage */
	"|1|1.2.3.4|21||",
	"|1|1.2.3.4|21|\t",
	"|1|1.2.3.4|21|22|",      /* extra field */
	"|1|1.2.3.4|2 1|",
	"|1|1.2.3.4 |21|",
	"|1| 1.2.3.4|21|",
	"|1|256.2.3.4|21|",       /* octet > 255 */
	"|1|1.2.3|21|",
	"|1|1.2.3.4.5|21|",
	"|1|01.2.3.4|21|",        /* inet_pton refuses leading zeros */
	"|1|::1|21|",             /* IPv6 literal for protocol 1 */
	"|1|::ffff:1.2.3.4|21|",
	"|2|1.2.3.4|21|",         /* IPv4 literal for protocol 2 */
	"|2|fe80::1%eth0|21|",    /* zone ids are not literals we dial */
	"|2|[::1]|21|",
	"|2|::1::2|21|",
	"|2|1:2:3:4:5:6:7:8:9|21|",
	"|2|localhost|21|",
	"|1|localhost|21|",
	"|1|1.2.3.4!21!",         /* inconsistent delimiter */
	"|1!1.2.3.4!21!",
	"11111.2.3.4121",         /* digit delimiter */
	".1.1.2.3.4.21.",         /* '.' cuts the dotted quad in pieces */
	" 1 1.2.3.4 21 ",         /* space (32) is not printable enough */
	"\x7f" "1\x7f" "1.2.3.4\x7f" "21\x7f",   /* DEL (127) */
	"\x80" "1\x80" "1.2.3.4\x80" "21\x80",   /* high bit */
	"|1|1.2.3.4|21",
	"|000001|1.2.3.4|21|",    /* protocol with 6 digits */
	"|1x|1.2.3.4|21|",
	"|x|1.2.3.4|21|",
	"|2|0000:0000:0000:0000:0000:0000:0000:0000:0|21|",
	/* an address longer than any literal: refused before inet_pton */
	"|2|0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000|21|",
};

/* EPRT in is refused with want (-1 or -2), *outlen left alone. */
static void expect_eprt_refused(const char *in, int want)
{
	struct sockaddr_storage ss;
	socklen_t sl = 77;

	ck_assert_msg(parse_eprt(in, &ss, &sl) == want, "\"%s\": want %d", in, want);
	ck_assert_uint_eq(sl, 77);
}

START_TEST(t_eprt_bad)
{
	expect_eprt_refused(eprt_bad[_i], -1);
}
END_TEST

/* A well-formed protocol number other than 1 or 2 is "unsupported" (522),
 * not "syntax error" (501). */
static const char *const eprt_proto[] = {
	"|3|1.2.3.4|21|",
	"|0|1.2.3.4|21|",
	"|99999|x|y|",
	"|3|",
	"!7!whatever",
	"|12|1.2.3.4|21|",
};

START_TEST(t_eprt_proto)
{
	expect_eprt_refused(eprt_proto[_i], -2);
}
END_TEST

START_TEST(t_eprt_null)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *in = "|1|1.2.3.4|21|";

	ck_assert_int_eq(fg_addr_parse_eprt(NULL, 0, &ss, &sl), -1);
	ck_assert_int_eq(fg_addr_parse_eprt(in, strlen(in), NULL, &sl), -1);
	ck_assert_int_eq(fg_addr_parse_eprt(in, strlen(in), &ss, NULL), -1);
	/* Span shorter than the string: the final '|' is outside it. */
	ck_assert_int_eq(fg_addr_parse_eprt(in, strlen(in) - 1, &ss, &sl), -1);
}
END_TEST

/* ---- 229 ----------------------------------------------------------- */

struct p229_case {
	const char *in;
	unsigned port;
};

static const struct p229_case r229_ok[] = {
	{ "229 Entering Extended Passive Mode (|||6446|)", 6446 },
	{ "229 Entering Extended Passive Mode (|||6446|)\r\n", 6446 },
	{ "229 Entering Extended Passive Mode (|||6446|).", 6446 },
	{ "229 Entering Extended Passive Mode (|||6446|).\r\n", 6446 },
	{ "229 (!!!1!)", 1 },
	{ "229 (|||65535|)", 65535 },
	{ "229 (|||00021|)", 21 },
	{ "229 EPSV ok (~~~21~)  ", 21 },
};

START_TEST(t_229_ok)
{
	uint16_t port = 0;

	ck_assert_msg(parse_229(r229_ok[_i].in, &port) == 0, "%s", r229_ok[_i].in);
	ck_assert_uint_eq(port, r229_ok[_i].port);
}
END_TEST

static const char *const r229_bad[] = {
	"",
	"229",
	"229 ",
	"229 Entering Extended Passive Mode",
	"229 Entering Extended Passive Mode (",
	"229 Entering Extended Passive Mode (|",
	"229 Entering Extended Passive Mode (|||",
	"229 Entering Extended Passive Mode (|||6446",
	"229 Entering Extended Passive Mode (|||6446|",
	"229 Entering Extended Passive Mode (|||6446)",
	"229 Entering Extended Passive Mode (||||)",      /* no port */
	"229 Entering Extended Passive Mode (|||0|)",     /* port 0 */
	"229 Entering Extended Passive Mode (|||65536|)",
	"229 Entering Extended Passive Mode (|||99999|)",
	"229 Entering Extended Passive Mode (|||006446|)",
	"229 Entering Extended Passive Mode (|||99999999999999999999|)",
	"229 Entering Extended Passive Mode (|||+6446|)",
	"229 Entering Extended Passive Mode (|||-6446|)",
	"229 Entering Extended Passive Mode (|||6446|)x",
	"229 Entering Extended Passive Mode (|||6446|) ok",
	"229 Entering Extended Passive Mode (|||6446|)..",
	"229 Entering Extended Passive Mode (|||6446|)\t",
	"229 Entering Extended Passive Mode (|!|6446|)",  /* mixed delimiters */
	"229 Entering Extended Passive Mode (|||6446!)",
	"229 Entering Extended Passive Mode (||6446|)",
	"229 Entering Extended Passive Mode (|1|1.2.3.4|6446|)", /* an address */
	"229 Entering Extended Passive Mode (||1.2.3.4|6446|)",
	"229 Entering Extended Passive Mode (   6446 )",   /* space delimiter */
	"229 Entering Extended Passive Mode (1116446 1)",
	"229 Entering Extended Passive Mode (|||64 46|)",
	"229 Entering Extended Passive Mode |||6446|",
	"229 Entering (Extended) Passive Mode (|||6446|)", /* first ( wins */
	"228 Entering Extended Passive Mode (|||6446|)",
	"227 Entering Extended Passive Mode (|||6446|)",
	"229-Entering Extended Passive Mode (|||6446|)",
	" 229 (|||6446|)",
};

START_TEST(t_229_bad)
{
	uint16_t port = 4242;

	ck_assert_msg(parse_229(r229_bad[_i], &port) == -1, "accepted \"%s\"",
		      r229_bad[_i]);
	ck_assert_uint_eq(port, 4242);
}
END_TEST

static int parse_229_len(const char *s, size_t len)
{
	uint16_t port;

	return fg_addr_parse_229(s, len, &port);
}

START_TEST(t_229_prefixes)
{
	static const char in[] = "229 Entering Extended Passive Mode (|||6446|).\r\n";
	uint16_t port;

	expect_prefixes(in, parse_229_len);
	ck_assert_int_eq(fg_addr_parse_229(NULL, 0, &port), -1);
	ck_assert_int_eq(fg_addr_parse_229(in, sizeof(in) - 1, NULL), -1);
}
END_TEST

/* ---- formatters ---------------------------------------------------- */

/* mk_in / mk_in6 accept a literal and a port and return the sockaddr. */
static struct sockaddr_in mk_in(const char *ip, unsigned port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	a.sin_port = htons((uint16_t)port);
	return a;
}

static struct sockaddr_in6 mk_in6(const char *ip, unsigned port)
{
	struct sockaddr_in6 a;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
	a.sin6_port = htons((uint16_t)port);
	return a;
}

START_TEST(t_format)
{
	struct sockaddr_in a = mk_in("10.0.0.5", 50000);
	struct sockaddr_in6 b = mk_in6("2001:db8::1", 5282);
	char buf[128];

	ck_assert_int_eq(fg_addr_format_port(&a, buf, sizeof(buf)), 15);
	ck_assert_str_eq(buf, "10,0,0,5,195,80");
	ck_assert_int_eq(fg_addr_format_227(&a, buf, sizeof(buf)),
			 (int)strlen("227 Entering Passive Mode (10,0,0,5,195,80).\r\n"));
	ck_assert_str_eq(buf, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n");
	ck_assert_int_eq(fg_addr_format_eprt((struct sockaddr *)&a, buf, sizeof(buf)),
			 (int)strlen("|1|10.0.0.5|50000|"));
	ck_assert_str_eq(buf, "|1|10.0.0.5|50000|");
	ck_assert_int_eq(fg_addr_format_eprt((struct sockaddr *)&b, buf, sizeof(buf)),
			 (int)strlen("|2|2001:db8::1|5282|"));
	ck_assert_str_eq(buf, "|2|2001:db8::1|5282|");
	ck_assert_int_eq(fg_addr_format_229(6446, buf, sizeof(buf)),
			 (int)strlen("229 Entering Extended Passive Mode (|||6446|)\r\n"));
	ck_assert_str_eq(buf, "229 Entering Extended Passive Mode (|||6446|)\r\n");
	ck_assert_int_eq(fg_addr_format_229(65535, buf, sizeof(buf)),
			 (int)strlen("229 Entering Extended Passive Mode (|||65535|)\r\n"));
}
END_TEST

START_TEST(t_format_family)
{
	struct sockaddr_in a = mk_in("10.0.0.5", 21);
	struct sockaddr_storage ss;
	char buf[128];

	a.sin_family = AF_INET6;   /* lies about its family */
	buf[0] = 'x';
	ck_assert_int_eq(fg_addr_format_port(&a, buf, sizeof(buf)), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(fg_addr_format_227(&a, buf, sizeof(buf)), -1);
	ck_assert_int_eq(fg_addr_format_port(NULL, buf, sizeof(buf)), -1);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ck_assert_int_eq(fg_addr_format_eprt((struct sockaddr *)&ss, buf, sizeof(buf)), -1);
	ss.ss_family = AF_UNSPEC;
	ck_assert_int_eq(fg_addr_format_eprt((struct sockaddr *)&ss, buf, sizeof(buf)), -1);
	ck_assert_int_eq(fg_addr_format_eprt(NULL, buf, sizeof(buf)), -1);
	ck_assert_int_eq(fg_addr_format_229(21, NULL, 10), -1);
}
END_TEST

#define GUARD 16

/* Calls formatter k (0..4) on the test addresses into out[0..outlen). */
static int format_k(int k, char *out, size_t outlen)
{
	static const char *const v6max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
	struct sockaddr_in a = mk_in("255.255.255.255", 65535);
	struct sockaddr_in6 b = mk_in6(v6max, 65535);

	switch (k) {
	case 0: return fg_addr_format_port(&a, out, outlen);
	case 1: return fg_addr_format_227(&a, out, outlen);
	case 2: return fg_addr_format_eprt((struct sockaddr *)&a, out, outlen);
	case 3: return fg_addr_format_eprt((struct sockaddr *)&b, out, outlen);
	default: return fg_addr_format_229(65535, out, outlen);
	}
}

/* For every buffer size from 0 to one more than needed: too small gives -1
 * and an empty string, exactly enough gives the text, and no byte past
 * outlen is ever written (checked with guard bytes and, under ASan, with a
 * heap block of exactly outlen bytes). */
START_TEST(t_format_small)
{
	char full[128];
	int need = format_k(_i, full, sizeof(full));
	size_t n;

	ck_assert_int_gt(need, 0);
	ck_assert_uint_eq(strlen(full), (size_t)need);
	for (n = 0; n <= (size_t)need + 1; n++) {
		char buf[128 + GUARD];
		char *heap = malloc(n ? n : 1);
		size_t j;
		int r;

		ck_assert_ptr_nonnull(heap);
		memset(buf, '#', sizeof(buf));
		r = format_k(_i, buf, n);
		for (j = n; j < sizeof(buf); j++)
			ck_assert_msg(buf[j] == '#', "k %d n %zu wrote byte %zu", _i, n, j);
		if (n <= (size_t)need) {
			ck_assert_msg(r == -1, "k %d n %zu r %d", _i, n, r);
			if (n > 0)
				ck_assert_int_eq(buf[0], '\0');
		} else {
			ck_assert_int_eq(r, need);
			ck_assert_str_eq(buf, full);
		}
		ck_assert_int_eq(format_k(_i, heap, n), r);
		free(heap);
	}
}
END_TEST

/* ---- round trips: format(parse(x)) == x for canonical x ---------------- */

static const char *const rt_port[] = {
	"10,0,0,5,195,80", "0,0,0,0,0,1", "255,255,255,255,255,255",
	"127,0,0,1,4,1", "192,168,1,100,0,21",
};

START_TEST(t_rt_port)
{
	expect_v4_roundtrip(fg_addr_parse_port, fg_addr_format_port, rt_port[_i]);
}
END_TEST

static const char *const rt_227[] = {
	"227 Entering Passive Mode (10,0,0,5,195,80).\r\n",
	"227 Entering Passive Mode (0,0,0,0,0,1).\r\n",
	"227 Entering Passive Mode (255,255,255,255,255,255).\r\n",
};

START_TEST(t_rt_227)
{
	expect_v4_roundtrip(fg_addr_parse_227, fg_addr_format_227, rt_227[_i]);
}
END_TEST

static const char *const rt_eprt[] = {
	"|1|1.2.3.4|5282|",
	"|1|0.0.0.0|1|",
	"|1|255.255.255.255|65535|",
	"|2|::1|5282|",
	"|2|::|21|",
	"|2|2001:db8::1|65535|",
	"|2|fe80::1:2:3:4|1025|",
	"|2|::ffff:127.0.0.1|1025|",
	"|2|ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff|1|",
	"|2|1:2:3:4:5:6:7:8|21|",
};

START_TEST(t_rt_eprt)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char buf[128];

	ck_assert_int_eq(parse_eprt(rt_eprt[_i], &ss, &sl), 0);
	ck_assert_int_eq(fg_addr_format_eprt((struct sockaddr *)&ss, buf, sizeof(buf)),
			 (int)strlen(rt_eprt[_i]));
	ck_assert_str_eq(buf, rt_eprt[_i]);
}
END_TEST

static const unsigned rt_229[] = { 1, 21, 255, 256, 6446, 65535 };

START_TEST(t_rt_229)
{
	char buf[128];
	uint16_t port = 0;

	ck_assert_int_gt(fg_addr_format_229((uint16_t)rt_229[_i], buf, sizeof(buf)), 0);
	ck_assert_int_eq(parse_229(buf, &port), 0);
	ck_assert_uint_eq(port, rt_229[_i]);
	/* and back again, byte for byte */
	{
		char again[128];

		ck_assert_int_gt(fg_addr_format_229(port, again, sizeof(again)), 0);
		ck_assert_str_eq(again, buf);
	}
}
END_TEST

/* Every IPv4 port boundary through PORT, 227 and EPRT. */
START_TEST(t_boundaries)
{
	struct sockaddr_in a;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint16_t p;

	ck_assert_int_eq(parse_port("255,0,0,0,0,1", &a), 0);
	ck_assert_int_eq(parse_port("256,0,0,0,0,1", &a), -1);
	ck_assert_int_eq(parse_port("1,2,3,4,255,255", &a), 0);
	ck_assert_int_eq(parse_port("1,2,3,4,00255,00255", &a), 0);   /* 5 digits */
	ck_assert_int_eq(parse_port("1,2,3,4,000255,255", &a), -1);   /* 6 digits */
	ck_assert_int_eq(parse_port("1,2,3,4,0,1", &a), 0);
	ck_assert_int_eq(parse_port("1,2,3,4,0,0", &a), -1);
	ck_assert_int_eq(parse_eprt("|1|1.2.3.4|65535|", &ss, &sl), 0);
	ck_assert_int_eq(parse_eprt("|1|1.2.3.4|65536|", &ss, &sl), -1);
	ck_assert_int_eq(parse_eprt("|1|1.2.3.4|1|", &ss, &sl), 0);
	ck_assert_int_eq(parse_eprt("|1|1.2.3.4|0|", &ss, &sl), -1);
	ck_assert_int_eq(parse_eprt("|1|1.2.3.4|00000|", &ss, &sl), -1);
	ck_assert_int_eq(parse_eprt("|1|1.2.3.4|01234|", &ss, &sl), 0);
	ck_assert_int_eq(parse_eprt("|1|1.2.3.4|012345|", &ss, &sl), -1);
	ck_assert_int_eq(parse_229("229 (|||65535|)", &p), 0);
	ck_assert_int_eq(parse_229("229 (|||65536|)", &p), -1);
	ck_assert_int_eq(parse_229("229 (|||00001|)", &p), 0);
	ck_assert_int_eq(parse_229("229 (|||000001|)", &p), -1);
	ck_assert_int_eq(parse_227("227 (255,255,255,255,255,255)", &a), 0);
	ck_assert_int_eq(parse_227("227 (255,255,255,255,255,256)", &a), -1);
}
END_TEST

/* Returns the suite: one test case per parser, formatters, round trips. */
static Suite *addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc;

	tc = tcase_create("port");
	tcase_add_loop_test(tc, t_port_ok, 0, N(port_ok));
	tcase_add_loop_test(tc, t_port_bad, 0, N(port_bad));
	tcase_add_test(tc, t_port_nul);
	tcase_add_test(tc, t_port_span);
	suite_add_tcase(s, tc);

	tc = tcase_create("227");
	tcase_add_loop_test(tc, t_227_ok, 0, N(r227_ok));
	tcase_add_loop_test(tc, t_227_bad, 0, N(r227_bad));
	tcase_add_test(tc, t_227_prefixes);
	suite_add_tcase(s, tc);

	tc = tcase_create("eprt");
	tcase_add_loop_test(tc, t_eprt_ok, 0, N(eprt_ok));
	tcase_add_test(tc, t_eprt_mapped);
	tcase_add_loop_test(tc, t_eprt_bad, 0, N(eprt_bad));
	tcase_add_loop_test(tc, t_eprt_proto, 0, N(eprt_proto));
	tcase_add_test(tc, t_eprt_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("229");
	tcase_add_loop_test(tc, t_229_ok, 0, N(r229_ok));
	tcase_add_loop_test(tc, t_229_bad, 0, N(r229_bad));
	tcase_add_test(tc, t_229_prefixes);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, t_format);
	tcase_add_test(tc, t_format_family);
	tcase_add_loop_test(tc, t_format_small, 0, 5);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_add_loop_test(tc, t_rt_port, 0, N(rt_port));
	tcase_add_loop_test(tc, t_rt_227, 0, N(rt_227));
	tcase_add_loop_test(tc, t_rt_eprt, 0, N(rt_eprt));
	tcase_add_loop_test(tc, t_rt_229, 0, N(rt_229));
	tcase_add_test(tc, t_boundaries);
	suite_add_tcase(s, tc);

	return s;
}

/* Runs the suite.  Returns nonzero if any check failed. */
int main(void)
{
	SRunner *sr = srunner_create(addr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
