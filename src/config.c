/* config.c - INI file -> validated struct fg_config, "FILE:LINE: message"
 * errors (see config.h and man/ftpgate.conf.5).
 *
 * inih does the key = value syntax.  Debian's libinih does not pass line
 * numbers to the handler, so we feed it through our own reader: the reader
 * hands inih one physical line at a time and counts lines, and inih calls
 * the handler right after it has read a line, so the reader's counter is
 * the line of the key.  The reader also sees every raw line; that is where
 * section headers are recognised (inih truncates section names at 49
 * characters and says nothing about duplicates) and where syntax errors are
 * found, so that every one of them is reported, not only the first.
 *
 * The whole file is read into memory first (capped at FG_MAX_CONFIG_BYTES),
 * so files and strings (tests, fuzzer) take exactly the same path. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/un.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include "net.h"
#include "banned.h"

bool fg_config_no_resolve = false;

/* Keys per section kind: the size of the key_line arrays of struct parse
 * (checked against the key tables below at compile time). */
#define MAX_KEYS 32

enum sec_kind {
	SEC_NONE,     /* before the first header */
	SEC_IGNORE,   /* bad or duplicate header, already reported: skip keys */
	SEC_GLOBAL,
	SEC_LISTENER,
	SEC_BACKEND,
};

struct parse {
	struct fg_config *cfg;
	const char *name;            /* file name for messages */
	FILE *errs;
	int n_errors;

	/* reader state */
	const char *p, *end;         /* unread input */
	int lineno;                  /* line last read */
	char line[FG_MAX_CONFIG_LINE + 2]; /* current line + '\n' + NUL */
	char scratch[FG_MAX_CONFIG_LINE + 1]; /* copy for classify_line() */
	size_t line_len, line_off;   /* bytes of line[], bytes handed out */
	int first_syntax_line;       /* first syntax error we reported, or 0 */

	/* current section */
	enum sec_kind kind;
	unsigned idx;                /* listener / backend index */
	int global_line;             /* line of [global], 0 if none */

	/* line where each key was set (0: not set), per section instance */
	int global_keys[MAX_KEYS];
	int listener_keys[FG_MAX_LISTENERS][MAX_KEYS];
	int backend_keys[FG_MAX_BACKENDS][MAX_KEYS];
};

/* Report one error at line (0: no line): "NAME:LINE: message\n".  The
 * format is always a literal of ours; untrusted text goes through esc(). */
__attribute__((format(printf, 3, 4)))
static void err(struct parse *ps, int line, const char *fmt, ...)
{
	va_list ap;

	ps->n_errors++;
	if (!ps->errs)
		return;
	fprintf(ps->errs, "%s:%d: ", ps->name, line);
	va_start(ap, fmt);
	vfprintf(ps->errs, fmt, ap);
	va_end(ap);
	fputc('\n', ps->errs);
}

/* Copy untrusted text s into out (size outlen >= 8) for an error message:
 * bytes outside 0x20..0x7e become \xNN, '\'' and '\\' are escaped, and a
 * long text is cut with "...".  Returns out. */
static const char *esc(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char tmp[5];
		size_t n;

		if (c < 0x20 || c > 0x7e) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			n = 4;
		} else if (c == '\'' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			n = 2;
		} else {
			tmp[0] = (char)c;
			n = 1;
		}
		if (o + n + 4 > outlen) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

/* inih's whitespace (isspace in the C locale). */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Like inih's find_chars_or_comment(): the first byte of s that is in chars
 * (NULL: none) or that starts an inline comment (';' after whitespace), or
 * the terminating NUL. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
		was_space = is_space(*s);
		s++;
	}
	return s;
}

/* A name of 1..FG_MAX_NAME-1 characters of [A-Za-z0-9_.-]. */
static bool valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= FG_MAX_NAME)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Defaults of a new [listener]. */
static void listener_defaults(struct fg_listener *l)
{
	memset(l, 0, sizeof(*l));
	l->passive_lo = 50000;
	l->passive_hi = 50999;
	l->tls = FG_TLS_OFF;
	l->tls_client_cert = FG_CERT_OFF;
	l->tls_min_version = 0;          /* TLS 1.2 */
	l->tls_max_version = 0;          /* the highest */
	l->tls_require_reuse = true;
	l->tls_ctx = NULL;               /* built by the master, not here */
}

/* Defaults of a new [backend]. */
static void backend_defaults(struct fg_backend *b)
{
	memset(b, 0, sizeof(*b));
	b->tls = FG_TLS_OFF;
	b->tls_verify = true;
	b->tls_min_version = 0;
	b->tls_max_version = 0;
	b->tls_ctx = NULL;
}

/* A section header "[...]" at the current line; hdr is the text between
 * the brackets (NUL-terminated, as written).  Creates the listener or
 * backend and makes it current, or reports why not. */
