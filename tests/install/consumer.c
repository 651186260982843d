/* Built outside the tree against an installed libsipflow via pkg-config. */
#include <stdio.h>
#include <string.h>

#include <sipflow/sipflow.h>

int main(void) {
  const sipflow_info *info = sipflow_version(0);
  sipflow_ctx *ctx;
  if (!info || strcmp(info->version_str, SIPFLOW_VERSION) != 0) {
    fprintf(stderr, "header and library versions differ\n");
    return 1;
  }
  if (sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL) != 0)
    return 1;
  sipflow_ctx_del(ctx);
  printf("consumer linked libsipflow %s\n", info->version_str);
  return 0;
}
