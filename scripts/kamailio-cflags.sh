#!/bin/sh
# Print, one per line, the compile flags a Kamailio module needs so that the
# installed kamailio binary loads it: the defines `kamailio -v` says it was
# built with, its name, version, CPU and OS (the module must carry the same
# version and flags strings; the flag printed as TLS_PTHREAD_MUTEX_SHARED
# is the define KSR_PTHREAD_MUTEX_SHARED), its ADAPTIVE_WAIT_LOOPS, and the CPU/OS defines Kamailio's
# Makefile.defs adds on this machine. Usage: scripts/kamailio-cflags.sh [KAMAILIO]
set -eu
kam=${1:-kamailio}
out=$("$kam" -v 2>/dev/null)
echo "$out" | sed -n 's/^flags: *//p' | tr ',' '\n' | tr -d ' ' |
  tr '-' '\n' | sed -n 's/^\([A-Z0-9_]\{1,\}\)$/-D\1/p' |
  sed 's/^-DTLS_PTHREAD_MUTEX_SHARED$/-DKSR_PTHREAD_MUTEX_SHARED/'
echo "$out" | sed -n 's/.*ADAPTIVE_WAIT_LOOPS \([0-9]*\).*/-DADAPTIVE_WAIT_LOOPS=\1/p'
arch=$(echo "$out" | sed -n 's/^version: [^(]*(\([^/]*\)\/\([^)]*\)).*/\1 \2/p')
cpu=${arch% *}
os=${arch#* }
ver=$(echo "$out" | sed -n 's/^version: *\([^ ]*\) \([^ ]*\) .*/\1 \2/p')
echo "-DNAME=\"${ver% *}\""
echo "-DVERSION=\"${ver#* }\""
echo "-DARCH=\"$cpu\""
echo "-DOS_QUOTED=\"$os\""
echo "-D__CPU_$cpu"
echo "-D__OS_$os"
echo "-DCC_GCC_LIKE_ASM"
if [ "$os" = linux ]; then
  for d in HAVE_GETHOSTBYNAME2 HAVE_UNION_SEMUN HAVE_SCHED_YIELD \
    HAVE_MSG_NOSIGNAL HAVE_MSGHDR_MSG_CONTROL HAVE_ALLOCA_H HAVE_TIMEGM \
    HAVE_SCHED_SETSCHEDULER HAVE_IP_MREQN HAVE_EPOLL HAVE_SIGIO_RT \
    SIGINFO64_WORKARROUND HAVE_SELECT; do
    echo "-D$d"
  done
fi
