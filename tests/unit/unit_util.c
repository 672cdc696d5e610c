/* unit_util.c - helpers shared by the Check unit tests. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "unit_util.h"

#include "banned.h"

int unit_load_config(struct fg_config *cfg, const char *text, char **out)
{
	size_t size = 0;
	FILE *errs = open_memstream(out, &size);
	int n;

	ck_assert_ptr_nonnull(errs);
	n = fg_config_load_string(cfg, "t.conf", text, strlen(text), errs);
	fclose(errs);
	return n;
}
