"""Schemathesis hooks for ci/clients/run.sh (loaded through SCHEMATHESIS_HOOKS).

Every well-formed Idempotency-Key schemathesis generates gets a unique suffix. Its generator
draws keys from a small space ("0", "00..."), so unrelated requests would share a key: the
server then rightly replays the first answer (or refuses another body with a 422), and checks
that follow a "created" resource meet one that a later step deleted. A fresh key per request
keeps those checks about the operations. Malformed keys are left as they are, for the negative
tests of the header.
"""

import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def map_headers(context, headers):
    key = (headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and WELL_FORMED.match(key):
        headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
    return headers