static void section_header(struct parse *ps, const char *hdr)
{
	struct fg_config *cfg = ps->cfg;
	const char *sp, *name;
	size_t tlen, i;
	bool listener;
	char e1[96];

	ps->kind = SEC_IGNORE;
	if (strcmp(hdr, "global") == 0) {
		if (ps->global_line) {
			err(ps, ps->lineno, "duplicate section [global] (first at line %d)",
			    ps->global_line);
			return;
		}
		ps->global_line = ps->lineno;
		ps->kind = SEC_GLOBAL;
		return;
	}
	sp = hdr;
	while (*sp && !is_space(*sp))
		sp++;
	tlen = (size_t)(sp - hdr);
	if (tlen == 8 && memcmp(hdr, "listener", 8) == 0)
		listener = true;
	else if (tlen == 7 && memcmp(hdr, "backend", 7) == 0)
		listener = false;
	else {
		err(ps, ps->lineno, "unknown section [%s] (want [global], [listener NAME] or [backend NAME])",
		    esc(e1, sizeof(e1), hdr));
		return;
	}
	name = sp;
	while (*name == ' ' || *name == '\t')
		name++;
	if (name == sp || !valid_name(name, strlen(name))) {
		err(ps, ps->lineno, "bad section name [%s] (want [%s NAME], NAME of 1-%d characters A-Z a-z 0-9 _ . -)",
		    esc(e1, sizeof(e1), hdr), listener ? "listener" : "backend", FG_MAX_NAME - 1);
		return;
	}
	if (listener) {
		for (i = 0; i < cfg->n_listeners; i++) {
			if (strcmp(cfg->listeners[i].name, name) == 0) {
				err(ps, ps->lineno, "duplicate section [listener %s] (first at line %d)",
				    name, cfg->listeners[i].line);
				return;
			}
		}
		if (cfg->n_listeners >= FG_MAX_LISTENERS) {
			err(ps, ps->lineno, "too many [listener] sections (max %d)", FG_MAX_LISTENERS);
			return;
		}
		ps->idx = cfg->n_listeners++;
		listener_defaults(&cfg->listeners[ps->idx]);
		snprintf(cfg->listeners[ps->idx].name, FG_MAX_NAME, "%s", name);
		cfg->listeners[ps->idx].line = ps->lineno;
		ps->kind = SEC_LISTENER;
	} else {
		for (i = 0; i < cfg->n_backends; i++) {
			if (strcmp(cfg->backends[i].name, name) == 0) {
				err(ps, ps->lineno, "duplicate section [backend %s] (first at line %d)",
				    name, cfg->backends[i].line);
				return;
			}
		}
		if (cfg->n_backends >= FG_MAX_BACKENDS) {
			err(ps, ps->lineno, "too many [backend] sections (max %d)", FG_MAX_BACKENDS);
			return;
		}
		ps->idx = cfg->n_backends++;
		backend_defaults(&cfg->backends[ps->idx]);
		snprintf(cfg->backends[ps->idx].name, FG_MAX_NAME, "%s", name);
		cfg->backends[ps->idx].line = ps->lineno;
		ps->kind = SEC_BACKEND;
	}
}

/* Look at a raw line (NUL-terminated, without its newline) the way inih
 * will: track section headers and report syntax errors.  Key lines are
 * left to the handler. */
