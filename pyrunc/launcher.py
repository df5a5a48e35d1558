"""python -m pyrunc.launcher: install the `pyrunc` command.

pip's console script starts the interpreter with the full `site` machinery (every .pth file
of the environment, setuptools' distutils hook among them), and any Python start costs
about 10 ms here, more than `state`, `kill` or `start` do.  So:

- `<bin>/pyrunc` becomes pyrunc-front (csrc/pyrunc-front.c), a small static C program that
  answers state, kill and start of an existing container itself and execs the next file
  for everything else, and for anything it does not handle plainly;
- `<bin>/pyrunc-py` is the Python runtime's launcher: Python started with -I -S (isolated:
  no site, no environment variables, no current directory on sys.path) and -OO (no
  docstrings in the compiled modules: less to read and unmarshal on every call, ~2 ms; pyrunc
  has no assert and reads no docstring), with just pyrunc's own site-packages on sys.path.
  The -OO bytecode is compiled here, so that no call has to.

Both need no PATH (podman calls the runtime with almost no environment): the script names
its interpreter by absolute path, and the front finds the script beside itself.
"""

import os
import shutil
import sys


def text():
    site = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return (f"#!{sys.executable} -IOOS\n"
            "# pyrunc's Python launcher, written by python -m pyrunc.launcher (docs/performance.md)\n"
            "import sys\n"
            f"sys.path.append({site!r})\n"
            "from pyrunc.cli import entry\n"
            "entry()\n")


def _install(dest, write):
    tmp = dest + ".tmp"
    write(tmp)
    os.chmod(tmp, 0o755)
    os.rename(tmp, dest)


def main():
    bindir = os.path.dirname(sys.executable)
    front = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libexec", "pyrunc-front")

    def script(path):
        with open(path, "w") as f:
            f.write(text())
    _install(os.path.join(bindir, "pyrunc-py"), script)
    _install(os.path.join(bindir, "pyrunc"), lambda path: shutil.copyfile(front, path))
    import compileall
    compileall.compile_dir(os.path.dirname(os.path.abspath(__file__)), quiet=1, optimize=2)
    # the D-Bus library --systemd-cgroup imports, compiled for -OO too
    import importlib.util
    spec = importlib.util.find_spec("jeepney")
    if spec and spec.submodule_search_locations:
        compileall.compile_dir(list(spec.submodule_search_locations)[0], quiet=1, optimize=2)
    print(f"launcher: {os.path.join(bindir, 'pyrunc')} (front) and {os.path.join(bindir, 'pyrunc-py')}")


if __name__ == "__main__":
    main()
