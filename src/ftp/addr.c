/* ftp/addr.c - PASV/EPSV/PORT/EPRT arguments and replies (see addr.h).
 *
 * Every byte handed to the parsers comes from a client or a backend we do
 * not trust, so the parsers are deliberately strict: a reply or argument
 * that real servers and clients never send is refused rather than guessed
 * at.  Each loop is bounded by len, no input byte past len is read, and no
 * number is accumulated beyond 5 digits, so nothing can overflow.
 *
 * The parsers only report what the text claims.  Whether the proxy dials
 * that address (usually it must not) is decided by the caller. */
#include "ftp/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

/* More than 5 digits can never be a valid octet or port (65535 has 5); the
 * cap also makes overflow of the accumulator impossible. */
#define MAX_DIGITS 5

/* Large enough for any IPv6 literal inet_pton accepts, including the
 * IPv4-mapped form "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255". */
#define LITERAL_MAX INET6_ADDRSTRLEN

/* Accepts a byte.  Returns nonzero for an ASCII decimal digit.  (isdigit()
 * depends on the locale and takes an int that must not be negative.) */
static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Accepts s[*pos..len).  Parses 1 to MAX_DIGITS decimal digits at *pos whose
 * value is at most max, advances *pos past them and stores the value in
 * *out.  Returns 0, or -1 when there is no digit, a sign, a sixth digit, or
 * the value is over max. */
static int parse_num(const char *s, size_t len, size_t *pos, unsigned max,
		     unsigned *out)
{
	size_t i = *pos;
	unsigned v = 0;
	size_t n = 0;

	while (i < len && is_digit(s[i])) {
		if (++n > MAX_DIGITS)
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
		i++;
	}
	if (n == 0 || v > max)
		return -1;
	*pos = i;
	*out = v;
	return 0;
}

/* Accepts s[pos..len).  Returns 0 if it holds nothing but spaces, CR and LF
 * (what a line may legitimately end with), or -1 for anything else. */
static int only_trailing_space(const char *s, size_t len, size_t pos)
{
	for (; pos < len; pos++)
		if (s[pos] != ' ' && s[pos] != '\r' && s[pos] != '\n')
			return -1;
	return 0;
}

/* Accepts s[*pos..len).  Parses "h1,h2,h3,h4,p1,p2" at *pos (each a number
 * 0..255, no spaces) into *out and advances *pos past the last digit; what
 * follows is the caller's business.  Returns 0, or -1 if malformed or the
 * port is 0 (never a port anyone can connect to). */
static int parse_six(const char *s, size_t len, size_t *pos,
		     struct sockaddr_in *out)
{
	unsigned v[6];
	size_t i = *pos;
	int k;

