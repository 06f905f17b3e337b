"""Errors raised by rengo: one base class, one subclass per failure a user must tell apart."""

from __future__ import annotations


class RengoError(Exception):
    """Base class of every error rengo raises on purpose."""


class ConfigError(RengoError, ValueError):
    """A job file, argument or option is invalid; the message names the field and the fix."""


class DataError(RengoError, ValueError):
    """Input data is malformed: bad CSV, missing label column, mismatched IDs, wrong shapes."""


class CodecError(RengoError, ValueError):
    """Bytes could not be decoded into a typed payload (malformed, truncated or hostile input)."""


class ProtocolError(RengoError):
    """A peer broke the protocol: unexpected message, wrong sender, wrong round."""


class PeerFailure(ProtocolError):
    """Another role of the run failed or left, so this role cannot finish either.

    Raised by a channel's ``recv`` (every transport: the in-process bus and the gRPC hub and
    parties) as soon as any role of the run reports a failure, so no role waits for a message
    that will never come. ``role`` names who failed first; ``reason`` is the kind of its
    error (over the network only the kind travels: the message may name IDs or values that
    must not leave the failing party).
    """

    def __init__(self, role: str, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"{role} aborted the run ({reason})")
        self.role = role
        self.reason = reason


class MessageTooLarge(ConfigError):
    """A role's message is larger than the run's message limit, so the coordinator would cut
    its sender off; the message names the limit and the setting that raises it."""


class MissingExtraError(ConfigError, ImportError):
    """An optional dependency is not installed; the message names the feature that needs it
    and the command that installs rengo's extra (:func:`rengo.core.install_hint.install_hint`).

    An :class:`ImportError`, as a missing module is, and a :class:`ConfigError`, as choosing
    a feature the installation lacks is: the CLI says it in one line, as other configuration
    errors, rather than with a traceback.
    """


class UnrunnableClientTask(ConfigError):
    """No live node of a joined Ray cluster could run a client task for ``unrunnable_wait_s``
    seconds: the run itself is fine (every completed round and checkpoint stands), so it is
    left ``interrupted``, and ``--resume`` continues it once a node that can run the task has
    joined (or with a smaller request per client).

    ``interrupted_run`` is the id of the run this error left ``interrupted``, set by the run
    lifecycle; None where no run was left so."""

    interrupted_run: str | None = None


class AuthenticationError(RengoError):
    """A peer could not prove who it is, or claimed someone else's name."""


class ReleaseMismatchError(AuthenticationError):
    """A party speaks another wire format than the coordinator (the format of the roles'
    messages, named with the rengo release in the hello and the welcome): the coordinator
    refuses it when it says hello, and the party a coordinator's welcome, before it takes
    part (a mixed run would fail mid-protocol, or worse, not fail). Releases of the same
    wire format are admitted."""


class KeyMismatchError(RengoError, ValueError):
    """A ciphertext or key belongs to a different key pair than the one in use."""


class ClientFailure(RengoError):
    """One client failed in one round (raised, timed out, sent NaN/Inf or wrong shapes)."""

    def __init__(self, cid: str, reason: str) -> None:
        super().__init__(f"client {cid!r}: {reason}")
        self.cid = cid
        self.reason = reason


class RoundFailure(RengoError):
    """Too few clients reported for a round to be aggregated."""


class ChannelTimeout(RengoError, TimeoutError):
    """A message that a role waited for did not arrive in time."""


class StopTraining(RengoError):
    """A strategy ends a run early and cleanly (a spent privacy budget): the rounds before it
    stand, and the round loop records the reason as an event instead of failing the run."""


class HandshakeError(AuthenticationError, ConnectionError):
    """TLS between a party and the coordinator cannot be set up - a certificate from
    another federation's CA, or one side in plain text (``--insecure``) and the other on
    TLS. Retrying cannot help; the message says which side's certificate or mode is wrong."""


class DuplicatePartyError(ProtocolError):
    """Another instance of this party connected to the coordinator and replaced this one
    (the same party started twice); this instance stops instead of taking the link back."""


class StalePartyError(ProtocolError):
    """A party process that was in a vertical run with a coordinator process that has since
    stopped came back to a new coordinator process (the run resumed): it holds the old
    process's run state, so the hub refuses it before it joins; the party is started again
    to take part (its checkpoints, not its memory, carry the run on)."""


class LinkDropped(ProtocolError):
    """A party's link to the coordinator dropped mid-run and came back: messages in flight
    may be lost, so its process cannot go on with the run where it was. A checkpointed run
    takes it back from its checkpoints (``rengo vfl party --rejoin-grace``); announced to
    the other roles by this kind, which tells the coordinator that the party's link, not its
    data or its code, failed."""


class CoordinatorUnreachable(RengoError, ConnectionError):
    """A party found no coordinator to talk to for longer than it was told to wait."""
