"""Defences at run time: what stands between a served model and its callers (extra ``runtime``).

A backdoor no scan found fires on a trigger the attacker controls, so the defence goes on after loading:
inputs are cleaned of trigger carriers (:mod:`.sanitize`), outputs are checked before anyone acts on them
(:mod:`.validate`), behaviour is watched for the moment it changes (:mod:`.monitor`, :mod:`.canary`,
:mod:`.honeytokens`), and an updated model is compared with the one it replaces (:mod:`.abtest`).

These are stages (numpy and scipy at the core, heavy libraries imported where used): ``api.runtime``
composes them for the CLI and ``runtime.Guarded`` for a serving loop.
"""
