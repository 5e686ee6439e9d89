"""The GitHub REST transport under `github_api`: one call with its retries, and its errors.

Retries: 5xx answers, network faults and rate limits (GitHub's "Rate limits for the REST
API": a 403 or 429 with `x-ratelimit-remaining: 0` waits until `x-ratelimit-reset`; a
secondary limit waits `retry-after` seconds, else a minute and then longer), within
`max_attempts` and `max_wait` seconds of sleep in all; a limit that asks for longer gives up
at once. The token is sent only in the Authorization header, only to the configured API
origin (`_checked_next`), and is redacted from every message. Answers are capped in size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scangate import __version__
from scangate.formats.escape import plain

if TYPE_CHECKING:
    # Imported where used: only a run that comments on a pull request talks to GitHub.
    import requests

API_VERSION = "2022-11-28"
MAX_RESPONSE_BYTES = 32 << 20  # 100 comments of 65,536 four-byte characters fit
MAX_ERROR_BYTES = 64 << 10
TIMEOUT = (10.0, 30.0)  # connect, read (seconds)
MAX_ATTEMPTS = 4
MAX_WAIT = 60.0  # seconds of sleep between attempts, in all
SECONDARY_WAIT = 60.0  # GitHub: with no retry-after, wait at least a minute
_MESSAGE_CAP = 200

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class GitHubError(Exception):
    """A GitHub API call (or its configuration) that did not work: one line, no token.

    `kind`: config, auth (401), forbidden (403), not-found (404), rate-limited, server (5xx
    after retries), network, rejected (another 4xx) or bad-response (an answer that is not
    what the API documents)."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"GitHubError({self.kind!r}, {self.message!r}, status={self.status!r})"


class GitHubTransport:
    """`_call` and its helpers, mixed into `github_api.GitHubClient` (a dataclass that holds
    these attributes)."""

    __slots__ = ()

    api_url: str
    token: str
    session: requests.Session | None
    sleep: Sleep
    clock: Clock
    max_attempts: int
    max_wait: float

    def _headers(self, *, json_body: bool = False) -> dict[str, str]:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": f"scangate/{__version__}",
        }
        if json_body:  # a body given as bytes (requests sets it for `json=` itself)
            headers["Content-Type"] = "application/json"
        return headers

    def _checked_next(self, url: str | None) -> str | None:
        if url is None:
            return None
        here, there = urlsplit(self.api_url), urlsplit(url)
        base_path = here.path.rstrip("/") + "/"
        if (there.scheme, there.netloc) != (here.scheme, here.netloc) or not there.path.startswith(
            base_path
        ):
            # The token goes only to the API it was configured for.
            raise GitHubError(
                "bad-response",
                f"the comment list's next page is outside {self.api_url}: not followed",
            )
        return url

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        payload: dict[str, str] | None = None,
        body: bytes | None = None,
        hints: Mapping[int, str] | None = None,
    ) -> tuple[Any, str | None]:
        """The JSON of a 2xx answer and its rel="next" link, after retries."""
        import requests

        # A hostile API can echo the token into a next link's path, which messages quote.
        what = self._redact(f"{method} {urlsplit(url).path}")
        waited = 0.0
        http = self.session if self.session is not None else requests.Session()
        try:
            for attempt in range(1, self.max_attempts + 1):
                last = attempt == self.max_attempts
                try:
                    response = http.request(
                        method,
                        url,
                        params=params,
                        json=payload,
                        data=body,
                        headers=self._headers(json_body=body is not None),
                        auth=_Bearer(self.token),
                        timeout=TIMEOUT,
                        stream=True,
                        allow_redirects=method == "GET",
                    )
                except requests.RequestException as exc:
                    problem = _network_problem(exc)
                    # A POST that timed out after sending may have made the comment.
                    sent = isinstance(exc, requests.ReadTimeout) and method == "POST"
                    wait = _backoff(attempt)
                    if sent or last or waited + wait > self.max_wait:
                        raise GitHubError("network", f"{what}: {problem}") from None
                    self.sleep(wait)
                    waited += wait
                    continue
                with response:
                    if 200 <= response.status_code < 300:
                        data = _json(_read(response, MAX_RESPONSE_BYTES, what), what)
                        return data, response.links.get("next", {}).get("url")
                    error = self._error(response, what, attempt, hints or _HINTS)
                if error.retry_after is None or last or waited + error.retry_after > self.max_wait:
                    raise error.final(last, self.max_wait)
                self.sleep(error.retry_after)
                waited += error.retry_after
        finally:
            if self.session is None:
                http.close()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _error(
        self, response: requests.Response, what: str, attempt: int, hints: Mapping[int, str]
    ) -> _Failure:
        status = response.status_code
        headers = response.headers
        try:
            body = _read(response, MAX_ERROR_BYTES, what)
        except GitHubError:
            body = b""
        message = self._message(body)
        detail = f"{what}: HTTP {status}" + (f" ({message})" if message else "")
        remaining = headers.get("x-ratelimit-remaining")
        retry_after = _retry_after(headers.get("retry-after"), self.clock())
        secondary = "secondary rate limit" in message.lower() or "abuse" in message.lower()
        if status in (403, 429) and (remaining == "0" or retry_after is not None or secondary):
            if retry_after is None and remaining == "0":
                retry_after = _until_reset(headers.get("x-ratelimit-reset"), self.clock())
            if retry_after is None:  # a secondary limit with no hint: a minute, then longer
                retry_after = SECONDARY_WAIT * 2 ** (attempt - 1)
            kind = "secondary" if secondary or remaining != "0" else "primary"
            return _Failure("rate-limited", f"{detail}: {kind} rate limit", status, retry_after)
        if status >= 500:
            wait = retry_after if retry_after is not None else _backoff(attempt)
            return _Failure("server", detail, status, wait)
        hint = hints.get(status)
        kind = _KINDS.get(status, "rejected")
        return _Failure(kind, f"{detail}" + (f": {hint}" if hint else ""), status, None)

    def _message(self, body: bytes) -> str:
        """GitHub's `message` from an error answer: one safe line, clipped, no token."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: [[[[... nested past the limit
            return ""
        message = data.get("message") if isinstance(data, dict) else None
        if not isinstance(message, str):
            return ""
        return plain(self._redact(message), _MESSAGE_CAP)

    def _redact(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text


class _Bearer:
    """The Authorization header, set as requests' `auth`: a ~/.netrc entry cannot replace it,
    and requests drops it on a redirect to another host."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(***)"


