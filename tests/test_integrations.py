"""The CI integrations, run as far as they can run here: the pre-commit hook
through ``pre-commit try-repo``, the composite action's ``run:`` steps, and the
README's GitHub Actions and GitLab CI snippets (every command but
``pip install``), against fixture repositories built in the test."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from environment import require_tool

from tests.gitutil import GIT_ENV, git

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    migdoc_bin = str(Path(sys.executable).parent)
    full_env = {**os.environ, **GIT_ENV, **env, "PATH": migdoc_bin + os.pathsep + os.environ["PATH"]}
    full_env.pop("MIGDOC_DATABASE_URL", None)
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=full_env, capture_output=True, text=True)


def without_pip_install(script: str) -> str:
    return "\n".join(line for line in script.splitlines() if not re.search(r"\bpip install\b", line))


@pytest.fixture
def upstream(tmp_path) -> Path:
    """A remote with main (0001..0004, then 5e1f0a2b on 0004) and a branch add-coupons (0005 on 0004)."""
    root = tmp_path / "upstream"
    shutil.copytree(FIXTURES / "deploy_chain", root, ignore=shutil.ignore_patterns("archive"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "chain")
    template = (root / "migrations" / "versions" / "0004_add_invoices.py").read_text()

    def child(rev: str, slug: str) -> str:
        return (
            template.replace('revision = "0004"', f'revision = "{rev}"')
            .replace('down_revision = "0003"', 'down_revision = "0004"')
            .replace("Revision ID: 0004", f"Revision ID: {rev}")
            .replace("Revises: 0003", "Revises: 0004")
            .replace('"invoices"', f'"{slug}"')
        )

    git(root, "checkout", "-q", "-b", "add-coupons")
    (root / "migrations" / "versions" / "0005_add_coupons.py").write_text(child("0005", "coupons"))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "coupons")
    git(root, "checkout", "-q", "main")
    (root / "migrations" / "versions" / "5e1f0a2b_add_refunds.py").write_text(child("5e1f0a2b", "refunds"))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "refunds")
    return root


def shallow_clone(upstream: Path, target: Path, branch: str = "add-coupons") -> Path:
    """What CI checks out: one commit of the pull request's branch."""
    git(target.parent, "clone", "-q", "--depth", "1", "--branch", branch, f"file://{upstream}", str(target))
    return target


# -- action.yml -----------------------------------------------------------------


RUNNER_TEMP = Path(tempfile.gettempdir()) / "migdoc-action-runner-temp"
"""Stands for ``${{ runner.temp }}`` (the folder the action keeps migdoc's read cache in)."""


def action_steps() -> list[dict]:
    return yaml.safe_load((REPO / "action.yml").read_text())["runs"]["steps"]


def step_env(step: dict, inputs: dict[str, str]) -> dict[str, str]:
    defaults = {
        k: str(v.get("default", "")) for k, v in yaml.safe_load((REPO / "action.yml").read_text())["inputs"].items()
    }
    values = {**defaults, **inputs}
    env = {}
    for key, value in (step.get("env") or {}).items():
        value = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], str(value))
        env[key] = value.replace("${{ github.action_path }}", str(REPO)).replace("${{ runner.temp }}", str(RUNNER_TEMP))
    return env


def run_action(cwd: Path, tmp_path: Path, **inputs: str) -> list[subprocess.CompletedProcess]:
    """Run every `run:` step but the install (migdoc is installed here already), as the runner would."""
    output_file = tmp_path / "github_output"
    output_file.touch()
    results = []
    failed = False
    for step in action_steps():
        if "run" not in step or "pip install" in step["run"]:
            continue
        condition = str(step.get("if", ""))
        if "inputs.sarif == 'true'" in condition and inputs.get("sarif") != "true":
            continue
        if "always()" not in condition and failed:
            continue
        done = bash(step["run"], cwd, {**step_env(step, inputs), "GITHUB_OUTPUT": str(output_file)})
        failed = failed or done.returncode != 0
        results.append(done)
    return results


def test_action_installs_then_checks_and_uses_only_env_for_inputs():
    steps = action_steps()
    install = next(step for step in steps if "pip install" in step.get("run", ""))
    assert step_env(install, {})["MIGDOC_ACTION_PATH"] == str(REPO)
    for step in steps:
        # Inputs reach scripts through env only: no ${{ }} expansion inside a shell script.
        assert "${{" not in step.get("run", "")
    assert any(step.get("uses", "").startswith("github/codeql-action/upload-sarif") for step in steps)


