// Drives the RFC 8628 device authorization grant against a Gatehouse
// gateway with openid-client, as a command-line tool would: discovery,
// a public client (token_endpoint_auth_method none), a device
// authorization request, then polling the token endpoint until the user
// decides. Reads a JSON job from stdin:
//   {"issuer", "clientID", "scope", "audience"}
// and writes two JSON lines to stdout: first the device authorization
// {"user_code", "verification_uri", "verification_uri_complete",
// "expires_in", "interval"} (the caller approves or denies with it), then
// the outcome: {"ok": true, "access_token", "refresh_token", "token_type",
// "scope", "expires_in"} and exit 0 when a token is issued, {"ok": false,
// "status", "error", "error_description"} and exit 1 when the grant is
// refused with an RFC 6749/8628 error. Anything else exits 2.
import * as client from 'openid-client';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

let job;
try {
  job = await readStdin();
  for (const k of ['issuer', 'clientID', 'audience']) {
    if (typeof job[k] !== 'string' || job[k] === '') throw new Error(`missing ${k}`);
  }
} catch (e) {
  process.stderr.write(`bad job: ${e.message}\n`);
  process.exit(2);
}

try {
  const config = await client.discovery(
    new URL(job.issuer),
    job.clientID,
    undefined,
    client.None(),
    { execute: [client.allowInsecureRequests] }, // the test gateway is on http://127.0.0.1
  );
  const params = { audience: job.audience };
  if (job.scope) params.scope = job.scope;
  const da = await client.initiateDeviceAuthorization(config, params);
  process.stdout.write(JSON.stringify({
    user_code: da.user_code,
    verification_uri: da.verification_uri,
    verification_uri_complete: da.verification_uri_complete ?? '',
    expires_in: da.expires_in,
    interval: da.interval ?? 5,
  }) + '\n');
  const r = await client.pollDeviceAuthorizationGrant(config, da);
  process.stdout.write(JSON.stringify({
    ok: true,
    access_token: r.access_token,
    refresh_token: r.refresh_token ?? '',
    token_type: r.token_type ?? '',
    scope: r.scope ?? '',
    expires_in: r.expires_in ?? 0,
  }) + '\n');
  process.exit(0);
} catch (e) {
  if (e instanceof client.ResponseBodyError) {
    process.stdout.write(JSON.stringify({
      ok: false, status: e.status, error: e.error, error_description: e.error_description ?? '',
    }) + '\n');
    process.exit(1);
  }
  process.stderr.write(`failed: ${e && (e.stack ?? e)}${e && e.cause ? `\ncause: ${JSON.stringify(e.cause)}` : ''}\n`);
  process.exit(2);
}
