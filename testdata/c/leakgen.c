/* leakgen.c: a small C "service" with planted heap leaks and, with `control` as the first
 * argument, the same request loop with heavy allocation churn and no leak. It dumps heap profiles
 * at two points (after BASE and after LATER requests) through whichever profiling allocator is
 * preloaded: jemalloc (`mallctl("prof.dump")`) or gperftools (`HeapProfilerDump`). Under heaptrack
 * the recording itself is the evidence. Regenerate everything with testdata/c/generate.sh.
 * Licence: MIT OR Apache-2.0, like leakdiff. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* ---- planted leaks ---------------------------------------------------------------------- */

struct session {
	struct session *next;
	int id;
	char payload[4000];
};
static struct session *sessions; /* grows without bound: never evicted */

NOINLINE void cache_session(int id) {
	struct session *s = malloc(sizeof *s);
	s->id = id;
	memset(s->payload, 's', sizeof s->payload);
	s->next = sessions;
	sessions = s;
}

static char **audit_log; /* a global array that only grows */
static size_t audit_len, audit_cap;

NOINLINE void append_audit(int i) {
	if (audit_len == audit_cap) {
		audit_cap = audit_cap ? audit_cap * 2 : 64;
		audit_log = realloc(audit_log, audit_cap * sizeof *audit_log);
	}
	char *line = malloc(200 + i % 7);
	snprintf(line, 200, "request %d handled", i);
	audit_log[audit_len++] = line;
}

NOINLINE void register_listener(int i) {
	/* the handle is dropped on the floor: unreachable, a real leak for LSan too */
	int *handle = calloc(64, sizeof(int));
	handle[0] = i;
	__asm__ volatile("" : : "r"(handle) : "memory");
}

/* ---- churn shared by both modes --------------------------------------------------------- */

#define LRU_SLOTS 128
static char *lru[LRU_SLOTS]; /* bounded cache: fills, then evicts */

NOINLINE void lru_put(int i) {
	int slot = i % LRU_SLOTS;
	free(lru[slot]);
	lru[slot] = malloc(1024);
	memset(lru[slot], 'c', 1024);
}

NOINLINE size_t parse_request(int i) {
	size_t n = 512 + (size_t)(i % 13) * 64;
	char *buf = malloc(n); /* temporary: freed before returning */
	memset(buf, 'r', n);
	size_t sum = 0;
	for (size_t k = 0; k < n; k += 64) sum += (unsigned char)buf[k];
	free(buf);
	return sum;
}

NOINLINE void handle_request(int i, int leak) {
	parse_request(i);
	lru_put(i);
	if (leak) {
		cache_session(i);
		append_audit(i);
		if (i % 4 == 0) register_listener(i);
	}
}

/* ---- profile dumps ---------------------------------------------------------------------- */

static void dump(const char *path) {
	int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
	    (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctl");
	if (mallctl) {
		const char *p = path;
		if (mallctl("prof.dump", NULL, NULL, &p, sizeof p) != 0) fprintf(stderr, "prof.dump failed\n");
		return;
	}
	void (*hp_dump)(const char *) = (void (*)(const char *))dlsym(RTLD_DEFAULT, "HeapProfilerDump");
	char *(*hp_get)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "GetHeapProfile");
	if (hp_dump && hp_get) {
		char *text = hp_get();
		FILE *f = fopen(path, "w");
		if (f && text) fputs(text, f);
		if (f) fclose(f);
		free(text);
	}
}

int main(int argc, char **argv) {
	int leak = !(argc > 1 && strcmp(argv[1], "control") == 0);
	const char *prefix = argc > 2 ? argv[2] : "out";
	int base = 2000, later = 6000, pause_every = 500;
	char path[512];
	for (int i = 1; i <= later; i++) {
		handle_request(i, leak);
		if (i % pause_every == 0) {
			struct timespec ts = {0, 20 * 1000 * 1000}; /* 20 ms: spreads heaptrack timestamps */
			nanosleep(&ts, NULL);
		}
		if (i == base || i == later) {
			snprintf(path, sizeof path, "%s-%s.heap", prefix, i == base ? "base" : "later");
			dump(path);
		}
	}
	return 0;
}
