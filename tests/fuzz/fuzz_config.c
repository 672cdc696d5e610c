/* fuzz_config.c - libFuzzer harness for src/config.c: the input is a whole
 * configuration file.  Errors go to /dev/null; host names in servers are
 * not resolved (fg_config_no_resolve), so no input causes a DNS lookup. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "config.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Large: keep it off the stack. */
static struct fg_config cfg;

/* A protocol version field: 0 (the default) or TLS 1.2 / 1.3, and
 * min <= max when both are set. */
static int bad_versions(int min, int max)
{
	if ((min && min != FG_TLS_V12 && min != FG_TLS_V13) ||
	    (max && max != FG_TLS_V12 && max != FG_TLS_V13))
		return 1;
	return min && max && min > max;
}

/* One input: load it, and check that a configuration without errors is
 * complete (every invariant the rest of ftpgate relies on). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	unsigned i;
	int n;

	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		if (!devnull)
			abort();
		fg_config_no_resolve = true;
	}
	n = fg_config_load_string(&cfg, "fuzz.conf", (const char *)data, size, devnull);
	if (n < 0)
		abort();
	/* A valid configuration must be complete and consistent. */
	if (n == 0) {
		if (cfg.n_listeners == 0 || cfg.n_listeners > FG_MAX_LISTENERS ||
		    cfg.n_backends > FG_MAX_BACKENDS)
			abort();
		for (i = 0; i < cfg.n_listeners; i++) {
			const struct fg_listener *l = &cfg.listeners[i];
			if (!l->backend || l->n_addrs == 0 || l->n_addrs > FG_MAX_ADDRS ||
			    l->passive_lo < 1024 || l->passive_lo > l->passive_hi)
				abort();
			if (l->tls != FG_TLS_OFF && (!l->tls_cert[0] || !l->tls_key[0]))
				abort();
			if ((l->tls_client_cert != FG_CERT_OFF && !l->tls_ca[0]) ||
			    bad_versions(l->tls_min_version, l->tls_max_version) || l->tls_ctx)
				abort();
		}
		for (i = 0; i < cfg.n_backends; i++) {
			const struct fg_backend *b = &cfg.backends[i];
			if (b->n_servers == 0 || b->n_servers > FG_MAX_ADDRS ||
			    b->tls == FG_TLS_REQUIRED)
				abort();
			if (!b->tls_cert[0] != !b->tls_key[0] ||
			    bad_versions(b->tls_min_version, b->tls_max_version) || b->tls_ctx)
				abort();
		}
	}
	/* Compiled deny_arguments patterns belong to the loaded cfg. */
	fg_config_release(&cfg);
	return 0;
}
