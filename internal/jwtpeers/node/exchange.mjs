// Drives an RFC 8693 token exchange against a Gatehouse gateway with
// openid-client, the way a third-party OAuth client would: discovery at
// {issuer}/.well-known/openid-configuration, client_secret_basic, then a
// token-exchange grant at the discovered token endpoint. Reads a JSON job
// from stdin:
//   {"issuer", "clientID", "clientSecret", "subjectToken",
//    "subjectTokenType", "audience", "scope"}
// and writes one JSON line to stdout: {"ok": true, "access_token",
// "issued_token_type", "token_type", "scope", "expires_in"} and exit 0 when
// the server issues a token, {"ok": false, "status", "error",
// "error_description", "challenge"} and exit 1 when the server refuses the
// grant with an RFC 6749 error. Anything else (a bad job, discovery or
// network failure, a crash, a refusal without an error code) exits 2.
import * as client from 'openid-client';

const grantType = 'urn:ietf:params:oauth:grant-type:token-exchange';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function exchange(job) {
  const config = await client.discovery(
    new URL(job.issuer),
    job.clientID,
    job.clientSecret,
    client.ClientSecretBasic(job.clientSecret),
    { execute: [client.allowInsecureRequests] }, // the test gateway is on http://127.0.0.1
  );
  const params = {
    subject_token: job.subjectToken,
    subject_token_type: job.subjectTokenType,
    audience: job.audience,
  };
  if (job.scope) params.scope = job.scope;
  return client.genericGrantRequest(config, grantType, params);
}

// refusal turns an error openid-client raised for the token endpoint's
// answer into {status, error, error_description, challenge}, or undefined
// when the error is not a server refusal carrying an RFC 6749 error code.
async function refusal(e) {
  if (e instanceof client.ResponseBodyError) {
    return { status: e.status, error: e.error, error_description: e.error_description ?? '', challenge: '' };
  }
  if (e instanceof client.WWWAuthenticateChallengeError) {
    // A 401 invalid_client carries a Basic challenge; openid-client raises
    // it before reading the body, which still holds the RFC 6749 error.
    const challenge = (e.cause ?? []).map((c) => c.scheme).join(',');
    let body = {};
    try {
      body = await e.response.json();
    } catch {
      return undefined;
    }
    if (typeof body.error !== 'string') return undefined;
    return { status: e.status, error: body.error, error_description: String(body.error_description ?? ''), challenge };
  }
  return undefined;
}

let job;
try {
  job = await readStdin();
  for (const k of ['issuer', 'clientID', 'clientSecret', 'subjectToken', 'subjectTokenType', 'audience']) {
    if (typeof job[k] !== 'string' || job[k] === '') throw new Error(`missing ${k}`);
  }
} catch (e) {
  process.stderr.write(`bad job: ${e.message}\n`);
  process.exit(2);
}
try {
  const r = await exchange(job);
  process.stdout.write(JSON.stringify({
    ok: true,
    access_token: r.access_token,
    issued_token_type: r.issued_token_type ?? '',
    token_type: r.token_type ?? '',
    scope: r.scope ?? '',
    expires_in: r.expires_in ?? 0,
  }) + '\n');
  process.exit(0);
} catch (e) {
  const out = await refusal(e);
  if (!out) {
    process.stderr.write(`failed: ${e && (e.stack ?? e)}${e && e.cause ? `\ncause: ${JSON.stringify(e.cause)}` : ''}\n`);
    process.exit(2);
  }
  process.stdout.write(JSON.stringify({ ok: false, ...out }) + '\n');
  process.exit(1);
}
