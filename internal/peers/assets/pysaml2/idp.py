#!/usr/bin/python3
"""A small pysaml2 SAML 2.0 IdP for Gatehouse interoperability tests.

Usage: idp.py SETTINGS.json. The settings are written by the Go harness in
internal/peers. The IdP listens on 127.0.0.1 and serves:

  GET  /metadata       its metadata (also its entity ID)
  GET  /sso/redirect   HTTP-Redirect AuthnRequest -> login form
  POST /sso/redirect   login form -> HTTP-POST Response (auto-submit form)

Every AuthnRequest is parsed and checked by pysaml2's Server (issuer known
from the SP metadata, Destination, IssueInstant, ACS URL or index listed in
the SP metadata). The login form carries the request's query parameters, so
the request is parsed and checked again when the form is posted.
"""

import hmac
import html
import json
import logging
import sys
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.authn_context import PASSWORD
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.server import Server
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

with open(sys.argv[1], encoding="utf-8") as fh:
    SETTINGS = json.load(fh)

BASE = SETTINGS["baseurl"]
SSO_PATH = "/sso/redirect"
ENTITY_ID = BASE + "/metadata"
USERS = {u["username"]: u for u in SETTINGS["users"]}

CONFIG = {
    "entityid": ENTITY_ID,
    "description": "pysaml2 test IdP",
    "service": {
        "idp": {
            "name": "pysaml2 test IdP",
            "endpoints": {
                "single_sign_on_service": [(BASE + SSO_PATH, BINDING_HTTP_REDIRECT)],
            },
            "policy": {
                "default": {
                    "lifetime": {"minutes": 5},
                    "attribute_restrictions": None,
                    "name_form": SETTINGS["attribute_name_format"],
                },
            },
            "name_id_format": [SETTINGS["nameid_format"]],
            "sign_response": SETTINGS["sign_response"],
            "sign_assertion": SETTINGS["sign_assertion"],
            # pysaml2 7.0 would demand an enveloped XML signature, which the
            # HTTP-Redirect binding does not carry; parse_request checks the
            # binding's own signature instead. The published metadata still
            # states the setting.
            "want_authn_requests_signed": False,
        },
    },
    "key_file": SETTINGS["key_file"],
    "cert_file": SETTINGS["cert_file"],
    "metadata": {"local": [SETTINGS["sp_metadata"]]},
    "xmlsec_binary": "/usr/bin/xmlsec1",
    "attribute_map_dir": SETTINGS["attribute_map_dir"],
    "accepted_time_diff": 60,
    "signing_algorithm": SIG_RSA_SHA256,
    "digest_algorithm": DIGEST_SHA256,
}

SERVER = Server(config=IdPConfig().load(CONFIG))
CONFIG["service"]["idp"]["want_authn_requests_signed"] = SETTINGS["want_authn_requests_signed"]
METADATA = str(entity_descriptor(IdPConfig().load(CONFIG))).encode("utf-8")


class RequestError(Exception):
    """The AuthnRequest is not acceptable; the text is shown to the user."""


def parse_request(params):
    """Parse and check the AuthnRequest in params (a dict of str)."""
    if "SAMLRequest" not in params:
        raise RequestError("no SAMLRequest")
    if SETTINGS["want_authn_requests_signed"]:
        if "Signature" not in params or "SigAlg" not in params:
            raise RequestError("the AuthnRequest is not signed")
    req = SERVER.parse_authn_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT)
    if req is None:
        raise RequestError("unparsable AuthnRequest")
    message = req.message
    sp_entity_id = message.issuer.text.strip()
    try:
        SERVER.metadata[sp_entity_id]
    except KeyError:
        raise RequestError("unknown SP %s" % sp_entity_id) from None
    if SETTINGS["want_authn_requests_signed"]:
        certs = SERVER.metadata.certs(sp_entity_id, "spsso", use="signing")
        if not certs:
            raise RequestError("the SP metadata has no signing certificate")
        msg = {k: params[k] for k in ("SAMLRequest", "RelayState", "SigAlg", "Signature") if k in params}
        if not any(_verify(msg, cert) for cert in certs):
            raise RequestError("bad AuthnRequest signature")
    args = SERVER.response_args(message, [BINDING_HTTP_POST])
    return req, args


