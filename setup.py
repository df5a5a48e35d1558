"""Build steps beyond pyproject.toml: the cffi module, the C executor, the schemas.

- pyrunc._native (cffi, csrc/build_native.py): in-process helpers.
- pyrunc._seccomp (cffi, csrc/build_seccomp.py): libseccomp, to compile seccomp profiles.
- pyrunc/libexec/pyrunc-init and pyrunc-front: the executor and the `pyrunc` command, built
  by csrc/Makefile (the one build step of the C parts; docs/architecture.md).
- pyrunc/oci_spec/*.json: the schemas from oci-spec/, read at run time.
- pyrunc/_build.py: the commit this was built from, for `pyrunc --version`.
"""

import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _commit():
    try:
        out = subprocess.run(["git", "-C", HERE, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class BuildPy(build_py):
    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "pyrunc", "oci_spec")
        os.makedirs(dest, exist_ok=True)
        for f in glob.glob(os.path.join(HERE, "oci-spec", "*.json")):
            shutil.copy(f, dest)
        with open(os.path.join(self.build_lib, "pyrunc", "_build.py"), "w") as f:
            f.write(f"COMMIT = {_commit()!r}\n")


class BuildExt(build_ext):
    def run(self):
        super().run()
        out_dir = os.path.abspath(os.path.join(HERE if self.inplace else self.build_lib, "pyrunc", "libexec"))
        os.makedirs(out_dir, exist_ok=True)
        # the C parts have one build step, csrc/Makefile (make -C csrc check tests them)
        cmd = ["make", "-s", "-C", os.path.join(HERE, "csrc"), f"OUT={out_dir}",
               f"CC={os.environ.get('CC', 'cc')}", "all"]
        self.announce(" ".join(cmd), level=2)
        subprocess.run(cmd, check=True)


setup(
    cffi_modules=["csrc/build_native.py:ffibuilder", "csrc/build_seccomp.py:ffibuilder"],
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt},
)
