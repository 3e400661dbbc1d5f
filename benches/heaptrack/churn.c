/* churn.c: allocation-heavy program for the heaptrack benchmark (benches/heaptrack/run.sh).
 * EVENTS/2 allocations, each freed (immediately, or later from a sliding window), from 512 call
 * sites reached through different paths, plus a slow leak. Licence: MIT OR Apache-2.0. */
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))
#define WINDOW 4096

static void *window[WINDOW];
static void **leaked;
static size_t nleaked;

typedef void *(*alloc_fn)(size_t);

#define SITE(n) NOINLINE static void *site_##n(size_t s) { return malloc(s + (n)); }
#define S8(n) SITE(n##0) SITE(n##1) SITE(n##2) SITE(n##3) SITE(n##4) SITE(n##5) SITE(n##6) SITE(n##7)
#define S64(n) S8(n##0) S8(n##1) S8(n##2) S8(n##3) S8(n##4) S8(n##5) S8(n##6) S8(n##7)
S64(1) S64(2) S64(3) S64(4) S64(5) S64(6) S64(7) S64(0)
#define R8(n) site_##n##0, site_##n##1, site_##n##2, site_##n##3, site_##n##4, site_##n##5, site_##n##6, site_##n##7
#define R64(n) R8(n##0), R8(n##1), R8(n##2), R8(n##3), R8(n##4), R8(n##5), R8(n##6), R8(n##7)
static alloc_fn sites[512] = {R64(1), R64(2), R64(3), R64(4), R64(5), R64(6), R64(7), R64(0)};

NOINLINE static void *path_a(unsigned i) { return sites[i % 512](16 + i % 200); }
NOINLINE static void *path_b(unsigned i) { return path_a(i * 7); }
NOINLINE static void *path_c(unsigned i) { return path_b(i * 13); }

NOINLINE static void leak_some(unsigned i) {
	if (nleaked % 1024 == 0) leaked = realloc(leaked, (nleaked + 1024) * sizeof *leaked);
	leaked[nleaked++] = malloc(64 + i % 64);
}

int main(int argc, char **argv) {
	unsigned long events = argc > 1 ? strtoul(argv[1], NULL, 10) : 50000000UL;
	unsigned long pairs = events / 2;
	for (unsigned long i = 0; i < pairs; i++) {
		void *p;
		switch (i % 3) {
		case 0: p = path_a((unsigned)i); break;
		case 1: p = path_b((unsigned)i); break;
		default: p = path_c((unsigned)i); break;
		}
		if (i % 2 == 0) {
			free(p); /* temporary */
		} else {
			size_t slot = (i / 2) % WINDOW;
			free(window[slot]);
			window[slot] = p;
		}
		if (i % 50000 == 0) leak_some((unsigned)i);
	}
	return 0;
}
