"""A plugin whose import fails (a missing dependency)."""

import vpa_no_such_dependency  # noqa: F401


class Plugin:
    def validate(self, change):
        return []