_KINDS = {401: "auth", 403: "forbidden", 404: "not-found"}
_HINTS = {
    401: "the token is not valid (expired, or for another GitHub host)",
    403: "the token may not comment here (a fork's pull request gets a read-only token; "
    "the workflow needs permissions pull-requests: write)",
    404: "no such pull request, or the token cannot see the repository "
    "(check GITHUB_REPOSITORY and the token's access)",
    422: "GitHub refused the comment (too long, or the pull request is locked)",
}


@dataclass(frozen=True, slots=True)
class _Failure:
    kind: str
    message: str
    status: int
    retry_after: float | None  # None: not worth another attempt

    def final(self, last: bool, max_wait: float) -> GitHubError:
        message = self.message
        if self.retry_after is not None and last:
            message += " (still failing after retries)"
        elif self.retry_after is not None:
            message += (
                f"; another try would wait {self.retry_after:.0f} s, "
                f"more than scangate waits ({max_wait:.0f} s in all)"
            )
        return GitHubError(self.kind, message, self.status)


def _backoff(attempt: int) -> float:
    return float(2 ** (attempt - 1))  # 1, 2, 4 s


def _retry_after(value: str | None, now: float) -> float | None:
    """Retry-After: delay-seconds or an HTTP date (RFC 9110), as seconds from now."""
    if value is None:
        return None
    seconds = _digits(value)
    if seconds is not None:
        return float(min(seconds, 86_400))
    try:
        return max(0.0, parsedate_to_datetime(value.strip()).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):  # year 99999999999
        return None


def _until_reset(value: str | None, now: float) -> float | None:
    """x-ratelimit-reset is UTC epoch seconds; a second more for clock skew."""
    seconds = _digits(value)
    return None if seconds is None else max(0.0, seconds - now) + 1.0


def _digits(value: str | None) -> int | None:
    """A header's whole number of seconds, capped. Only ASCII digits: headers are read as
    Latin-1, and `str.isdigit` takes "²", which `int` refuses; `int` also refuses 4,300
    digits and more."""
    value = (value or "").strip()
    if not value or not value.isascii() or not value.isdigit():
        return None
    return int(value) if len(value) <= 12 else 10**12


def _network_problem(exc: requests.RequestException) -> str:
    import requests

    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect ({exc.__class__.__name__})"
    # The text of other errors can quote a header; the class name is enough.
    return exc.__class__.__name__


def _read(response: requests.Response, cap: int, what: str) -> bytes:
    import requests

    body = bytearray()
    try:
        for chunk in response.iter_content(chunk_size=1 << 16):
            body += chunk
            if len(body) > cap:
                raise GitHubError(
                    "bad-response", f"{what}: the answer is over {cap >> 20 or 1} MiB: not read"
                )
    except requests.RequestException as exc:
        raise GitHubError("network", f"{what}: {_network_problem(exc)}") from None
    return bytes(body)


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: [[[[... nested past the limit
        raise GitHubError("bad-response", f"{what}: the answer is not JSON") from None
