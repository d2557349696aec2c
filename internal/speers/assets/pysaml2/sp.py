"""A small service provider built on pysaml2's Saml2Client, for Gatehouse's
interoperability tests (internal/speers). Usage: python3 sp.py SETTINGS.json

GET  /metadata  the SP metadata (written by the Go harness)
GET  /whoami    protected: without a session, redirects to the IdP with an
                HTTP-Redirect AuthnRequest (prepare_for_authenticate); with
                one, answers {nameID, nameIDFormat, attributes} as JSON
POST /acs       parse_authn_request_response against the outstanding
                requests; on success a session cookie and a redirect to the
                RelayState path (or /whoami)
"""

import json
import re
import secrets
import sys
import threading
import traceback
import xml.etree.ElementTree as ET
from base64 import b64decode
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

with open(sys.argv[1], encoding="utf-8") as f:
    S = json.load(f)

conf = {
    "entityid": S["entityID"],
    "xmlsec_binary": "/usr/bin/xmlsec1",
    "key_file": S["signingKeyFile"],
    "cert_file": S["signingCertFile"],
    "metadata": {"local": [S["idpMetadataFile"]]},
    "attribute_map_dir": S["attributeMapDir"],
    "allow_unknown_attributes": True,
    "accepted_time_diff": 60,
    "service": {
        "sp": {
            "endpoints": {
                "assertion_consumer_service": [(S["acsURL"], BINDING_HTTP_POST)],
            },
            "allow_unsolicited": S["allowUnsolicited"],
            "authn_requests_signed": S["signRequests"],
            "want_assertions_signed": True,
            "want_response_signed": False,
            "only_use_keys_in_metadata": True,
        },
    },
}
if S.get("encryptionKeyFile"):
    conf["encryption_keypairs"] = [
        {"key_file": S["encryptionKeyFile"], "cert_file": S["encryptionCertFile"]}
    ]

config = SPConfig()
config.load(conf)
client = Saml2Client(config=config)

lock = threading.Lock()
outstanding = {}  # AuthnRequest ID -> came-from path
sessions = {}  # session ID -> echo


def local_path(relay_state):
    if relay_state and re.fullmatch(r"/[A-Za-z0-9_\-./?=&%]*", relay_state) and not relay_state.startswith("//"):
        return relay_state
    return "/whoami"


def assert_encrypted(saml_response):
    root = ET.fromstring(b64decode(saml_response))
    plain = root.findall("{%s}Assertion" % SAML_NS)
    enc = root.findall("{%s}EncryptedAssertion" % SAML_NS)
    if plain or len(enc) != 1:
        raise ValueError("this SP requires exactly one EncryptedAssertion and no plaintext Assertion")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stdout.write("%s\n" % (fmt % args))
        sys.stdout.flush()

    def send(self, status, ctype, body=b"", headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def session(self):
        c = SimpleCookie(self.headers.get("Cookie", ""))
        m = c.get("pysaml2_session")
        with lock:
            return sessions.get(m.value) if m else None

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/metadata":
            return self.send(200, "application/samlmetadata+xml", S["metadata"])
        if path == "/whoami":
            s = self.session()
            if s:
                return self.send(200, "application/json", json.dumps(s))
            kwargs = {"entityid": S["idpEntityID"], "relay_state": self.path, "binding": BINDING_HTTP_REDIRECT}
            if S["signRequests"]:
                kwargs.update(sign=True, sigalg=RSA_SHA256)
            reqid, info = client.prepare_for_authenticate(**kwargs)
            with lock:
                outstanding[reqid] = self.path
            location = dict(info["headers"])["Location"]
            return self.send(302, "text/plain", "", {"Location": location})
        self.send(404, "text/plain", "not found\n")

    def do_POST(self):
        if self.path != "/acs":
            return self.send(404, "text/plain", "not found\n")
        length = int(self.headers.get("Content-Length", "0"))
        if length > 1 << 20:
            return self.send(413, "text/plain", "too large\n")
        form = parse_qs(self.rfile.read(length).decode("utf-8"))
        saml_response = form.get("SAMLResponse", [""])[0]
        relay_state = form.get("RelayState", [""])[0]
        try:
            if not saml_response:
                raise ValueError("no SAMLResponse")
            if S["requireEncryption"]:
                assert_encrypted(saml_response)
            with lock:
                pending = dict(outstanding)
            resp = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding=pending)
            if resp is None:
                raise ValueError("the response could not be parsed")
            if resp.in_response_to:
                with lock:
                    outstanding.pop(resp.in_response_to, None)  # one use per request
            name_id = resp.name_id
            attributes = {}
            for name, values in resp.ava.items():
                key = S["nameIndex"].get(name, name)
                attributes.setdefault(key, []).extend(str(v) for v in values)
            echo = {
                "nameID": name_id.text if name_id is not None else "",
                "nameIDFormat": (name_id.format or "") if name_id is not None else "",
                "attributes": attributes,
            }
            sid = secrets.token_hex(16)
            with lock:
                sessions[sid] = echo
            print("acs: signed in %s" % echo["nameID"], flush=True)
            self.send(303, "text/plain", "", {
                "Location": local_path(relay_state),
                "Set-Cookie": "pysaml2_session=%s; Path=/; HttpOnly; SameSite=Lax" % sid,
            })
        except Exception as err:  # every failure refuses the sign-in
            print("acs: refused: %s: %s" % (type(err).__name__, err), flush=True)
            traceback.print_exc(file=sys.stdout)
            self.send(403, "text/plain", "SAML response refused: %s\n" % type(err).__name__)


server = ThreadingHTTPServer(("127.0.0.1", S["port"]), Handler)
print("pysaml2 SP listening on %d" % S["port"], flush=True)
server.serve_forever()
