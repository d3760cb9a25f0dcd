"""Each service's guide documents every setting the service adds to the common ones."""

from __future__ import annotations

import re

import pytest

from devstack.local_stack import REPO_ROOT
from helpline.settings import Settings
from services.metrics.app import MetricsSettings
from services.notify.app import NotifySettings
from services.router.app import RouterSettings
from services.sla.app import SlaSettings
from services.tickets.app import TicketsSettings


@pytest.mark.parametrize(
    ("guide", "settings"),
    [
        ("tickets.md", TicketsSettings),
        ("router.md", RouterSettings),
        ("sla.md", SlaSettings),
        ("metrics.md", MetricsSettings),
        ("notify.md", NotifySettings),
    ],
)
def test_the_service_guide_documents_its_settings(guide: str, settings: type[Settings]) -> None:
    text = (REPO_ROOT / "docs" / guide).read_text()
    documented = set(re.findall(r"^\| `(HELPLINE_[A-Z_]+)` \|", text, flags=re.MULTILINE))
    own = set(settings.model_fields) - set(Settings.model_fields)
    assert documented == {f"HELPLINE_{name.upper()}" for name in own}