static void classify_line(struct parse *ps, char *s)
{
	const char *end;
	size_t n;

	if (ps->lineno == 1 && (unsigned char)s[0] == 0xEF &&
	    (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
		s += 3;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	while (is_space(*s))
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		return;
	if (*s == '[') {
		end = find_chars_or_comment(s + 1, "]");
		if (*end != ']') {
			err(ps, ps->lineno, "syntax error: section header without ']'");
			if (!ps->first_syntax_line)
				ps->first_syntax_line = ps->lineno;
			ps->kind = SEC_IGNORE;
			return;
		}
		/* Only whitespace or a comment may follow the header. */
		for (const char *t = end + 1; *t && *t != ';' && *t != '#'; t++) {
			if (!is_space(*t)) {
				err(ps, ps->lineno, "syntax error: text after section header");
				ps->kind = SEC_IGNORE;
				return;
			}
		}
		s[end - s] = '\0';
		section_header(ps, s + 1);
		return;
	}
	end = find_chars_or_comment(s, "=:");
	if (*end != '=' && *end != ':') {
		err(ps, ps->lineno, "syntax error: want KEY = VALUE, [SECTION] or a comment");
		if (!ps->first_syntax_line)
			ps->first_syntax_line = ps->lineno;
	}
}

/* Fetch the next physical line of the input into ps->line (with a '\n'
 * always appended) and classify it.  Returns false at the end of input. */
static bool next_line(struct parse *ps)
{
	const char *nl;
	size_t len;

	if (ps->p >= ps->end)
		return false;
	nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
	len = nl ? (size_t)(nl - ps->p) : (size_t)(ps->end - ps->p);
	ps->lineno++;
	if (len > FG_MAX_CONFIG_LINE) {
		err(ps, ps->lineno, "line too long (max %d bytes)", FG_MAX_CONFIG_LINE);
		len = 0;
	} else if (memchr(ps->p, '\0', len)) {
		err(ps, ps->lineno, "NUL byte in line");
		len = 0;
	} else {
		memcpy(ps->line, ps->p, len);
	}
	ps->p = nl ? nl + 1 : ps->end;
	/* classify_line() cuts its copy; inih gets the line unchanged (an
	 * unusable line becomes an empty one). */
	memcpy(ps->scratch, ps->line, len);
	ps->scratch[len] = '\0';
	classify_line(ps, ps->scratch);
	ps->line[len] = '\n';
	ps->line[len + 1] = '\0';
	ps->line_len = len + 1;
	ps->line_off = 0;
	return true;
}

/* The ini_reader: fgets() semantics over our lines.  A line longer than
 * num-1 is handed out in pieces; inih (ini_allow_realloc) asks for the rest
 * until it sees the '\n', so one physical line is one inih line. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	size_t n;

	if (num < 2)
		return NULL;
	if (ps->line_off >= ps->line_len && !next_line(ps))
		return NULL;
	n = ps->line_len - ps->line_off;
	if (n > (size_t)num - 1)
		n = (size_t)num - 1;
	memcpy(str, ps->line + ps->line_off, n);
	str[n] = '\0';
	ps->line_off += n;
	return str;
}

/* ---- value parsers: 0 on success, -1 (nothing reported) otherwise ---- */

/* A decimal number lo..hi, digits only. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (hi - (unsigned long)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* yes/no/true/false/on/off/1/0, any case. */
static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* ---- key setters: report their own errors ---------------------------- */

struct key {
	const char *name;
	void (*set)(struct parse *ps, const char *key, const char *v);
};

/* Keys that may be set several times in one section: each line adds one
 * rule to a list (inih hands every line to the handler). */
static bool repeatable(const char *key)
{
	return strcmp(key, "deny_arguments") == 0;
}

/* A number key of [global]; which field follows from the key name. */
static void set_number(struct parse *ps, const char *key, const char *v)
{
	struct fg_config *cfg = ps->cfg;
	unsigned long lo = 1, hi = 86400, n;
	unsigned *field;

	if (strcmp(key, "max_sessions") == 0) {
		field = &cfg->max_sessions;
		hi = 1000000;
	} else if (strcmp(key, "spare_sessions") == 0) {
		field = &cfg->spare_sessions;
		lo = 0;
		hi = 1000;
	} else if (strcmp(key, "connect_timeout") == 0) {
		field = &cfg->connect_timeout;
	} else if (strcmp(key, "idle_timeout") == 0) {
		field = &cfg->idle_timeout;
	} else if (strcmp(key, "data_timeout") == 0) {
		field = &cfg->data_timeout;
	} else {
		field = &cfg->shutdown_grace;
	}
	if (parse_uint(v, lo, hi, &n) < 0) {
		err(ps, ps->lineno, "%s: want a number from %lu to %lu", key, lo, hi);
		return;
	}
	*field = (unsigned)n;
}

/* A file name: non-empty, shorter than FG_MAX_PATH, no control bytes. */
static void set_path(struct parse *ps, const char *key, const char *v, char *out)
{
	const char *s;

	if (!*v) {
		err(ps, ps->lineno, "%s: empty path", key);
		return;
	}
	if (strlen(v) >= FG_MAX_PATH) {
		err(ps, ps->lineno, "%s: path too long (max %d bytes)", key, FG_MAX_PATH - 1);
		return;
	}
	for (s = v; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			err(ps, ps->lineno, "%s: control character in path", key);
			return;
		}
	}
	snprintf(out, FG_MAX_PATH, "%s", v);
}

/* [global] user: a POSIX-style account name. */
static void set_user(struct parse *ps, const char *key, const char *v)
{
	if (!valid_name(v, strlen(v)) || v[0] == '-') {
		err(ps, ps->lineno, "user: want an account name (1-%d characters A-Z a-z 0-9 _ . -)",
		    FG_MAX_NAME - 1);
		return;
	}
	snprintf(ps->cfg->user, sizeof(ps->cfg->user), "%s", v);
}

/* [global] pid_file: empty means no pid file. */
static void set_pid_file(struct parse *ps, const char *key, const char *v)
{
	if (!*v) {
		ps->cfg->pid_file[0] = '\0';
		return;
	}
	set_path(ps, key, v, ps->cfg->pid_file);
}

/* [global] syslog_facility. */
static void set_facility(struct parse *ps, const char *key, const char *v)
{
	static const struct { const char *name; int fac; } tab[] = {
		{ "daemon", LOG_DAEMON }, { "authpriv", LOG_AUTHPRIV },
		{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
		{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
		{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	char e1[96];
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strcmp(v, tab[i].name) == 0) {
			ps->cfg->syslog_facility = tab[i].fac;
			return;
		}
	}
	err(ps, ps->lineno, "bad value '%s' for syslog_facility (daemon|authpriv|local0..local7)",
	    esc(e1, sizeof(e1), v));
}

/* [global] data_relay: how plain data moves between the two data legs. */
static void set_relay(struct parse *ps, const char *key, const char *v)
{
	char e1[96];

	if (strcmp(v, "copy") == 0)
		ps->cfg->relay_splice = false;
	else if (strcmp(v, "splice") == 0)
		ps->cfg->relay_splice = true;
	else
		err(ps, ps->lineno, "bad value '%s' for %s (copy|splice)", esc(e1, sizeof(e1), v), key);
}

/* A yes/no key: [global] debug, [listener] tls_require_reuse, [backend]
 * tls_verify (each name belongs to one section). */
static void set_bool(struct parse *ps, const char *key, const char *v)
{
	bool *field;
	char e1[96];

	if (strcmp(key, "tls_verify") == 0)
		field = &ps->cfg->backends[ps->idx].tls_verify;
	else if (strcmp(key, "tls_require_reuse") == 0)
		field = &ps->cfg->listeners[ps->idx].tls_require_reuse;
	else
		field = &ps->cfg->debug;

	if (parse_bool(v, field) < 0)
		err(ps, ps->lineno, "bad value '%s' for %s (yes|no)", esc(e1, sizeof(e1), v), key);
}

/* A comma-separated address list into addrs[] and *n.  Numeric ADDR:PORT only
 * (listen) or HOST[:PORT] resolved at load time (servers). */
static void set_addr_list(struct parse *ps, const char *key, const char *v,
			  struct fg_sockaddr *addrs, unsigned *n, bool servers)
{
	char item[300], e1[96];
	const char *p = v, *comma, *msg;
	unsigned count = 0;
	size_t len;

	*n = 0;
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && is_space(*p)) {
			p++;
			len--;
		}
		while (len > 0 && is_space(p[len - 1]))
			len--;
		if (len == 0) {
			err(ps, ps->lineno, "%s: empty address in list", key);
			return;
		}
		if (len >= sizeof(item)) {
			err(ps, ps->lineno, "%s: address too long", key);
			return;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (count >= FG_MAX_ADDRS) {
			err(ps, ps->lineno, "%s: too many addresses (max %d)", key, FG_MAX_ADDRS);
			return;
		}
		msg = NULL;
		if (fg_net_parse_hostport(item, servers && !fg_config_no_resolve,
					  servers ? 21 : 0, &addrs[count], &msg) < 0) {
			err(ps, ps->lineno, "%s: %s in '%s'", key, msg ? msg : "bad address",
			    esc(e1, sizeof(e1), item));
			return;
		}
		count++;
		if (!comma)
			break;
		p = comma + 1;
	}
	*n = count;
}

/* True when a and b are the same address and port. */
static bool same_sockaddr(const struct fg_sockaddr *a, const struct fg_sockaddr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* [listener] listen; an address may be listened on only once. */
static void set_listen(struct parse *ps, const char *key, const char *v)
{
	struct fg_config *cfg = ps->cfg;
	struct fg_listener *l = &cfg->listeners[ps->idx];
	char a[FG_ADDRSTRLEN];
	unsigned i, j, k;

	set_addr_list(ps, key, v, l->addrs, &l->n_addrs, false);
	for (i = 0; i < l->n_addrs; i++) {
		for (j = 0; j <= ps->idx; j++) {
			const struct fg_listener *o = &cfg->listeners[j];
			unsigned lim = j == ps->idx ? i : o->n_addrs;
			for (k = 0; k < lim; k++) {
				if (!same_sockaddr(&l->addrs[i], &o->addrs[k]))
					continue;
				fg_net_ntop((const struct sockaddr *)&l->addrs[i].ss, true, a, sizeof(a));
				if (j == ps->idx)
					err(ps, ps->lineno, "listen: %s is listed twice", a);
				else
					err(ps, ps->lineno, "listen: %s is already used by [listener %s]",
					    a, o->name);
				return;
			}
		}
	}
}

/* [listener] backend: the name of a [backend] (checked after parsing). */
static void set_backend_name(struct parse *ps, const char *key, const char *v)
{
	struct fg_listener *l = &ps->cfg->listeners[ps->idx];

	if (!valid_name(v, strlen(v))) {
		err(ps, ps->lineno, "backend: want a backend name (1-%d characters A-Z a-z 0-9 _ . -)",
		    FG_MAX_NAME - 1);
		return;
	}
	snprintf(l->backend_name, sizeof(l->backend_name), "%s", v);
}

/* [listener] passive_ports = LO-HI. */
static void set_passive_ports(struct parse *ps, const char *key, const char *v)
{
	struct fg_listener *l = &ps->cfg->listeners[ps->idx];
	const char *dash = strchr(v, '-');
	unsigned long lo, hi;
	char buf[8];
	size_t n;

	if (!dash || (size_t)(dash - v) >= sizeof(buf))
		goto bad;
	n = (size_t)(dash - v);
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (parse_uint(buf, 1024, 65535, &lo) < 0 || parse_uint(dash + 1, 1024, 65535, &hi) < 0 ||
	    lo > hi)
		goto bad;
	l->passive_lo = (uint16_t)lo;
	l->passive_hi = (uint16_t)hi;
	return;
bad:
	err(ps, ps->lineno, "passive_ports: want LO-HI with 1024 <= LO <= HI <= 65535");
}

/* [listener] passive_address: a numeric, specified address without port. */
static void set_passive_address(struct parse *ps, const char *key, const char *v)
{
	struct fg_listener *l = &ps->cfg->listeners[ps->idx];
	struct fg_sockaddr a;
	char e1[96];

	if (fg_net_parse_host(v, &a) < 0) {
		err(ps, ps->lineno, "passive_address: '%s' is not a numeric IPv4 or IPv6 address",
		    esc(e1, sizeof(e1), v));
		return;
	}
	fg_net_unmap(&a);
	if ((a.ss.ss_family == AF_INET &&
	     ((struct sockaddr_in *)&a.ss)->sin_addr.s_addr == 0) ||
	    (a.ss.ss_family == AF_INET6 &&
	     IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a.ss)->sin6_addr))) {
		err(ps, ps->lineno, "passive_address: the unspecified address cannot be sent to clients");
		return;
	}
	l->passive_address = a;
	l->has_passive_address = true;
}

/* tls = ... of a listener (all four modes) or a backend (no `required`). */
static void set_tls(struct parse *ps, const char *key, const char *v)
{
	bool backend = ps->kind == SEC_BACKEND;
	enum fg_tls_mode m;
	char e1[96];

	if (strcmp(v, "off") == 0)
		m = FG_TLS_OFF;
	else if (strcmp(v, "explicit") == 0)
		m = FG_TLS_EXPLICIT;
	else if (strcmp(v, "implicit") == 0)
		m = FG_TLS_IMPLICIT;
	else if (strcmp(v, "required") == 0 && !backend)
		m = FG_TLS_REQUIRED;
	else {
		err(ps, ps->lineno, "bad value '%s' for tls (%s)", esc(e1, sizeof(e1), v),
		    backend ? "off|explicit|implicit" : "off|explicit|required|implicit");
		return;
	}
	if (backend)
		ps->cfg->backends[ps->idx].tls = m;
	else
		ps->cfg->listeners[ps->idx].tls = m;
}

/* ---- the other tls_* keys --------------------------------------------- *
 * [listener] and [backend] share most of them (a listener is the TLS
 * server toward clients, a backend the TLS client toward servers).  Only
 * the form of a value is checked here: the master reads the files and
 * hands the lists to OpenSSL when it builds the contexts (tls/), at start,
 * on SIGHUP and with -t. */

/* The TLS fields that [listener] and [backend] both have, of the current
 * section. */
struct tls_fields {
	char *cert, *key, *ca;          /* FG_MAX_PATH each */
	char *ciphers, *ciphersuites;   /* FG_MAX_CIPHERS each */
	int *min_version, *max_version;
};

/* The shared TLS fields of the current [listener] or [backend]. */
static struct tls_fields tls_fields(struct parse *ps)
{
	struct fg_listener *l;
	struct fg_backend *b;

	if (ps->kind == SEC_BACKEND) {
		b = &ps->cfg->backends[ps->idx];
		return (struct tls_fields){ b->tls_cert, b->tls_key, b->tls_ca, b->tls_ciphers,
					    b->tls_ciphersuites, &b->tls_min_version,
					    &b->tls_max_version };
	}
	l = &ps->cfg->listeners[ps->idx];
	return (struct tls_fields){ l->tls_cert, l->tls_key, l->tls_ca, l->tls_ciphers,
				    l->tls_ciphersuites, &l->tls_min_version,
				    &l->tls_max_version };
}

/* tls_cert, tls_key, tls_ca: PEM files. */
static void set_tls_path(struct parse *ps, const char *key, const char *v)
{
	struct tls_fields f = tls_fields(ps);

	if (strcmp(key, "tls_cert") == 0)
		set_path(ps, key, v, f.cert);
	else if (strcmp(key, "tls_key") == 0)
		set_path(ps, key, v, f.key);
	else
		set_path(ps, key, v, f.ca);
}

/* tls_ciphers (OpenSSL cipher list, TLS <= 1.2) and tls_ciphersuites
 * (TLS 1.3): non-empty printable ASCII without blanks.  Whether OpenSSL
 * knows the names is found out when the context is built. */
static void set_tls_ciphers(struct parse *ps, const char *key, const char *v)
{
	struct tls_fields f = tls_fields(ps);
	char *out = strcmp(key, "tls_ciphers") == 0 ? f.ciphers : f.ciphersuites;
	const char *s;

	if (!*v) {
		err(ps, ps->lineno, "%s: empty list (leave the key out for the default)", key);
		return;
	}
	if (strlen(v) >= FG_MAX_CIPHERS) {
		err(ps, ps->lineno, "%s: too long (max %d bytes)", key, FG_MAX_CIPHERS - 1);
		return;
	}
	for (s = v; *s; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) {
			err(ps, ps->lineno, "%s: want printable ASCII without blanks (separate names with ':')",
			    key);
			return;
		}
	}
	snprintf(out, FG_MAX_CIPHERS, "%s", v);
}

