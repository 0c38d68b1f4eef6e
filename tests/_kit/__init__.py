"""Helpers shared by every test tier (importable as ``_kit``: ``tests/`` is on the path of
every test through ``tests/conftest.py``).

- ``credentials``: the one credentials factory for fake servers, and a client on one.
- ``writes``: counting the member writes a sandbox answered or received, recognising them
  on the wire, and a transport that crashes after some of them.
- ``members``: checks on a member list's row report.
- ``segments``: segments seeded in the sandbox's model, and the member requests a session sent.
- ``cli``: running ``segwidgets`` as a real process against a sandbox.
"""
