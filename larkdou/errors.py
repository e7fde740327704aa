"""The exception tree of larkdou.

    LarkdouError
    ├── ConfigError            bad or missing configuration (message names the key)
    ├── BindError              a server cannot listen on its address (port in use, address not ours)
    ├── StoreError             the queue / ledger store cannot be reached or failed
    ├── EventError             an inbound Lark event was rejected (carries an HTTP status and a reason)
    │   └── AuthError          the request is not authenticated: one opaque answer, whatever the reason
    │       ├── SignatureError X-Lark-Signature missing or wrong, or its timestamp out of the window
    │       ├── TokenError     verification token wrong
    │       └── DecryptError   the encrypted body cannot be decrypted (or is not JSON once decrypted)
    ├── LarkAPIError           an Open API call failed (code, msg, log_id, http status)
    │   ├── LarkAuthError      tenant token invalid / expired, bad app credentials
    │   ├── LarkRateLimited    99991400 / HTTP 429 / 230020 (retry_after seconds)
    │   ├── LarkServerError    5xx or a transport failure: retryable
    │   ├── RecallWindowError  230009: too old to recall
    │   ├── NotOwnMessageError 230026: not the bot's message
    │   ├── MessageGoneError   230011 / 230110 / 231003: already recalled or deleted
    │   ├── UpdateWindowError  230031: too old to update (14 days)
    │   └── ContentRejectedError   the content itself was refused: permanent, do not retry as is
    │       ├── CardContentError   230099: Lark could not build the card from its JSON
    │       └── ContentTooLongError 230025: over the request-body limit (150 KB text, 30 KB card)
    ├── KnowledgeBaseError     the knowledge base is missing, or a model path cannot be loaded
    └── LLMError               the LLM failed after retries

Messages never contain secrets.
"""

from __future__ import annotations


class LarkdouError(Exception):
    """Root of every error larkdou raises on purpose."""


class ConfigError(LarkdouError):
    """The configuration is invalid; the message names the key and what was expected."""


class BindError(LarkdouError):
    """A server cannot listen on its host and port; the message names the config key to change."""


class StoreError(LarkdouError):
    """The store (SQLite or Redis) failed or cannot be reached."""


class EventError(LarkdouError):
    """An inbound event was rejected. `status` is the HTTP status to answer with."""

    status = 400
    reason = "bad_request"

    def __init__(self, message: str, *, reason: str | None = None, status: int | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if status is not None:
            self.status = status


class AuthError(EventError):
    """A request that failed authentication. `reason` says why, for the log and never for the
    client: every AuthError gets the same answer, so that nothing (a padding oracle, a token guess)
    can be learnt from it."""

    status = 401
    reason = "unauthenticated"


class SignatureError(AuthError):
    reason = "bad_signature"


class TokenError(AuthError):
    reason = "bad_token"


class DecryptError(AuthError):
    reason = "undecryptable"


class LarkAPIError(LarkdouError):
    """An Open API call returned a non-zero code or failed."""

    def __init__(self, code: int, msg: str, *, http_status: int = 0, log_id: str = "", retry_after: float = 0.0):
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.log_id = log_id
        self.retry_after = retry_after
        super().__init__(f"lark api error code={code} http={http_status} msg={msg!r} log_id={log_id}")


class LarkAuthError(LarkAPIError):
    pass


class LarkRateLimited(LarkAPIError):
    pass


class LarkServerError(LarkAPIError):
    pass


class RecallWindowError(LarkAPIError):
    pass


class NotOwnMessageError(LarkAPIError):
    pass


class MessageGoneError(LarkAPIError):
    pass


class UpdateWindowError(LarkAPIError):
    pass


class ContentRejectedError(LarkAPIError):
    """Lark refused the content of a message (not the request): sending it again cannot succeed;
    a plain-text rendering of the same answer may."""


class CardContentError(ContentRejectedError):
    pass


class ContentTooLongError(ContentRejectedError):
    pass


class KnowledgeBaseError(LarkdouError):
    pass


class LLMError(LarkdouError):
    pass