def test_action_keeps_the_read_cache_between_runs_and_every_check_uses_it():
    steps = action_steps()
    (cache,) = [step for step in steps if step.get("uses", "").startswith("actions/cache@")]
    checks = [step for step in steps if "migdoc" in step.get("run", "") and "pip install" not in step["run"]]
    assert checks and all(step["env"]["MIGDOC_CACHE_DIR"] == cache["with"]["path"] for step in checks)
    assert "hashFiles" in cache["with"]["key"] and cache["with"]["restore-keys"]


def test_action_sarif_report_is_checked_against_the_base_ref_too(upstream, tmp_path):
    clone = shallow_clone(upstream, tmp_path / "checkout")
    git(clone, "fetch", "-q", "--no-tags", "--depth=50", "origin", "+refs/heads/main:refs/remotes/origin/main")
    check, sarif = run_action(clone, tmp_path, **{"base-ref": "origin/main", "sarif": "true"})
    assert check.returncode == 1 and sarif.returncode == 0, sarif.stderr
    rules = {result["ruleId"] for result in json.loads((clone / "migdoc.sarif").read_text())["runs"][0]["results"]}
    assert "MD017" in rules


def test_action_on_a_clean_project(copy_fixture, tmp_path):
    root = copy_fixture("deploy_chain")
    (check,) = run_action(root, tmp_path, path=".")
    assert check.returncode == 0, check.stderr
    assert check.stdout == ""


def test_action_annotates_and_fails_on_a_broken_chain_and_writes_sarif(copy_fixture, tmp_path):
    root = copy_fixture("demo")
    check, sarif = run_action(root, tmp_path, path=".", sarif="true")
    assert check.returncode == 1
    assert re.search(r"^::error file=migrations/versions/\S+,line=\d+,title=MD003 multiple-heads::", check.stdout, re.M)
    assert sarif.returncode == 0, sarif.stderr
    report = json.loads((root / "migdoc.sarif").read_text())
    assert report["version"] == "2.1.0" and report["runs"][0]["results"]
    assert "file=migdoc.sarif" in (tmp_path / "github_output").read_text()


def test_action_with_base_ref_in_a_shallow_checkout(upstream, tmp_path):
    clone = shallow_clone(upstream, tmp_path / "checkout")
    git(clone, "fetch", "-q", "--no-tags", "--depth=50", "origin", "+refs/heads/main:refs/remotes/origin/main")
    (check,) = run_action(clone, tmp_path, **{"base-ref": "origin/main", "args": "--select MD017"})
    assert check.returncode == 1
    assert check.stdout.startswith(
        "::error file=migrations/versions/0005_add_coupons.py,line=12,title=MD017 head-conflict::"
    )


def test_action_dryrun_input_adds_the_flag(copy_fixture, tmp_path, monkeypatch):
    """`dryrun: "true"` passes --dryrun; a stub migdoc records the command line (the dry-run has its own tests)."""
    root = copy_fixture("deploy_chain")
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "migdoc").write_text('#!/bin/sh\necho "$@" > "$MIGDOC_ARGS_FILE"\n')
    (stub / "migdoc").chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MIGDOC_ARGS_FILE", str(tmp_path / "args"))
    step = next(s for s in action_steps() if "--format github" in s.get("run", ""))
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=root,
        env={**os.environ, **step_env(step, {"dryrun": "true", "base-ref": "origin/main"})},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "args").read_text().split() == [
        "check",
        ".",
        "--format",
        "github",
        "--base-ref",
        "origin/main",
        "--dryrun",
    ]


# -- README snippets --------------------------------------------------------------


def readme_snippet(name: str) -> dict:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\s*```yaml\n(.*?)```", text, re.S)
    assert match, f"README has no snippet {name!r}"
    return yaml.safe_load(match.group(1))


