"""The stdio front: answers a client's first, static requests while the SDK is still loading.

A stdio client spawns the server and waits for `initialize` (or `server/discover`) and `tools/list`.
Importing the MCP SDK takes most of a second; those answers never change for a given version and
configuration. So the command starts this front first, with the standard library only:

- `manifest.py` finds, checks and writes the manifest: the SDK's own answers to requests clients
  sent before, keyed by everything that could change them, kept beside the tool-schema cache.
- `protocol.py` reads the client's messages the way the SDK will (protocol era, session state)
  and keys each static request.
- `front.py` answers from the manifest on a thread while the SDK loads, and at the hand-over gives
  the SDK everything the client sent, in order, the answered requests under ids of its own.
- `streams.py` is what the SDK's stdio transport reads and writes after the hand-over; `watch.py`
  compares the SDK's answers to the replayed requests with what the front sent (and learns the
  answers to requests the front could not answer), rebuilding the manifest on any difference.
- `handover.py` is the SDK side: it builds the server and runs it on those streams.

Every module here but `handover.py` imports nothing outside the standard library.
"""
