"""What every federation endpoint refuses with, and the one group-size floor of a site (a
module of its own so the site's endpoint modules share it without importing each other)."""

from genshare_widgets._errors import GenShareError

MIN_GROUP_SIZE = 5  # no site releases anything about a group smaller than max(k, 5)


class SiteRefusal(GenShareError):  # noqa: N818 -- reads as the verdict it reports
    """A request (or a start-up setting) a site refuses under one of its rules.

    ``rule`` is a short id (``one-grouping``, ``min-group-size``, ``approved-reference``,
    ``open-tier-reference``, ``pca-limits``, ``consent``, ``dp-no-pca``, ``fixed-by-site``;
    association: ``assoc-not-served``, ``assoc-request``, ``assoc-min-n``, ``dominance``,
    ``parameters``, ``dp-no-assoc``;
    ``request-limits`` for a body over 1 MiB, nested too deep or stalling, see
    :mod:`genshare_widgets._serve`);
    over HTTP it answers ``status`` with ``{"detail": message, "rule": rule}``.
    """

    def __init__(self, status: int, rule: str, message: str) -> None:
        super().__init__(f"{message} [rule: {rule}]")
        self.status, self.rule, self.message = status, rule, message


def min_group_size(policy) -> int:
    """Smallest group a site says anything about: max(k, 5), in every tier."""
    return max(int(policy.min_count or 1), MIN_GROUP_SIZE)