	for (k = 0; k < 6; k++) {
		if (k > 0) {
			if (i >= len || s[i] != ',')
				return -1;
			i++;
		}
		if (parse_num(s, len, &i, 255, &v[k]) < 0)
			return -1;
	}
	if (v[4] == 0 && v[5] == 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_addr.s_addr = htonl((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
				     (uint32_t)v[2] << 8 | (uint32_t)v[3]);
	out->sin_port = htons((uint16_t)(v[4] << 8 | v[5]));
	*pos = i;
	return 0;
}

/* Accepts the PORT argument s[0..len), e.g. "10,0,0,5,195,80" with
 * optional trailing spaces/CR/LF.  Returns 0 and fills *out, or -1. */
int fg_addr_parse_port(const char *s, size_t len, struct sockaddr_in *out)
{
	struct sockaddr_in a;
	size_t i = 0;

	if (s == NULL || out == NULL)
		return -1;
	if (parse_six(s, len, &i, &a) < 0)
		return -1;
	if (only_trailing_space(s, len, i) < 0)
		return -1;
	*out = a;
	return 0;
}

/* Accepts a whole 227 line s[0..len).  It must start "227 "; the six
 * numbers start at the first digit after the code.  If that digit follows
 * '(' the numbers must be closed by ')'; then an optional '.' and trailing
 * spaces/CR/LF may follow, nothing else.  Returns 0 and fills *out, or -1.
 * Spaces inside the list and a second list are refused: no server we know
 * sends them, and guessing is how proxies get talked into bad addresses. */
int fg_addr_parse_227(const char *s, size_t len, struct sockaddr_in *out)
{
	struct sockaddr_in a;
	size_t i;
	int paren;

	if (s == NULL || out == NULL)
		return -1;
	if (len < 4 || memcmp(s, "227 ", 4) != 0)
		return -1;
	for (i = 4; i < len && !is_digit(s[i]); i++)
		;
	if (i >= len)
		return -1;
	paren = s[i - 1] == '(';
	if (parse_six(s, len, &i, &a) < 0)
		return -1;
	if (paren) {
		if (i >= len || s[i] != ')')
			return -1;
		i++;
	}
	if (i < len && s[i] == '.')
		i++;
	if (only_trailing_space(s, len, i) < 0)
		return -1;
	*out = a;
	return 0;
}

/* Accepts a byte.  Returns nonzero if RFC 2428 allows it as a delimiter
 * (printable ASCII 33..126).  Digits are refused too: a digit delimiter
 * would make "|1|" and "111" indistinguishable. */
static int is_delim(char c)
{
	return c >= 33 && c <= 126 && !is_digit(c);
}

/* Accepts s[from..len) and a delimiter d.  Returns the index of the first d
 * at or after from, or len if there is none. */
static size_t find_delim(const char *s, size_t len, size_t from, char d)
{
	while (from < len && s[from] != d)
		from++;
	return from;
}

/* Accepts the EPRT argument s[0..len), "<d>proto<d>addr<d>port<d>" with
 * optional trailing spaces/CR/LF.  proto 1 needs an IPv4 dotted quad, proto
 * 2 an IPv6 literal (an IPv4-mapped literal is still AF_INET6; mapping is
 * the caller's decision).  Returns 0 and fills *out and *outlen; -2 when
 * proto is a well-formed number other than 1 or 2 (the rest is not looked
 * at, since we cannot know its syntax); -1 if malformed. */
int fg_addr_parse_eprt(const char *s, size_t len, struct sockaddr_storage *out,
		       socklen_t *outlen)
{
	char lit[LITERAL_MAX];
	unsigned proto, port;
	size_t i = 0, end, alen;
	char d;

	if (s == NULL || out == NULL || outlen == NULL || len == 0)
		return -1;
	d = s[i++];
	if (!is_delim(d))
		return -1;

	if (parse_num(s, len, &i, 99999, &proto) < 0)
		return -1;
	if (i >= len || s[i] != d)
		return -1;
	i++;
	if (proto != 1 && proto != 2)
		return -2;

	/* The address: copied (length checked) so inet_pton gets a C string
	 * and never sees a byte past the field. */
	end = find_delim(s, len, i, d);
	if (end >= len)
		return -1;
	alen = end - i;
	if (alen == 0 || alen >= sizeof(lit))
		return -1;
	memcpy(lit, s + i, alen);
	lit[alen] = '\0';
	i = end + 1;

	if (parse_num(s, len, &i, 65535, &port) < 0 || port == 0)
		return -1;
	if (i >= len || s[i] != d)
		return -1;
	i++;
	if (only_trailing_space(s, len, i) < 0)
		return -1;

	/* inet_pton never accepts a literal of the other family, so "|1|::1|"
	 * and "|2|1.2.3.4|" are refused here.  It also refuses zone ids. */
	memset(out, 0, sizeof(*out));
	if (proto == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, lit, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*outlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, lit, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*outlen = sizeof(*sin6);
	}
	return 0;
}

/* Accepts a whole 229 line s[0..len).  It must start "229 "; at the first
 * '(' come three identical delimiters, 1 to 5 digits, the delimiter again
 * and ')'; then an optional '.' and trailing spaces/CR/LF.  Returns 0 and
 * the port (1..65535) in *port, or -1.  A network address in the reply
 * (RFC 2428 says the fields must be empty) is refused. */
int fg_addr_parse_229(const char *s, size_t len, uint16_t *port)
{
	unsigned v;
	size_t i;
	char d;

	if (s == NULL || port == NULL)
		return -1;
	if (len < 4 || memcmp(s, "229 ", 4) != 0)
		return -1;
	i = find_delim(s, len, 4, '(');
	if (len - i < 4)
		return -1;
	i++;
	d = s[i];
	if (!is_delim(d) || s[i + 1] != d || s[i + 2] != d)
		return -1;
	i += 3;
	if (parse_num(s, len, &i, 65535, &v) < 0 || v == 0)
		return -1;
	if (len - i < 2 || s[i] != d || s[i + 1] != ')')
		return -1;
	i += 2;
	if (i < len && s[i] == '.')
		i++;
	if (only_trailing_space(s, len, i) < 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* Accepts the return value r of snprintf into out[0..outlen).  Returns r if
 * the whole text fit, or -1 (leaving out an empty string, so that a caller
 * that ignores the error still never sends half an address). */
static int checked(int r, char *out, size_t outlen)
{
	if (r < 0 || (size_t)r >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return r;
}

/* Accepts two constant strings, an AF_INET address and out[0..outlen).
 * Writes prefix "h1,h2,h3,h4,p1,p2" suffix (the list is shared by PORT and
 * 227) and returns the length, or -1 if a is not AF_INET or the text does
 * not fit. */
static int format_six(const char *prefix, const char *suffix,
		      const struct sockaddr_in *a, char *out, size_t outlen)
{
	uint32_t h;
	uint16_t p;

	if (out == NULL || outlen == 0)
		return -1;
	if (a == NULL || a->sin_family != AF_INET)
		return checked(-1, out, outlen);
	h = ntohl(a->sin_addr.s_addr);
	p = ntohs(a->sin_port);
	return checked(snprintf(out, outlen, "%s%u,%u,%u,%u,%u,%u%s", prefix,
				(unsigned)(h >> 24), (unsigned)(h >> 16 & 0xff),
				(unsigned)(h >> 8 & 0xff), (unsigned)(h & 0xff),
				(unsigned)(p >> 8), (unsigned)(p & 0xff), suffix),
		       out, outlen);
}

/* Accepts an AF_INET address and out[0..outlen).  Writes the PORT argument
 * "h1,h2,h3,h4,p1,p2" and returns its length, or -1. */
int fg_addr_format_port(const struct sockaddr_in *a, char *out, size_t outlen)
{
	return format_six("", "", a, out, outlen);
}

/* Accepts an AF_INET address and out[0..outlen).  Writes
 * "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).\r\n" and returns its
 * length, or -1. */
int fg_addr_format_227(const struct sockaddr_in *a, char *out, size_t outlen)
{
	return format_six("227 Entering Passive Mode (", ").\r\n", a, out,
			  outlen);
}

/* Accepts a sockaddr_in or sockaddr_in6 (selected by sa_family; a must
 * really be that large) and out[0..outlen).  Writes "|1|a.b.c.d|port|" or
 * "|2|ipv6|port|" and returns its length, or -1 for another family or if
 * it does not fit.  inet_ntop gives the canonical (RFC 5952) text, which is
 * what makes format(parse(x)) == x for canonical x. */
int fg_addr_format_eprt(const struct sockaddr *a, char *out, size_t outlen)
{
	char lit[LITERAL_MAX];
	unsigned proto;
	uint16_t port;

	if (out == NULL || outlen == 0)
		return -1;
	if (a == NULL)
		return checked(-1, out, outlen);
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)a;

		if (inet_ntop(AF_INET, &sin->sin_addr, lit, sizeof(lit)) == NULL)
			return checked(-1, out, outlen);
		proto = 1;
		port = ntohs(sin->sin_port);
	} else if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)a;

		if (inet_ntop(AF_INET6, &sin6->sin6_addr, lit, sizeof(lit)) == NULL)
			return checked(-1, out, outlen);
		proto = 2;
		port = ntohs(sin6->sin6_port);
	} else {
		return checked(-1, out, outlen);
	}
	return checked(snprintf(out, outlen, "|%u|%s|%u|", proto, lit,
				(unsigned)port),
		       out, outlen);
}

/* Accepts a port and out[0..outlen).  Writes
 * "229 Entering Extended Passive Mode (|||port|)\r\n" and returns its
 * length, or -1 if it does not fit. */
int fg_addr_format_229(uint16_t port, char *out, size_t outlen)
{
	if (out == NULL || outlen == 0)
		return -1;
	return checked(snprintf(out, outlen,
				"229 Entering Extended Passive Mode (|||%u|)\r\n",
				(unsigned)port),
		       out, outlen);
}
