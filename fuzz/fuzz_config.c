/*
 * fuzz_config.c - libFuzzer target for the config file parser (an INI
 * file an operator writes, parsed by GKeyFile and then by config_set's key
 * table): config_load_data over the defaults, as config_load_file does
 * after reading the file.  A config it accepts must also dump, and pass or
 * fail validation, without crashing; what it refuses names the source.
 * Replayed over fuzz/corpus/config by replay.c in every build.
 */
#include "core/config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = malloc(sizeof(*cfg));
	struct ip_error err;
	FILE *null;

	if (cfg == NULL)
		return 0;
	config_defaults(cfg);
	if (config_load_data(cfg, (const char *)data, size, "fuzz", &err) !=
	    IP_OK) {
		/* every refusal says where it comes from */
		if (strstr(err.msg, "config fuzz") == NULL)
			abort();
		goto out;
	}
	if (cfg->n_variants > CONFIG_VARIANTS_MAX)
		abort();
	config_validate(cfg, &err);
	null = fopen("/dev/null", "w");
	if (null != NULL) {
		config_dump(cfg, null);
		fclose(null);
	}
out:
	free(cfg);
	return 0;
}