/* Name of a protocol version as OpenSSL's MinProtocol writes it. */
static const char *tls_version_name(int v)
{
	return v == FG_TLS_V13 ? "TLSv1.3" : "TLSv1.2";
}

/* tls_min_version, tls_max_version = TLSv1.2 | TLSv1.3 (case-sensitive,
 * as OpenSSL's MinProtocol).  Older versions are named in the error so
 * that a config copied from elsewhere gets a clear answer. */
static void set_tls_version(struct parse *ps, const char *key, const char *v)
{
	static const char *const old[] = { "SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1" };
	struct tls_fields f = tls_fields(ps);
	int *field = strcmp(key, "tls_min_version") == 0 ? f.min_version : f.max_version;
	char e1[96];
	size_t i;

	if (strcmp(v, tls_version_name(FG_TLS_V12)) == 0) {
		*field = FG_TLS_V12;
		return;
	}
	if (strcmp(v, tls_version_name(FG_TLS_V13)) == 0) {
		*field = FG_TLS_V13;
		return;
	}
	for (i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		if (strcmp(v, old[i]) == 0) {
			err(ps, ps->lineno, "bad value '%s' for %s (TLS 1.2 is the minimum)", old[i],
			    key);
			return;
		}
	}
	err(ps, ps->lineno, "bad value '%s' for %s (TLSv1.2|TLSv1.3)", esc(e1, sizeof(e1), v), key);
}

