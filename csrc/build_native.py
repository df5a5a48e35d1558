"""cffi build of pyrunc._native: the in-process helpers that Python 3.11 lacks."""

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("""
int pyrunc_set_subreaper(void);
""")
ffibuilder.set_source("pyrunc._native", """
#include <sys/prctl.h>

static int pyrunc_set_subreaper(void)
{
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}
""")

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
