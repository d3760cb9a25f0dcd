"""docs/tickets.md documents every setting the tickets service adds to the common ones."""

from __future__ import annotations

import re

from helpline.local_stack import REPO_ROOT
from helpline.settings import Settings
from services.tickets.app import TicketsSettings


def test_the_tickets_guide_documents_its_settings() -> None:
    guide = (REPO_ROOT / "docs" / "tickets.md").read_text()
    documented = set(re.findall(r"^\| `(HELPLINE_[A-Z_]+)` \|", guide, flags=re.MULTILINE))
    own = set(TicketsSettings.model_fields) - set(Settings.model_fields)
    assert documented == {f"HELPLINE_{name.upper()}" for name in own}