/* [listener] tls_client_cert = off | optional | required (tls_ca is
 * checked in check_whole()). */
static void set_tls_client_cert(struct parse *ps, const char *key, const char *v)
{
	static const char *const names[] = { "off", "optional", "required" };
	static const enum fg_cert_mode modes[] = { FG_CERT_OFF, FG_CERT_OPTIONAL, FG_CERT_REQUIRED };
	char e1[96];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i]) == 0) {
			ps->cfg->listeners[ps->idx].tls_client_cert = modes[i];
			return;
		}
	}
	err(ps, ps->lineno, "bad value '%s' for %s (off|optional|required)", esc(e1, sizeof(e1), v),
	    key);
}

/* True when s (len bytes) is a DNS host name: labels of 1-63 letters,
 * digits and '-' separated by single dots, 253 bytes at most, no trailing
 * dot.  The last label must not be all digits, so that a mistyped IPv4
 * address (10.0.0.256) is not taken for a name. */
static bool valid_host_name(const char *s, size_t len)
{
	size_t i, label = 0;
	bool digits = true;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			digits = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (++label > 63)
			return false;
		if (c < '0' || c > '9')
			digits = false;
	}
	return label > 0 && !digits;
}

/* [backend] tls_server_name: a DNS host name (also sent as SNI) or a
 * numeric IPv4/IPv6 address (without brackets), kept as written. */
static void set_tls_server_name(struct parse *ps, const char *key, const char *v)
{
	struct fg_backend *b = &ps->cfg->backends[ps->idx];
	struct fg_sockaddr a;
	char e1[96];

	if (!*v) {
		err(ps, ps->lineno, "%s: empty (leave the key out to check the server's address)", key);
		return;
	}
	if (fg_net_parse_host(v, &a) < 0 && !valid_host_name(v, strlen(v))) {
		err(ps, ps->lineno, "%s: '%s' is not a host name (letters, digits, '-', labels of 1-63 "
		    "separated by '.', at most 253 bytes) or a numeric address", key,
		    esc(e1, sizeof(e1), v));
		return;
	}
	snprintf(b->tls_server_name, sizeof(b->tls_server_name), "%s", v);
}

/* [listener] banner: one line of printable text (empty: the backend's). */
static void set_banner(struct parse *ps, const char *key, const char *v)
{
	struct fg_listener *l = &ps->cfg->listeners[ps->idx];
	const char *s;

	if (strlen(v) >= FG_MAX_BANNER) {
		err(ps, ps->lineno, "banner: too long (max %d bytes)", FG_MAX_BANNER - 1);
		return;
	}
	for (s = v; *s; s++) {
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f) {
			err(ps, ps->lineno, "banner: must not contain CR, LF or other control characters");
			return;
		}
	}
	snprintf(l->banner, sizeof(l->banner), "%s", v);
}

/* [backend] servers. */
static void set_servers(struct parse *ps, const char *key, const char *v)
{
	struct fg_backend *b = &ps->cfg->backends[ps->idx];

	set_addr_list(ps, key, v, b->servers, &b->n_servers, true);
}

/* [global] / [listener] login_timeout and max_login_attempts: 0 turns
 * the limit off.  A listener's value overrides the global one. */
static void set_login_limit(struct parse *ps, const char *key, const char *v)
{
	bool timeout = strcmp(key, "login_timeout") == 0;
	unsigned long hi = timeout ? 86400 : 1000, n;
	unsigned *field;

	if (ps->kind == SEC_LISTENER)
		field = timeout ? &ps->cfg->listeners[ps->idx].login_timeout
				: &ps->cfg->listeners[ps->idx].max_login_attempts;
	else
		field = timeout ? &ps->cfg->login_timeout : &ps->cfg->max_login_attempts;
	if (parse_uint(v, 0, hi, &n) < 0) {
		err(ps, ps->lineno, "%s: want a number from 0 (no limit) to %lu", key, hi);
		return;
	}
	*field = (unsigned)n;
}

/* [global] xferlog: empty means no transfer log.  The file is opened at
 * startup, not here: `ftpgate -t` must not create it. */
static void set_xferlog(struct parse *ps, const char *key, const char *v)
{
	if (!*v) {
		ps->cfg->xferlog[0] = '\0';
		return;
	}
	set_path(ps, key, v, ps->cfg->xferlog);
}

