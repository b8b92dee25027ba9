"""The one error type of the bridge: a message naming the file and the reason, shown without a traceback."""


class BridgeError(Exception):
    """A usage or input problem the user can fix; the CLI prints its message and exits 2."""
