/*
 * Force-included (gcc -include) into the prebuilt addon only, never into a source build.
 *
 * The prebuilt parts in the npm tarball must load on glibc 2.28 (RHEL 8, Debian 10) although they
 * are built against a newer glibc. Each function below got a new default symbol version after 2.28
 * while its old version stays exported, with the same behaviour, by every later glibc; binding to
 * the old one keeps the addon's version needs at or below GLIBC_2.28. scripts/native/build-prebuilt.mjs
 * checks the result with readelf and fails when anything newer slips in.
 */
#ifndef TSSS_GLIBC_COMPAT_H
#define TSSS_GLIBC_COMPAT_H

#if defined(__x86_64__)
#define TSSS_GLIBC_BASELINE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define TSSS_GLIBC_BASELINE "GLIBC_2.17"
#else
#error "no glibc baseline known for this architecture"
#endif

/* glibc 2.32 moved pthread_sigmask from libpthread into libc as GLIBC_2.32. */
__asm__(".symver pthread_sigmask,pthread_sigmask@" TSSS_GLIBC_BASELINE);

#endif
