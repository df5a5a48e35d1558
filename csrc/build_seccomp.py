"""cffi build of pyrunc._seccomp: libseccomp, the library every runtime compiles seccomp
profiles with.  pyrunc uses it only to compile linux.seccomp into a BPF program
(seccomp_export_bpf); pyrunc-init loads that program with seccomp(2) right before execve.
A separate module from pyrunc._native so that only configs with seccomp load libseccomp.
"""

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("""
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;
enum scmp_compare { SCMP_CMP_NE = 1, SCMP_CMP_LT = 2, SCMP_CMP_LE = 3, SCMP_CMP_EQ = 4,
                    SCMP_CMP_GE = 5, SCMP_CMP_GT = 6, SCMP_CMP_MASKED_EQ = 7, ... };
struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op; scmp_datum_t datum_a;
                      scmp_datum_t datum_b; };
struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };
const struct scmp_version *seccomp_version(void);
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
""")
ffibuilder.set_source("pyrunc._seccomp", "#include <seccomp.h>", libraries=["seccomp"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
