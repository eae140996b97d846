"""What the three product clients share: construction, cached product info, and idempotence.

The idempotence rules of docs/architecture.md decision 2 live here once. Each product answers "already
there" or "not there" differently (Jira 400, Confluence and Bitbucket 409, 404 everywhere), and a
status alone is not proof: a Jira 400 may also mean a bad e-mail address. So on such an answer the
client looks at the product's state, and succeeds only when the intent holds.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, TypeVar

import requests

from atlassian_clients.base import (
    Capabilities,
    Conflict,
    Creation,
    Led,
    NotFound,
    ProductInfo,
    Rejected,
    RemoteGroup,
    RemoteUser,
    Seats,
    Unavailable,
    Unsupported,
    UserDirectory,
    version_tuple,
)
from atlassian_clients.http import BasicAuth, HttpSettings, Observer, ProductProfile, TokenAuth, Transport
from atlassian_clients.options import ClientOptions
from atlassian_clients.paging import NextRule, pages

T = TypeVar("T")


class ProductClient:
    """Base of the shipped clients. Subclasses set ``product``, ``PROFILE``, ``Options`` and the operations.

    The keyword arguments of the constructor are the class's ``Options`` (``atlassian_clients/options.py``),
    whose fields hold the defaults; ``self.options`` is the frozen result.
    """

    product: ClassVar[str]
    PROFILE: ClassVar[ProductProfile]
    page_rule: ClassVar[NextRule]
    Options: ClassVar[type[ClientOptions]] = ClientOptions

    def __init__(self, transport: Transport, **options: Any) -> None:
        self.http = transport
        self.target = transport.target
        self.options = self.Options(**options)
        self.page_size = self.options.page_size
        self._info: ProductInfo | None = None
        self._info_lock = threading.Lock()

    @classmethod
    def from_target(
        cls,
        target: str,
        base_url: str,
        auth: BasicAuth | TokenAuth,
        *,
        http: HttpSettings | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        observe: Observer | None = None,
        **options: Any,
    ):
        """Build the client and its :class:`Transport` from a target's configuration."""
        transport = Transport(
            target,
            base_url,
            auth,
            cls.PROFILE,
            settings=http,
            session=session,
            sleep=sleep,
            clock=clock,
            wall_clock=wall_clock,
            observe=observe,
        )
        return cls(transport, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r}, base_url={self.http.base_url!r})"

    # ----------------------------------------------------------------------------------------------
    # product information

    def product_info(self) -> ProductInfo:
        with self._info_lock:
            if self._info is None:
                self._info = self._read_product_info()
            return self._info

    def capabilities(self) -> Capabilities:
        return self.product_info().capabilities

    def _read_product_info(self) -> ProductInfo:
        raise NotImplementedError

    def _product_info(
        self,
        answer: dict[str, Any],
        capabilities: Callable[[tuple[int, ...]], Capabilities],
        directories: tuple[UserDirectory, ...] | None = None,
    ) -> ProductInfo:
        """The info from a product's version resource; all three carry ``version`` and ``buildNumber``.

        ``capabilities`` maps the version's numbers to what this version can do.
        """
        version = str(answer.get("version", ""))
        build = answer.get("buildNumber")
        return ProductInfo(
            self.product,
            version,
            None if build is None else str(build),
            capabilities(version_tuple(version)),
            directories,
        )

    # ----------------------------------------------------------------------------------------------
    # requests

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.read_json(self.http.request("GET", path, params=params))

    def _paged(self, path: str, params: dict[str, Any]) -> Iterator[Any]:
        """Items of a ``start``/``limit`` paged resource (Confluence and Bitbucket), page by page."""
        return pages(lambda start: self._get(path, {**params, "start": start, "limit": self.page_size}), self.page_rule)

    def _get_or_none(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self._get(path, params)
        except NotFound:
            return None

    def _unsupported(self, what: str) -> Unsupported:
        return Unsupported(self.target, f"{self.PROFILE.label} has no REST call to {what}")

    # ----------------------------------------------------------------------------------------------
    # leads (capability ``can_hand_over_leads``): none by default (docs/products.md §2.13).

    def led_by(self, username: str) -> Led:
        return Led()

    def set_project_lead(self, project: str, username: str) -> None:
        raise self._unsupported("hand over a project lead")

    def set_component_lead(self, component: str, username: str) -> None:
        raise self._unsupported("hand over a component lead")

    def administered_alone(self, username: str) -> tuple[str, ...]:
        # Only where ``capabilities().can_report_sole_admins`` (docs/products.md §3.14, §4.15).
        return ()

    def seats(self) -> Seats | None:
        # Only where ``capabilities().can_read_seats`` (docs/products.md §1.11).
        raise self._unsupported("tell its licence seats")

    # ----------------------------------------------------------------------------------------------
    # idempotence

    def _unless_holds(self, call: Callable[[], object], holds: Callable[[], bool], *refusals: type) -> None:
        """Run ``call``; if the product refuses with one of ``refusals`` but the intent holds, succeed."""
        try:
            call()
        except refusals:
            if not holds():
                raise

    def _create_user_checked(self, username: str, path: str, **request: Any) -> Creation[RemoteUser]:
        """POST a user create; "name taken" returns the existing account."""
        return self._create_checked(
            lambda: self._lookup_user(username), lambda answer: self._created_user(username, answer), path, **request
        )

    def _created_user(self, username: str, answer: requests.Response | None) -> RemoteUser:
        """The account a create made, from the product's answer (None: the create's answer was lost
        and a look-up found it). Products whose answer does not carry the account read it back."""
        return self._read_back_user(username)

    def _create_group_checked(self, name: str, path: str, **request: Any) -> Creation[RemoteGroup]:
        """POST a group create; "name taken" returns the existing group."""
        return self._create_checked(lambda: self.get_group(name), lambda _answer: RemoteGroup(name), path, **request)

    def _create_checked(
        self, lookup: Callable[[], T | None], made: Callable[[requests.Response | None], T], path: str,
        **request: Any,
    ) -> Creation[T]:
        """POST a create that must not be sent twice, and settle "already exists".

        After a failure that may have landed, the transport calls ``lookup`` instead of sending the
        create again. A refusal (Jira 400, Confluence and Bitbucket 409) means "already exists"
        only if ``lookup`` then finds the object. A refusal that follows an ambiguous attempt of
        this same call counts as created: the object is, in all likelihood, that attempt landing
        late (after the look-up said "absent", before the create was sent again).
        """
        ambiguous = False

        def landed() -> bool:
            nonlocal ambiguous
            ambiguous = True
            return lookup() is not None

        try:
            answer = self.http.request("POST", path, verify_after_ambiguous=landed, **request)
        except (Conflict, Rejected):
            existing = lookup()
            if existing is None:
                raise
            return Creation(existing, created=ambiguous)
        return Creation(made(answer), created=True)

    def _read_back_user(self, username: str) -> RemoteUser:
        user = self._lookup_user(username)
        if user is None:
            raise Unavailable(
                self.target,
                f"{self.PROFILE.label} accepted user {username!r} but does not "
                "return it yet; the next delivery will link it",
            )
        return user

    def _rename_checked(self, new: str, method: str, path: str, **request: Any) -> None:
        """Rename; an account that already carries the new name counts as done."""

        def renamed() -> bool:
            user = self.get_user(new)
            return user is not None and user.name == new

        self._unless_holds(
            lambda: self.http.request(method, path, verify_after_ambiguous=renamed, **request), renamed, NotFound
        )

    def _is_member(self, group: str, username: str) -> bool:
        return self._is_member_of_all((group,), username)

    def _is_member_of_all(self, groups: Iterable[str], username: str) -> bool:
        try:
            held = {name.casefold() for name in self.user_groups(username)}
        except NotFound:
            return False
        return all(group.casefold() in held for group in groups)

    def _emails_equal(self, user: RemoteUser, email: str) -> bool:
        return bool(user.email) and user.email.casefold() == email.casefold()

    def _lookup_user(self, username: str) -> RemoteUser | None:
        """The look-up a create uses to settle its own outcome: ``get_user`` unless a client's
        ``get_user`` does more than read (Bitbucket finishes securing accounts there)."""
        return self.get_user(username)

    # The protocol methods the helpers above rely on; subclasses implement them.
    def get_user(self, username: str) -> RemoteUser | None:
        raise NotImplementedError

    def get_group(self, name: str) -> RemoteGroup | None:
        raise NotImplementedError

    def user_groups(self, username: str) -> list[str]:
        raise NotImplementedError

    def get_user_and_groups(self, username: str) -> tuple[RemoteUser | None, list[str] | None]:
        return self.get_user(username), None


def named(candidates: Iterable[T], name: str, name_of: Callable[[T], str]) -> T | None:
    """The candidate called ``name``, compared case-insensitively as the products compare names.

    For lookups through substring searches (Jira group picker, Bitbucket ``filter``), which also
    return ``devs-old`` when asked for ``devs``.
    """
    wanted = name.casefold()
    return next((candidate for candidate in candidates if name_of(candidate).casefold() == wanted), None)


def throwaway_password() -> str:
    """A random password for accounts whose people sign in through SSO and never type one."""
    return secrets.token_urlsafe(24)
