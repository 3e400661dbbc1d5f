/* A small C program for the symbolizer's reference tests: three functions on an allocation
   path, each big enough that an address a few bytes in is inside it. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) void *cache_session(size_t n) {
  void *p = malloc(n);
  if (p) ((char *)p)[0] = (char)n;
  return p;
}

__attribute__((noinline)) void serve(void **keep, int k) {
  for (int i = 0; i < k; i++) keep[i] = cache_session(100 + (size_t)i);
}

int main(int argc, char **argv) {
  (void)argv;
  void *keep[16];
  serve(keep, argc + 9);
  printf("%p\n", keep[0]);
  return 0;
}
