"""Build steps beyond pyproject.toml: the cffi module, the C executor, the schemas.

- pyrunc._native (cffi, csrc/build_native.py): in-process helpers.
- pyrunc._seccomp (cffi, csrc/build_seccomp.py): libseccomp, to compile seccomp profiles.
- pyrunc/libexec/pyrunc-init and pyrunc-front: the executor and the `pyrunc` command, built
  by csrc/Makefile (the one build step of the C parts; docs/architecture.md).
- <bin>/pyrunc (the front) and <bin>/pyrunc-py (bin/pyrunc-py): what pip installs as the
  command, so that an installed pyrunc is the fast one with nothing to run afterwards.
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
FRONT_DIR = os.path.join("build", "pyrunc-bin")  # relative to HERE, as setuptools wants data_files


def _commit():
    try:
        out = subprocess.run(["git", "-C", HERE, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return out
    except (OSError, subprocess.CalledProcessError):
        return ""  # not a git checkout: `pyrunc --version` then has no commit line, as runc


class BuildPy(build_py):
    def run(self):
        # build/ outlives a build: a module deleted from the tree would still be shipped
        shutil.rmtree(os.path.join(self.build_lib, "pyrunc"), ignore_errors=True)
        super().run()
        dest = os.path.join(self.build_lib, "pyrunc", "oci_spec")
        os.makedirs(dest, exist_ok=True)
        for f in glob.glob(os.path.join(HERE, "oci-spec", "*.json")):
            shutil.copy(f, dest)
        with open(os.path.join(self.build_lib, "pyrunc", "_build.py"), "w") as f:
            f.write(f"COMMIT = {_commit()!r}\n")
        # the -OO bytecode pyrunc-py runs (python -IOOS), compiled here so that it is in the
        # wheel and its RECORD: no call compiles it, and pip uninstall removes it (bytecode
        # written at run time would be left behind).  Checked against the source's hash, not
        # its mtime, which pip does not keep.
        import compileall
        import py_compile
        compileall.compile_dir(os.path.join(self.build_lib, "pyrunc"), quiet=1, optimize=2,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)


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
        # what pip installs into the environment's bin: `pyrunc` is the front (data_files
        # below: a binary, which setuptools' script copier cannot read), `pyrunc-py` the
        # Python runtime it runs (bin/pyrunc-py, a script: pip points its first line at the
        # environment's interpreter)
        os.makedirs(os.path.join(HERE, FRONT_DIR), exist_ok=True)
        shutil.copy2(os.path.join(out_dir, "pyrunc-front"), os.path.join(HERE, FRONT_DIR, "pyrunc"))


setup(
    cffi_modules=["csrc/build_native.py:ffibuilder", "csrc/build_seccomp.py:ffibuilder"],
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt},
    scripts=["bin/pyrunc-py"],
    data_files=[("bin", [os.path.join(FRONT_DIR, "pyrunc")])],
)
