/* check_config.c - unit tests of src/config.c: every error comes with the
 * right FILE:LINE, all errors are reported, a full file sets every field,
 * defaults are the documented ones. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include "config.h"
#include "net.h"
#include "unit_util.h"
#include "banned.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The struct is large; one static instance for all tests. */
static struct fg_config cfg;

/* Load text into cfg (unit_util.c). */
static int load(const char *text, char **out)
{
	return unit_load_config(&cfg, text, out);
}

/* Load text: exactly want on the error output and n errors. */
static void expect_load(const char *text, int n, const char *want)
{
	char *out = NULL;
	int got = load(text, &out);

	ck_assert_str_eq(out, want);
	ck_assert_int_eq(got, n);
	free(out);
}

/* A minimal valid file to extend. */
#define OK_LISTENER "[listener pub]\nlisten = 127.0.0.1:2121\nbackend = in\n"
#define OK_BACKEND "[backend in]\nservers = 10.0.0.5:21\n"
#define X10 "0123456789"

/* text must give exactly the error lines in want (count = lines). */
struct bad_case {
	const char *what;
	const char *text;
	int n;
	const char *want;
};

static const struct bad_case bad[] = {
	{ "unknown key in global",
	  "[global]\nuser = ftp\nmax_sesions = 5\n" OK_LISTENER OK_BACKEND, 1,
	  "t.conf:3: unknown key 'max_sesions' in [global]\n" },
	{ "unknown key in listener",
	  OK_LISTENER "servers = 1.2.3.4:21\n" OK_BACKEND, 1,
	  "t.conf:4: unknown key 'servers' in [listener pub]\n" },
	{ "unknown key in backend",
	  OK_LISTENER OK_BACKEND "\nlisten = 1.2.3.4:21\n", 1,
	  "t.conf:7: unknown key 'listen' in [backend in]\n" },
	{ "unknown section",
	  OK_LISTENER OK_BACKEND "[frontend x]\nlisten = 1.2.3.4:21\n", 1,
	  "t.conf:6: unknown section [frontend x] (want [global], [listener NAME] or [backend NAME])\n" },
	{ "bad section name",
	  OK_LISTENER OK_BACKEND "[backend a/b]\n", 1,
	  "t.conf:6: bad section name [backend a/b] (want [backend NAME], NAME of 1-63 characters A-Z a-z 0-9 _ . -)\n" },
	{ "key before any section",
	  "user = x\n" OK_LISTENER OK_BACKEND, 1,
	  "t.conf:1: key 'user' outside of any section\n" },
	{ "bad address",
	  "[listener pub]\nlisten = 1.2.3:21\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:2: listen: not a numeric IPv4 or IPv6 address in '1.2.3:21'\n" },
	{ "host name in listen",
	  "[listener pub]\nlisten = localhost:21\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:2: listen: not a numeric IPv4 or IPv6 address in 'localhost:21'\n" },
	{ "IPv6 without brackets",
	  "[listener pub]\nlisten = 0.0.0.0:21, ::1:21\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:2: listen: IPv6 addresses must be written as [ADDR]:PORT in '::1:21'\n" },
	{ "listen port 0",
	  "[listener pub]\nlisten = 1.2.3.4:0\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:2: listen: bad port (1-65535) in '1.2.3.4:0'\n" },
	{ "listen without port",
	  "[listener pub]\nlisten = 1.2.3.4\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:2: listen: missing :PORT in '1.2.3.4'\n" },
	{ "listen empty item",
	  "[listener pub]\nlisten = 1.2.3.4:21,\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:2: listen: empty address in list\n" },
	{ "listen twice in one list",
	  "[listener pub]\nlisten = 1.2.3.4:21, 1.2.3.4:21\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:2: listen: 1.2.3.4:21 is listed twice\n" },
	{ "listen address of another listener",
	  OK_LISTENER "[listener two]\nlisten = [::1]:21, 127.0.0.1:2121\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:5: listen: 127.0.0.1:2121 is already used by [listener pub]\n" },
	{ "too many addresses",
	  "[listener pub]\nlisten = 1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,1.1.1.1:5,1.1.1.1:6,"
	  "1.1.1.1:7,1.1.1.1:8,1.1.1.1:9,1.1.1.1:10,1.1.1.1:11,1.1.1.1:12,1.1.1.1:13,1.1.1.1:14,"
	  "1.1.1.1:15,1.1.1.1:16,1.1.1.1:17\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:2: listen: too many addresses (max 16)\n" },
	{ "passive_ports reversed",
	  OK_LISTENER "passive_ports = 5000-4000\n" OK_BACKEND, 1,
	  "t.conf:4: passive_ports: want LO-HI with 1024 <= LO <= HI <= 65535\n" },
	{ "passive_ports single number",
	  OK_LISTENER "passive_ports = 70000\n" OK_BACKEND, 1,
	  "t.conf:4: passive_ports: want LO-HI with 1024 <= LO <= HI <= 65535\n" },
	{ "passive_ports privileged",
	  OK_LISTENER "passive_ports = 80-90\n" OK_BACKEND, 1,
	  "t.conf:4: passive_ports: want LO-HI with 1024 <= LO <= HI <= 65535\n" },
	{ "passive_ports above 65535",
	  OK_LISTENER "passive_ports = 60000-65536\n" OK_BACKEND, 1,
	  "t.conf:4: passive_ports: want LO-HI with 1024 <= LO <= HI <= 65535\n" },
	{ "passive_ports sign",
	  OK_LISTENER "passive_ports = +2000-3000\n" OK_BACKEND, 1,
	  "t.conf:4: passive_ports: want LO-HI with 1024 <= LO <= HI <= 65535\n" },
	{ "passive_address with port",
	  OK_LISTENER "passive_address = 1.2.3.4:21\n" OK_BACKEND, 1,
	  "t.conf:4: passive_address: '1.2.3.4:21' is not a numeric IPv4 or IPv6 address\n" },
	{ "passive_address unspecified",
	  OK_LISTENER "passive_address = 0.0.0.0\n" OK_BACKEND, 1,
	  "t.conf:4: passive_address: the unspecified address cannot be sent to clients\n" },
	{ "missing backend section",
	  "[listener pub]\nlisten = 127.0.0.1:2121\nbackend = nope\n" OK_BACKEND, 1,
	  "t.conf:3: listener 'pub': no [backend nope]\n" },
	{ "missing backend key",
	  "[listener pub]\nlisten = 127.0.0.1:2121\n" OK_BACKEND, 1,
	  "t.conf:1: listener 'pub': backend is required\n" },
	{ "backend defined after the listener is fine, duplicate listener is not",
	  OK_LISTENER "\n[listener pub]\nlisten = 127.0.0.1:21\n" OK_BACKEND, 1,
	  "t.conf:5: duplicate section [listener pub] (first at line 1)\n" },
	{ "duplicate backend",
	  OK_LISTENER OK_BACKEND "[backend in]\nservers = 10.0.0.6\n", 1,
	  "t.conf:6: duplicate section [backend in] (first at line 4)\n" },
	{ "duplicate global",
	  "[global]\n[global]\n" OK_LISTENER OK_BACKEND, 1,
	  "t.conf:2: duplicate section [global] (first at line 1)\n" },
	{ "duplicate key",
	  OK_LISTENER "backend = in\n" OK_BACKEND, 1,
	  "t.conf:4: duplicate key 'backend' in [listener pub] (first at line 3)\n" },
	{ "missing listen",
	  "[listener pub]\nbackend = in\n" OK_BACKEND, 1,
	  "t.conf:1: listener 'pub': listen is required\n" },
	{ "missing servers",
	  OK_LISTENER "[backend in]\ntls = off\n", 1,
	  "t.conf:4: backend 'in': servers is required\n" },
	{ "no listener",
	  "[global]\n" OK_BACKEND, 1,
	  "t.conf:0: no [listener] section\n" },
	{ "empty file",
	  "", 1,
	  "t.conf:0: no [listener] section\n" },
	{ "tls required on a backend",
	  OK_LISTENER OK_BACKEND "tls = required\n", 1,
	  "t.conf:6: bad value 'required' for tls (off|explicit|implicit)\n" },
	{ "bad tls on a listener",
	  OK_LISTENER "tls = on\n" OK_BACKEND, 1,
	  "t.conf:4: bad value 'on' for tls (off|explicit|required|implicit)\n" },
	{ "tls without cert",
	  OK_LISTENER "tls = explicit\ntls_key = /k.pem\n" OK_BACKEND, 1,
	  "t.conf:4: listener 'pub': tls needs tls_cert and tls_key\n" },
	{ "tls without key",
	  OK_LISTENER "tls_cert = /c.pem\ntls = implicit\n" OK_BACKEND, 1,
	  "t.conf:5: listener 'pub': tls needs tls_cert and tls_key\n" },
	/* TLS keys beyond tls/tls_cert/tls_key */
	{ "tls_client_cert bad value",
	  OK_LISTENER "tls_client_cert = yes\n" OK_BACKEND, 1,
	  "t.conf:4: bad value 'yes' for tls_client_cert (off|optional|required)\n" },
	{ "tls_client_cert is case-sensitive",
	  OK_LISTENER "tls_client_cert = Required\ntls_ca = /ca.pem\n" OK_BACKEND, 1,
	  "t.conf:4: bad value 'Required' for tls_client_cert (off|optional|required)\n" },
	{ "tls_client_cert optional without tls_ca",
	  OK_LISTENER "tls = explicit\ntls_cert = /c.pem\ntls_key = /k.pem\ntls_client_cert = optional\n"
	  OK_BACKEND, 1,
	  "t.conf:7: listener 'pub': tls_client_cert = optional needs tls_ca\n" },
	{ "tls_client_cert required without tls_ca, tls off",
	  OK_LISTENER "tls_client_cert = required\n" OK_BACKEND, 1,
	  "t.conf:4: listener 'pub': tls_client_cert = required needs tls_ca\n" },
	{ "tls_client_cert with a bad tls_ca: one error",
	  OK_LISTENER "tls_client_cert = required\ntls_ca =\n" OK_BACKEND, 1,
	  "t.conf:5: tls_ca: empty path\n" },
	{ "tls_ca with a control character",
	  OK_LISTENER "tls_ca = /etc/ca\x01.pem\n" OK_BACKEND, 1,
	  "t.conf:4: tls_ca: control character in path\n" },
	{ "tls_ca on a listener is not tls_ca of the backend",
	  OK_LISTENER "tls_ca = /a.pem\n" OK_BACKEND "tls_ca = /b.pem\ntls_ca = /c.pem\n", 1,
	  "t.conf:8: duplicate key 'tls_ca' in [backend in] (first at line 7)\n" },
	{ "cipher lists: empty, blank, control, non-ASCII",
	  OK_LISTENER "tls_ciphers =\ntls_ciphersuites = TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384\n"
	  OK_BACKEND "tls_ciphers = ECDHE\tAESGCM\ntls_ciphersuites = TLS_\xc3\xa9\n", 4,
	  "t.conf:4: tls_ciphers: empty list (leave the key out for the default)\n"
	  "t.conf:5: tls_ciphersuites: want printable ASCII without blanks (separate names with ':')\n"
	  "t.conf:8: tls_ciphers: want printable ASCII without blanks (separate names with ':')\n"
	  "t.conf:9: tls_ciphersuites: want printable ASCII without blanks (separate names with ':')\n" },
	{ "versions below TLS 1.2",
	  OK_LISTENER "tls_min_version = TLSv1.1\ntls_max_version = TLSv1\n"
	  OK_BACKEND "tls_min_version = SSLv3\ntls_max_version = TLSv1.0\n", 4,
	  "t.conf:4: bad value 'TLSv1.1' for tls_min_version (TLS 1.2 is the minimum)\n"
	  "t.conf:5: bad value 'TLSv1' for tls_max_version (TLS 1.2 is the minimum)\n"
	  "t.conf:8: bad value 'SSLv3' for tls_min_version (TLS 1.2 is the minimum)\n"
	  "t.conf:9: bad value 'TLSv1.0' for tls_max_version (TLS 1.2 is the minimum)\n" },
	{ "versions are spelled as OpenSSL's MinProtocol",
	  OK_LISTENER "tls_min_version = tlsv1.2\ntls_max_version = 1.3\n"
	  OK_BACKEND "tls_min_version = TLSv1.4\ntls_max_version = TLS1.3\n", 4,
	  "t.conf:4: bad value 'tlsv1.2' for tls_min_version (TLSv1.2|TLSv1.3)\n"
	  "t.conf:5: bad value '1.3' for tls_max_version (TLSv1.2|TLSv1.3)\n"
	  "t.conf:8: bad value 'TLSv1.4' for tls_min_version (TLSv1.2|TLSv1.3)\n"
	  "t.conf:9: bad value 'TLS1.3' for tls_max_version (TLSv1.2|TLSv1.3)\n" },
	{ "listener min above max",
	  OK_LISTENER "tls_max_version = TLSv1.2\ntls_min_version = TLSv1.3\n" OK_BACKEND, 1,
	  "t.conf:5: listener 'pub': tls_min_version (TLSv1.3) must not exceed tls_max_version (TLSv1.2)\n" },
	{ "backend min above max",
	  OK_LISTENER OK_BACKEND "tls_min_version = TLSv1.3\ntls_max_version = TLSv1.2\n", 1,
	  "t.conf:6: backend 'in': tls_min_version (TLSv1.3) must not exceed tls_max_version (TLSv1.2)\n" },
	{ "tls_require_reuse",
	  OK_LISTENER "tls_require_reuse = sometimes\n" OK_BACKEND, 1,
	  "t.conf:4: bad value 'sometimes' for tls_require_reuse (yes|no)\n" },
	{ "backend tls_cert without tls_key",
	  OK_LISTENER OK_BACKEND "tls = explicit\ntls_cert = /c.pem\n", 1,
	  "t.conf:7: backend 'in': tls_cert needs tls_key\n" },
	{ "backend tls_key without tls_cert, tls off",
	  OK_LISTENER OK_BACKEND "tls_key = /k.pem\n", 1,
	  "t.conf:6: backend 'in': tls_key needs tls_cert\n" },
	{ "backend tls_cert bad, tls_key set: one error",
	  OK_LISTENER OK_BACKEND "tls_cert =\ntls_key = /k.pem\n", 1,
	  "t.conf:6: tls_cert: empty path\n" },
	{ "tls_server_name not a host name",
	  OK_LISTENER "[backend in]\nservers = 10.0.0.5\ntls_server_name = ftp_1.example.com\n", 1,
	  "t.conf:6: tls_server_name: 'ftp_1.example.com' is not a host name (letters, digits, '-', "
	  "labels of 1-63 separated by '.', at most 253 bytes) or a numeric address\n" },
	{ "tls_server_name forms",
	  OK_LISTENER OK_BACKEND "tls_server_name = ftp.example.com.\n"
	  "[backend b]\nservers = 10.0.0.6\ntls_server_name = a..example\n"
	  "[backend c]\nservers = 10.0.0.6\ntls_server_name = 10.0.0.256\n"
	  "[backend d]\nservers = 10.0.0.6\ntls_server_name = [::1]\n"
	  "[backend e]\nservers = 10.0.0.6\ntls_server_name =\n"
	  "[backend f]\nservers = 10.0.0.6\ntls_server_name = ftp.example.com:21\n", 6,
	  "t.conf:6: tls_server_name: 'ftp.example.com.' is not a host name (letters, digits, '-', "
	  "labels of 1-63 separated by '.', at most 253 bytes) or a numeric address\n"
	  "t.conf:9: tls_server_name: 'a..example' is not a host name (letters, digits, '-', "
	  "labels of 1-63 separated by '.', at most 253 bytes) or a numeric address\n"
	  "t.conf:12: tls_server_name: '10.0.0.256' is not a host name (letters, digits, '-', "
	  "labels of 1-63 separated by '.', at most 253 bytes) or a numeric address\n"
	  "t.conf:15: tls_server_name: '[::1]' is not a host name (letters, digits, '-', "
	  "labels of 1-63 separated by '.', at most 253 bytes) or a numeric address\n"
	  "t.conf:18: tls_server_name: empty (leave the key out to check the server's address)\n"
	  "t.conf:21: tls_server_name: 'ftp.example.com:21' is not a host name (letters, digits, '-', "
	  "labels of 1-63 separated by '.', at most 253 bytes) or a numeric address\n" },
	{ "keys of the other section",
	  OK_LISTENER "tls_server_name = a.example\ntls_verify = yes\n"
	  OK_BACKEND "tls_client_cert = off\ntls_require_reuse = yes\n", 4,
	  "t.conf:4: unknown key 'tls_server_name' in [listener pub]\n"
	  "t.conf:5: unknown key 'tls_verify' in [listener pub]\n"
	  "t.conf:8: unknown key 'tls_client_cert' in [backend in]\n"
	  "t.conf:9: unknown key 'tls_require_reuse' in [backend in]\n" },
	{ "backend bad port",
	  OK_LISTENER "[backend in]\nservers = 10.0.0.5:99999\n", 1,
	  "t.conf:5: servers: bad port (1-65535) in '10.0.0.5:99999'\n" },
	{ "numbers",
	  "[global]\nmax_sessions = 0\nspare_sessions = 1001\nidle_timeout = 86401\n"
	  "connect_timeout = -1\ndata_timeout = 1e3\nshutdown_grace = 99999999999999999999999\n"
	  OK_LISTENER OK_BACKEND, 6,
	  "t.conf:2: max_sessions: want a number from 1 to 1000000\n"
	  "t.conf:3: spare_sessions: want a number from 0 to 1000\n"
	  "t.conf:4: idle_timeout: want a number from 1 to 86400\n"
	  "t.conf:5: connect_timeout: want a number from 1 to 86400\n"
	  "t.conf:6: data_timeout: want a number from 1 to 86400\n"
	  "t.conf:7: shutdown_grace: want a number from 1 to 86400\n" },
	{ "limits and bans",
	  "[global]\nmax_sessions_per_ip = -1\nmax_connections_per_minute = 1000001\n"
	  "ban_after = 1001\nban_window = 0\nban_time = 2592001\n" OK_LISTENER OK_BACKEND, 5,
	  "t.conf:2: max_sessions_per_ip: want a number from 0 to 1000000\n"
	  "t.conf:3: max_connections_per_minute: want a number from 0 to 1000000\n"
	  "t.conf:4: ban_after: want a number from 0 to 1000\n"
	  "t.conf:5: ban_window: want a number from 1 to 86400\n"
	  "t.conf:6: ban_time: want a number from 1 to 2592000\n" },
	{ "status_socket",
	  "[global]\nstatus_socket = run/s.sock\n" OK_LISTENER OK_BACKEND, 1,
	  "t.conf:2: status_socket: want an absolute path\n" },
	{ "status_socket too long",
	  "[global]\nstatus_socket = /" X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 "\n" OK_LISTENER OK_BACKEND, 1,
	  "t.conf:2: status_socket: path too long for a unix socket (max 107 bytes)\n" },
	{ "spare above max",
	  "[global]\nmax_sessions = 4\n" OK_LISTENER OK_BACKEND, 1,
	  "t.conf:2: spare_sessions (8) must not exceed max_sessions (4)\n" },
	{ "bool and facility",
	  "[global]\ndebug = maybe\nsyslog_facility = kern\n" OK_LISTENER OK_BACKEND, 2,
	  "t.conf:2: bad value 'maybe' for debug (yes|no)\n"
	  "t.conf:3: bad value 'kern' for syslog_facility (daemon|authpriv|local0..local7)\n" },
	{ "data_relay",
	  "[global]\ndata_relay = sendfile\n" OK_LISTENER OK_BACKEND, 1,
	  "t.conf:2: bad value 'sendfile' for data_relay (copy|splice)\n" },
	{ "syntax errors, all of them",
	  "[global]\njunk\n" OK_LISTENER "more junk\n[backend in\n" OK_BACKEND, 3,
	  "t.conf:2: syntax error: want KEY = VALUE, [SECTION] or a comment\n"
	  "t.conf:6: syntax error: want KEY = VALUE, [SECTION] or a comment\n"
	  "t.conf:7: syntax error: section header without ']'\n" },
	{ "text after header",
	  OK_LISTENER OK_BACKEND "[global] x\nuser = a\n", 1,
	  "t.conf:6: syntax error: text after section header\n" },
	{ "banner with CR",
	  OK_LISTENER "banner = hello\rworld\n" OK_BACKEND, 1,
	  "t.conf:4: banner: must not contain CR, LF or other control characters\n" },
	{ "untrusted text escaped",
	  OK_LISTENER OK_BACKEND "tls_verify = \x1b[31m'\n", 1,
	  "t.conf:6: bad value '\\x1b[31m\\'' for tls_verify (yes|no)\n" },
	{ "NUL byte",
	  NULL, 1, "t.conf:2: NUL byte in line\n" },
	{ "many errors, CRLF line ends",
	  "[global]\r\nuser = a b\r\n[listener x]\r\nlisten = 1.2.3.4:70000\r\n"
	  "passive_ports = 1-2\r\ntls = yes\r\nbackend = b\r\n[backend b]\r\nservers = ,\r\nnope = 1\r\n", 6,
	  "t.conf:2: user: want an account name (1-63 characters A-Z a-z 0-9 _ . -)\n"
	  "t.conf:4: listen: bad port (1-65535) in '1.2.3.4:70000'\n"
	  "t.conf:5: passive_ports: want LO-HI with 1024 <= LO <= HI <= 65535\n"
	  "t.conf:6: bad value 'yes' for tls (off|explicit|required|implicit)\n"
	  "t.conf:9: servers: empty address in list\n"
	  "t.conf:10: unknown key 'nope' in [backend b]\n" },
};

