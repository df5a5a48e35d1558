"""python -m pyrunc.launcher: replace pip's `pyrunc` script by a faster one.

pip's console script starts the interpreter with the full `site` machinery (every .pth file
of the environment, setuptools' distutils hook among them).  Engines call the runtime
several times per container, so the launcher written here starts Python with -I -S
(isolated: no site, no environment variables, no current directory on sys.path) and puts
just pyrunc's own site-packages on sys.path.  Its interpreter is an absolute path, so it
needs no PATH (podman calls the runtime with almost no environment).
"""

import os
import sys


def text():
    site = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return (f"#!{sys.executable} -IS\n"
            "# pyrunc's fast launcher, written by python -m pyrunc.launcher (docs/performance.md)\n"
            "import sys\n"
            f"sys.path.append({site!r})\n"
            "from pyrunc.cli import entry\n"
            "entry()\n")


def main():
    dest = os.path.join(os.path.dirname(sys.executable), "pyrunc")
    tmp = dest + ".tmp"
    with open(tmp, "w") as f:
        f.write(text())
    os.chmod(tmp, 0o755)
    os.rename(tmp, dest)
    print(f"launcher: {dest}")


if __name__ == "__main__":
    main()