/* [listener] allow_commands, deny_commands and deny_arguments: parsed and
 * compiled by src/policy.c, which writes its own messages. */
static void set_policy(struct parse *ps, const char *key, const char *v)
{
	struct fg_policy *p = &ps->cfg->listeners[ps->idx].policy;
	char msg[512];
	int r;

	if (strcmp(key, "allow_commands") == 0)
		r = fg_policy_set_allow(p, v, msg, sizeof(msg));
	else if (strcmp(key, "deny_commands") == 0)
		r = fg_policy_set_deny(p, v, msg, sizeof(msg));
	else
		r = fg_policy_add_rule(p, v, ps->lineno, msg, sizeof(msg));
	if (r < 0)
		err(ps, ps->lineno, "%s: %s", key, msg);
}

/* [global] sandbox: on/off (any yes/no form). */
static void set_sandbox(struct parse *ps, const char *key, const char *v)
{
	char e1[96];

	if (parse_bool(v, &ps->cfg->sandbox) < 0)
		err(ps, ps->lineno, "bad value '%s' for %s (on|off)", esc(e1, sizeof(e1), v), key);
}

/* [global] chroot_dir: an absolute path (emptiness is checked at start). */
static void set_chroot_dir(struct parse *ps, const char *key, const char *v)
{
	if (*v && *v != '/') {
		err(ps, ps->lineno, "%s: want an absolute path", key);
		return;
	}
	set_path(ps, key, v, ps->cfg->chroot_dir);
}

/* [global] limits and bans: a number; 0 turns a limit off where that is
 * allowed (lo == 0). */
static void set_limit(struct parse *ps, const char *key, const char *v)
{
	static const struct {
		const char *name;
		size_t off;
		unsigned long lo, hi;
	} tab[] = {
		{ "max_sessions_per_ip", offsetof(struct fg_config, max_sessions_per_ip), 0, 1000000 },
		{ "max_connections_per_minute", offsetof(struct fg_config, max_connections_per_minute),
		  0, 1000000 },
		{ "ban_after", offsetof(struct fg_config, ban_after), 0, 1000 },
		{ "ban_window", offsetof(struct fg_config, ban_window), 1, 86400 },
		{ "ban_time", offsetof(struct fg_config, ban_time), 1, 30 * 86400 },
	};
	unsigned long n;
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strcmp(key, tab[i].name) != 0)
			continue;
		if (parse_uint(v, tab[i].lo, tab[i].hi, &n) < 0) {
			err(ps, ps->lineno, "%s: want a number from %lu to %lu", key, tab[i].lo, tab[i].hi);
			return;
		}
		*(unsigned *)(void *)((char *)ps->cfg + tab[i].off) = (unsigned)n;
		return;
	}
}

/* [global] status_socket: an absolute path that fits a unix socket
 * address (the master binds it after it has left the working directory);
 * empty means no status socket. */
static void set_status_socket(struct parse *ps, const char *key, const char *v)
{
	struct sockaddr_un sun;

	if (!*v) {
		ps->cfg->status_socket[0] = '\0';
		return;
	}
	if (v[0] != '/') {
		err(ps, ps->lineno, "%s: want an absolute path", key);
		return;
	}
	if (strlen(v) >= sizeof(sun.sun_path)) {
		err(ps, ps->lineno, "%s: path too long for a unix socket (max %zu bytes)", key,
		    sizeof(sun.sun_path) - 1);
		return;
	}
	set_path(ps, key, v, ps->cfg->status_socket);
}

/* The keys of each section.  The index in a table is the index in the
 * key_line arrays of struct parse; lookups below name them by key. */
static const struct key global_keys[] = {
	{ "user", set_user },
	{ "max_sessions", set_number },
	{ "spare_sessions", set_number },
	{ "connect_timeout", set_number },
	{ "idle_timeout", set_number },
	{ "data_timeout", set_number },
	{ "shutdown_grace", set_number },
	{ "pid_file", set_pid_file },
	{ "syslog_facility", set_facility },
	{ "debug", set_bool },
	{ "data_relay", set_relay },
	/* login limits and transfer log */
	{ "login_timeout", set_login_limit },
	{ "max_login_attempts", set_login_limit },
	{ "xferlog", set_xferlog },
	/* lockdown */
	{ "sandbox", set_sandbox },
	{ "chroot_dir", set_chroot_dir },
	/* per-address limits, bans, status */
	{ "max_sessions_per_ip", set_limit },
	{ "max_connections_per_minute", set_limit },
	{ "ban_after", set_limit },
	{ "ban_window", set_limit },
	{ "ban_time", set_limit },
	{ "status_socket", set_status_socket },
	{ NULL, NULL },
};

static const struct key listener_keys[] = {
	{ "listen", set_listen },
	{ "backend", set_backend_name },
	{ "passive_ports", set_passive_ports },
	{ "passive_address", set_passive_address },
	{ "tls", set_tls },
	{ "tls_cert", set_tls_path },
	{ "tls_key", set_tls_path },
	{ "tls_ca", set_tls_path },
	{ "tls_client_cert", set_tls_client_cert },
	{ "tls_ciphers", set_tls_ciphers },
	{ "tls_ciphersuites", set_tls_ciphers },
	{ "tls_min_version", set_tls_version },
	{ "tls_max_version", set_tls_version },
	{ "tls_require_reuse", set_bool },
	{ "banner", set_banner },
	/* command policy and login limits */
	{ "allow_commands", set_policy },
	{ "deny_commands", set_policy },
	{ "deny_arguments", set_policy },
	{ "login_timeout", set_login_limit },
	{ "max_login_attempts", set_login_limit },
	{ NULL, NULL },
};

static const struct key backend_keys[] = {
	{ "servers", set_servers },
	{ "tls", set_tls },
	{ "tls_verify", set_bool },
	{ "tls_ca", set_tls_path },
	{ "tls_cert", set_tls_path },
	{ "tls_key", set_tls_path },
	{ "tls_server_name", set_tls_server_name },
	{ "tls_ciphers", set_tls_ciphers },
	{ "tls_ciphersuites", set_tls_ciphers },
	{ "tls_min_version", set_tls_version },
	{ "tls_max_version", set_tls_version },
	{ NULL, NULL },
};