def _verify(msg, cert):
    try:
        return verify_redirect_signature(msg, SERVER.sec.sec_backend, cert=cert)
    except Exception:  # an unusable signature is a failed one
        logging.exception("redirect signature check")
        return False


def login_page(params, error=""):
    hidden = "".join(
        '<input type="hidden" name="%s" value="%s">' % (html.escape(k), html.escape(v))
        for k, v in params.items()
        if k in ("SAMLRequest", "RelayState", "SigAlg", "Signature")
    )
    msg = '<p class="error">%s</p>' % html.escape(error) if error else ""
    return (
        "<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
        "<h1>pysaml2 test IdP</h1>%s"
        '<form method="post" action="%s">%s'
        '<label>User name <input type="text" name="username"></label>'
        '<label>Password <input type="password" name="password"></label>'
        '<button type="submit">Sign in</button></form></body></html>'
        % (msg, html.escape(SSO_PATH), hidden)
    ).encode("utf-8")


def authn_response(req, args, user, relay_state):
    if SETTINGS["nameid_format"] == saml.NAMEID_FORMAT_PERSISTENT:
        value = user["username"]
    else:
        value = user["email"]
    name_id = saml.NameID(format=SETTINGS["nameid_format"], text=value)
    identity = {k: v for k, v in user["attributes"].items() if v}
    resp = SERVER.create_authn_response(
        identity,
        in_response_to=args["in_response_to"],
        destination=args["destination"],
        sp_entity_id=args["sp_entity_id"],
        name_id=name_id,
        authn={"class_ref": PASSWORD, "authn_auth": ENTITY_ID},
        sign_response=SETTINGS["sign_response"],
        sign_assertion=SETTINGS["sign_assertion"],
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    info = SERVER.apply_binding(
        BINDING_HTTP_POST, str(resp), args["destination"], relay_state, response=True, sign=False
    )
    return info["data"].encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    server_version = "pysaml2-test-idp"

    def log_message(self, fmt, *args):
        sys.stderr.write("pysaml2 idp: " + (fmt % args) + "\n")

    def _send(self, status, body, ctype="text/html; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _fail(self, status, text):
        self._send(status, ("<!DOCTYPE html><html><body><h1>Error</h1><p>%s</p></body></html>"
                            % html.escape(text)).encode("utf-8"))

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/metadata":
            self._send(200, METADATA, "application/samlmetadata+xml")
            return
        if url.path != SSO_PATH:
            self._fail(404, "not found")
            return
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        try:
            parse_request(params)
        except Exception as exc:  # pysaml2 raises many types
            traceback.print_exc()
            self._fail(400, "AuthnRequest rejected: %s" % exc)
            return
        self._send(200, login_page(params))

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != SSO_PATH:
            self._fail(404, "not found")
            return
        length = int(self.headers.get("Content-Length", "0"))
        if length > 1 << 20:
            self._fail(413, "too large")
            return
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
        try:
            req, args = parse_request(form)
        except Exception as exc:
            traceback.print_exc()
            self._fail(400, "AuthnRequest rejected: %s" % exc)
            return
        user = USERS.get(form.get("username", ""))
        if user is None or not hmac.compare_digest(user["password"].encode(), form.get("password", "").encode()):
            self._send(200, login_page(form, "Incorrect user name or password."))
            return
        try:
            body = authn_response(req, args, user, form.get("RelayState", ""))
        except Exception as exc:
            traceback.print_exc()
            self._fail(500, "cannot build the response: %s" % exc)
            return
        self._send(200, body)


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    httpd = ThreadingHTTPServer(("127.0.0.1", SETTINGS["port"]), Handler)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
