/*
 * Replays fuzz inputs without libFuzzer: every file named on the command line,
 * and every file in every directory named, goes through the target once.
 * Prints TAP, one line per input, so the test run counts each.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count;

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  long len;
  uint8_t *buf;
  if (!f)
    return -1;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc(len > 0 ? (size_t)len : 1);
  if (!buf || (len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len)) {
    fclose(f);
    free(buf);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)len);
  free(buf);
  printf("ok %d - %s\n", ++count, path);
  return 0;
}

int main(int argc, char **argv) {
  int failed = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      printf("not ok %d - %s: missing\n", ++count, argv[i]);
      failed = 1;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      failed |= run_file(argv[i]) != 0;
      continue;
    }
    DIR *d = opendir(argv[i]);
    struct dirent *de;
    while (d && (de = readdir(d))) {
      char path[4096];
      if (de->d_name[0] == '.')
        continue;
      snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
      if (run_file(path) != 0) {
        printf("not ok %d - %s: unreadable\n", ++count, path);
        failed = 1;
      }
    }
    if (d)
      closedir(d);
  }
  if (count == 0) {
    printf("not ok 1 - no corpus inputs found\n");
    count = 1;
    failed = 1;
  }
  printf("1..%d\n", count);
  return failed;
}