/* Every table, without its NULL end, must fit the key_line arrays. */
#define KEYS_FIT(tab) (sizeof(tab) / sizeof((tab)[0]) - 1 <= MAX_KEYS)
_Static_assert(KEYS_FIT(global_keys) && KEYS_FIT(listener_keys) && KEYS_FIT(backend_keys),
	       "raise MAX_KEYS");

/* Index of key in a table, or -1. */
static int key_index(const struct key *tab, const char *key)
{
	int i;

	for (i = 0; tab[i].name; i++)
		if (strcmp(tab[i].name, key) == 0)
			return i;
	return -1;
}

/* The ini_handler: one key = value at ps->lineno, in our current section
 * (inih's section argument is ignored: see classify_line()).  Always
 * returns 1; errors are reported here, not through inih. */
static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse *ps = user;
	const struct key *tab;
	int *lines, i;
	char e1[96], sec[FG_MAX_NAME + 16];

	(void)section;
	if (ps->kind == SEC_IGNORE)
		return 1;
	if (!*key) {
		err(ps, ps->lineno, "syntax error: missing key before '='");
		return 1;
	}
	switch (ps->kind) {
	case SEC_GLOBAL:
		tab = global_keys;
		lines = ps->global_keys;
		snprintf(sec, sizeof(sec), "global");
		break;
	case SEC_LISTENER:
		tab = listener_keys;
		lines = ps->listener_keys[ps->idx];
		snprintf(sec, sizeof(sec), "listener %s", ps->cfg->listeners[ps->idx].name);
		break;
	case SEC_BACKEND:
		tab = backend_keys;
		lines = ps->backend_keys[ps->idx];
		snprintf(sec, sizeof(sec), "backend %s", ps->cfg->backends[ps->idx].name);
		break;
	default:
		err(ps, ps->lineno, "key '%s' outside of any section", esc(e1, sizeof(e1), key));
		return 1;
	}
	i = key_index(tab, key);
	if (i < 0) {
		err(ps, ps->lineno, "unknown key '%s' in [%s]", esc(e1, sizeof(e1), key), sec);
		return 1;
	}
	if (lines[i] && !repeatable(key)) {
		err(ps, ps->lineno, "duplicate key '%s' in [%s] (first at line %d)", key, sec, lines[i]);
		return 1;
	}
	if (!lines[i])
		lines[i] = ps->lineno;
	tab[i].set(ps, key, value);
	return 1;
}

/* The line where a key was set in a listener (0: not set). */
static int listener_key_line(const struct parse *ps, unsigned li, const char *key)
{
	return ps->listener_keys[li][key_index(listener_keys, key)];
}

/* The line where a key was set in a backend (0: not set). */
static int backend_key_line(const struct parse *ps, unsigned bi, const char *key)
{
	return ps->backend_keys[bi][key_index(backend_keys, key)];
}

/* tls_min_version must not exceed tls_max_version (both set; 0 is the
 * default, TLS 1.2 up to the highest, which fits any one value).  what is
 * "listener 'NAME'" or "backend 'NAME'"; the error is at the
 * tls_min_version line. */
static void check_tls_versions(struct parse *ps, const char *what, int min, int max, int line)
{
	if (min && max && min > max)
		err(ps, line, "%s: tls_min_version (%s) must not exceed tls_max_version (%s)", what,
		    tls_version_name(min), tls_version_name(max));
}

/* Checks that need the whole file: required keys, references between
 * sections, combinations of keys.  Resolves listener->backend. */
static void check_whole(struct parse *ps)
{
	struct fg_config *cfg = ps->cfg;
	unsigned i, j;

	if (cfg->n_listeners == 0)
		err(ps, 0, "no [listener] section");
	if (cfg->spare_sessions > cfg->max_sessions) {
		int l1 = ps->global_keys[key_index(global_keys, "spare_sessions")];
		int l2 = ps->global_keys[key_index(global_keys, "max_sessions")];
		err(ps, l1 ? l1 : l2, "spare_sessions (%u) must not exceed max_sessions (%u)",
		    cfg->spare_sessions, cfg->max_sessions);
	}
	for (i = 0; i < cfg->n_listeners; i++) {
		struct fg_listener *l = &cfg->listeners[i];
		int bl = listener_key_line(ps, i, "backend");
		int tl = listener_key_line(ps, i, "tls");
		int ccl = listener_key_line(ps, i, "tls_client_cert");
		char what[FG_MAX_NAME + 16];

		if (!listener_key_line(ps, i, "listen"))
			err(ps, l->line, "listener '%s': listen is required", l->name);
		if (!bl) {
			err(ps, l->line, "listener '%s': backend is required", l->name);
		} else if (l->backend_name[0]) {
			for (j = 0; j < cfg->n_backends; j++)
				if (strcmp(cfg->backends[j].name, l->backend_name) == 0)
					l->backend = &cfg->backends[j];
			if (!l->backend)
				err(ps, bl, "listener '%s': no [backend %s]", l->name, l->backend_name);
		}
		/* Login limits not set here come from [global]. */
		if (!listener_key_line(ps, i, "login_timeout"))
			l->login_timeout = cfg->login_timeout;
		if (!listener_key_line(ps, i, "max_login_attempts"))
			l->max_login_attempts = cfg->max_login_attempts;
		/* A tls_cert / tls_key that is set but bad has its own error. */
		if (l->tls != FG_TLS_OFF && (!listener_key_line(ps, i, "tls_cert") ||
					     !listener_key_line(ps, i, "tls_key")))
			err(ps, tl ? tl : l->line, "listener '%s': tls needs tls_cert and tls_key",
			    l->name);
		/* Checked whatever tls is: a client certificate mode without
		 * CAs is wrong even while TLS is off. */
		if (l->tls_client_cert != FG_CERT_OFF && !listener_key_line(ps, i, "tls_ca"))
			err(ps, ccl, "listener '%s': tls_client_cert = %s needs tls_ca", l->name,
			    l->tls_client_cert == FG_CERT_REQUIRED ? "required" : "optional");
		snprintf(what, sizeof(what), "listener '%s'", l->name);
		check_tls_versions(ps, what, l->tls_min_version, l->tls_max_version,
				   listener_key_line(ps, i, "tls_min_version"));
	}
	for (j = 0; j < cfg->n_backends; j++) {
		struct fg_backend *b = &cfg->backends[j];
		int cl = backend_key_line(ps, j, "tls_cert"), kl = backend_key_line(ps, j, "tls_key");
		char what[FG_MAX_NAME + 16];

		if (!backend_key_line(ps, j, "servers"))
			err(ps, b->line, "backend '%s': servers is required", b->name);
		/* A client certificate needs both files; one that is set but
		 * bad has its own error. */
		if (cl && !kl)
			err(ps, cl, "backend '%s': tls_cert needs tls_key", b->name);
		if (kl && !cl)
			err(ps, kl, "backend '%s': tls_key needs tls_cert", b->name);
		snprintf(what, sizeof(what), "backend '%s'", b->name);
		check_tls_versions(ps, what, b->tls_min_version, b->tls_max_version,
				   backend_key_line(ps, j, "tls_min_version"));
	}
}

