/* ftp/addr.h - PASV/EPSV/PORT/EPRT arguments and replies: parse and format.
 *
 * Pure functions with no I/O.  Every address that arrives in one of these
 * is untrusted: the parsers only say what the text claims; the caller decides
 * what (if anything) it will dial.  Inputs are spans (not NUL-terminated).
 * Every parser rejects: empty input, numbers with more than 5 digits or out
 * of range (octet > 255, port > 65535 or port 0), signs, missing or extra
 * fields, and trailing garbage (trailing spaces/CR/LF excepted). */
#ifndef FG_FTP_ADDR_H
#define FG_FTP_ADDR_H
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* PORT argument "h1,h2,h3,h4,p1,p2" -> IPv4 address and port.
 * Returns 0, or -1 if malformed. */
int fg_addr_parse_port(const char *s, size_t len, struct sockaddr_in *out);

/* Text of a 227 reply (the whole line, e.g. "227 Entering Passive Mode
 * (10,0,0,5,195,80)." or the form without parentheses): finds the first
 * run of six comma-separated numbers after the code.  Returns 0, or -1. */
int fg_addr_parse_227(const char *s, size_t len, struct sockaddr_in *out);

/* EPRT argument "<d>1<d>addr<d>port<d>" or "<d>2<d>addr<d>port<d>" (RFC
 * 2428; <d> is any printable ASCII char 33..126 used consistently).  The
 * address must be a numeric literal of the stated family.  Returns 0 and
 * fills *out / *outlen (sockaddr_in or sockaddr_in6); -2 if the protocol
 * number is neither 1 nor 2 (caller answers 522); -1 if malformed. */
int fg_addr_parse_eprt(const char *s, size_t len, struct sockaddr_storage *out,
		       socklen_t *outlen);

/* Text of a 229 reply (the whole line, e.g. "229 Entering Extended Passive
 * Mode (|||6446|)"): the port between "(<d><d><d>" and "<d>)".
 * Returns 0 and *port, or -1. */
int fg_addr_parse_229(const char *s, size_t len, uint16_t *port);

/* Formatters: write a NUL-terminated string into out (outlen bytes).
 * Each returns the length written (excluding the NUL), or -1 if it does not
 * fit or the address family is wrong. */

/* "h1,h2,h3,h4,p1,p2" for an IPv4 address (no code, no CRLF). */
int fg_addr_format_port(const struct sockaddr_in *a, char *out, size_t outlen);

/* "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).\r\n" */
int fg_addr_format_227(const struct sockaddr_in *a, char *out, size_t outlen);

/* "|1|1.2.3.4|5282|" or "|2|::1|5282|" for sockaddr_in / sockaddr_in6. */
int fg_addr_format_eprt(const struct sockaddr *a, char *out, size_t outlen);

/* "229 Entering Extended Passive Mode (|||port|)\r\n" */
int fg_addr_format_229(uint16_t port, char *out, size_t outlen);

#endif
