/* Runs a command under a seccomp filter that refuses personality() as Docker's default profile
 * does: only the query (0xffffffff) and the usual personalities (PER_LINUX 0, PER_LINUX32 8,
 * with UNAME26 0x20000) pass; any other value fails with EPERM. fuzz_smoke.py runs a harness
 * under it to check the path where a harness cannot turn address space randomisation off
 * (fuzz_main.cpp). A kernel without seccomp filters: exit 77 (the check is skipped).
 *   no_personality COMMAND [ARGS...]                                                        */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define AUDIT_ARCH_HOST AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_HOST AUDIT_ARCH_AARCH64
#else
#error "no_personality: unknown host architecture"
#endif

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: no_personality COMMAND [ARGS...]\n");
    return 2;
  }
  struct sock_filter code[] = {
      /* Another architecture's system call numbers mean other calls: allow (not ours). */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_HOST, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* personality(persona): the low 32 bits of the argument (the kernel takes an int). */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffu, 5, 0), /* the query */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0, 4, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x8, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20000, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20008, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof code / sizeof code[0]), code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    fprintf(stderr, "no_personality: cannot install a seccomp filter: %s\n", strerror(errno));
    return 77;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "no_personality: %s: %s\n", argv[1], strerror(errno));
  return 127;
}