def test_readme_github_actions_snippet(upstream, tmp_path):
    workflow = readme_snippet("github-actions")
    steps = workflow["jobs"]["migdoc"]["steps"]
    scripts = [s for s in steps if "run" in s]
    clone = shallow_clone(upstream, tmp_path / "checkout")
    outputs = []
    for step in scripts:
        env = {
            k: str(v).replace("${{ github.base_ref || github.event.merge_group.base_ref }}", "main")
            for k, v in (step.get("env") or {}).items()
        }
        outputs.append(bash(without_pip_install(step["run"]), clone, env))
    *_, last = outputs
    assert last.returncode == 1, last.stderr
    assert "title=MD017 head-conflict" in last.stdout
    assert "change down_revision of '0005' from '0004' to '5e1f0a2b'" in last.stdout
    # After the rebase the same job passes.
    git(clone, "fetch", "-q", "--no-tags", "--depth=50", "origin", "+refs/heads/main:refs/remotes/origin/main")
    git(clone, "checkout", "-q", "origin/main", "--", "migrations/versions/5e1f0a2b_add_refunds.py")
    path = clone / "migrations" / "versions" / "0005_add_coupons.py"
    path.write_text(
        path.read_text()
        .replace('down_revision = "0004"', 'down_revision = "5e1f0a2b"')
        .replace("Revises: 0004", "Revises: 5e1f0a2b")
    )
    again = bash(without_pip_install(scripts[-1]["run"]), clone, {"BASE": "main"})
    assert again.returncode == 0, again.stdout + again.stderr
    # In a merge queue the base comes as `refs/heads/main` (github.event.merge_group.base_ref).
    queued = bash(without_pip_install(scripts[-1]["run"]), clone, {"BASE": "refs/heads/main"})
    assert queued.returncode == 0, queued.stdout + queued.stderr
    assert "merge_group" in workflow[True]  # YAML 1.1 reads the key `on` as true


def test_readme_gitlab_ci_snippet(upstream, tmp_path):
    job = readme_snippet("gitlab-ci")["migdoc"]
    script = without_pip_install("\n".join(job["script"]))
    clone = shallow_clone(upstream, tmp_path / "checkout")
    done = bash(script, clone, {"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"})
    assert done.returncode == 1, done.stderr
    assert "MD017 head-conflict [0005]" in done.stdout
    clean = shallow_clone(upstream, tmp_path / "main-checkout", branch="main")
    assert bash(script, clean, {"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}).returncode == 0


def test_readme_pre_commit_snippet_names_the_hook():
    config = readme_snippet("pre-commit")
    (hook,) = config["repos"][0]["hooks"]
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] in {h["id"] for h in hooks}


# -- pre-commit -----------------------------------------------------------------


def hook_repository(tmp_path: Path) -> Path:
    """This source tree as a git repository, as pre-commit clones a hook repo."""
    hooks = tmp_path / "hook-repo"
    hooks.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(REPO / name, hooks / name)
    shutil.copytree(REPO / "migdoc", hooks / "migdoc", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    git(hooks, "init", "-q", "-b", "main")
    git(hooks, "add", ".")
    git(hooks, "commit", "-q", "-m", "migdoc")
    return hooks


def test_pre_commit_hook_entry_is_the_static_check():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "migdoc-check"
    assert hook["entry"] == "migdoc check"
    assert hook["pass_filenames"] is False
    assert "database" not in hook["entry"] and "base-ref" not in hook["entry"]


def test_pre_commit_try_repo(tmp_path, copy_fixture):
    """pre-commit builds its own virtualenv from the hook repo (pip, PyPI for dependencies)."""
    pre_commit = shutil.which("pre-commit") or shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    require_tool(pre_commit, "pre-commit (pip install -e '.[test]')")
    hooks = hook_repository(tmp_path)
    project = copy_fixture("deploy_chain")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PRE_COMMIT_COLOR": "never"}
    env.pop("MIGDOC_DATABASE_URL", None)

    def try_repo() -> subprocess.CompletedProcess:
        return subprocess.run(
            [pre_commit, "try-repo", str(hooks), "migdoc-check", "--all-files"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    clean = try_repo()
    if clean.returncode != 0 and "Passed" not in clean.stdout and "migdoc check" not in clean.stdout:
        pytest.fail(f"pre-commit could not install the hook:\n{clean.stdout}\n{clean.stderr}")
    assert clean.returncode == 0, clean.stdout
    assert re.search(r"migdoc check \(Alembic migration chain\)\.+Passed", clean.stdout)

    copy = project / "migrations" / "versions" / "0004_add_invoices_copy.py"
    copy.write_text((project / "migrations" / "versions" / "0004_add_invoices.py").read_text())
    git(project, "add", ".")
    broken = try_repo()
    assert broken.returncode == 1
    assert "Failed" in broken.stdout and "MD001 duplicate-revision" in broken.stdout
