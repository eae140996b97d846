"""Whether a user never linked on a target is created there without looking for its account first.

A new user's delivery used to read the account by name (absent, as a rule) and then create it: two
calls on Jira where one does, and the read is a full round trip to the product on the path of the
SCIM write that waits for it. Sent unread, the create itself tells: the product refuses a name that
is taken (Jira 400, Confluence and Bitbucket 409; the client then looks the account up, see
``atlassian_clients/product.py``), and the delivery plans again with the account it found, judging
it exactly as a read would have (protected, another directory, linked to another user, not to be
linked at all). An account that existed thus costs one call more than reading first (the refused
create).

Which is cheaper depends on what a target holds: a Data Center instance that already has most of
the identity provider's people (the first push after installing the bridge beside older accounts)
would pay that extra call for nearly every user. So each target keeps what the last never-linked
users' deliveries found (``WINDOW`` of them, whichever way they looked) and creates unread only once
it has seen ``AT_LEAST`` of them and while fewer than half found an account: until then it reads
first, so an account that exists meets a create only where accounts have lately been new. A delivery
that must search by e-mail address (``users.match_existing: email``) and a dry run always read first.

It relies on the products refusing a name taken in any of their user directories, not only in the
one they create in (docs/products.md §1.7): otherwise a create could shadow an account of a
read-only directory that a read would have found and left alone.
"""

from __future__ import annotations

import threading
from collections import deque

WINDOW = 32
AT_LEAST = 4


class CreateFirst:
    """One target's recent never-linked users: did their accounts exist already?"""

    def __init__(self, window: int = WINDOW, at_least: int = AT_LEAST):
        self._seen: deque[bool] = deque(maxlen=window)
        self._at_least = min(at_least, window)
        self._lock = threading.Lock()

    def likely_new(self) -> bool:
        """True once enough never-linked users were seen and fewer than half of the recent ones had
        an account."""
        with self._lock:
            return len(self._seen) >= self._at_least and 2 * sum(self._seen) < len(self._seen)

    def saw(self, existing: bool) -> None:
        with self._lock:
            self._seen.append(existing)
