"""The exceptions of capme, one class per kind of capme-core error.

The compiled module ``capme._capme`` raises these classes (it imports them from here; it does
not define exceptions of its own). ``str(e)`` is capme-core's message, the same text the
``capme`` CLI prints after ``capme: ``, and ``e.kind`` is the stable name of the error's kind:

=============  ==============  ==========================================================
``kind``       class           CLI exit code / what happened
=============  ==============  ==========================================================
``invalid``    InvalidQuery    2: an invalid address, port, protocol, time, Community ID
``io``         StoreError      3: reading or writing a path failed (``errno`` when known)
``format``     StoreError      3: a capture file that cannot be read
``store``      StoreError      3: a store root that does not exist or is not a directory
``nopackets``  NoPackets       1: nothing matched; no file was written
``cancelled``  Cancelled       the search was cancelled (without a pending Ctrl-C)
=============  ==============  ==========================================================

The classes say ``__module__ = "capme"``: they are documented, pickled and shown in
tracebacks as ``capme.InvalidQuery`` etc., the names users import.
"""

__all__ = ["CapmeError", "InvalidQuery", "StoreError", "NoPackets", "Cancelled"]


class CapmeError(Exception):
    """Base class of every capme error. ``str(e)`` is capme-core's message, the same text the
    ``capme`` CLI prints after ``capme: ``; ``e.kind`` is its stable kind name (``invalid``,
    ``io``, ``format``, ``store``, ``nopackets``, ``cancelled``)."""

    __module__ = "capme"
    kind: str = "error"


class InvalidQuery(CapmeError, ValueError):
    """An argument was invalid (an address, port, protocol, time, Community ID...). The message
    names the field and the value. Also a ``ValueError``."""

    __module__ = "capme"
    kind: str = "invalid"


class StoreError(CapmeError, OSError):
    """The store could not be read: a missing root (kind ``store``), an I/O error on a file
    (``io``, with ``errno`` when the OS gave one) or a corrupt capture file (``format``). Also an
    ``OSError``."""

    __module__ = "capme"
    kind: str = "store"


class NoPackets(CapmeError):
    """The query matched no packet (the CLI's exit code 1). No file was written."""

    __module__ = "capme"
    kind: str = "nopackets"


class Cancelled(CapmeError):
    """The search was cancelled through its cancel flag without a pending signal (on Ctrl-C
    the ``KeyboardInterrupt`` is raised instead)."""

    __module__ = "capme"
    kind: str = "cancelled"
