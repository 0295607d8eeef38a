"""Plugins installed as ``vpa_config.plugins`` entry points."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_helpers import ACTOR, Guarded, make_guarded

from vpa_config import plugins
from vpa_config.errors import InvalidConfigError

MODULE = """
class Plugin:
    def validate(self, change):
        return [f"entry point saw {k}" for k in change.keys]
"""


@pytest.fixture(name="site")
def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path holding one installed distribution with a plugin."""
    site = tmp_path / "site"
    info = site / "vpa_ep_demo-2.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vpa-ep-demo\nVersion: 2.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[vpa_config.plugins]\nepdemo = vpa_ep_demo:Plugin\n"
    )
    (site / "vpa_ep_demo.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture(name="guarded")
def _guarded(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guarded]:
    guarded = make_guarded(store_path, monkeypatch)
    yield guarded
    guarded.store.close()


def test_installed_plugins_are_discovered(site: Path) -> None:
    found = plugins.installed_plugins()

    assert found["epdemo"]["spec"] == "vpa_ep_demo:Plugin"
    assert found["epdemo"]["version"] == "2.0"
    assert found["epdemo"]["distribution"] == "vpa-ep-demo"


@pytest.mark.parametrize("trusted", [True, False], ids=["in-process", "sandboxed"])
def test_an_entry_point_plugin_is_enabled_by_name(
    site: Path, guarded: Guarded, trusted: bool
) -> None:
    plugins.set_enabled(
        guarded.store, "epdemo", True, updates={"trusted": trusted}, actor=ACTOR
    )

    with pytest.raises(InvalidConfigError) as caught:
        guarded.store.set("assistant.yaml", "llm.temperature", 0.5, actor=ACTOR)

    assert "entry point saw assistant.yaml:llm.temperature (plugin epdemo)" in str(
        caught.value
    )
    assert guarded.named("plugin.loaded")[-1]["plugin_version"] == "2.0"
    status = guarded.status("epdemo")
    assert status.source == "entry point vpa_ep_demo:Plugin"
    assert status.sandboxed is (not trusted)


def test_an_unknown_name_without_spec_cannot_be_enabled(guarded: Guarded) -> None:
    with pytest.raises(
        InvalidConfigError, match="no installed plugin is called 'nope'"
    ):
        plugins.set_enabled(guarded.store, "nope", True, actor=ACTOR)
