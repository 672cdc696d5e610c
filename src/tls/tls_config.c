/* tls/tls_config.c - the TLS contexts of a configuration (see tls.h). */
#include "tls/tls.h"

#include <stdio.h>
#include <string.h>
#include "banned.h"

/* Empty config strings mean "the default": NULL for the opts structs. */
static const char *opt(const char *s)
{
	return s[0] ? s : NULL;
}

static SSL_CTX *listener_ctx(const struct fg_listener *l, char *err, size_t errlen)
{
	struct fg_tls_server_opts o;

	memset(&o, 0, sizeof(o));
	o.cert_chain = l->tls_cert;
	o.key = l->tls_key;
	o.ca = opt(l->tls_ca);
	o.client_cert = l->tls_client_cert == FG_CERT_REQUIRED   ? FG_TLS_CERT_REQUIRED
			: l->tls_client_cert == FG_CERT_OPTIONAL ? FG_TLS_CERT_OPTIONAL
								 : FG_TLS_CERT_OFF;
	o.min_version = l->tls_min_version;
	o.max_version = l->tls_max_version;
	o.ciphers = opt(l->tls_ciphers);
	o.ciphersuites = opt(l->tls_ciphersuites);
	o.ktls = true;
	return fg_tls_server_ctx_new(&o, err, errlen);
}

static SSL_CTX *backend_ctx(const struct fg_backend *b, char *err, size_t errlen)
{
	struct fg_tls_client_opts o;

	memset(&o, 0, sizeof(o));
	o.no_verify = !b->tls_verify;
	o.ca = opt(b->tls_ca);
	o.cert = opt(b->tls_cert);
	o.key = opt(b->tls_key);
	o.min_version = b->tls_min_version;
	o.max_version = b->tls_max_version;
	o.ciphers = opt(b->tls_ciphers);
	o.ciphersuites = opt(b->tls_ciphersuites);
	o.ktls = true;
	return fg_tls_client_ctx_new(&o, err, errlen);
}

int fg_tls_config_build(struct fg_config *cfg, FILE *errs)
{
	char err[FG_TLS_ERRLEN];
	unsigned i;
	int nerr = 0;

	for (i = 0; i < cfg->n_listeners; i++) {
		struct fg_listener *l = &cfg->listeners[i];

		if (l->tls == FG_TLS_OFF || l->tls_ctx)
			continue;
		l->tls_ctx = listener_ctx(l, err, sizeof(err));
		if (!l->tls_ctx) {
			fprintf(errs, "%s:%d: listener '%s': %s\n", cfg->path, l->line, l->name, err);
			nerr++;
		}
	}
	for (i = 0; i < cfg->n_backends; i++) {
		struct fg_backend *b = &cfg->backends[i];

		if (b->tls == FG_TLS_OFF || b->tls_ctx)
			continue;
		b->tls_ctx = backend_ctx(b, err, sizeof(err));
		if (!b->tls_ctx) {
			fprintf(errs, "%s:%d: backend '%s': %s\n", cfg->path, b->line, b->name, err);
			nerr++;
		}
	}
	if (nerr)
		fg_tls_config_free(cfg);
	return nerr;
}

void fg_tls_config_free(struct fg_config *cfg)
{
	unsigned i;

	for (i = 0; i < cfg->n_listeners; i++) {
		SSL_CTX_free(cfg->listeners[i].tls_ctx);
		cfg->listeners[i].tls_ctx = NULL;
	}
	for (i = 0; i < cfg->n_backends; i++) {
		SSL_CTX_free(cfg->backends[i].tls_ctx);
		cfg->backends[i].tls_ctx = NULL;
	}
}