/* Each bad case: exact count and exact error lines. */
START_TEST(t_bad)
{
	const struct bad_case *c = &bad[_i];
	char *out = NULL;
	int n;

	if (!c->text) {
		/* A NUL byte inside line 2 of an otherwise valid file. */
		static const char text[] = OK_LISTENER OK_BACKEND;
		char buf[sizeof(text) + 8];
		size_t size = 0;
		FILE *errs = open_memstream(&out, &size);
		memcpy(buf, text, sizeof(text));
		buf[20] = '\0'; /* inside "listen = ..." of line 2 */
		n = fg_config_load_string(&cfg, "t.conf", buf, sizeof(text) - 1, errs);
		fclose(errs);
		/* Line 2 became empty, so listen is missing too. */
		ck_assert_str_eq(out, "t.conf:2: NUL byte in line\n"
				      "t.conf:1: listener 'pub': listen is required\n");
		ck_assert_int_eq(n, 2);
		free(out);
		return;
	}
	n = load(c->text, &out);
	ck_assert_msg(strcmp(out, c->want) == 0, "%s: got\n%s\nwant\n%s", c->what, out, c->want);
	ck_assert_msg(n == c->n, "%s: %d errors, want %d", c->what, n, c->n);
	free(out);
}
END_TEST

/* The address and port of a parsed address, as text. */
static const char *ntop(const struct fg_sockaddr *a)
{
	static char buf[FG_ADDRSTRLEN];

	return fg_net_ntop((const struct sockaddr *)&a->ss, true, buf, sizeof(buf));
}

