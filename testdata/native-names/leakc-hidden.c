/* leakc.c's allocation path with its leaf hidden, for the symbolizer's hint: linked with
   -rdynamic (the exported functions go into .dynsym) and stripped of .symtab, so no symbol left
   names cache_session, and serve, just before it, is the nearest one that does. */
#include <stdio.h>
#include <stdlib.h>

void *cache_session(size_t n);

__attribute__((noinline)) void serve(void **keep, int k) {
  for (int i = 0; i < k; i++) keep[i] = cache_session(100 + (size_t)i);
}

__attribute__((noinline, visibility("hidden"))) void *cache_session(size_t n) {
  void *p = malloc(n);
  if (p) ((char *)p)[0] = (char)n;
  return p;
}

int main(int argc, char **argv) {
  (void)argv;
  void *keep[16];
  serve(keep, argc + 9);
  printf("%p\n", keep[0]);
  return 0;
}
