"""A few hundred mutated configs (integration/fuzz.py): no traceback, one line or success,
nothing left behind.  `python integration/fuzz.py --cases 3200` is the longer run whose
figures docs/security.md quotes."""

import pytest
from fuzz import Gen, base_config, judge, run_case

from conftest import PYRUNC

CHUNKS, PER_CHUNK = 6, 50  # 300 cases, spread over the workers


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_mutated_configs(env, chunk):
    gen = Gen(1000 + chunk)
    base = base_config(env.rootfs)
    bundle = env.bundle(["true"])
    bad = []
    for i in range(PER_CHUNK):
        cid = env.new_id("f")
        cfg = gen.config(base, f"{env.cgparent}/f{i}")
        rc, err = run_case(PYRUNC, env.root, bundle, cid, cfg)
        why = judge(rc, err)
        if why:
            bad.append((i, why, err[-400:]))
        env.pyrunc("delete", "--force", cid)
        left = env.leftovers()
        if left:
            bad.append((i, "left behind", left))
            break
    assert not bad, bad