/* A file with every key: every field set as written. */
START_TEST(t_full)
{
	static const char text[] =
		"; full example\n"
		"[global]\n"
		"user = ftpproxy\n"
		"max_sessions = 500\n"
		"spare_sessions = 0\n"
		"connect_timeout = 5\n"
		"idle_timeout = 600 ; ten minutes\n"
		"data_timeout = 120\n"
		"shutdown_grace = 86400\n"
		"pid_file = /run/ftpgate.pid\n"
		"syslog_facility = local3\n"
		"debug = On\n"
		"data_relay = splice\n"
		"# the public side\n"
		"[listener public]\n"
		"listen = 0.0.0.0:21 , [::]:2121\n"
		"backend = back-end.1\n"
		"passive_ports = 1024-65535\n"
		"passive_address = 203.0.113.10\n"
		"tls = required\n"
		"tls_cert = /etc/ftpgate/cert.pem\n"
		"tls_key = /etc/ftpgate/key.pem\n"
		"banner = Hello; \"partners\" #1\n"
		"[listener implicit]\n"
		"listen = [2001:db8::1]:990\n"
		"backend = back-end.1\n"
		"passive_address = 2001:db8::1\n"
		"tls = implicit\n"
		"tls_cert = c.pem\n"
		"tls_key = k.pem\n"
		"tls_ca = /etc/ftpgate/partners-ca.pem\n"
		"tls_client_cert = required\n"
		"tls_ciphers = ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384\n"
		"tls_ciphersuites = TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n"
		"tls_min_version = TLSv1.2\n"
		"tls_max_version = TLSv1.3\n"
		"tls_require_reuse = no\n"
		"[backend back-end.1]\n"
		"servers = 10.0.0.5, 10.0.0.6:2121, [fd00::5]:21\n"
		"tls = explicit\n"
		"tls_verify = off\n"
		"tls_ca = /etc/ssl/internal.pem\n"
		"tls_cert = /etc/ftpgate/client.pem\n"
		"tls_key = /etc/ftpgate/client.key\n"
		"tls_server_name = ftp-1.Internal.example\n"
		"tls_ciphers = ECDHE+AESGCM:!aNULL\n"
		"tls_ciphersuites = TLS_AES_128_GCM_SHA256\n"
		"tls_min_version = TLSv1.3\n"
		"tls_max_version = TLSv1.3\n";
	const struct fg_listener *l;
	const struct fg_backend *b;

	expect_load(text, 0, "");
	ck_assert_str_eq(cfg.path, "t.conf");
	ck_assert_str_eq(cfg.user, "ftpproxy");
	ck_assert_uint_eq(cfg.max_sessions, 500);
	ck_assert_uint_eq(cfg.spare_sessions, 0);
	ck_assert_uint_eq(cfg.connect_timeout, 5);
	ck_assert_uint_eq(cfg.idle_timeout, 600);
	ck_assert_uint_eq(cfg.data_timeout, 120);
	ck_assert_uint_eq(cfg.shutdown_grace, 86400);
	ck_assert_str_eq(cfg.pid_file, "/run/ftpgate.pid");
	ck_assert_int_eq(cfg.syslog_facility, LOG_LOCAL3);
	ck_assert(cfg.debug);
	ck_assert(cfg.relay_splice);

	ck_assert_uint_eq(cfg.n_listeners, 2);
	ck_assert_uint_eq(cfg.n_backends, 1);
	b = &cfg.backends[0];

	l = &cfg.listeners[0];
	ck_assert_str_eq(l->name, "public");
	ck_assert_int_eq(l->line, 15);
	ck_assert_uint_eq(l->n_addrs, 2);
	ck_assert_str_eq(ntop(&l->addrs[0]), "0.0.0.0:21");
	ck_assert_int_eq(l->addrs[0].len, sizeof(struct sockaddr_in));
	ck_assert_str_eq(ntop(&l->addrs[1]), "[::]:2121");
	ck_assert_int_eq(l->addrs[1].len, sizeof(struct sockaddr_in6));
	ck_assert_str_eq(l->backend_name, "back-end.1");
	ck_assert_ptr_eq(l->backend, b);
	ck_assert_uint_eq(l->passive_lo, 1024);
	ck_assert_uint_eq(l->passive_hi, 65535);
	ck_assert(l->has_passive_address);
	ck_assert_str_eq(fg_net_ntop((const struct sockaddr *)&l->passive_address.ss, false,
				     (char[FG_ADDRSTRLEN]){ 0 }, FG_ADDRSTRLEN),
			 "203.0.113.10");
	ck_assert_int_eq(l->tls, FG_TLS_REQUIRED);
	ck_assert_str_eq(l->tls_cert, "/etc/ftpgate/cert.pem");
	ck_assert_str_eq(l->tls_key, "/etc/ftpgate/key.pem");
	ck_assert_str_eq(l->tls_ca, "");
	ck_assert_int_eq(l->tls_client_cert, FG_CERT_OFF);
	ck_assert(l->tls_require_reuse);
	/* ';' without whitespace before it is text, '"' and '#' too. */
	ck_assert_str_eq(l->banner, "Hello; \"partners\" #1");

	l = &cfg.listeners[1];
	ck_assert_str_eq(l->name, "implicit");
	ck_assert_int_eq(l->line, 24);
	ck_assert_uint_eq(l->n_addrs, 1);
	ck_assert_str_eq(ntop(&l->addrs[0]), "[2001:db8::1]:990");
	ck_assert_ptr_eq(l->backend, b);
	ck_assert_uint_eq(l->passive_lo, 50000);
	ck_assert_uint_eq(l->passive_hi, 50999);
	ck_assert(l->has_passive_address);
	ck_assert_int_eq(l->passive_address.ss.ss_family, AF_INET6);
	ck_assert_int_eq(l->tls, FG_TLS_IMPLICIT);
	ck_assert_str_eq(l->tls_cert, "c.pem");
	ck_assert_str_eq(l->tls_key, "k.pem");
	ck_assert_str_eq(l->tls_ca, "/etc/ftpgate/partners-ca.pem");
	ck_assert_int_eq(l->tls_client_cert, FG_CERT_REQUIRED);
	ck_assert_str_eq(l->tls_ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384");
	ck_assert_str_eq(l->tls_ciphersuites, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
	ck_assert_int_eq(l->tls_min_version, FG_TLS_V12);
	ck_assert_int_eq(l->tls_max_version, FG_TLS_V13);
	ck_assert(!l->tls_require_reuse);
	ck_assert_ptr_null(l->tls_ctx);
	ck_assert_str_eq(l->banner, "");

	ck_assert_str_eq(b->name, "back-end.1");
	ck_assert_int_eq(b->line, 38);
	ck_assert_uint_eq(b->n_servers, 3);
	ck_assert_str_eq(ntop(&b->servers[0]), "10.0.0.5:21");
	ck_assert_str_eq(ntop(&b->servers[1]), "10.0.0.6:2121");
	ck_assert_str_eq(ntop(&b->servers[2]), "[fd00::5]:21");
	ck_assert_int_eq(b->tls, FG_TLS_EXPLICIT);
	ck_assert(!b->tls_verify);
	ck_assert_str_eq(b->tls_ca, "/etc/ssl/internal.pem");
	ck_assert_str_eq(b->tls_cert, "/etc/ftpgate/client.pem");
	ck_assert_str_eq(b->tls_key, "/etc/ftpgate/client.key");
	ck_assert_str_eq(b->tls_server_name, "ftp-1.Internal.example");
	ck_assert_str_eq(b->tls_ciphers, "ECDHE+AESGCM:!aNULL");
	ck_assert_str_eq(b->tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
	ck_assert_int_eq(b->tls_min_version, FG_TLS_V13);
	ck_assert_int_eq(b->tls_max_version, FG_TLS_V13);
	ck_assert_ptr_null(b->tls_ctx);
}
END_TEST

/* A minimal file: every default of config.h. */
START_TEST(t_defaults)
{
	char *out = NULL;
	const struct fg_listener *l;
	const struct fg_backend *b;

	/* Loading twice must start from scratch (cfg is fully overwritten). */
	ck_assert_int_eq(load("[global]\ndebug = yes\nuser = other\n" OK_LISTENER OK_BACKEND, &out), 0);
	free(out);
	expect_load(OK_LISTENER OK_BACKEND, 0, "");
	ck_assert_str_eq(cfg.user, "ftpgate");
	ck_assert_uint_eq(cfg.max_sessions, 10000);
	ck_assert_uint_eq(cfg.spare_sessions, 8);
	ck_assert_uint_eq(cfg.connect_timeout, 10);
	ck_assert_uint_eq(cfg.idle_timeout, 900);
	ck_assert_uint_eq(cfg.data_timeout, 300);
	ck_assert_uint_eq(cfg.shutdown_grace, 30);
	ck_assert_str_eq(cfg.pid_file, "");
	ck_assert_int_eq(cfg.syslog_facility, LOG_DAEMON);
	ck_assert(!cfg.debug);
	ck_assert(!cfg.relay_splice);
	ck_assert_uint_eq(cfg.max_sessions_per_ip, 0);
	ck_assert_uint_eq(cfg.max_connections_per_minute, 0);
	ck_assert_uint_eq(cfg.ban_after, 0);
	ck_assert_uint_eq(cfg.ban_window, 600);
	ck_assert_uint_eq(cfg.ban_time, 600);
	ck_assert_str_eq(cfg.status_socket, "/run/ftpgate/status.sock");
	l = &cfg.listeners[0];
	ck_assert_uint_eq(l->passive_lo, 50000);
	ck_assert_uint_eq(l->passive_hi, 50999);
	ck_assert(!l->has_passive_address);
	ck_assert_int_eq(l->tls, FG_TLS_OFF);
	ck_assert_str_eq(l->tls_cert, "");
	ck_assert_str_eq(l->tls_key, "");
	ck_assert_str_eq(l->tls_ca, "");
	ck_assert_int_eq(l->tls_client_cert, FG_CERT_OFF);
	ck_assert_str_eq(l->tls_ciphers, "");
	ck_assert_str_eq(l->tls_ciphersuites, "");
	ck_assert_int_eq(l->tls_min_version, 0);
	ck_assert_int_eq(l->tls_max_version, 0);
	ck_assert(l->tls_require_reuse);
	ck_assert_ptr_null(l->tls_ctx);
	ck_assert_str_eq(l->banner, "");
	b = &cfg.backends[0];
	ck_assert_ptr_eq(l->backend, b);
	ck_assert_int_eq(b->tls, FG_TLS_OFF);
	ck_assert(b->tls_verify);
	ck_assert_str_eq(b->tls_ca, "");
	ck_assert_str_eq(b->tls_cert, "");
	ck_assert_str_eq(b->tls_key, "");
	ck_assert_str_eq(b->tls_server_name, "");
	ck_assert_str_eq(b->tls_ciphers, "");
	ck_assert_str_eq(b->tls_ciphersuites, "");
	ck_assert_int_eq(b->tls_min_version, 0);
	ck_assert_int_eq(b->tls_max_version, 0);
	ck_assert_ptr_null(b->tls_ctx);
	ck_assert_uint_eq(b->n_servers, 1);
}
END_TEST

/* Bool spellings, facilities, a BOM, a long banner, both comment kinds. */
START_TEST(t_values)
{
	static const char *const yes[] = { "yes", "YES", "true", "on", "1" };
	static const char *const no[] = { "no", "False", "off", "0" };
	char text[2048], banner[FG_MAX_BANNER + 1], *out = NULL;
	size_t i;

	for (i = 0; i < N(yes) + N(no); i++) {
		bool want = i < N(yes);
		snprintf(text, sizeof(text), "[global]\ndebug = %s\n" OK_LISTENER OK_BACKEND,
			 want ? yes[i] : no[i - N(yes)]);
		ck_assert_int_eq(load(text, &out), 0);
		ck_assert(cfg.debug == want);
		free(out);
	}
	ck_assert_int_eq(load("\xef\xbb\xbf[global]\nsyslog_facility = authpriv\n"
			      "  # indented comment\n\t; another\n" OK_LISTENER OK_BACKEND, &out), 0);
	ck_assert_int_eq(cfg.syslog_facility, LOG_AUTHPRIV);
	free(out);

	ck_assert_int_eq(load("[global]\nstatus_socket =\nmax_sessions_per_ip = 3\n"
			      "max_connections_per_minute = 60\nban_after = 5\nban_window = 300\n"
			      "ban_time = 2592000\n" OK_LISTENER OK_BACKEND, &out), 0);
	ck_assert_str_eq(cfg.status_socket, "");
	ck_assert_uint_eq(cfg.max_sessions_per_ip, 3);
	ck_assert_uint_eq(cfg.max_connections_per_minute, 60);
	ck_assert_uint_eq(cfg.ban_after, 5);
	ck_assert_uint_eq(cfg.ban_window, 300);
	ck_assert_uint_eq(cfg.ban_time, 2592000);
	free(out);
	ck_assert_int_eq(load("[global]\nstatus_socket = /var/run/x.sock\n" OK_LISTENER OK_BACKEND,
			      &out), 0);
	ck_assert_str_eq(cfg.status_socket, "/var/run/x.sock");
	free(out);

	memset(banner, 'b', sizeof(banner));
	banner[FG_MAX_BANNER - 1] = '\0';
	snprintf(text, sizeof(text), OK_LISTENER "banner = %s\n" OK_BACKEND, banner);
	ck_assert_int_eq(load(text, &out), 0);
	ck_assert_uint_eq(strlen(cfg.listeners[0].banner), FG_MAX_BANNER - 1);
	free(out);
	banner[FG_MAX_BANNER - 1] = 'b';
	banner[FG_MAX_BANNER] = '\0';
	snprintf(text, sizeof(text), OK_LISTENER "banner = %s\n" OK_BACKEND, banner);
	ck_assert_int_eq(load(text, &out), 1);
	ck_assert_str_eq(out, "t.conf:4: banner: too long (max 511 bytes)\n");
	free(out);
}
END_TEST

/* The TLS keys at their limits; one version alone; keys that are unused
 * while tls = off are accepted. */
START_TEST(t_tls)
{
	char text[4096], list[FG_MAX_CIPHERS + 1], name[300], *out = NULL;
	const struct fg_listener *l = &cfg.listeners[0];
	const struct fg_backend *b = &cfg.backends[0];

	/* tls = off everywhere, every key set: accepted, stored. */
	expect_load(OK_LISTENER "tls_cert = /c.pem\ntls_ca = /ca.pem\ntls_client_cert = optional\n"
		    "tls_min_version = TLSv1.3\ntls_require_reuse = off\n"
		    OK_BACKEND "tls_verify = no\ntls_cert = /bc.pem\ntls_key = /bk.pem\n"
		    "tls_server_name = 2001:db8::5\ntls_max_version = TLSv1.2\n", 0, "");
	ck_assert_int_eq(l->tls, FG_TLS_OFF);
	ck_assert_int_eq(l->tls_client_cert, FG_CERT_OPTIONAL);
	ck_assert_int_eq(l->tls_min_version, FG_TLS_V13);
	ck_assert_int_eq(l->tls_max_version, 0);
	ck_assert(!l->tls_require_reuse);
	ck_assert_int_eq(b->tls, FG_TLS_OFF);
	ck_assert_str_eq(b->tls_server_name, "2001:db8::5");
	ck_assert_int_eq(b->tls_min_version, 0);
	ck_assert_int_eq(b->tls_max_version, FG_TLS_V12);

	/* Equal versions; an IPv4 literal as server name. */
	expect_load(OK_LISTENER "tls_min_version = TLSv1.2\ntls_max_version = TLSv1.2\n"
		    OK_BACKEND "tls_server_name = 192.0.2.7\n", 0, "");
	ck_assert_int_eq(l->tls_min_version, FG_TLS_V12);
	ck_assert_int_eq(l->tls_max_version, FG_TLS_V12);
	ck_assert_str_eq(b->tls_server_name, "192.0.2.7");

	/* A cipher list of FG_MAX_CIPHERS - 1 bytes fits, one more does not. */
	memset(list, 'A', sizeof(list));
	list[FG_MAX_CIPHERS - 1] = '\0';
	snprintf(text, sizeof(text), OK_LISTENER "tls_ciphers = %s\n" OK_BACKEND
		 "tls_ciphersuites = %s\n", list, list);
	ck_assert_int_eq(load(text, &out), 0);
	ck_assert_uint_eq(strlen(l->tls_ciphers), FG_MAX_CIPHERS - 1);
	ck_assert_uint_eq(strlen(b->tls_ciphersuites), FG_MAX_CIPHERS - 1);
	free(out);
	list[FG_MAX_CIPHERS - 1] = 'A';
	list[FG_MAX_CIPHERS] = '\0';
	snprintf(text, sizeof(text), OK_LISTENER "tls_ciphersuites = %s\n" OK_BACKEND
		 "tls_ciphers = %s\n", list, list);
	ck_assert_int_eq(load(text, &out), 2);
	ck_assert_str_eq(out, "t.conf:4: tls_ciphersuites: too long (max 1023 bytes)\n"
			      "t.conf:7: tls_ciphers: too long (max 1023 bytes)\n");
	free(out);

	/* Host names: a 63-byte label and 253 bytes in all fit; a 64-byte
	 * label and 254 bytes do not. */
	memset(name, 'a', 63);
	snprintf(name + 63, sizeof(name) - 63, ".example.net");
	snprintf(text, sizeof(text), OK_LISTENER OK_BACKEND "tls_server_name = %s\n", name);
	ck_assert_int_eq(load(text, &out), 0);
	ck_assert_str_eq(b->tls_server_name, name);
	free(out);
	memset(name, 'a', 64);
	snprintf(name + 64, sizeof(name) - 64, ".example.net");
	snprintf(text, sizeof(text), OK_LISTENER OK_BACKEND "tls_server_name = %s\n", name);
	ck_assert_int_eq(load(text, &out), 1);
	free(out);
	/* 4 labels of 63 and 1 of 1: 4 * 64 + 1 = 257 > 253; 3 * 64 + 61 = 253. */
	memset(name, 'b', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	snprintf(text, sizeof(text), OK_LISTENER OK_BACKEND "tls_server_name = %s\n", name);
	ck_assert_int_eq(load(text, &out), 0);
	ck_assert_uint_eq(strlen(b->tls_server_name), 253);
	free(out);
	name[253] = 'b';
	name[254] = '\0';
	snprintf(text, sizeof(text), OK_LISTENER OK_BACKEND "tls_server_name = %s\n", name);
	ck_assert_int_eq(load(text, &out), 1);
	free(out);
}
END_TEST

/* A line over FG_MAX_CONFIG_LINE is an error at its own line; the lines
 * after it keep their numbers. */
START_TEST(t_long_line)
{
	size_t len = FG_MAX_CONFIG_LINE + 100, o;
	char *text = malloc(len + 256);

	ck_assert_ptr_nonnull(text);
	o = (size_t)snprintf(text, 256, OK_LISTENER "banner = ");
	memset(text + o, 'x', FG_MAX_CONFIG_LINE);
	o += FG_MAX_CONFIG_LINE;
	snprintf(text + o, 200, "\n" OK_BACKEND "bogus = 1\n");
	expect_load(text, 2, "t.conf:4: line too long (max 4096 bytes)\n"
			     "t.conf:7: unknown key 'bogus' in [backend in]\n");

	/* Exactly at the cap: a line, not "too long" (the banner is). */
	o = (size_t)snprintf(text, 256, OK_LISTENER "banner = ");
	memset(text + o, 'x', FG_MAX_CONFIG_LINE - 9);
	o += FG_MAX_CONFIG_LINE - 9;
	snprintf(text + o, 200, "\n" OK_BACKEND "bogus = 1\n");
	expect_load(text, 2, "t.conf:4: banner: too long (max 511 bytes)\n"
			     "t.conf:7: unknown key 'bogus' in [backend in]\n");

	/* One byte more, at the end of the file without a newline. */
	o = (size_t)snprintf(text, 256, OK_BACKEND OK_LISTENER "banner = ");
	memset(text + o, 'x', FG_MAX_CONFIG_LINE - 8);
	text[o + FG_MAX_CONFIG_LINE - 8] = '\0';
	expect_load(text, 1, "t.conf:6: line too long (max 4096 bytes)\n");

	/* A long line under the cap is whole (inih reads it in pieces). */
	o = (size_t)snprintf(text, 256, OK_LISTENER "tls_ca = /");
	memset(text + o, 'p', 1000);
	o += 1000;
	snprintf(text + o, 200, "\n" OK_BACKEND "bogus = 1\n");
	expect_load(text, 1, "t.conf:7: unknown key 'bogus' in [backend in]\n");
	ck_assert_uint_eq(strlen(cfg.listeners[0].tls_ca), 1001);
	ck_assert_int_eq(cfg.listeners[0].tls_ca[1000], 'p');
	free(text);
}
END_TEST

/* fg_config_load(): a file, and a file that cannot be opened. */
START_TEST(t_file)
{
	char path[] = "/tmp/check_config_XXXXXX", *out = NULL;
	size_t size = 0;
	FILE *errs, *f;
	int fd = mkstemp(path), n;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(OK_LISTENER OK_BACKEND "\n[global]\nuser = -x\n", f);
	fclose(f);

	errs = open_memstream(&out, &size);
	n = fg_config_load(&cfg, path, errs);
	fclose(errs);
	ck_assert_int_eq(n, 1);
	{
		char want[256];
		snprintf(want, sizeof(want), "%s:8: user: want an account name (1-63 characters A-Z a-z 0-9 _ . -)\n", path);
		ck_assert_str_eq(out, want);
	}
	ck_assert_str_eq(cfg.path, path);
	free(out);
	unlink(path);

	errs = open_memstream(&out, &size);
	n = fg_config_load(&cfg, "/nonexistent/ftpgate.conf", errs);
	fclose(errs);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(out, "/nonexistent/ftpgate.conf:0: cannot open: No such file or directory\n");
	free(out);

	/* errs may be NULL: errors are only counted. */
	ck_assert_int_eq(fg_config_load_string(&cfg, "x", "junk\n", 5, NULL), 2);
}
END_TEST

/* Load the shipped example etc/NAME (below $top_srcdir) into cfg and
 * check that it has no error. */
static void load_example(const char *name)
{
	const char *top = getenv("top_srcdir");
	char path[1024], *out = NULL;
	size_t size = 0;
	FILE *errs = open_memstream(&out, &size);
	int n;

	ck_assert_ptr_nonnull(errs);
	snprintf(path, sizeof(path), "%s/etc/%s", top ? top : ".", name);
	n = fg_config_load(&cfg, path, errs);
	fclose(errs);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(n, 0);
	free(out);
}

/* The shipped example file is accepted. */
START_TEST(t_example)
{
	load_example("ftpgate.conf");
	ck_assert_uint_eq(cfg.n_listeners, 1);
	ck_assert_uint_eq(cfg.listeners[0].n_addrs, 2);
	ck_assert_ptr_eq(cfg.listeners[0].backend, &cfg.backends[0]);
}
END_TEST

/* The shipped FTPS example is accepted (the loader does not read the
 * certificate files it names; ftpgate -t does, so it is not run on it). */
START_TEST(t_example_ftps)
{
	load_example("ftpgate-ftps.conf");
	ck_assert_uint_eq(cfg.n_listeners, 2);
	ck_assert_int_eq(cfg.listeners[0].tls, FG_TLS_IMPLICIT);
	ck_assert_int_eq(cfg.listeners[1].tls, FG_TLS_REQUIRED);
	ck_assert(cfg.listeners[0].tls_require_reuse);
	ck_assert_int_eq(cfg.backends[0].tls, FG_TLS_EXPLICIT);
	ck_assert(cfg.backends[0].tls_verify);
	ck_assert_str_eq(cfg.backends[0].tls_server_name, "ftp.internal.example");
	ck_assert_str_ne(cfg.backends[0].tls_ca, "");
}
END_TEST

/* fg_config_no_resolve: names fail, numeric addresses still work. */
START_TEST(t_no_resolve)
{
	char *out = NULL;
	int n;

	fg_config_no_resolve = true;
	n = load(OK_LISTENER "[backend in]\nservers = localhost:21, 10.0.0.1\n", &out);
	fg_config_no_resolve = false;
	ck_assert_str_eq(out, "t.conf:5: servers: not a numeric IPv4 or IPv6 address in 'localhost:21'\n");
	ck_assert_int_eq(n, 1);
	free(out);

	/* Resolving on: localhost comes from /etc/hosts (no DNS in tests),
	 * as 127.0.0.1 or ::1, with the default port. */
	expect_load(OK_LISTENER "[backend in]\nservers = localhost\n", 0, "");
	ck_assert(strcmp(ntop(&cfg.backends[0].servers[0]), "127.0.0.1:21") == 0 ||
		  strcmp(ntop(&cfg.backends[0].servers[0]), "[::1]:21") == 0);
}
END_TEST

/* The suite. */
static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("errors");

	tcase_add_loop_test(tc, t_bad, 0, N(bad));
	suite_add_tcase(s, tc);
	tc = tcase_create("values");
	tcase_add_test(tc, t_full);
	tcase_add_test(tc, t_defaults);
	tcase_add_test(tc, t_values);
	tcase_add_test(tc, t_tls);
	tcase_add_test(tc, t_long_line);
	tcase_add_test(tc, t_file);
	tcase_add_test(tc, t_example);
	tcase_add_test(tc, t_example_ftps);
	tcase_add_test(tc, t_no_resolve);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; exit status 0 when every test passed. */
int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
