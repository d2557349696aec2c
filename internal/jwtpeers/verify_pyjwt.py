"""Verifies one Gatehouse access token with PyJWT (Debian python3-jwt), the
way a Python data service would: PyJWKClient fetches the JWK Set, jwt.decode
checks the signature, iss, aud and exp (and requires iat, sub, jti), and the
protected header must say typ at+jwt (RFC 9068 section 4).

Reads a JSON job from stdin: {"token", "jwksURL", "issuer", "audience",
"algorithms": [...]}. Writes one JSON line: {"ok": true, "header", "claims"}
and exit 0 on acceptance, {"ok": false, "code", "message"} and exit 1 on
rejection; anything else exits 2.
"""
import json
import sys

import jwt


def verify(job):
    client = jwt.PyJWKClient(job["jwksURL"], cache_keys=False)
    key = client.get_signing_key_from_jwt(job["token"])
    claims = jwt.decode(
        job["token"],
        key.key,
        algorithms=job["algorithms"],
        audience=job["audience"],
        issuer=job["issuer"],
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    header = jwt.get_unverified_header(job["token"])  # the signature covers it
    if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError("typ is %r, not at+jwt" % header.get("typ"))
    return header, claims


def main():
    try:
        job = json.load(sys.stdin)
    except ValueError as e:
        print("bad job: %s" % e, file=sys.stderr)
        return 2
    try:
        header, claims = verify(job)
    except jwt.PyJWTError as e:  # PyJWKClientError included
        print(json.dumps({"ok": False, "code": type(e).__name__, "message": str(e)}))
        return 1
    print(json.dumps({"ok": True, "header": header, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
