"""The JSON the state database keeps: run summaries, run event data, dry-run lists.

One name for such an object wherever it is passed. Its values are whatever ``json.loads`` gives
back and are not checked: a reader checks what it takes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A JSON object being built or read back.
JsonObject = dict[str, Any]
#: A JSON object only read.
JsonView = Mapping[str, Any]
