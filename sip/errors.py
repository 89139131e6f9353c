"""Error types of the SIP core, one per layer, each subclassing a stdlib base."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sip.headers import Headers

# Headers a UAS copies into any response (RFC 3261 §8.2.6.2); without all of
# them a response cannot be matched by the client, so none is sent.
RESPONSE_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")


class SipError(Exception):
    """Base of every error raised by the sip package."""


class SipParseError(SipError, ValueError):
    """A message, header or URI that does not follow the RFC 3261 grammar.

    ``status`` is the response code a server should answer with (400 unless a
    more specific one applies: 505 bad version, 513 too large, 413 body too
    large). ``headers`` holds the header section when it could be parsed, so a
    server can still build that response; ``is_request`` says whether the
    start line looked like a request line.
    """

    def __init__(
        self,
        message: str,
        *,
        header: str | None = None,
        status: int = 400,
        headers: Headers | None = None,
        is_request: bool = False,
    ) -> None:
        super().__init__(message)
        self.header = header
        self.status = status
        self.headers = headers
        self.is_request = is_request

    @property
    def can_respond(self) -> bool:
        """True when enough is known to send an error response to the sender."""
        if not self.is_request or self.headers is None:
            return False
        return all(name in self.headers for name in RESPONSE_HEADERS)

    def with_context(self, *, headers: Headers | None, is_request: bool) -> SipParseError:
        """The same error, enriched with what the parser learned later."""
        err = type(self)(
            str(self),
            header=self.header,
            status=self.status,
            headers=headers,
            is_request=is_request,
        )
        err.__cause__ = self.__cause__
        return err


class SipFramingError(SipParseError):
    """A stream can no longer be split into messages; the connection must close."""


class TransactionError(SipError, RuntimeError):
    """A transaction-layer call that is invalid in the current state."""


class DialogError(SipError, ValueError):
    """A message that cannot create or belong to a dialog."""


class DigestError(SipError, ValueError):
    """A malformed digest challenge or credentials header."""


class SdpError(SipError, ValueError):
    """A session description that does not follow RFC 4566."""


class OfferAnswerError(SipError, ValueError):
    """An SDP offer that cannot be answered (the UAS replies 488)."""
