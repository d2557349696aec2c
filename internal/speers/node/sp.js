// A small service provider built on @node-saml/node-saml, for Gatehouse's
// interoperability tests (internal/speers). Usage: node sp.js SETTINGS.json
//
// GET  /metadata  the SP metadata (written by the Go harness)
// GET  /whoami    protected: without a session, redirects to the IdP with an
//                 HTTP-Redirect AuthnRequest (getAuthorizeUrlAsync); with one,
//                 answers {nameID, nameIDFormat, attributes} as JSON
// POST /acs       validatePostResponseAsync; on success a session cookie and
//                 a redirect to the RelayState path (or /whoami)
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const crypto = require("node:crypto");
const { SAML, ValidateInResponseTo } = require("@node-saml/node-saml");
const { DOMParser } = require("@xmldom/xmldom");

const settings = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const nameIndex = settings.nameIndex; // SAML attribute Name -> local ID

const saml = new SAML({
  entryPoint: settings.idpSSO,
  issuer: settings.entityID,
  callbackUrl: settings.acsURL,
  idpCert: settings.idpCerts,
  idpIssuer: settings.idpEntityID,
  audience: settings.entityID,
  wantAssertionsSigned: true,
  wantAuthnResponseSigned: false,
  validateInResponseTo: settings.allowUnsolicited ? ValidateInResponseTo.ifPresent : ValidateInResponseTo.always,
  // cacheProvider: the default, an in-memory cache of the request IDs issued.
  requestIdExpirationPeriodMs: 10 * 60 * 1000,
  acceptedClockSkewMs: 60 * 1000,
  identifierFormat: null,
  disableRequestedAuthnContext: true,
  privateKey: settings.signingKey || undefined,
  signatureAlgorithm: "sha256",
  decryptionPvk: settings.decryptionKey || undefined,
});

const sessions = new Map(); // session ID -> {nameID, nameIDFormat, attributes}

function cookie(req, name) {
  for (const part of (req.headers.cookie || "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return "";
}

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store", ...headers });
  res.end(body);
}

function localPath(relayState) {
  // Only same-origin paths: never an open redirect.
  return typeof relayState === "string" && /^\/[A-Za-z0-9_\-./?=&%]*$/.test(relayState) && !relayState.startsWith("//")
    ? relayState
    : "/whoami";
}

function strings(v) {
  const values = Array.isArray(v) ? v : [v];
  return values.map((x) => (typeof x === "string" ? x : x && typeof x._ === "string" ? x._ : JSON.stringify(x)));
}

// assertEncrypted refuses a Response that carries a plaintext Assertion.
function assertEncrypted(samlResponse) {
  const xml = Buffer.from(samlResponse, "base64").toString("utf8");
  const doc = new DOMParser({ onError: () => {} }).parseFromString(xml, "text/xml");
  const root = doc.documentElement;
  let encrypted = 0;
  for (let n = root && root.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== 1 || n.namespaceURI !== "urn:oasis:names:tc:SAML:2.0:assertion") continue;
    if (n.localName === "Assertion") throw new Error("plaintext Assertion refused: this SP requires encrypted assertions");
    if (n.localName === "EncryptedAssertion") encrypted++;
  }
  if (encrypted !== 1) throw new Error("exactly one EncryptedAssertion required");
}

async function acs(req, res) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > 1 << 20) return send(res, 413, "text/plain", "too large\n");
    chunks.push(c);
  }
  const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
  const samlResponse = form.get("SAMLResponse");
  if (!samlResponse) return send(res, 400, "text/plain", "no SAMLResponse\n");
  try {
    if (settings.requireEncryption) assertEncrypted(samlResponse);
    const { profile, loggedOut } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse });
    if (loggedOut || !profile) throw new Error("not a sign-in response");
    const attributes = {};
    for (const [name, value] of Object.entries(profile.attributes || {})) {
      const id = nameIndex[name] || name;
      attributes[id] = (attributes[id] || []).concat(strings(value));
    }
    const sid = crypto.randomBytes(16).toString("hex");
    sessions.set(sid, { nameID: profile.nameID, nameIDFormat: profile.nameIDFormat || "", attributes });
    console.log("acs: signed in %s", profile.nameID);
    send(res, 303, "text/plain", "", {
      Location: localPath(form.get("RelayState")),
      "Set-Cookie": `nodesaml_session=${sid}; Path=/; HttpOnly; SameSite=Lax`,
    });
  } catch (err) {
    console.log("acs: refused: %s", err && err.message);
    send(res, 403, "text/plain", "SAML response refused: " + (err && err.message) + "\n");
  }
}

async function whoami(req, res) {
  const s = sessions.get(cookie(req, "nodesaml_session"));
  if (s) return send(res, 200, "application/json", JSON.stringify(s));
  const url = await saml.getAuthorizeUrlAsync(req.url, undefined, {});
  send(res, 302, "text/plain", "", { Location: url });
}

http
  .createServer((req, res) => {
    const path = req.url.split("?")[0];
    const route =
      req.method === "GET" && path === "/metadata"
        ? () => send(res, 200, "application/samlmetadata+xml", settings.metadata)
        : req.method === "GET" && path === "/whoami"
          ? () => whoami(req, res)
          : req.method === "POST" && path === "/acs"
            ? () => acs(req, res)
            : () => send(res, 404, "text/plain", "not found\n");
    Promise.resolve()
      .then(route)
      .catch((err) => {
        console.log("error: %s", err && err.stack);
        if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      });
  })
  .listen(settings.port, "127.0.0.1", () => console.log("node-saml SP listening on %d", settings.port));
