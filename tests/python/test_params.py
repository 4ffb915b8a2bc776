"""Parameters: one table, validated from the environment and fastpy.config(), documented."""
import os

import pytest

from conftest import LAUNCHER, REPO, clean_env, run, write

THRESHOLDS = ["FASTPY_HOT_LOOP", "FASTPY_HOT_EXIT", "FASTPY_HOT_FUNC", "FASTPY_LLVM_HOT"]


@pytest.mark.parametrize("var,value,expected", [
    ("FASTPY_HOT_LOOP", "abc", "an integer from 1 to"),
    ("FASTPY_HOT_LOOP", "-5", "an integer from 1 to"),
    ("FASTPY_HOT_EXIT", "0", "an integer from 1 to"),
    ("FASTPY_MAX_TRACE", "1e3", "an integer from 16 to"),
    ("FASTPY_TIERS", "interp,warp", "comma-separated list of: interp,ir,baseline,llvm,gpu"),
    ("FASTPY_TIERS", "baseline", "includes 'interp'"),
    ("FASTPY_GPU", "yes", "one of: auto,on,off"),
    ("FASTPY_LOG", "everything", "comma-separated list of:"),
])
def test_bad_env_value_is_a_clear_error_before_user_code(tmp_path, var, value, expected):
    prog = write(tmp_path, "p.py", "print('USER CODE RAN')\n")
    env = clean_env(**{var: value})
    out = run([LAUNCHER, "-m", "fastpy", str(prog)], env=env)
    assert out.returncode == 2
    assert "USER CODE RAN" not in out.stdout
    assert out.stderr.startswith(f"fastpy: error: {var}='{value}' is not valid: expected"), out.stderr
    assert expected in out.stderr
    assert "Traceback" not in out.stderr
    # `import fastpy` in a program raises ConfigError, naming the same things.
    out = run([LAUNCHER, "-c", "import fastpy"], env=env)
    assert out.returncode == 1
    assert f"fastpy.ConfigError: {var}='{value}' is not valid" in out.stderr


@pytest.mark.parametrize("var", THRESHOLDS)
def test_one_is_valid_for_every_threshold(tmp_path, var):
    out = run([LAUNCHER, "-c", "import fastpy; print(fastpy.config())"], env=clean_env(**{var: "1"}))
    assert out.returncode == 0, out.stderr
    assert f"'{var[7:].lower()}': 1" in out.stdout


def test_config_sets_validates_and_rolls_back(fastpy_mod):
    before = fastpy_mod.config()
    try:
        assert fastpy_mod.config(hot_loop=5, tiers="interp,ir")["hot_loop"] == 5
        assert fastpy_mod.config()["tiers"] == "interp,ir"
        with pytest.raises(fastpy_mod.ConfigError, match=r"fastpy.config\(hot_exit\)='-1' is not valid"):
            fastpy_mod.config(hot_loop=9, hot_exit=-1)
        assert fastpy_mod.config()["hot_loop"] == 5          # nothing of a failed call is applied
        with pytest.raises(TypeError, match="unknown parameter 'hot_lop'"):
            fastpy_mod.config(hot_lop=1)
        with pytest.raises(TypeError, match="expected int or str"):
            fastpy_mod.config(hot_loop=1.5)
        assert issubclass(fastpy_mod.ConfigError, ValueError)
    finally:
        fastpy_mod.config(**before)


def test_help_params_lists_the_whole_table():
    import fastpy
    out = run([LAUNCHER, "-m", "fastpy", "--help-params"])
    assert out.returncode == 0
    for row in fastpy._fastpy.params_table():
        assert row["env"] in out.stdout and row["doc"] in out.stdout
    assert {r["env"] for r in fastpy._fastpy.params_table()} >= {
        *THRESHOLDS, "FASTPY_TIERS", "FASTPY_MAX_TRACE", "FASTPY_LOG", "FASTPY_GPU"}


def test_docs_match_the_tables():
    """docs/parameters.md and docs/stats.md embed --help-params / --help-stats (scripts/update-docs.sh)."""
    for option, doc in [("--help-params", "parameters.md"), ("--help-stats", "stats.md")]:
        out = run([LAUNCHER, "-m", "fastpy", option])
        text = open(os.path.join(REPO, "docs", doc)).read()
        assert out.stdout in text, f"docs/{doc} is stale: run scripts/update-docs.sh"