/* Defaults of [global] (config.h). */
static void global_defaults(struct fg_config *cfg)
{
	snprintf(cfg->user, sizeof(cfg->user), "ftpgate");
	cfg->max_sessions = 10000;
	cfg->spare_sessions = 8;
	cfg->connect_timeout = 10;
	cfg->idle_timeout = 900;
	cfg->data_timeout = 300;
	cfg->shutdown_grace = 30;
	cfg->syslog_facility = LOG_DAEMON;
	cfg->debug = false;
	cfg->relay_splice = false;
	cfg->login_timeout = 60;
	cfg->max_login_attempts = 3;
	cfg->sandbox = true;
	snprintf(cfg->chroot_dir, sizeof(cfg->chroot_dir), "%s", FG_CHROOT_DIR);
	cfg->max_sessions_per_ip = 0;
	cfg->max_connections_per_minute = 0;
	cfg->ban_after = 0;
	cfg->ban_window = 600;
	cfg->ban_time = 600;
	snprintf(cfg->status_socket, sizeof(cfg->status_socket), "%s", FG_STATUS_SOCKET);
}

/* Set inih's run-time options (Debian builds them as variables): heap line
 * buffer that grows up to our line cap, no multi-line values, ';' and '#'
 * comments, ';' inline comments after whitespace. */
static void ini_options(void)
{
	static char start_prefixes[] = ";#";
	static char inline_prefixes[] = ";";

	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_initial_alloc = 256;
	ini_max_line = FG_MAX_CONFIG_LINE + 16;
	ini_allow_multiline = false;
	ini_allow_bom = true;
	ini_allow_no_value = false;
	ini_stop_on_first_error = false;
	ini_allow_inline_comments = true;
	ini_start_comment_prefixes = start_prefixes;
	ini_inline_comment_prefixes = inline_prefixes;
}

/* The common core: text of len bytes, named name in messages. */
static int load(struct fg_config *cfg, const char *name, const char *text, size_t len,
		FILE *errs, struct parse *ps)
{
	int r;

	ps->cfg = cfg;
	ps->name = name;
	ps->errs = errs;
	ps->p = text;
	ps->end = text + len;
	ps->kind = SEC_NONE;
	if (len > FG_MAX_CONFIG_BYTES) {
		err(ps, 0, "file too large (max %d bytes)", FG_MAX_CONFIG_BYTES);
		return ps->n_errors;
	}
	ini_options();
	r = ini_parse_stream(reader, ps, handler, ps);
	if (r == -2)
		err(ps, 0, "out of memory");
	else if (r > 0 && r != ps->first_syntax_line)
		err(ps, r, "syntax error");
	check_whole(ps);
	/* Only a valid configuration keeps compiled patterns. */
	if (ps->n_errors)
		fg_config_release(cfg);
	return ps->n_errors;
}

/* See config.h. */
void fg_config_release(struct fg_config *cfg)
{
	unsigned i;

	for (i = 0; i < FG_MAX_LISTENERS; i++)
		fg_policy_free(&cfg->listeners[i].policy);
}

/* Allocate the parse state (too big for a small stack) and clear cfg. */
static struct parse *start(struct fg_config *cfg, const char *name)
{
	struct parse *ps = calloc(1, sizeof(*ps));

	memset(cfg, 0, sizeof(*cfg));
	global_defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);
	return ps;
}

/* See config.h. */
int fg_config_load_string(struct fg_config *cfg, const char *name, const char *text,
			  size_t len, FILE *errs)
{
	struct parse *ps = start(cfg, name);
	int n;

	if (!ps) {
		if (errs)
			fprintf(errs, "%s:0: out of memory\n", name);
		return 1;
	}
	n = load(cfg, name, text, len, errs, ps);
	free(ps);
	return n;
}

/* See config.h: the file is read whole (at most FG_MAX_CONFIG_BYTES) and
 * parsed like a string. */
int fg_config_load(struct fg_config *cfg, const char *path, FILE *errs)
{
	struct parse *ps = start(cfg, path);
	char *text = NULL;
	size_t len = 0, cap = FG_MAX_CONFIG_BYTES + 1;
	FILE *f;
	int n;

	if (!ps) {
		if (errs)
			fprintf(errs, "%s:0: out of memory\n", path);
		return 1;
	}
	ps->name = path;
	ps->errs = errs;
	f = fopen(path, "re");
	if (!f) {
		err(ps, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	text = malloc(cap);
	if (!text) {
		err(ps, 0, "out of memory");
		fclose(f);
		goto out;
	}
	/* One byte more than the cap, so that an oversized file is seen. */
	len = fread(text, 1, cap, f);
	if (ferror(f)) {
		err(ps, 0, "cannot read: %s", strerror(errno));
		fclose(f);
		goto out;
	}
	fclose(f);
	if (strlen(path) >= sizeof(cfg->path))
		err(ps, 0, "path too long");
	load(cfg, path, text, len, errs, ps);
out:
	n = ps->n_errors;
	free(text);
	free(ps);
	return n;
}
